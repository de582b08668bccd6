//! Shutdown tests (issue 4): rdinit's /run/initramfs/shutdown role on Debian's kernel in
//! QEMU, after a live boot with persistent changes.
//!
//! - Persistence across boots, for a changes dir on an ext4 data disk (shutdown run as a
//!   child, sysvinit/busybox style) and for a changes image on a FAT USB stick (exec'd by
//!   PID 1): boot 1 writes a file and deletes one that came from a bundle, boot 2 sees both.
//! - Clean unmount: after each shutdown `e2fsck -fn` finds nothing and the journal needs no
//!   replay (no `needs_recovery` feature); the FAT stick's dirty bit is clear.
//! - Power cut: QEMU is killed once the guest has synced; the next boot replays the journal
//!   and sees the file.
//! - A real systemd (debootstrap'd, cached in /var/cache/rdinit): `systemctl poweroff`
//!   hands back to /run/initramfs/shutdown, which unmounts everything and powers off.
//!
//! The guests are tests/guest/shutdown-persist (busybox /sbin/init, told what to do by the
//! command line after `--`) and tests/guest/shutdown-systemd (run by a unit). Every console
//! is kept in target/boot-images/logs/<name>.log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::{ext4_image, images_dir, squashfs, tool, vfat_image, BootLog, Drive, Pack, Qemu, RootTree};

const PERSIST_INIT: &str = include_str!("guest/shutdown-persist");
const SYSTEMD_CHECK: &str = include_str!("guest/shutdown-systemd");

const DATA_LABEL: &str = "SHUTDATA";
const FILE_FROM_BUNDLE: &str = "shipped in the bundle\n";

// ---------------------------------------------------------------------------------------
// Images

/// The live initramfs: rdinit and `--preset live` (virtio, USB storage, loop, squashfs,
/// overlay, ext4, vfat and its charsets...).
fn initrd() -> PathBuf {
    Pack::new("shutdown-live").preset("live").build()
}

/// The busybox bundle: busybox, the guest init, /etc/from-bundle to delete.
fn busybox_bundle() -> PathBuf {
    let mut t = RootTree::new("shutdown-busybox")
        .busybox(true)
        .file("sbin/init", PERSIST_INIT, 0o755)
        .file("etc/from-bundle", FILE_FROM_BUNDLE, 0o644);
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "usr"] {
        t = t.dir(d);
    }
    squashfs(&t.build())
}

/// ext4 data disk: `slax/01-busybox.sb`; the changes dir is made by the first boot.
fn ext4_data() -> PathBuf {
    let t = RootTree::new("shutdown-ext4-data").file("slax/01-busybox.sb", read(&busybox_bundle()), 0o644).build();
    ext4_image(&t, 32, DATA_LABEL, "5d0c0001-0000-4000-8000-000000000001")
}

