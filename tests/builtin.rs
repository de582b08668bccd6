//! rdinit built into the kernel image (issue 10): Linux from Debian's linux-source-6.12 (trixie),
//! built small with everything built in and no modules (xtask/src/kbuild.rs), with the
//! packer's `--emit-list` output as CONFIG_INITRAMFS_SOURCE. QEMU boots it with no
//! `-initrd`, on x86_64 and on aarch64 (`-M virt`, cross-compiled kernel):
//!
//! - root= to an ext4 root whose /sbin/init says what `uname -r` is and whether any module
//!   tree exists, then runs the probe init (tests/guest/probe-init);
//! - a live boot from a squashfs bundle with persistent changes on the ext4 data disk, over
//!   two boots, each ended by the shutdown hand-back (as tests/arch.rs's live scenario).
//!
//! The image carries no modules and no /lib/modules tree: rdinit must find every driver
//! already in the kernel. The kernel is built once and cached under /var/cache/rdinit
//! (5 to 11 minutes an architecture cold on 2 cores); each new list relinks it (15–50 s).
//! Logs are in target/boot-images/logs/builtin_<arch>_*.log.

use std::path::PathBuf;
use std::time::Duration;
use xtask::arch::{board, init, Arch};
use xtask::kbuild::{kernel_build, KernelImage};
use xtask::{ext4_image, images_dir, squashfs, BootLog, Pack, Qemu, RootTree, PROBE_INIT};

const PERSIST_INIT: &str = include_str!("guest/shutdown-persist");
const FILE_FROM_BUNDLE: &str = "shipped in the bundle\n";
const ROOT_LABEL: &str = "builtinroot";
const DATA_LABEL: &str = "builtindata";

/// Wall-clock limit of one boot (aarch64 under TCG is the slower; the host is shared).
const TIMEOUT: Duration = Duration::from_secs(300);

/// The real init of both scenarios: what a user of the booted system would check first
/// (which kernel runs, whether it has modules at all), then the scenario's own init.
fn wrapper(next: &str) -> String {
    format!(
        "#!/bin/sh\n\
         echo \"BUILTIN uname-r=$(uname -r)\"\n\
         if [ -e /lib/modules ]; then echo BUILTIN lib-modules=present; else echo BUILTIN lib-modules=absent; fi\n\
         echo \"BUILTIN modules-loaded=$(wc -l 2>/dev/null < /proc/modules || echo none)\"\n\
         exec {next} \"$@\"\n"
    )
}

/// A busybox-static that runs on `arch`: the host's for x86_64, Debian bookworm's
/// busybox-static:arm64 (downloaded, unpacked) for aarch64.
fn busybox(arch: Arch) -> PathBuf {
    match arch {
        Arch::X86_64 => PathBuf::from("/bin/busybox"),
        _ => board(arch, "bookworm").busybox.clone(),
    }
}

/// The built-in initramfs: rdinit for `arch`, no modules (`rdinit-pack` without
/// `--kernel-release`, `--modules-dir`, `--module` or `--preset`), as a gen_init_cpio list.
fn builtin_list(arch: Arch) -> PathBuf {
    let list = images_dir().join(format!("builtin-{}.list", arch.name()));
    Pack::new(&format!("builtin-{}", arch.name())).init(init(arch)).no_kernel().emit_list(&list).build();
    let text = std::fs::read_to_string(&list).expect("reading the emitted list");
    assert!(text.contains("file /init "), "{} has no /init:\n{text}", list.display());
    assert!(!text.contains("/lib/modules"), "{} has a module tree:\n{text}", list.display());
    list
}

/// The kernel with rdinit built in.
fn kernel(arch: Arch) -> KernelImage {
    kernel_build(arch, Some(&builtin_list(arch))).unwrap_or_else(|e| panic!("building the kernel for {}: {e:#}", arch.name()))
}

fn machine(arch: Arch, name: &str, k: &KernelImage) -> Qemu {
    Qemu::new(&format!("builtin_{}_{name}", arch.name()), "")
        .without_initrd()
        .arch(arch)
        .kernel(&k.image)
        .timeout(TIMEOUT)
}

/// What every boot of the built-in image shows: no initrd was given (the QEMU command has
/// none, the kernel unpacked none), and the real init runs on the kernel built here, with
/// no module tree anywhere.
fn assert_builtin(log: &BootLog, k: &KernelImage) {
    if log.command.contains("-initrd") {
        log.fail("the QEMU command has an -initrd");
    }
    log.assert_no_panic()
        // The kernel's line for an initrd from the boot loader; the built-in one has none.
        .assert_not_contains("Trying to unpack rootfs image as initramfs")
        .assert_not_contains("rdinit: module")
        .assert_in_order(&[
            &format!("Linux version {} ", k.release),
            "Run /init as init process",
            "rdinit: exec /sbin/init",
            &format!("BUILTIN uname-r={}", k.release),
            "BUILTIN lib-modules=absent",
            "BUILTIN modules-loaded=none",
        ]);
}

