//! Boot tests: Debian's kernel in QEMU (TCG) with rdinit as /init, asserting on the console.
//!
//! Images come from the xtask harness (built once per run under target/boot-images/, shared
//! between scenarios); at most two QEMUs run at once. A failing scenario prints its whole
//! console; every log is also kept in target/boot-images/logs/<test>.log.
//!
//! `harness_*` tests boot a hand-made busybox initramfs instead of rdinit: they prove the
//! harness itself (QEMU, serial capture and input, monitor hot-add, timeouts, the image
//! builders and the probe init) whatever the state of the init.

use std::time::Duration;
use xtask::fixtures::{self, *};
use xtask::selftest::busybox_initramfs;
use xtask::{erofs, iso, squashfs, BootLog, Outcome, Qemu, RootTree};

// ---------------------------------------------------------------------------------------
// Helpers

/// What every successful switch to a probe root shows.
fn assert_switched(log: &BootLog, source: &str, fstype: &str, mode: &str) {
    log.assert_no_panic()
        .assert_probe("pid", "1")
        .assert_probe("root", &format!("{source} {fstype} {mode}"))
        .assert_contains("PROBE mount /dev devtmpfs")
        .assert_contains("PROBE mount /proc proc")
        .assert_contains("PROBE mount /sys sysfs")
        .assert_contains("PROBE mount /run tmpfs")
        .assert_probe("initramfs-gone", "yes")
        .assert_contains("PROBE done")
        .assert_exited();
}

/// rdinit with the storage initramfs, one virtio disk, these parameters.
fn boot(name: &str, initrd: std::path::PathBuf, disk: std::path::PathBuf, params: &str) -> BootLog {
    Qemu::new(name, initrd).disk(disk).append(params).run()
}

const TYPED: &str = "echo RESCUE-$((40+2))\n";
const RESCUE: &str = "rdinit: starting rescue shell /bin/sh";

/// Boots into the rescue path and types into the shell once it starts.
fn boot_rescue(name: &str, disk: std::path::PathBuf, params: &str) -> BootLog {
    Qemu::new(name, fixtures::initrd_busybox())
        .disk(disk)
        .append(params)
        .send_on(RESCUE, TYPED)
        .stop_at("RESCUE-42")
        .run()
}

// ---------------------------------------------------------------------------------------
// root= scenarios

#[test]
fn root_dev_vda() {
    let log = boot("root_dev_vda", fixtures::initrd(), fixtures::root_ext4(), "root=/dev/vda");
    log.assert_in_order(&["rdinit: root /dev/vda is vda (ext4)", "rdinit: exec /sbin/init", "PROBE pid=1"]);
    assert_switched(&log, "/dev/vda", "ext4", "ro");
    log.assert_probe("args", "");
}

/// A zstd-compressed module on a kernel that cannot decompress it (6.1: nothing; 6.12: xz
/// only): named with the reason, and the boot goes on without it (`modules=all`: isofs is no
/// driver of this machine, so it would not be loaded on demand).
#[test]
fn compressed_module_the_kernel_cannot_load_is_named_and_the_boot_goes_on() {
    let log = boot("compressed_module", fixtures::initrd_compressed_module(), fixtures::root_ext4(), "root=/dev/vda modules=all");
    // Without decompression the kernel refuses the flag; with another algorithm's, the
    // decompression fails.
    let decompresses = fixtures::kernel_decompresses();
    let errno = if decompresses == "none" { "ENOTSUP (95)" } else { "EINVAL (22)" };
    log.assert_in_order(&[
        &format!(
            "rdinit: module {COMPRESSED_MODULE}: {errno} (compressed with zstd; this kernel decompresses: {decompresses})"
        ),
        "rdinit: exec /sbin/init",
    ]);
    assert_switched(&log, "/dev/vda", "ext4", "ro");
}

