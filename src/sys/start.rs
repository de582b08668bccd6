//! The process start: argc/argv/envp from the initial stack, and argv arrays for execve.
use core::ffi::CStr;

/// The kernel-provided arguments and environment of this process.
#[derive(Clone, Copy)]
pub struct StartArgs {
    argc: usize,
    argv: *const *const u8,
    envp: *const *const u8,
}

impl StartArgs {
    /// Reads the System V initial stack: `argc`, `argv[argc]`, NULL, `envp[]`, NULL.
    ///
    /// # Safety
    /// `sp` must be the stack pointer the kernel handed to `_start`.
    pub unsafe fn from_stack(sp: *const usize) -> StartArgs {
        // SAFETY: per the ELF ABI the words at sp are argc then the argv pointers.
        unsafe {
            let argc = *sp;
            let argv = sp.add(1) as *const *const u8;
            let envp = argv.add(argc + 1);
            StartArgs { argc, argv, envp }
        }
    }

    pub fn len(&self) -> usize {
        self.argc
    }

    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// `argv[i]`.
    pub fn arg(&self, i: usize) -> Option<&'static CStr> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: i < argc, and the kernel's strings live as long as the process.
        unsafe {
            let p = *self.argv.add(i);
            if p.is_null() { None } else { Some(CStr::from_ptr(p as *const core::ffi::c_char)) }
        }
    }

    /// The kernel's own NULL-terminated argv array, to pass on unchanged.
    pub fn argv(&self) -> *const *const u8 {
        self.argv
    }

    pub fn envp(&self) -> *const *const u8 {
        self.envp
    }
}

/// The largest argv rdinit passes on (the kernel caps init's at 32 + a few).
pub const MAX_ARGS: usize = 64;

/// A NULL-terminated argv array pointing at strings that outlive it.
pub struct Argv<'a> {
    ptrs: [*const u8; MAX_ARGS + 1],
    len: usize,
    _strings: core::marker::PhantomData<&'a CStr>,
}

impl<'a> Argv<'a> {
    pub fn new() -> Self {
        Argv { ptrs: [core::ptr::null(); MAX_ARGS + 1], len: 0, _strings: core::marker::PhantomData }
    }

    /// Appends one argument; `false` when the array is full.
    pub fn push(&mut self, s: &'a CStr) -> bool {
        if self.len == MAX_ARGS {
            return false;
        }
        self.ptrs[self.len] = s.as_ptr() as *const u8;
        self.len += 1;
        true
    }

    pub fn as_ptr(&self) -> *const *const u8 {
        self.ptrs.as_ptr()
    }
}

impl Default for Argv<'_> {
    fn default() -> Self {
        Self::new()
    }
}
