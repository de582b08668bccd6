//! 32-bit ARM (EABI, built as Thumb-2): the process entry and the `svc 0` instruction.
//! Nothing else here; what the 32-bit ABI changes (64-bit times and offsets) is in
//! `sys/abi.rs`.

/// Defines the ELF entry point `_start` in the binary, calling `$entry(sp)`: the kernel
/// starts the process with argc at `[sp]`, sp 8-byte aligned as AAPCS wants.
#[macro_export]
macro_rules! entry_point {
    ($entry:path) => {
        #[unsafe(naked)]
        #[no_mangle]
        #[link_section = ".text._start"]
        pub unsafe extern "C" fn _start() -> ! {
            core::arch::naked_asm!(
                "mov r7, #0",  // the outermost frame (r7 is Thumb's frame pointer)
                "mov lr, #0",
                "mov r0, sp",  // argument: the initial stack (argc, argv, envp)
                "bl {entry}",
                "udf #0",      // entry never returns
                entry = sym $entry,
            )
        }
    };
}

// The number in r7, arguments in r0–r5, the result in r0; nothing else is overwritten.
// In Thumb code r7 is the frame pointer, which inline asm may not name as an operand: the
// number goes in through another register, r7 is saved in a scratch register around the
// call and restored before anything can use it as a frame pointer.

pub unsafe fn syscall0(n: usize) -> usize {
    let r;
    // SAFETY: the caller vouches for the call and what its arguments point at.
    unsafe {
        core::arch::asm!("mov {saved}, r7", "mov r7, {n}", "svc 0", "mov r7, {saved}",
            n = in(reg) n, saved = out(reg) _, lateout("r0") r, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall1(n: usize, a1: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("mov {saved}, r7", "mov r7, {n}", "svc 0", "mov r7, {saved}",
            n = in(reg) n, saved = out(reg) _, inlateout("r0") a1 => r, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("mov {saved}, r7", "mov r7, {n}", "svc 0", "mov r7, {saved}",
            n = in(reg) n, saved = out(reg) _, inlateout("r0") a1 => r, in("r1") a2,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("mov {saved}, r7", "mov r7, {n}", "svc 0", "mov r7, {saved}",
            n = in(reg) n, saved = out(reg) _, inlateout("r0") a1 => r, in("r1") a2, in("r2") a3,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("mov {saved}, r7", "mov r7, {n}", "svc 0", "mov r7, {saved}",
            n = in(reg) n, saved = out(reg) _, inlateout("r0") a1 => r, in("r1") a2, in("r2") a3,
            in("r3") a4, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall5(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("mov {saved}, r7", "mov r7, {n}", "svc 0", "mov r7, {saved}",
            n = in(reg) n, saved = out(reg) _, inlateout("r0") a1 => r, in("r1") a2, in("r2") a3,
            in("r3") a4, in("r4") a5, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall6(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("mov {saved}, r7", "mov r7, {n}", "svc 0", "mov r7, {saved}",
            n = in(reg) n, saved = out(reg) _, inlateout("r0") a1 => r, in("r1") a2, in("r2") a3,
            in("r3") a4, in("r4") a5, in("r5") a6, options(nostack, preserves_flags));
    }
    r
}