#[test]
fn root_label_with_debug_stages() {
    let params = format!("root=LABEL={ROOT_LABEL} debug");
    let log = boot("root_label", fixtures::initrd(), fixtures::root_ext4(), &params);
    // With `debug` every rdinit line may carry its `[<ms> ms] ` stamp after `rdinit: `.
    log.assert_in_order(&[&format!("root LABEL={ROOT_LABEL} is vda (ext4)"), "exec /sbin/init"]);
    assert_switched(&log, "/dev/vda", "ext4", "ro");
    // `debug`: stage lines `rdinit: [<ms> ms] <stage>`.
    let stages: Vec<&str> = log
        .rdinit_lines()
        .into_iter()
        .filter(|l| {
            l.strip_prefix("rdinit: [")
                .and_then(|r| r.split_once(" ms] "))
                .is_some_and(|(ms, stage)| ms.trim().parse::<u64>().is_ok() && !stage.is_empty())
        })
        .collect();
    if stages.len() < 2 {
        log.fail(&format!("debug: expected stage lines `rdinit: [<ms> ms] <stage>`, got {stages:?}"));
    }
}

#[test]
fn root_uuid_with_rootfstype_and_rootflags() {
    let params = format!("root=UUID={ROOT_UUID} rootfstype=ext4 rootflags=commit=7");
    let log = boot("root_uuid", fixtures::initrd(), fixtures::root_ext4(), &params);
    log.assert_contains(&format!("rdinit: root UUID={ROOT_UUID} is vda (ext4)"));
    assert_switched(&log, "/dev/vda", "ext4", "ro");
    let opts = log.probe("rootopts").unwrap_or("");
    if !opts.split(',').any(|o| o == "commit=7") {
        log.fail(&format!("rootflags=commit=7 not in the root's mount options {opts:?}"));
    }
}

#[test]
fn root_partuuid_on_gpt() {
    let params = format!("root=PARTUUID={PART_UUID}");
    let log = boot("root_partuuid", fixtures::initrd(), fixtures::root_gpt(), &params);
    log.assert_contains(&format!("rdinit: root PARTUUID={PART_UUID} is vda2 (ext4)"));
    assert_switched(&log, "/dev/vda2", "ext4", "ro");
}

#[test]
fn root_partlabel_on_gpt() {
    let params = format!("root=PARTLABEL={PART_LABEL}");
    let log = boot("root_partlabel", fixtures::initrd(), fixtures::root_gpt(), &params);
    log.assert_contains(&format!("rdinit: root PARTLABEL={PART_LABEL} is vda2 (ext4)"));
    assert_switched(&log, "/dev/vda2", "ext4", "ro");
}

#[test]
fn root_vfat_detected_without_rootfstype() {
    let params = format!("root=LABEL={VFAT_LABEL}");
    let log = boot("root_vfat", fixtures::initrd(), fixtures::root_vfat(), &params);
    log.assert_contains(&format!("rdinit: root LABEL={VFAT_LABEL} is vda (vfat)"));
    assert_switched(&log, "/dev/vda", "vfat", "ro");
}

/// `root=/dev/disk/by-uuid/…` and `by-label/…`, copied from an fstab: no udev makes those
/// links in an initramfs, so they are read as UUID= and LABEL=; a label with a space and a
/// `/` is written as udev names it (`\x20`, `\x2f`).
#[test]
fn root_by_uuid_and_by_label_links() {
    let log = boot("root_by_uuid", fixtures::initrd(), fixtures::root_ext4(), &format!("root=/dev/disk/by-uuid/{ROOT_UUID}"));
    log.assert_contains(&format!("rdinit: root /dev/disk/by-uuid/{ROOT_UUID} is vda (ext4)"));
    assert_switched(&log, "/dev/vda", "ext4", "ro");

    let disk = xtask::ext4_image(&fixtures::probe_tree(), 32, "my root/1", "0b1ab1e0-0000-4000-8000-000000000001");
    let log = boot("root_by_label", fixtures::initrd(), disk, "root=/dev/disk/by-label/my\\x20root\\x2f1");
    log.assert_contains("rdinit: root /dev/disk/by-label/my\\x20root\\x2f1 is vda (ext4)");
    assert_switched(&log, "/dev/vda", "ext4", "ro");
}