// ---------------------------------------------------------------------------------------
// root=

fn root_disk(arch: Arch) -> PathBuf {
    let mut t = RootTree::new(&format!("builtin-root-{}", arch.name()))
        .busybox_from(busybox(arch))
        .file("sbin/probe-init", PROBE_INIT, 0o755)
        .file("sbin/init", wrapper("/sbin/probe-init"), 0o755);
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "mnt"] {
        t = t.dir(d);
    }
    ext4_image(&t.build(), 16, ROOT_LABEL, "b1c40001-0000-4000-8000-00000000000a")
}

fn root_boot(arch: Arch) {
    let k = kernel(arch);
    let log = machine(arch, "root", &k).disk(root_disk(arch)).append(&format!("root=LABEL={ROOT_LABEL}")).run();
    assert_builtin(&log, &k);
    log.assert_in_order(&[&format!("rdinit: root LABEL={ROOT_LABEL} is vda (ext4)"), "PROBE pid=1", "PROBE done"])
        .assert_probe("root", "/dev/vda ext4 ro")
        .assert_contains("PROBE mount /dev devtmpfs")
        .assert_contains("PROBE mount /proc proc")
        .assert_contains("PROBE mount /sys sysfs")
        .assert_contains("PROBE mount /run tmpfs")
        .assert_probe("initramfs-gone", "yes")
        .assert_exited();
    eprintln!(
        "{}: {} {} bytes compressed, {:.1} s wall",
        log.name,
        k.compressed.display(),
        k.compressed_size().unwrap_or(0),
        log.wall.as_secs_f64()
    );
}

#[test]
fn x86_64_builtin_root() {
    root_boot(Arch::X86_64);
}

#[test]
fn aarch64_builtin_root() {
    root_boot(Arch::Aarch64);
}

// ---------------------------------------------------------------------------------------
// Live, with persistent changes

/// The data disk: `slax/01-busybox.sb` (busybox, the persist guest behind the wrapper as
/// /sbin/init, /etc/from-bundle); the changes dir is made by the first boot.
fn live_disk(arch: Arch) -> PathBuf {
    let mut t = RootTree::new(&format!("builtin-bundle-{}", arch.name()))
        .busybox_from(busybox(arch))
        .file("sbin/persist-init", PERSIST_INIT, 0o755)
        .file("sbin/init", wrapper("/sbin/persist-init"), 0o755)
        .file("etc/from-bundle", FILE_FROM_BUNDLE, 0o644);
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "usr"] {
        t = t.dir(d);
    }
    let bundle = std::fs::read(squashfs(&t.build())).expect("reading the bundle");
    let data = RootTree::new(&format!("builtin-data-{}", arch.name())).file("slax/01-busybox.sb", bundle, 0o644).build();
    ext4_image(&data, 32, DATA_LABEL, "b1c40002-0000-4000-8000-00000000000a")
}

fn assert_powered_off(log: &BootLog) {
    log.assert_in_order(&["rdinit: shutdown: poweroff", "rdinit: shutdown: unmounted ", "reboot: Power down"])
        .assert_contains(", none left in ")
        .assert_exited();
}

fn live_persist(arch: Arch) {
    let k = kernel(arch);
    let disk = images_dir().join(format!("private-builtin-{}.img", arch.name()));
    std::fs::copy(live_disk(arch), &disk).expect("copying the data disk");
    let boot = |n: u32, guest: &str| {
        machine(arch, &format!("live_{n}"), &k)
            .disk(&disk)
            .persist_writes(true)
            .append(&format!("changes=/slax/changes -- {guest}"))
            .run()
    };

    let log = boot(1, "write exec");
    assert_builtin(&log, &k);
    log.assert_in_order(&[
        "rdinit: changes persist in /slax/changes",
        "GUEST wrote, shutting down as exec",
        "rdinit: shutdown: poweroff, back in /run/initramfs",
    ]);
    assert_powered_off(&log);
    log.assert_ext4_clean(&disk);

    let log = boot(2, "check");
    assert_builtin(&log, &k);
    log.assert_contains("GUEST persisted=written before shutdown").assert_contains("GUEST from-bundle=deleted");
    assert_powered_off(&log);
    log.assert_contains("rdinit: shutdown: unmounted /memory/data (/dev/vda)");
    log.assert_ext4_clean(&disk);
}

#[test]
fn x86_64_builtin_live_persist() {
    live_persist(Arch::X86_64);
}

#[test]
fn aarch64_builtin_live_persist() {
    live_persist(Arch::Aarch64);
}
