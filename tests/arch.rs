//! Every architecture, on Debian's own kernels (issue 9): rdinit built for aarch64, armv7
//! (Thumb-2) and riscv64 boots Debian's kernel for that architecture in QEMU (TCG, `-M
//! virt`, virtio-mmio disks whose driver is a module found by its `of:` modalias), and the
//! x86_64 init boots trixie's 6.12 kernel (.ko.xz modules, merged /usr, overlayfs'
//! `lowerdir+`) as the other boot tests boot bookworm's 6.1.
//!
//! Each board boots three ways:
//! - root= to an ext4 root whose init is that architecture's busybox-static, a real busybox
//!   init with an inittab: its rcS says what `uname -m` is, then `poweroff` through init;
//! - a live boot from a squashfs bundle with persistent changes on the ext4 data disk
//!   (tests/guest/shutdown-persist as the bundle's init): the first boot writes a file and
//!   deletes one that came from the bundle, the second sees both, and the mode and mtime
//!   of a rootcopy/ file (stat and utimensat through the 32-bit ABI on armv7);
//! - each live boot ends with the shutdown hand-back (`/run/initramfs/shutdown poweroff`
//!   exec'd by PID 1): everything unmounted, powered off, the data disk clean (`e2fsck -fn`).
//!
//! Kernels and busyboxes are downloaded once (apt-get download, dpkg-deb -x) into
//! /var/cache/rdinit; each image is built once per run and shared. Logs are in
//! target/boot-images/logs/arch_<board>_*.log.

use std::path::PathBuf;
use std::time::Duration;
use xtask::arch::{board, init, Arch, Board};
use xtask::{ext4_image, images_dir, squashfs, BootLog, Pack, Qemu, RootTree};

const PERSIST_INIT: &str = include_str!("guest/shutdown-persist");
const FILE_FROM_BUNDLE: &str = "shipped in the bundle\n";
const ROOT_LABEL: &str = "archroot";
const DATA_LABEL: &str = "archdata";
/// Mode and mtime (2037-01-01 00:00 UTC: the small ext4's 128-byte inodes hold no later
/// time) of the data dir's `rootcopy/etc/rootcopy.conf`.
const ROOTCOPY_MODE: u32 = 0o640;
const ROOTCOPY_MTIME: u64 = 2_114_380_800;

/// Wall-clock limit of one boot: riscv64 under TCG takes about a minute to its init.
const TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------
// Images, one set per board

/// busybox's init reads this: the rcS once, then the shutdown action at `poweroff`.
const INITTAB: &str = "::sysinit:/bin/echo ARCHTEST sysinit\n::once:/etc/init.d/rcS\n::shutdown:/bin/echo ARCHTEST shutdown action\n";

/// What the user of the booted system would look at.
const RCS: &str = r#"#!/bin/sh
echo "ARCHTEST uname-m=$(uname -m)"
echo "ARCHTEST pid1=$(cat /proc/1/comm)"
while read -r src mnt fstype opts rest; do
	[ "$mnt" = / ] && root="$src $fstype ${opts%%,*}"
done < /proc/mounts
echo "ARCHTEST root=$root"
if [ -e /init ]; then echo "ARCHTEST initramfs-gone=no"; else echo "ARCHTEST initramfs-gone=yes"; fi
poweroff
"#;

/// ext4 root: busybox-static of the board's architecture as /sbin/init with [`INITTAB`].
fn root_ext4(b: &Board) -> PathBuf {
    let mut t = RootTree::new(&format!("arch-root-{}", b.name()))
        .busybox_from(&b.busybox)
        .symlink("sbin/init", "/bin/busybox")
        .file("etc/inittab", INITTAB, 0o644)
        .file("etc/init.d/rcS", RCS, 0o755);
    for d in ["dev", "proc", "sys", "run", "tmp", "root"] {
        t = t.dir(d);
    }
    ext4_image(&t.build(), 16, ROOT_LABEL, "a7c40001-0000-4000-8000-000000000009")
}

/// The live data disk: `slax/01-busybox.sb` (busybox, the persist guest as /sbin/init,
/// /etc/from-bundle); the changes dir is made by the first boot.
fn live_ext4(b: &Board) -> PathBuf {
    let mut t = RootTree::new(&format!("arch-bundle-{}", b.name()))
        .busybox_from(&b.busybox)
        .file("sbin/init", PERSIST_INIT, 0o755)
        .file("etc/from-bundle", FILE_FROM_BUNDLE, 0o644);
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "usr"] {
        t = t.dir(d);
    }
    let bundle = std::fs::read(squashfs(&t.build())).expect("reading the bundle");
    let data = RootTree::new(&format!("arch-data-{}", b.name()))
        .file("slax/01-busybox.sb", bundle, 0o644)
        .file("slax/rootcopy/etc/rootcopy.conf", "from rootcopy\n", ROOTCOPY_MODE)
        .build();
    // Carried through fstatat64 and utimensat_time64 on the 32-bit ABI.
    let f = std::fs::File::options().write(true).open(data.join("slax/rootcopy/etc/rootcopy.conf")).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(ROOTCOPY_MTIME)).expect("setting the mtime");
    ext4_image(&data, 32, DATA_LABEL, "a7c40002-0000-4000-8000-000000000009")
}

