//! aarch64: the process entry and the `svc 0` instruction. Nothing else here.

/// Defines the ELF entry point `_start` in the binary, calling `$entry(sp)`: the kernel
/// starts the process with argc at `[sp]`, sp 16-byte aligned.
#[macro_export]
macro_rules! entry_point {
    ($entry:path) => {
        #[unsafe(naked)]
        #[no_mangle]
        #[link_section = ".text._start"]
        pub unsafe extern "C" fn _start() -> ! {
            core::arch::naked_asm!(
                "mov x29, xzr", // the outermost frame: no caller
                "mov x30, xzr",
                "mov x0, sp",   // argument: the initial stack (argc, argv, envp)
                "bl {entry}",
                "udf #0",       // entry never returns
                entry = sym $entry,
            )
        }
    };
}

// The number in x8, arguments in x0–x5, the result in x0; nothing else is overwritten.

pub unsafe fn syscall0(n: usize) -> usize {
    let r;
    // SAFETY: the caller vouches for the call and what its arguments point at.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, lateout("x0") r, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall1(n: usize, a1: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a1 => r, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a1 => r, in("x1") a2,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a1 => r, in("x1") a2, in("x2") a3,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a1 => r, in("x1") a2, in("x2") a3,
            in("x3") a4, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall5(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a1 => r, in("x1") a2, in("x2") a3,
            in("x3") a4, in("x4") a5, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall6(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("svc 0", in("x8") n, inlateout("x0") a1 => r, in("x1") a2, in("x2") a3,
            in("x3") a4, in("x4") a5, in("x5") a6, options(nostack, preserves_flags));
    }
    r
}