/// A /dev path that only udev would make: by-id is refused at once, /dev/mapper/… after the
/// wait; both name the forms that work.
#[test]
fn root_path_only_udev_makes_names_the_forms_that_work() {
    let log = boot_rescue("root_by_id", fixtures::root_ext4(), "root=/dev/disk/by-id/virtio-rdroot");
    log.assert_no_panic()
        .assert_in_order(&[&format!("rdinit: root=/dev/disk/by-id/virtio-rdroot: no such device {DEVICE_FORMS}"), RESCUE, "RESCUE-42"])
        .assert_not_contains("waiting for");
    let log = boot_rescue("root_mapper", fixtures::root_ext4(), "root=/dev/mapper/root rootwait=2");
    log.assert_no_panic().assert_in_order(&[
        "rdinit: root /dev/mapper/root not found after 2 s",
        &format!("rdinit: root=/dev/mapper/root: no such device {DEVICE_FORMS}"),
        &format!("rdinit: seen vda ext4 label={ROOT_LABEL}"),
        RESCUE,
    ]);
}

/// `root=MAJ:MIN`: virtio-blk takes the first dynamic block major (254) on this kernel.
#[test]
fn root_maj_min() {
    let log = boot("root_maj_min", fixtures::initrd(), fixtures::root_ext4(), "root=254:0");
    log.assert_contains("rdinit: root 254:0 is vda (ext4)");
    assert_switched(&log, "/dev/vda", "ext4", "ro");
}

#[test]
fn rw_mounts_root_read_write() {
    let log = boot("rw", fixtures::initrd(), fixtures::root_ext4(), "root=/dev/vda rw");
    assert_switched(&log, "/dev/vda", "ext4", "rw");
}

/// `rw` with a write-protected disk: named, and mounted read-only (as the kernel's own
/// root mount does) instead of failing the boot.
#[test]
fn rw_on_a_write_protected_disk_mounts_read_only() {
    let log = Qemu::new("rw_write_protected", fixtures::initrd())
        .drive(xtask::Drive::VirtioReadOnly(fixtures::root_ext4()))
        .append("root=/dev/vda rw")
        .run();
    log.assert_in_order(&[
        "rdinit: mount /dev/vda as ext4: EACCES (13)",
        "rdinit: root /dev/vda is write-protected; mounting it read-only",
        "rdinit: root /dev/vda is vda (ext4)",
    ]);
    assert_switched(&log, "/dev/vda", "ext4", "ro");
}

#[test]
fn init_args_after_double_dash_reach_init() {
    let log = boot("init_args", fixtures::initrd(), fixtures::root_ext4(), "root=/dev/vda -- one two=2 three");
    assert_switched(&log, "/dev/vda", "ext4", "ro");
    log.assert_probe("args", "one two=2 three");
}

#[test]
fn rootwait_for_hot_added_disk() {
    // No disk at boot: it arrives 5 s after the kernel started /init.
    let log = Qemu::new("rootwait_hotplug", fixtures::initrd())
        .append("root=/dev/vda rootwait")
        .timeout(Duration::from_secs(60))
        .hot_add_disk_after("Run /init as init process", Duration::from_secs(5), fixtures::root_ext4())
        .run();
    log.assert_not_contains("not found after")
        .assert_in_order(&["rdinit: root /dev/vda is vda (ext4)", "rdinit: exec /sbin/init"]);
    assert_switched(&log, "/dev/vda", "ext4", "ro");
}

