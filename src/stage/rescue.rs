//! The failure path: a rescue shell when the image has one, else what `panic=` asks.
use super::Boot;
use crate::sys::fs::{self, Fd};
use crate::sys::process::{self, RebootCmd};
use crate::sys::start::Argv;
use core::sync::atomic::{AtomicI32, Ordering::Relaxed};

const SHELL: &core::ffi::CStr = c"/bin/sh";

/// `panic=` from the command line, kept here because a panic reaches the failure path
/// without the boot's state.
static PANIC_SECS: AtomicI32 = AtomicI32::new(0);

pub fn set_panic(secs: Option<i32>) {
    PANIC_SECS.store(secs.unwrap_or(0), Relaxed);
}

/// Runs the rescue shell and returns when it exits; without a shell, reboots or halts as
/// `panic=` says and never returns.
pub fn run(boot: Option<&Boot>) {
    if fs::is_executable(Fd::CWD, SHELL).is_ok() {
        error!("starting rescue shell /bin/sh");
        match process::fork() {
            Ok(0) => shell_child(boot),
            Ok(pid) => {
                // Reap every child (orphans reparent to PID 1) until the shell itself exits.
                while let Ok((reaped, _)) = process::wait(-1) {
                    if reaped == pid {
                        break;
                    }
                }
                info!("rescue shell exited");
                return;
            }
            Err(e) => {
                error!("fork rescue shell: %e"; e);
            }
        }
    }
    let panic = PANIC_SECS.load(Relaxed);
    fs::sync();
    if panic > 0 {
        error!("no rescue shell; rebooting in %n s"; panic as u64);
        process::sleep_ms(panic as u64 * 1000);
        reboot_now();
    } else if panic < 0 {
        error!("no rescue shell; rebooting now");
        reboot_now();
    }
    error!("no rescue shell; halted");
    loop {
        process::sleep_ms(1 << 30);
    }
}

fn reboot_now() -> ! {
    let e = process::reboot(RebootCmd::Restart);
    error!("reboot: %e"; e);
    loop {
        process::sleep_ms(1 << 30);
    }
}

/// The forked child: a session leader with the console as controlling tty, so ^C works.
fn shell_child(boot: Option<&Boot>) -> ! {
    let _ = process::setsid();
    // A fresh console on 0, 1 and 2 (as after the switch), then made the controlling tty;
    // failing that, the shell still runs, only without job control.
    crate::out::open_console();
    let _ = process::set_controlling_tty(Fd::STDIN);
    let mut argv = Argv::new();
    argv.push(c"sh");
    let envp = boot.map_or(core::ptr::null(), |b| b.args.envp());
    let e = process::execve(SHELL, argv.as_ptr(), envp);
    error!("exec /bin/sh: %e"; e);
    process::exit(127)
}
