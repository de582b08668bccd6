//! Failures that nothing outside the init can cause, caused by the fault-injection hooks of
//! an init built with `--features fault-hooks` (xtask's `arch::fault_hooks_init`, built once
//! per run; no shipped build has the hooks). Each test boots Debian's kernel in QEMU (TCG)
//! into a live system on an ext4 data disk, and checks what a user would see:
//!
//! - a panic in the modprobe role (the kernel's module helper) fails the module request,
//!   and neither the booted system nor PID 1 notices beyond the failed `mount`;
//! - a panic in the middle of the shutdown role's take-down still syncs and reboots as
//!   asked; what was written before the hand-back is on the disk;
//! - a loop device whose configuration fails (the pre-5.8 LOOP_SET_FD + LOOP_SET_STATUS64
//!   path, forced on the real loop driver) is detached; the bundle is skipped by name.
//!
//! The hooks: `role/modprobe.rs` (module `fs-rdinit-test-panic`), `role/shutdown.rs` (the
//! file `/run/rdinit-test-panic`), `sys/loopdev.rs` (a backing file named
//! `*rdinit-test-loop-fail*`). The guest is tests/guest/hooks-init; consoles are kept in
//! target/boot-images/logs/hooks_<name>.log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::live_fixtures as lf;
use xtask::{ext4_image, images_dir, squashfs, tool, BootLog, Pack, Qemu, RootTree};

const HOOKS_INIT: &str = include_str!("guest/hooks-init");

/// The bundle whose loop configuration the loop hook fails (the marker in its name).
const LOOP_FAIL_BUNDLE: &str = "02-rdinit-test-loop-fail.sb";

// ---------------------------------------------------------------------------------------
// Media

/// The live initramfs with the fault-hooks init, and busybox: a panic that took the failure
/// path would find a rescue shell to start, as on a user's image.
fn initrd() -> PathBuf {
    Pack::new("hooks-live").init(xtask::arch::fault_hooks_init()).preset("live").busybox(true).build()
}

/// The base bundle: busybox, the hooks init as /sbin/init, its marker.
fn hooks_bundle() -> PathBuf {
    squashfs(&lf::base_tree("hooks-core", HOOKS_INIT, "01-hooks").build())
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// ext4 (32 MiB, label `HOOKDATA`): `slax/01-hooks.sb`, a good bundle named for the loop
/// hook, and `slax/03-after.sb`.
fn data_ext4() -> PathBuf {
    let t = RootTree::new("hooks-data")
        .file("slax/01-hooks.sb", read(&hooks_bundle()), 0o644)
        .file(&format!("slax/{LOOP_FAIL_BUNDLE}"), read(&lf::marker_squashfs("02-loop-fail", false)), 0o644)
        .file("slax/03-after.sb", read(&lf::marker_squashfs("03-after", false)), 0o644)
        .build();
    ext4_image(&t, 32, "HOOKDATA", "600c0001-0000-4000-8000-000000000001")
}

/// A live boot of the data disk with these parameters (after `--`: the guest's mode).
fn machine(name: &str, params: &str) -> Qemu {
    Qemu::new(&format!("hooks_{name}"), initrd()).append(params).timeout(Duration::from_secs(120))
}

fn run(c: &mut Command) -> (bool, String) {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The value of the guest's first `GUEST key=value` line.
fn guest_value<'a>(log: &'a BootLog, key: &str) -> &'a str {
    let prefix = format!("GUEST {key}=");
    log.lines()
        .find_map(|l| l.find(&prefix).map(|i| &l[i + prefix.len()..]))
        .unwrap_or_else(|| log.fail(&format!("no `GUEST {key}=` line")))
}

/// No failure path was entered: no rescue shell, no `panic=` handling, no second boot.
fn assert_no_rescue(log: &BootLog) {
    log.assert_not_contains("rescue")
        .assert_not_contains("failure path")
        .assert_not_contains("rdinit: no rescue shell");
    let execs = log.lines().filter(|l| l.contains("rdinit: exec /sbin/init")).count();
    if execs != 1 {
        log.fail(&format!("`rdinit: exec /sbin/init` {execs} times: the boot was not run exactly once"));
    }
}

// ---------------------------------------------------------------------------------------
// Scenarios

/// The booted system makes rdinit's modprobe role the kernel's module helper and mounts a
/// filesystem type the kernel does not know: the kernel runs the helper for
/// `fs-rdinit-test-panic`, which panics. The helper exits 1, the mount fails, and that is
/// all: no rescue shell (the helper is not PID 1), PID 1 is still the system's init, the
/// next commands run and the machine powers off through rdinit's shutdown.
#[test]
fn modprobe_panic_fails_the_request_and_nothing_else() {
    let log = machine("modprobe_panic", "-- modprobe").disk(data_ext4()).run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: exec /sbin/init",
            "GUEST mounting rdinit-test-panic",
            "rdinit: internal error (panic)",
            "GUEST modprobe helper (-q -- fs-rdinit-test-panic) exited 1",
            "GUEST mount failed",
            "GUEST still running: later command output",
            "rdinit: shutdown: poweroff",
            "reboot: Power down",
        ])
        .assert_exited();
    assert_no_rescue(&log);
    let pid1 = guest_value(&log, "pid1");
    if !pid1.contains("/sbin/init modprobe") {
        log.fail(&format!("PID 1 is {pid1:?}, not the system's /sbin/init"));
    }
}

