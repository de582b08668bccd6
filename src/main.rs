//! The init binary: startup glue only; everything else is in the library.
#![no_std]
#![no_main]

// The ELF entry point `_start`, from the architecture's file in sys/arch/.
rdinit::entry_point!(entry);

// memcpy & co.: x86_64 is built with the installed stable toolchain, whose compiler_builtins
// exports none; the other targets build compiler_builtins with its `mem` feature.
#[cfg(target_arch = "x86_64")]
#[path = "sys/mem.rs"]
mod mem;

/// Called by `_start` with the initial stack pointer.
extern "C" fn entry(sp: *const usize) -> ! {
    // SAFETY: `_start` passes the stack pointer the kernel set up.
    let args = unsafe { rdinit::sys::start::StartArgs::from_stack(sp) };
    rdinit::main(args)
}

/// A panic is a bug; PID 1 must not die of it. One fixed line (formatting the PanicInfo
/// would pull in core::fmt), then the failure path.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    rdinit::panicked()
}

/// Unoptimised builds of core reference the unwinding personality even with panic=abort;
/// nothing unwinds, so it is never called.
#[no_mangle]
extern "C" fn rust_eh_personality() {}