/// A driver that makes a thousand devices at once overflows the uevent socket's receive
/// buffer (2 MiB); the kernel drops the later events, here those of the root disk, and
/// rdinit must read back from sysfs what they said. While rdinit waits for the root, a
/// virtio-scsi controller is hot-added (with the machine stopped, so it arrives whole) with
/// [`FLOOD_LUNS`] empty CD-ROM drives, which send three events each but make no block
/// device (the image has no sr_mod), and the root disk last. virtio_scsi's load scans them
/// all before it returns (the kernel waits for a module's async work), so the overflow
/// happens before rdinit can read anything, and the root disk's `scsi:t-0x00` event, the one
/// that loads sd_mod, is among the dropped.
#[test]
fn root_disk_whose_uevents_were_lost_is_found_by_a_sysfs_rescan() {
    const FLOOD_LUNS: u32 = 1000;
    const LUNS_PER_TARGET: u32 = 250;
    let initrd = xtask::Pack::new("scsi-flood").module("virtio_pci").module("virtio_scsi").module("sd_mod").module("ext4").build();
    let root = fixtures::root_ext4();
    let trigger = format!("rdinit: waiting for {ROOT_LABEL}");
    // loglevel=4: the kernel's line for each of the thousand drives would only slow the boot.
    let mut qemu = Qemu::new("uevent_overflow", initrd)
        .append(&format!("root=LABEL={ROOT_LABEL} rootwait=60 loglevel=4"))
        .timeout(Duration::from_secs(300))
        .qemu_arg("-drive")
        .qemu_arg(format!("if=none,id=rootdisk,format=raw,readonly=on,file={}", root.display()));
    let mut commands = vec!["stop".to_owned(), "device_add virtio-scsi-pci,id=flood".to_owned()];
    for i in 0..FLOOD_LUNS {
        commands.push(format!("device_add scsi-cd,bus=flood.0,scsi-id={},lun={}", i / LUNS_PER_TARGET, i % LUNS_PER_TARGET));
    }
    // Alone on the last target, so it is scanned after every drive.
    commands.push(format!("device_add scsi-hd,bus=flood.0,drive=rootdisk,scsi-id={},lun=0", FLOOD_LUNS / LUNS_PER_TARGET));
    commands.push("cont".to_owned());
    for c in &commands {
        qemu = qemu.monitor_after(&trigger, Duration::from_secs(1), c);
    }
    let log = qemu.run();
    log.assert_contains("rdinit: uevents were lost (receive buffer full); rescanning /sys")
        .assert_not_contains("not found after")
        .assert_in_order(&[&format!("root LABEL={ROOT_LABEL} is sda (ext4)"), "rdinit: exec /sbin/init"]);
    assert_switched(&log, "/dev/sda", "ext4", "ro");
}

/// An image without /dev/console: the kernel starts /init with fds 0, 1 and 2 closed. rdinit
/// points them at the console before it writes anything, so its own lines (a warning under
/// `quiet` is written by rdinit, not echoed by the kernel) reach the console, the real init
/// gets the console as its fds, and no message lands in a file the init opened meanwhile
/// (the disk, opened after the fds were taken, is unchanged).
#[test]
fn image_without_dev_console_gets_the_console_on_fds_0_1_2() {
    let disk = private_copy(&fixtures::root_ext4(), "no_console");
    let before = std::fs::read(&disk).unwrap();
    let log = Qemu::new("no_console", fixtures::initrd_without_console())
        .disk(&disk)
        .persist_writes(true)
        .append("root=/dev/vda quiet panic=abc")
        .run();
    log.assert_contains("rdinit: ignoring panic=abc: not a number");
    assert_switched(&log, "/dev/vda", "ext4", "ro");
    log.assert_probe("fds", "/dev/console /dev/console /dev/console");
    if std::fs::read(&disk).unwrap() != before {
        log.fail("the root disk changed during a read-only boot");
    }
}