/// FAT stick: `slax/01-busybox.sb` and `slax/changes.img` (an empty ext4).
fn fat_stick() -> PathBuf {
    let empty = RootTree::new("shutdown-changes-empty").build();
    let changes = ext4_image(&empty, 16, "changes", "5d0c0002-0000-4000-8000-000000000002");
    let t = RootTree::new("shutdown-fat-data")
        .file("slax/01-busybox.sb", read(&busybox_bundle()), 0o644)
        .file("slax/changes.img", read(&changes), 0o644)
        .build();
    vfat_image(&t, 48, "SHUTUSB", 0x5d0c_0003)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// A writable copy of `image` for one test (its boots write to it).
fn private_copy(image: &Path, name: &str) -> PathBuf {
    let out = images_dir().join(format!("private-shutdown-{name}.img"));
    std::fs::copy(image, &out).unwrap_or_else(|e| panic!("copying {}: {e}", image.display()));
    out
}

// ---------------------------------------------------------------------------------------
// Checks

fn run(c: &mut Command) -> (bool, String) {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// `e2fsck -fn` finds nothing and the journal needs no replay; `Err` says what is wrong.
fn ext4_state(image: &Path) -> Result<(), String> {
    let (ok, fsck) = run(Command::new(tool("e2fsck").unwrap()).arg("-fn").arg(image));
    let (_, dump) = run(Command::new(tool("dumpe2fs").unwrap()).arg("-h").arg(image));
    let features = dump.lines().find(|l| l.starts_with("Filesystem features:")).unwrap_or("").to_owned();
    if features.contains("needs_recovery") {
        return Err(format!("the journal needs recovery: {features}\n{fsck}"));
    }
    if !ok {
        return Err(format!("e2fsck -fn {} failed:\n{fsck}", image.display()));
    }
    Ok(())
}

/// `slax/changes.img` copied out of a FAT image.
fn changes_img_of(fat: &Path, name: &str) -> PathBuf {
    let out = images_dir().join(format!("private-shutdown-{name}-changes.img"));
    let _ = std::fs::remove_file(&out);
    let (ok, text) = run(Command::new(tool("mcopy").unwrap())
        .env("MTOOLS_SKIP_CHECK", "1")
        .args(["-n", "-i"])
        .arg(fat)
        .arg("::/slax/changes.img")
        .arg(&out));
    assert!(ok, "mcopy of changes.img failed: {text}");
    out
}

fn assert_clean_ext4(log: &BootLog, image: &Path, what: &str) {
    if let Err(e) = ext4_state(image) {
        log.fail(&format!("{what} is not clean after the shutdown: {e}"));
    }
}

/// Guest seconds from rdinit's first shutdown line to the kernel's power-down.
fn shutdown_seconds(log: &BootLog) -> Option<f64> {
    let start = log.printk_time_at("rdinit: shutdown: poweroff")?;
    let end = log.printk_time_at("reboot: Power down")?;
    Some(end - start)
}

fn report_time(log: &BootLog) {
    match shutdown_seconds(log) {
        Some(s) => eprintln!("{}: shutdown took {:.3} s guest time ({:.1} s wall for the boot)", log.name, s, log.wall.as_secs_f64()),
        None => eprintln!("{}: no shutdown timing in the log", log.name),
    }
}

/// What every good shutdown through rdinit shows.
fn assert_powered_off(log: &BootLog) {
    log.assert_no_panic()
        .assert_in_order(&["rdinit: shutdown: poweroff", "rdinit: shutdown: unmounted ", "reboot: Power down"])
        .assert_exited();
    log.assert_not_contains("rdinit: shutdown: reboot");
}

/// A live boot of `disk` (written to for real) with these parameters.
fn boot(name: &str, disk: Drive, params: &str) -> Qemu {
    Qemu::new(name, initrd()).drive(disk).append(params).persist_writes(true).timeout(Duration::from_secs(120))
}

// ---------------------------------------------------------------------------------------
// Scenarios

/// Changes dir on ext4; shutdown run as a child of the init (sysvinit/busybox style): rdinit
/// stops the others, pivots back into /run/initramfs itself. The old init keeps the union
/// busy, so it is remounted read-only and detached; the data disk must still be clean.
#[test]
fn persist_changes_dir_on_ext4_shutdown_as_child() {
    let disk = private_copy(&ext4_data(), "ext4-child");
    let params = "changes=/slax/changes";
    let log = boot("shutdown_ext4_child_1", Drive::Virtio(disk.clone()), &format!("{params} -- write child")).run();
    log.assert_in_order(&[
        "rdinit: changes persist in /slax/changes",
        "GUEST wrote, shutting down as child",
        "rdinit: shutdown: signal 15 to 1 processes",
        "rdinit: shutdown: poweroff, back in /run/initramfs",
    ]);
    assert_powered_off(&log);
    log.assert_not_contains("GUEST shutdown returned");
    report_time(&log);
    assert_clean_ext4(&log, &disk, "the ext4 data disk");

    let log = boot("shutdown_ext4_child_2", Drive::Virtio(disk.clone()), &format!("{params} -- check")).run();
    log.assert_contains("GUEST persisted=written before shutdown").assert_contains("GUEST from-bundle=deleted");
    assert_powered_off(&log);
    log.assert_contains("rdinit: shutdown: unmounted /memory/data (/dev/vda)")
        .assert_contains(", none left in ");
    report_time(&log);
    assert_clean_ext4(&log, &disk, "the ext4 data disk");
}

/// Changes image on a FAT USB stick; shutdown exec'd by PID 1: everything unmounts, the
/// changes image and the stick are clean.
#[test]
fn persist_changes_image_on_fat_shutdown_exec() {
    let stick = private_copy(&fat_stick(), "fat-exec");
    let params = "changes=/slax/changes.img";
    let log = boot("shutdown_fat_exec_1", Drive::Usb(stick.clone()), &format!("{params} -- write exec")).run();
    log.assert_in_order(&[
        "rdinit: changes persist in /slax/changes.img",
        "GUEST wrote, shutting down as exec",
        // The `sleep` left behind in /root.
        "rdinit: shutdown: signal 15 to 1 processes",
        "rdinit: shutdown: poweroff, back in /run/initramfs",
    ]);
    assert_powered_off(&log);
    log.assert_contains("rdinit: shutdown: unmounted /memory/data (/dev/sda)")
        .assert_contains(", none left in ");
    report_time(&log);
    assert_clean_ext4(&log, &changes_img_of(&stick, "fat-exec"), "the changes image");
    let (ok, fsck) = run(Command::new(tool("fsck.vfat").unwrap()).arg("-n").arg(&stick));
    if !ok || fsck.to_lowercase().contains("dirty") {
        log.fail(&format!("the FAT stick is not clean after the shutdown:\n{fsck}"));
    }

    let log = boot("shutdown_fat_exec_2", Drive::Usb(stick.clone()), &format!("{params} -- check")).run();
    log.assert_contains("GUEST persisted=written before shutdown").assert_contains("GUEST from-bundle=deleted");
    assert_powered_off(&log);
    report_time(&log);
}

/// Power cut after sync: the journal is left to replay, the next boot replays it and sees
/// the file and the deletion; its own shutdown leaves the disk clean.
#[test]
fn power_cut_after_sync_loses_nothing() {
    let disk = private_copy(&ext4_data(), "cut");
    let params = "changes=/slax/changes";
    let log = boot("shutdown_cut_1", Drive::Virtio(disk.clone()), &format!("{params} -- cut"))
        .stop_at("GUEST synced, pull the plug")
        .run();
    log.assert_no_panic().assert_contains("GUEST synced, pull the plug");
    // Proof that the plug was pulled on a mounted filesystem.
    match ext4_state(&disk) {
        Err(e) if e.contains("needs recovery") => {}
        other => log.fail(&format!("after the power cut the journal should need recovery: {other:?}")),
    }
    let log = boot("shutdown_cut_2", Drive::Virtio(disk.clone()), &format!("{params} -- check")).run();
    log.assert_contains("recovery complete")
        .assert_contains("GUEST cut=written before the power cut")
        .assert_contains("GUEST from-bundle=deleted");
    assert_powered_off(&log);
    assert_clean_ext4(&log, &disk, "the ext4 data disk");
}

/// A disk that stops writing while dirty data waits for it (a stuck device, or what a dead
/// network filesystem looks like to the kernel): QEMU throttles its writes to one byte a
/// second after the guest has mounted it and written 8 MiB. The sync, the read-only remount
/// and the unmount of that mount each get STALL_MS without progress, then the mount is
/// detached and the machine still powers off, the data disk clean.
#[test]
fn stuck_disk_is_given_up_and_the_machine_powers_off() {
    let disk = private_copy(&ext4_data(), "stuck");
    let stuck = private_copy(&ext4_image(&RootTree::new("shutdown-stuck-empty").build(), 32, "STUCK", "5d0c0005-0000-4000-8000-000000000005"), "stuck-disk");
    let log = boot("shutdown_stuck", Drive::Virtio(disk.clone()), "changes=/slax/changes -- stuck")
        .drive(Drive::Virtio(stuck))
        .monitor_after("GUEST dirty data on the disk to stop", Duration::ZERO, "block_set_io_throttle virtio1 0 0 1 0 0 0")
        .timeout(Duration::from_secs(240))
        .run();
    log.assert_in_order(&[
        "GUEST dirty data on the disk to stop",
        "rdinit: shutdown: sync stalled for 10 s; going on",
        "rdinit: shutdown: poweroff",
        "rdinit: shutdown: umount /oldroot/mnt/stuck: ETIMEDOUT (110); detaching it",
        "rdinit: shutdown: unmounted /memory/data (/dev/vda)",
        "reboot: Power down",
    ]);
    log.assert_no_panic().assert_exited();
    report_time(&log);
    assert_clean_ext4(&log, &disk, "the ext4 data disk");
}

// ---------------------------------------------------------------------------------------
// A real systemd

/// The unit that powers the machine off once multi-user.target is reached.
const TEST_UNIT: &str = "[Unit]
Description=rdinit shutdown test: power off once multi-user is reached
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/rdinit-test
StandardOutput=journal+console
";

/// A debootstrap'd Debian with systemd (cached), plus a bundle with the test unit, on an
/// ext4 data disk with persistent changes: `systemctl poweroff` must hand back to rdinit,
/// which unmounts everything and powers off, leaving the disk clean.
#[test]
fn systemd_hands_back_to_rdinit_and_powers_off() {
    let system = xtask::systemd::bundle();
    let test = RootTree::new("shutdown-systemd-test")
        .file("usr/local/sbin/rdinit-test", SYSTEMD_CHECK, 0o755)
        .file("etc/systemd/system/rdinit-test.service", TEST_UNIT, 0o644)
        .symlink("etc/systemd/system/multi-user.target.wants/rdinit-test.service", "/etc/systemd/system/rdinit-test.service")
        .build();
    let size_mib = (std::fs::metadata(&system).unwrap().len() >> 20) + 64;
    let data = RootTree::new("shutdown-systemd-data")
        .file("slax/01-systemd.sb", read(&system), 0o644)
        .file("slax/02-test.sb", read(&squashfs(&test)), 0o644)
        .build();
    let disk = private_copy(&ext4_image(&data, size_mib, "SYSDATA", "5d0c0004-0000-4000-8000-000000000004"), "systemd");
    let log = Qemu::new("shutdown_systemd", initrd())
        .disk(&disk)
        .persist_writes(true)
        .memory(1024)
        .append("changes=/slax/changes")
        .timeout(Duration::from_secs(420))
        .run();
    log.assert_in_order(&[
        "rdinit: changes persist in /slax/changes",
        "GUEST systemd reached multi-user",
        "GUEST calling systemctl poweroff",
        "Returning to initrd",
        "rdinit: shutdown: poweroff",
        "rdinit: shutdown: unmounted ",
        "(/dev/vda)",
        ", none left in ",
        "reboot: Power down",
    ]);
    log.assert_no_panic().assert_exited();
    log.assert_not_contains("rdinit: shutdown: poweroff, back in").assert_not_contains("rdinit: shutdown: umount ");
    report_time(&log);
    assert_clean_ext4(&log, &disk, "the ext4 data disk");
}