/// The initramfs: rdinit for the board's architecture and the modules of its kernel.
fn initrd(b: &Board, preset: &str) -> PathBuf {
    let mut p = Pack::new(&format!("arch-{preset}-{}", b.name()))
        .init(init(b.arch))
        .modules_dir(&b.kernel.modules_dir)
        .preset(preset);
    if preset == "storage" {
        p = p.module("ext4");
    }
    p.build()
}

fn machine(b: &Board, name: &str, initrd: PathBuf) -> Qemu {
    Qemu::new(&format!("arch_{}_{name}", b.name()), initrd).board(b).timeout(TIMEOUT)
}

// ---------------------------------------------------------------------------------------
// Checks

/// Milliseconds from the kernel's `Run /init` to rdinit's exec of the real init, both on
/// the printk clock (real time under TCG: a loaded host stretches it).
fn init_to_exec_ms(log: &BootLog) -> Option<f64> {
    let run_init = log.printk_time_at("Run /init as init process")?;
    let exec = log.printk_time_at("rdinit: exec /sbin/init")?;
    Some((exec - run_init) * 1000.0)
}

fn report(b: &Board, log: &BootLog) {
    let t = init_to_exec_ms(log).map_or("?".to_owned(), |ms| format!("{ms:.0} ms"));
    eprintln!("{}: /init -> exec {t}, {:.1} s wall ({})", log.name, log.wall.as_secs_f64(), b.packages.join(", "));
}

/// What a good shutdown through rdinit shows.
fn assert_powered_off(log: &BootLog) {
    log.assert_no_panic()
        .assert_in_order(&["rdinit: shutdown: poweroff", "rdinit: shutdown: unmounted ", "reboot: Power down"])
        .assert_contains(", none left in ")
        .assert_exited();
}

// ---------------------------------------------------------------------------------------
// Scenarios, the same for every board

/// root= by label to the ext4 root; busybox's own init runs there on the right CPU.
fn root_boot(b: &Board) {
    let log = machine(b, "root", initrd(b, "storage"))
        .disk(root_ext4(b))
        .append(&format!("root=LABEL={ROOT_LABEL} debug"))
        .run();
    log.assert_in_order(&[
        &format!("root LABEL={ROOT_LABEL} is vda (ext4)"),
        "exec /sbin/init",
        // busybox init's own actions from the inittab, and its own shutdown.
        "ARCHTEST sysinit",
        &format!("ARCHTEST uname-m={}", b.arch.uname_m()),
        "ARCHTEST pid1=init",
        "ARCHTEST root=/dev/vda ext4 ro",
        "ARCHTEST initramfs-gone=yes",
        "ARCHTEST shutdown action",
        "The system is going down NOW!",
        "reboot: Power down",
    ]);
    // A module loaded by alias that finds no device or CPU feature of its kind (armv7's
    // crc32_arm_ce beside crc32-arm for ext4's crc32c) fails quietly, as with modprobe.
    log.assert_not_contains(": ENODEV (19)");
    log.assert_no_panic().assert_exited();
    report(b, &log);
}

/// A live boot with changes persisted in a dir on the data disk, across two boots, each
/// ending in the shutdown hand-back.
fn live_persist_and_shutdown(b: &Board) {
    let disk = images_dir().join(format!("private-arch-{}.img", b.name()));
    std::fs::copy(live_ext4(b), &disk).expect("copying the data disk");
    let params = "changes=/slax/changes debug";
    let boot = |n: u32, guest: &str| {
        machine(b, &format!("live_{n}"), initrd(b, "live"))
            .disk(&disk)
            .persist_writes(true)
            .append(&format!("{params} -- {guest}"))
            .run()
    };

    let log = boot(1, "write exec");
    log.assert_in_order(&[
        "rdinit: changes persist in /slax/changes",
        "GUEST wrote, shutting down as exec",
        "rdinit: shutdown: poweroff, back in /run/initramfs",
    ]);
    assert_powered_off(&log);
    report(b, &log);
    log.assert_ext4_clean(&disk);

    let log = boot(2, "check");
    log.assert_contains("GUEST persisted=written before shutdown")
        .assert_contains("GUEST from-bundle=deleted")
        .assert_contains(&format!("GUEST rootcopy={ROOTCOPY_MODE:o} {ROOTCOPY_MTIME}"));
    assert_powered_off(&log);
    log.assert_contains("rdinit: shutdown: unmounted /memory/data (/dev/vda)");
    report(b, &log);
    log.assert_ext4_clean(&disk);
}

// ---------------------------------------------------------------------------------------
// The boards

#[test]
fn aarch64_bookworm_root() {
    root_boot(board(Arch::Aarch64, "bookworm"));
}

#[test]
fn aarch64_bookworm_live_persist_shutdown() {
    live_persist_and_shutdown(board(Arch::Aarch64, "bookworm"));
}

#[test]
fn armv7_bookworm_root() {
    root_boot(board(Arch::Armv7, "bookworm"));
}

#[test]
fn armv7_bookworm_live_persist_shutdown() {
    live_persist_and_shutdown(board(Arch::Armv7, "bookworm"));
}

#[test]
fn riscv64_trixie_root() {
    root_boot(board(Arch::Riscv64, "trixie"));
}

#[test]
fn riscv64_trixie_live_persist_shutdown() {
    live_persist_and_shutdown(board(Arch::Riscv64, "trixie"));
}

#[test]
fn x86_64_trixie_root() {
    root_boot(board(Arch::X86_64, "trixie"));
}

#[test]
fn x86_64_trixie_live_persist_shutdown() {
    live_persist_and_shutdown(board(Arch::X86_64, "trixie"));
}