/// The initramfs is emptied by the switch, not only hidden: the image carries a
/// [`BALLAST_MIB`] MiB incompressible file, and with root= the initramfs is ramfs, whose
/// pages count as Unevictable until deleted. After the switch that memory must be free.
#[test]
fn root_switch_frees_the_initramfs_memory() {
    let log = boot("initramfs_freed", fixtures::initrd_with_ballast(), fixtures::root_ext4(), "root=/dev/vda");
    assert_switched(&log, "/dev/vda", "ext4", "ro");
    let kib = |key| log.probe(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| log.fail(&format!("no number in PROBE {key}=")));
    let unevictable = kib("unevictable-kb");
    // A few hundred KiB are other ramfs pages and mlocked memory; the ballast alone is 32 MiB.
    if unevictable > (BALLAST_MIB << 10) / 4 {
        log.fail(&format!("{unevictable} KiB still Unevictable after the switch: the initramfs was not emptied"));
    }
    // And it came back as free memory: at least the ballast is free in a 512 MiB guest.
    if kib("memfree-kb") < BALLAST_MIB << 10 {
        log.fail("less free memory than the initramfs' ballast");
    }
}

/// A writable copy of `image` for one test.
fn private_copy(image: &std::path::Path, name: &str) -> std::path::PathBuf {
    let out = xtask::images_dir().join(format!("private-boot-{name}.img"));
    std::fs::copy(image, &out).unwrap_or_else(|e| panic!("copying {}: {e}", image.display()));
    out
}

// ---------------------------------------------------------------------------------------
// Failure paths

#[test]
fn wrong_root_diagnoses_and_starts_rescue_shell() {
    let log = boot_rescue("wrong_root_rescue", fixtures::root_ext4(), "root=LABEL=nope rootwait=3");
    log.assert_no_panic().assert_in_order(&[
        "rdinit: root LABEL=nope not found after ",
        &format!("rdinit: seen vda ext4 label={ROOT_LABEL} uuid={ROOT_UUID}"),
        RESCUE,
        "RESCUE-42",
    ]);
    log.assert_not_contains("PROBE");
}

/// The root device is there but holds no filesystem: every type is tried and named with
/// its error, then the rescue shell.
#[test]
fn root_without_a_filesystem_names_each_try_and_gives_rescue_shell() {
    let log = boot_rescue("root_blank", fixtures::blank_disk(), "root=/dev/vda");
    log.assert_no_panic().assert_in_order(&[
        "rdinit: mount /dev/vda as ext4: EINVAL (22)",
        "rdinit: mount /dev/vda as erofs: ",
        "rdinit: cannot mount root /dev/vda: ENODEV (19) (no known filesystem on it)",
        RESCUE,
        "RESCUE-42",
    ]);
    log.assert_not_contains("PROBE");
}

#[test]
fn wrong_root_without_shell_reboots_at_once_with_panic_minus_1() {
    let log = Qemu::new("wrong_root_no_shell", fixtures::initrd())
        .disk(fixtures::root_ext4())
        .append("root=LABEL=nope rootwait=3 panic=-1")
        .timeout(Duration::from_secs(75))
        .run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: root LABEL=nope not found after ",
            &format!("rdinit: seen vda ext4 label={ROOT_LABEL} uuid={ROOT_UUID}"),
            "rdinit: no rescue shell; rebooting now",
        ])
        .assert_not_contains(RESCUE)
        .assert_exited();
}

