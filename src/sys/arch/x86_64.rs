//! x86_64 process entry. Compiled into the binary only (see `main.rs`).

/// The ELF entry point: the kernel jumps here with argc at `[rsp]`.
#[unsafe(naked)]
#[no_mangle]
#[link_section = ".text._start"]
pub unsafe extern "C" fn _start() -> ! {
    core::arch::naked_asm!(
        "xor ebp, ebp",   // the outermost frame: no caller
        "mov rdi, rsp",   // argument: the initial stack (argc, argv, envp)
        "and rsp, -16",   // the ABI wants 16-byte alignment at the call
        "call {entry}",
        "ud2",            // entry never returns
        entry = sym super::entry,
    )
}
