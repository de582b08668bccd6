//! x86_64: the process entry and the `syscall` instruction. Nothing else here.

/// Defines the ELF entry point `_start` in the binary, calling `$entry(sp)`: the kernel
/// starts the process with argc at `[rsp]`.
#[macro_export]
macro_rules! entry_point {
    ($entry:path) => {
        #[unsafe(naked)]
        #[no_mangle]
        #[link_section = ".text._start"]
        pub unsafe extern "C" fn _start() -> ! {
            core::arch::naked_asm!(
                "xor ebp, ebp", // the outermost frame: no caller
                "mov rdi, rsp", // argument: the initial stack (argc, argv, envp)
                "and rsp, -16", // the ABI wants 16-byte alignment at the call
                "call {entry}",
                "ud2", // entry never returns
                entry = sym $entry,
            )
        }
    };
}

// The number in rax, arguments in rdi, rsi, rdx, r10, r8, r9, the result in rax; the
// instruction itself overwrites rcx (return address) and r11 (saved flags).

pub unsafe fn syscall0(n: usize) -> usize {
    let r;
    // SAFETY: the caller vouches for the call and what its arguments point at.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n => r, out("rcx") _, out("r11") _,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall1(n: usize, a1: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n => r, in("rdi") a1, out("rcx") _, out("r11") _,
            options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall2(n: usize, a1: usize, a2: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n => r, in("rdi") a1, in("rsi") a2,
            out("rcx") _, out("r11") _, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall3(n: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            out("rcx") _, out("r11") _, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall4(n: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            in("r10") a4, out("rcx") _, out("r11") _, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall5(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            in("r10") a4, in("r8") a5, out("rcx") _, out("r11") _, options(nostack, preserves_flags));
    }
    r
}

pub unsafe fn syscall6(n: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize, a6: usize) -> usize {
    let r;
    // SAFETY: as for syscall0.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") n => r, in("rdi") a1, in("rsi") a2, in("rdx") a3,
            in("r10") a4, in("r8") a5, in("r9") a6, out("rcx") _, out("r11") _,
            options(nostack, preserves_flags));
    }
    r
}