/// Without a shell, `panic=2` reboots after 2 s (QEMU, under -no-reboot, exits), and
/// `panic=0` (the kernel's default) halts: the machine stays up, saying so.
#[test]
fn wrong_root_without_shell_reboots_after_panic_seconds_or_halts() {
    let log = Qemu::new("wrong_root_panic_2", fixtures::initrd())
        .disk(fixtures::root_ext4())
        .append("root=LABEL=nope rootwait=1 panic=2")
        .timeout(Duration::from_secs(75))
        .run();
    log.assert_no_panic().assert_contains("rdinit: no rescue shell; rebooting in 2 s").assert_exited();
    let secs = |s| log.printk_time_at(s).unwrap_or_else(|| log.fail(&format!("no printk time at {s:?}")));
    // The reboot's own kernel line comes after the wait.
    let waited = secs("reboot: Restarting system") - secs("rebooting in 2 s");
    assert!(waited >= 1.9, "rebooted {waited:.2} s after the message\n{log}");

    let limit = Duration::from_secs(30);
    let log = Qemu::new("wrong_root_panic_0", fixtures::initrd())
        .disk(fixtures::root_ext4())
        // After the harness's panic=-1: the last one counts.
        .append("root=LABEL=nope rootwait=1 panic=0")
        .timeout(limit)
        .run();
    log.assert_no_panic().assert_contains("rdinit: no rescue shell; halted");
    assert_eq!(log.outcome, Outcome::TimedOut(limit), "{log}");
}

