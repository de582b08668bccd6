//! rdinit as the init of a legacy initrd (issue 10; the kernel's
//! Documentation/admin-guide/initrd.rst): an ext2 image the kernel copies into /dev/ram0 and
//! mounts as `/` with `root=/dev/ram0`; rdinit finds the root that `real_root=` names,
//! pivots to it and frees the RAM disk.
//!
//! Debian's kernels build the RAM disk driver as a module, which cannot hold an initrd, so
//! these boots use the kernel built from Debian's source (xtask/src/kbuild.rs) with brd
//! built in and no initramfs built in.

use std::path::PathBuf;
use xtask::arch::Arch;
use xtask::fixtures::{self, BALLAST_MIB, ROOT_LABEL};
use xtask::{kbuild, BootLog, Pack, Qemu};

/// The ext2 initrd: rdinit (at /init and /sbin/init) and the ballast, gzip-compressed as
/// boot loaders hand it over. No modules: everything is built into this kernel.
fn initrd_image() -> PathBuf {
    Pack::new("initrd-ext2")
        .no_kernel()
        .compress("gzip")
        .arg("--format")
        .arg("ext2")
        .file(fixtures::ballast(), "/ballast")
        .build()
}

/// The kernel with brd built in and no initramfs of its own.
fn kernel() -> PathBuf {
    kbuild::kernel_image(Arch::X86_64, None).unwrap_or_else(|e| panic!("building the kernel: {e:#}"))
}

/// Boots the initrd on the probe root disk with `params` after `root=/dev/ram0`.
fn boot(name: &str, params: &str) -> BootLog {
    // The RAM disk holds the whole image: the default 4 MiB would not take the ballast.
    let ramdisk_kib = (BALLAST_MIB + 8) << 10;
    Qemu::new(name, initrd_image())
        .kernel(kernel())
        .disk(fixtures::root_ext4())
        .append(&format!("root=/dev/ram0 ramdisk_size={ramdisk_kib} {params}"))
        .run()
}

/// The number in rdinit's "initrd: /dev/ram0 released, N kB freed".
fn freed_kib(log: &BootLog) -> u64 {
    let line = log.line_with("rdinit: initrd: /dev/ram0 released, ").unwrap_or_else(|| log.fail("no release line"));
    let n = line.split("released, ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| log.fail("no number in the release line"))
}

#[test]
fn initrd_switches_to_real_root_and_frees_the_ram_disk() {
    let log = boot("initrd_real_root", &format!("real_root=LABEL={ROOT_LABEL}"));
    log.assert_no_panic().assert_in_order(&[
        // The kernel loaded the image into the RAM disk and ran rdinit from it.
        "RAMDISK: gzip image found at block 0",
        &format!("rdinit: root LABEL={ROOT_LABEL} is vda (ext4)"),
        "rdinit: initrd: /dev/ram0 released, ",
        "rdinit: exec /sbin/init",
        "PROBE pid=1",
    ]);
    log.assert_probe("root", "/dev/vda ext4 ro")
        .assert_contains("PROBE mount /dev devtmpfs")
        .assert_contains("PROBE mount /proc proc")
        .assert_probe("initramfs-gone", "yes")
        .assert_contains("PROBE done")
        .assert_exited();
    // The RAM disk held the ballast twice over (its pages and the page cache copy the
    // kernel wrote them through); at least one copy must come back.
    let freed = freed_kib(&log);
    if freed < BALLAST_MIB << 10 {
        log.fail(&format!("only {freed} kB freed: the RAM disk's {BALLAST_MIB} MiB ballast is still held"));
    }
    // And the real root sees it free.
    let memfree: u64 = log.probe("memfree-kb").and_then(|v| v.parse().ok()).unwrap_or_else(|| log.fail("no memfree-kb"));
    if memfree < BALLAST_MIB << 10 {
        log.fail(&format!("{memfree} kB free in the real root"));
    }
}

/// `root=/dev/ram0` alone names the RAM disk itself: rdinit says which parameter names the
/// real root, and does not boot the RAM disk as the root a second time.
#[test]
fn initrd_without_real_root_names_the_parameter() {
    let log = boot("initrd_no_real_root", "rootwait=2");
    log.assert_no_panic()
        .assert_contains("rdinit: initrd: / is /dev/ram0: name the real root with real_root=")
        .assert_not_contains("PROBE pid=1")
        .assert_not_contains("rdinit: exec /sbin/init");
}
