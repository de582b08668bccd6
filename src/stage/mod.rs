//! The boot, stage by stage, as the kernel's initramfs contract asks.
pub mod devices;
pub mod early;
#[cfg(feature = "initrd")]
pub mod initrd;
#[cfg(feature = "live")]
pub mod live;
pub mod rescue;
pub mod root;
pub mod switch;

use crate::out::{self, Level};
use crate::parse::cmdline::{self, BootConfig};
use crate::sys::{process, start::StartArgs};

/// Everything the stages share during one boot.
pub struct Boot<'a> {
    pub args: StartArgs,
    pub cfg: BootConfig<'a>,
    pub devices: devices::Devices,
}

/// PID 1's whole life: early mounts, modules, root, switch; rescue on failure.
pub fn boot(args: StartArgs) -> ! {
    out::set_start(process::boottime_ms());
    if process::getpid() != 1 {
        error!("must run as PID 1 (the kernel's /init)");
        process::exit(1);
    }
    early::mount_api_filesystems();
    // Before anything else is opened: the descriptors the kernel may have left closed.
    out::open_console();
    out::open_kmsg();
    // A legacy initrd: run from RAM before anything else, so the RAM disk can go later.
    #[cfg(feature = "initrd")]
    if initrd::is_ramdisk_root() {
        initrd::run_from_memory(&args);
    }
    let mut cmdline_buf = [0u8; early::CMDLINE_MAX];
    let line = early::read_cmdline(&mut cmdline_buf);
    let cfg = cmdline::boot_config(line);
    out::set_verbosity(if cfg.debug { Level::Debug } else if cfg.quiet { Level::Warn } else { Level::Info });
    rescue::set_panic(cfg.panic);
    out::stage(b"early mounts done");
    report_bad_params(&cfg);

    // The uevent socket is bound before any driver loads: events before the bind are lost.
    let devices = devices::Devices::new();
    let mut boot = Boot { args, cfg, devices };
    #[cfg(feature = "initrd")]
    if initrd::is_ramdisk_root() {
        initrd::take_real_root(&mut boot);
    }
    if cfg.modules == Some(b"all") {
        boot.devices.modules.load_all();
    } else {
        // Filesystem drivers are loaded before each mount; what else the kernel asks for
        // (crypto, nls) comes through its request_module, which runs /sbin/modprobe: that
        // is this binary (role `modprobe`).
        let _ = crate::sys::fs::mkdir(c"/sbin", 0o755);
        let _ = crate::sys::fs::symlinkat(c"/init", crate::sys::fs::Fd::CWD, c"/sbin/modprobe");
        boot.devices.coldplug();
    }
    out::stage(b"drivers loaded");
    loop {
        if let Some(delay) = boot.cfg.rootdelay {
            // rootdelay= asks for exactly this: a fixed pause before looking for devices.
            info!("rootdelay: waiting %n s"; delay as u64);
            process::sleep_ms(delay as u64 * 1000);
        }
        // Only failures come back (already reported); the rescue shell returns when the
        // user exits it, and the boot is tried again.
        if live_mode(&boot.cfg) {
            run_live(&mut boot);
        } else {
            root::run(&mut boot);
            // The root= attempt's one mount, if a refusal before the switch left it.
            // EINVAL: nothing is mounted there, nothing to undo.
            if !switch::past_point_of_no_return() {
                let _ = crate::sys::mount::umount(root::NEW_ROOT, crate::sys::mount::MNT_DETACH);
            }
        }
        if switch::past_point_of_no_return() {
            // The API mounts have moved and the initramfs may be emptied: a new attempt
            // would start without /dev, /proc or its own files.
            error!("the switch failed past the point of no return; not trying the boot again");
            loop {
                rescue::run(Some(&boot));
            }
        }
        rescue::run(Some(&boot));
        info!("trying the boot again");
    }
}

fn report_bad_params(cfg: &BootConfig) {
    for p in cfg.bad_values() {
        warning!("ignoring %s=%s: not a number", p.key, p.value.unwrap_or(b""));
    }
}

/// Live mode: asked for with `from=` or `live=`, or implied by the absence of `root=`.
fn live_mode(cfg: &BootConfig) -> bool {
    cfg!(feature = "live") && (cfg.from.is_some() || cfg.live.is_some() || cfg.root.is_none())
}

#[cfg(feature = "live")]
fn run_live(boot: &mut Boot) -> crate::Reported {
    // No device node asks for the loop driver, so nothing would load it on demand.
    boot.devices.modules.load(b"loop");
    live::run(boot)
}

#[cfg(not(feature = "live"))]
fn run_live(_: &mut Boot) -> crate::Reported {
    crate::Reported
}