/// root= naming a swap partition: said so, not "driver missing".
#[test]
fn root_on_a_swap_partition_says_so() {
    let swap = xtask::images_dir().join("swap-16m.img");
    let tmp = swap.with_extension("tmp");
    std::fs::File::create(&tmp).and_then(|f| f.set_len(16 << 20)).unwrap();
    let out = std::process::Command::new(xtask::tool("mkswap").unwrap()).args(["-q", "-L", "rdswap"]).arg(&tmp).output().unwrap();
    assert!(out.status.success(), "mkswap: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::rename(&tmp, &swap).unwrap();
    let log = boot_rescue("root_swap", swap, "root=LABEL=rdswap");
    log.assert_no_panic()
        .assert_in_order(&["rdinit: cannot mount root /dev/vda: ENODEV (19) (it is a swap partition)", RESCUE, "RESCUE-42"])
        .assert_not_contains("driver missing");
}

#[test]
fn root_without_any_init_gives_rescue_shell() {
    let params = format!("root=LABEL={NOINIT_LABEL}");
    let log = boot_rescue("no_init", fixtures::noinit_ext4(), &params);
    log.assert_no_panic().assert_in_order(&[
        &format!("rdinit: root LABEL={NOINIT_LABEL} is vda (ext4)"),
        "rdinit: no init in the new root (tried /sbin/init /etc/init /bin/init /bin/sh)",
        RESCUE,
        "RESCUE-42",
    ]);
}

#[test]
fn init_param_naming_a_missing_file_gives_rescue_shell() {
    let log = boot_rescue("init_nonexistent", fixtures::root_ext4(), "root=/dev/vda init=/nonexistent");
    log.assert_no_panic()
        .assert_in_order(&["rdinit: root /dev/vda is vda (ext4)", "rdinit: init /nonexistent: ENOENT", RESCUE, "RESCUE-42"])
        .assert_not_contains("PROBE pid");
}

#[test]
fn odd_command_line_is_named_and_the_boot_goes_on_quietly() {
    // Bad numbers are named and ignored; `rd.debug` is not `debug`; `quiet` keeps the info
    // lines off the console (warnings stay); quoted values are one parameter.
    let log = boot(
        "odd_cmdline",
        fixtures::initrd(),
        fixtures::root_ext4(),
        "root=/dev/vda quiet panic=abc rootdelay=-2 rd.debug \"rootflags=\"",
    );
    log.assert_contains("rdinit: ignoring panic=abc: not a number")
        .assert_contains("rdinit: ignoring rootdelay=-2: not a number")
        .assert_not_contains("rdinit: exec /sbin/init")
        .assert_not_contains(" ms] ");
    assert_switched(&log, "/dev/vda", "ext4", "ro");
}

/// The forms of a device name rdinit reads, as its messages list them.
const DEVICE_FORMS: &str = "(use /dev/NAME, UUID=, LABEL=, PARTUUID=, PARTLABEL=, MAJ:MIN or their /dev/disk/by-* link)";

#[test]
fn root_that_names_no_device_gives_rescue_shell() {
    let log = boot_rescue("root_not_a_device", fixtures::root_ext4(), "root=vda");
    log.assert_no_panic().assert_in_order(&[&format!("rdinit: root=vda: no such device {DEVICE_FORMS}"), RESCUE, "RESCUE-42"]);
}

#[test]
fn overlong_init_path_is_named_and_gives_rescue_shell() {
    let long = format!("/{}", "x".repeat(300));
    let log = boot_rescue("init_overlong", fixtures::root_ext4(), &format!("root=/dev/vda init={long}"));
    log.assert_no_panic()
        .assert_in_order(&["rdinit: root /dev/vda is vda (ext4)", "ENAMETOOLONG", RESCUE, "RESCUE-42"])
        .assert_not_contains("PROBE pid");
}

// ---------------------------------------------------------------------------------------
// Harness self-tests (no rdinit)

/// The busybox initramfs mounts the probe root by hand and switch_roots into the probe:
/// proves the ext4 builder, the probe init and the serial capture.
#[test]
fn harness_busybox_switch_root_runs_the_probe() {
    let initrd = busybox_initramfs(
        "switch",
        &["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"],
        "mount -t ext4 -o ro /dev/vda /newroot || echo 'SELFTEST mount failed'\n\
         mount -t tmpfs -o mode=0755 run /run\n\
         for m in dev proc sys run; do mount --move /$m /newroot/$m; done\n\
         exec switch_root /newroot /sbin/init selftest-arg",
    );
    let log = Qemu::new("harness_switch_root", initrd).disk(fixtures::root_ext4()).run();
    log.assert_in_order(&["Run /init as init process", "SELFTEST init ready", "PROBE pid=1"])
        .assert_not_contains("insmod");
    assert_switched(&log, "/dev/vda", "ext4", "ro");
    log.assert_probe("args", "selftest-arg");
    eprintln!("harness_switch_root: {:.1} s wall, /init at {:?} s guest", log.wall.as_secs_f64(), log.printk_time_at("Run /init"));
}

/// Every image builder, read by the real kernel: GPT (+ its ESP), squashfs, EROFS on virtio;
/// ISO on an IDE CD-ROM; vfat on a USB stick.
#[test]
fn harness_images_mount_in_the_guest() {
    let tree = RootTree::new("selftest-ro").file("hello", "hello from the image\n", 0o644).build();
    let initrd = busybox_initramfs(
        "images",
        &[
            "virtio_pci", "virtio_blk", "ext4", "crc32c_generic", "vfat", "nls_cp437", "nls_ascii",
            "squashfs", "erofs", "isofs", "ata_piix", "sr_mod", "xhci_pci", "usb_storage", "sd_mod",
        ],
        r#"i=0; while { [ ! -e /dev/sr0 ] || [ ! -e /dev/sda ]; } && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
show() { echo "SELFTEST $1 $(cat $2 2>&1)"; }
grep -h PARTNAME /sys/block/vda/vda*/uevent | sed 's/^/SELFTEST /'
for spec in LABEL=rdpart UUID=9b1f6e0a-2c4d-4e8f-a3b5-c7d9e1f3a5b7 LABEL=RDVFAT UUID=5EED-F00D; do
    echo "SELFTEST findfs $spec $(findfs $spec)"
done
mkdir -p /m/p1 /m/p2 /m/sq /m/er /m/iso /m/usb
mount -t vfat -o ro /dev/vda1 /m/p1 && [ -d /m/p1/EFI/BOOT ] && echo "SELFTEST esp ok"
mount -t ext4 -o ro /dev/vda2 /m/p2 && [ -x /m/p2/sbin/init ] && echo "SELFTEST gpt-root ok"
mount -t squashfs /dev/vdb /m/sq && show squashfs /m/sq/hello
mount -t erofs /dev/vdc /m/er && show erofs /m/er/hello
mount -t iso9660 /dev/sr0 /m/iso && show iso /m/iso/hello
mount -t vfat -o ro /dev/sda /m/usb && [ -x /m/usb/sbin/init ] && echo "SELFTEST usb-vfat ok""#,
    );
    let log = Qemu::new("harness_images", initrd)
        .disk(fixtures::root_gpt())
        .disk(squashfs(&tree))
        .disk(erofs(&tree))
        .cdrom(iso(&tree, "SELFTESTISO"))
        .usb(fixtures::root_vfat())
        .run();
    log.assert_not_contains("insmod")
        .assert_contains(&format!("SELFTEST PARTNAME={PART_LABEL}"))
        .assert_contains("SELFTEST PARTNAME=esp")
        .assert_contains(&format!("SELFTEST findfs LABEL={PART_FS_LABEL} /dev/vda2"))
        .assert_contains(&format!("SELFTEST findfs UUID={PART_FS_UUID} /dev/vda2"))
        .assert_contains(&format!("SELFTEST findfs LABEL={VFAT_LABEL} /dev/sda"))
        .assert_contains("SELFTEST findfs UUID=5EED-F00D /dev/sda")
        .assert_contains("SELFTEST esp ok")
        .assert_contains("SELFTEST gpt-root ok")
        .assert_contains("SELFTEST squashfs hello from the image")
        .assert_contains("SELFTEST erofs hello from the image")
        .assert_contains("SELFTEST iso hello from the image")
        .assert_contains("SELFTEST usb-vfat ok")
        .assert_contains("SELFTEST script ended")
        .assert_exited();
}

/// A disk hot-added through the monitor appears in the guest; text typed on the serial
/// console reaches a shell; the stop marker ends the boot.
#[test]
fn harness_hot_add_and_serial_input() {
    let initrd = busybox_initramfs(
        "hotplug",
        &["virtio_pci", "virtio_blk"],
        "echo SELFTEST waiting for vda\n\
         i=0; while [ ! -e /sys/block/vda ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n\
         echo \"SELFTEST vda after ${i}00 ms, $(cat /sys/block/vda/size) sectors\"\n\
         echo SELFTEST shell\n\
         exec sh",
    );
    let log = Qemu::new("harness_hotplug", initrd)
        .hot_add_disk_after("SELFTEST waiting for vda", Duration::from_secs(5), fixtures::root_ext4())
        .send_on("SELFTEST shell", "echo INPUT-$((40+2))\n")
        .stop_at("INPUT-42")
        .run();
    log.assert_in_order(&["SELFTEST waiting for vda", "virtio_blk virtio", "SELFTEST vda after", "INPUT-42"])
        .assert_contains(" 65536 sectors");
    assert_eq!(log.outcome, Outcome::Stopped("INPUT-42".into()), "{log}");
    // The disk came ~5 s (wall) after the trigger, not at once.
    let waited: u64 = log
        .line_with("SELFTEST vda after ")
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    if waited < 2000 {
        log.fail(&format!("the hot-added disk appeared after {waited} ms, expected about 5000"));
    }
}

/// A guest that never ends is killed at the timeout, and the run returns. (On a loaded host
/// the kernel may still be booting at the limit: either way the guest never ends by itself.)
#[test]
fn harness_timeout_kills_a_hung_guest() {
    let initrd = busybox_initramfs("hang", &[], "echo SELFTEST hanging\nwhile :; do sleep 1; done");
    let limit = Duration::from_secs(20);
    let log = Qemu::new("harness_timeout", initrd).timeout(limit).run();
    log.assert_contains("Linux version");
    assert_eq!(log.outcome, Outcome::TimedOut(limit), "{log}");
    assert!(log.wall >= limit && log.wall < limit + Duration::from_secs(10), "{log}");
}
