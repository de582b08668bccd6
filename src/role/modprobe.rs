//! The `modprobe` role: the kernel's request_module runs `/sbin/modprobe -q -- NAME` (a
//! filesystem `fs-ext4`, a crypto algorithm `crypto-crc32c`, an nls table) while the
//! initramfs is the root; this loads NAME from the image's modules, dependencies first.
use crate::out;
use crate::kmod::Modules;
use crate::sys::process;
use crate::sys::start::StartArgs;

pub fn run(args: StartArgs) -> ! {
    // The kernel starts its helpers with fds 0-2 closed.
    out::open_console();
    out::open_kmsg();
    let mut modules = Modules::new();
    let mut missing = false;
    for i in 1..args.len() {
        let Some(arg) = args.arg(i) else { continue };
        let name = arg.to_bytes();
        // Options (-q, -b, --) change nothing here: names are all that matter.
        if name.starts_with(b"-") {
            continue;
        }
        // Fault injection for tests/hooks.rs only (never in a shipped build): the kernel
        // asks for this name when the test's guest runs `mount -t rdinit-test-panic`.
        #[cfg(feature = "fault-hooks")]
        if name == b"fs-rdinit-test-panic" {
            panic!("fault hook: modprobe");
        }
        missing |= !modules.load(name);
    }
    process::exit(missing as i32)
}