/// The guest writes one file and syncs it, writes another without a sync, and hands over
/// with `reboot`; the shutdown role panics after its first unmount, with the union and the
/// data disk still mounted. It still syncs and reboots as asked (QEMU exits under
/// -no-reboot), starts no rescue shell, and both files are on the disk: its journal needs
/// the replay the next mount would do (the panic came before the unmount), after which
/// `e2fsck -fn` is clean and the files read back.
#[test]
fn shutdown_panic_still_syncs_and_reboots_as_asked() {
    let disk = lf::private_copy(&data_ext4(), "hooks-shutdown-panic");
    let log = machine("shutdown_panic", "changes=/slax/changes -- shutdown-panic").disk(&disk).persist_writes(true).run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: changes persist in /slax/changes",
            "GUEST handing over",
            "rdinit: shutdown: reboot, back in /run/initramfs",
            "rdinit: shutdown: fault hook: panic after unmounting /",
            "rdinit: internal error (panic)",
            "reboot: Restarting system",
        ])
        .assert_exited();
    // The take-down did not end: the panic came in its middle.
    log.assert_not_contains(", none left in ").assert_not_contains(" detached in ").assert_not_contains("Power down");
    assert_no_rescue(&log);

    let copy = images_dir().join(format!("private-hooks-shutdown-panic-check-{}.img", std::process::id()));
    std::fs::copy(&disk, &copy).unwrap_or_else(|e| panic!("copying {}: {e}", disk.display()));
    let (_, dump) = run(Command::new(tool("dumpe2fs").unwrap()).arg("-h").arg(&copy));
    if !dump.lines().any(|l| l.starts_with("Filesystem features:") && l.contains("needs_recovery")) {
        log.fail(&format!("the data disk was unmounted: the panic did not come in the middle of the take-down\n{dump}"));
    }
    let e2fsck = tool("e2fsck").unwrap();
    // The journal only, as the next mount would; then a check that changes nothing.
    let (_, replay) = run(Command::new(&e2fsck).args(["-y", "-E", "journal_only"]).arg(&copy));
    let (clean, check) = run(Command::new(&e2fsck).arg("-fn").arg(&copy));
    if !clean {
        log.fail(&format!("e2fsck -fn after the journal replay is not clean:\n{replay}\n{check}"));
    }
    for (file, want) in [("synced.txt", "synced before the hand-back\n"), ("unsynced.txt", "written before the hand-back\n")] {
        // The union's upper directory is `changes/` inside the changes dir.
        let path = format!("/slax/changes/changes/root/{file}");
        let out = Command::new(tool("debugfs").unwrap()).arg("-R").arg(format!("cat {path}")).arg(&copy).output().expect("running debugfs");
        let got = String::from_utf8_lossy(&out.stdout);
        if got != want {
            log.fail(&format!("{path} on the disk after the shutdown: {got:?}, expected {want:?} ({})", String::from_utf8_lossy(&out.stderr)));
        }
    }
    let _ = std::fs::remove_file(&copy);
}

/// The loop hook fails the configuration of the bundle named for it (LOOP_SET_FD succeeds,
/// LOOP_SET_STATUS64 is refused by the kernel): the bundle is skipped with its name and the
/// kernel's reason, the boot goes on with the others, and no loop device is left bound to
/// it (the guest lists every bound device and its backing file: there are two, the good
/// bundles).
#[test]
fn failed_loop_configuration_detaches_the_device() {
    let log = machine("loop_detach", "-- loops").disk(data_ext4()).run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: data slax on vda",
            &format!("rdinit: skipping bundle {LOOP_FAIL_BUNDLE}: mount: EOVERFLOW (75)"),
            "rdinit: exec /sbin/init",
            "GUEST done",
            "rdinit: shutdown: poweroff",
            "reboot: Power down",
        ])
        .assert_exited();
    if guest_value(&log, "markers") != "01-hooks|03-after|" {
        log.fail("the union should show the two good bundles");
    }
    let bound: Vec<&str> = log.lines().filter(|l| l.contains("GUEST bound ")).collect();
    if let Some(l) = bound.iter().find(|l| l.contains("rdinit-test-loop-fail")) {
        log.fail(&format!("a loop device is still bound to the bundle whose configuration failed: {l:?}"));
    }
    if guest_value(&log, "bound") != "2" {
        log.fail(&format!("expected the two good bundles' loop devices bound, saw {bound:?}"));
    }
    eprintln!("loop detach: {:?}", log.rdinit_lines().into_iter().find(|l| l.contains("skipping bundle")));
}
