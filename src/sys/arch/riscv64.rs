//! riscv64: the process entry and the `ecall` instruction. Nothing else here.

/// Defines the ELF entry point `_start` in the binary, calling `$entry(sp)`: the kernel
/// starts the process with argc at `[sp]`.
#[macro_export]
macro_rules! entry_point {
    ($entry:path) => {
        #[unsafe(naked)]
        #[no_mangle]
        #[link_section = ".text._start"]
        pub unsafe extern "C" fn _start() -> ! {
            core::arch::naked_asm!(
                // gp stays unset: the linker script defines no `__global_pointer$`, so
                // nothing is addressed relative to it.
                "li fp, 0",        // the outermost frame: no caller
                "li ra, 0",
                "mv a0, sp",       // argument: the initial stack (argc, argv, envp)
                "andi sp, sp, -16", // the ABI wants 16-byte alignment
                "call {entry}",
                "unimp",           // entry never returns
                entry = sym $entry,
            )
        }
    };
}

// The number in a7, arguments in a0–a5, the result in a0; nothing else is overwritten.

pub unsafe fn syscall0(n: usize) -> usize {
    let r;
    // SAFETY: the caller vouches for the call and what its arguments point at.
    unsafe {
        core::arch::asm!("ecall", in("a7") n, lateout("a0") r, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall1(n: usize, a1: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("ecall", in("a7") n, inlateout("a0") a1 => r, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("ecall", in("a7") n, inlateout("a0") a1 => r, in("a1") a2,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("ecall", in("a7") n, inlateout("a0") a1 => r, in("a1") a2, in("a2") a3,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("ecall", in("a7") n, inlateout("a0") a1 => r, in("a1") a2, in("a2") a3,
            in("a3") a4, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall5(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("ecall", in("a7") n, inlateout("a0") a1 => r, in("a1") a2, in("a2") a3,
            in("a3") a4, in("a4") a5, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall6(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("ecall", in("a7") n, inlateout("a0") a1 => r, in("a1") a2, in("a2") a3,
            in("a3") a4, in("a4") a5, in("a5") a6, options(nostack, preserves_flags));
    }
    r
}
