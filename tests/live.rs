//! Live-boot tests (issue 3): Debian's kernel in QEMU (TCG) with rdinit as /init and no
//! `root=`, booting Slax-style media the harness builds (xtask::live_fixtures), asserting on
//! what rdinit prints and on the `PROBE` lines of the live probe init (tests/guest/live-init)
//! that runs as /sbin/init of the union.
//!
//! Each medium is built once per run and each scenario boots once (the persistence scenario
//! twice); at most two QEMUs run at once. Logs: target/boot-images/logs/live_<test>.log.

use std::path::PathBuf;
use std::time::Duration;
use xtask::live_fixtures::{self as lf, BadBundle};
use xtask::{BootLog, Qemu};

// ---------------------------------------------------------------------------------------
// Helpers

/// A live boot of `initrd` with these disks attached by `setup` and these parameters.
fn machine(name: &str, params: &str) -> Qemu {
    Qemu::new(&format!("live_{name}"), lf::initrd()).append(params)
}

/// What every successful live boot shows: PID 1 in an overlay root, writable, the Slax
/// paths under /run/initramfs, the initramfs content gone, a clean power-off.
fn assert_live(log: &BootLog) {
    log.assert_no_panic()
        .assert_contains("rdinit: exec /sbin/init")
        .assert_probe("pid", "1")
        .assert_probe("root", "overlay rw")
        .assert_probe("writable", "yes")
        .assert_probe("upper-written", "yes")
        .assert_probe("shutdown", "yes")
        .assert_probe("initramfs-gone", "yes")
        .assert_not_contains("PROBE missing")
        .assert_contains("PROBE mount devtmpfs /dev devtmpfs")
        .assert_contains("PROBE mount proc /proc proc")
        .assert_contains("PROBE done")
        .assert_exited();
}

/// The `[<ms> ms]` of the first `rdinit: [<ms> ms] <stage>` line with this stage.
fn stage_ms(log: &BootLog, stage: &str) -> Option<u64> {
    log.rdinit_lines().into_iter().find_map(|l| {
        let (ms, rest) = l.strip_prefix("rdinit: [")?.split_once(" ms] ")?;
        (rest == stage).then(|| ms.trim().parse().ok()).flatten()
    })
}

/// `/init` → exec of the real init, from the last stage line (`debug`).
fn init_to_exec_ms(log: &BootLog) -> u64 {
    stage_ms(log, "live: switching root").unwrap_or_else(|| log.fail("no `live: switching root` stage line"))
}

/// The markers the union shows (`PROBE markers=a|b|`), as a list.
fn markers(log: &BootLog) -> Vec<&str> {
    let m = log.probe("markers").unwrap_or_else(|| log.fail("no PROBE markers= line"));
    m.split('|').filter(|s| !s.is_empty()).collect()
}

fn assert_markers(log: &BootLog, want: &[&str]) {
    let got = markers(log);
    if got != want {
        log.fail(&format!("markers: got {got:?}, expected {want:?}"));
    }
}

/// The `PROBE mount SRC MNT TYPE` lines.
fn mounts(log: &BootLog) -> Vec<(&str, &str, &str)> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("PROBE mount ")? + "PROBE mount ".len()..];
            let mut it = rest.split(' ');
            Some((it.next()?, it.next()?, it.next()?))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Media

/// The standard ext4 medium, no parameters but `debug`: the whole contract.
#[test]
fn ext4_disk_standard_layout() {
    let log = machine("ext4", "debug").disk(lf::standard_ext4()).run();
    assert_live(&log);
    log.assert_in_order(&["rdinit: data slax on vda", "rdinit: exec /sbin/init", "PROBE pid=1"]);
    // Natural order: 01-core, 2-erofs, 10-top, then modules/20-mod; optional/ not without load=.
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
    log.assert_probe("override", "10-top")
        .assert_probe("bundles", "01-core.sb|10-top.sb|2-erofs.sb|20-mod.sb|")
        .assert_probe("bundle-count", "4")
        .assert_probe("rootcopy", "640 0:0 from rootcopy")
        .assert_probe("rootcopy-suid", "4755")
        .assert_probe("rootcopy-link", "rootcopy.conf")
        .assert_probe("persist-count", "1")
        .assert_contains("PROBE mount /dev/vda /run/initramfs/memory/data ext4")
        .assert_not_contains("skipping bundle");
    for stage in ["live: looking for data", "live: data found", "live: bundles mounted", "live: union mounted", "live: rootcopy applied"] {
        if stage_ms(&log, stage).is_none() {
            log.fail(&format!("no debug stage line for {stage:?}"));
        }
    }
    eprintln!("live ext4 standard: /init -> exec {} ms", init_to_exec_ms(&log));
}

/// `toram`: the bundles and rootcopy are copied to RAM and the boot disk is let go.
#[test]
fn toram_releases_the_boot_device() {
    let log = machine("toram", "toram").disk(lf::standard_ext4()).run();
    assert_live(&log);
    log.assert_contains("rdinit: toram: copied ")
        .assert_contains("PROBE mount tmpfs /run/initramfs/memory/toram tmpfs");
    // The RAM filesystem has an explicit size (tmpfs shows size= only when it is not the
    // default half of the RAM).
    if !log.probe("toram-opts").is_some_and(|o| o.contains(",size=")) {
        log.fail("toram: the tmpfs has no explicit size");
    }
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
    log.assert_probe("override", "10-top")
        .assert_probe("rootcopy", "640 0:0 from rootcopy")
        .assert_probe("rootcopy-link", "rootcopy.conf");
    if let Some(m) = mounts(&log).into_iter().find(|(src, _, _)| src.starts_with("/dev/vd")) {
        log.fail(&format!("toram: the boot device is still mounted: {m:?}"));
    }
    // Every loop device reads a file in RAM.
    let dirs: Vec<&str> = log.lines().filter_map(|l| l.split_once("PROBE backing-dir ").map(|(_, d)| d)).collect();
    if dirs.is_empty() || dirs.iter().any(|d| !d.contains("/memory/toram")) {
        log.fail(&format!("toram: loop backing files outside memory/toram: {dirs:?}"));
    }
}

/// `toram` with bundles larger than the free RAM: a clear warning, then the boot runs from
/// the media.
#[test]
fn toram_without_enough_ram_runs_from_the_media() {
    let log = machine("toram_no_room", "toram").disk(lf::huge_bundle_ext4()).run();
    assert_live(&log);
    log.assert_contains("rdinit: toram: bundles need 1024 MiB, only ")
        .assert_contains(" MiB free; running from the boot media")
        .assert_not_contains("toram: copied")
        .assert_contains("PROBE mount /dev/vda /run/initramfs/memory/data ext4")
        .assert_contains("PROBE backing-dir /run/initramfs/memory/data/slax");
    assert_markers(&log, &["01-core", "90-huge"]);
    log.assert_probe("override", "90-huge");
}

/// `toram` with a bundle a block of which cannot be read: the copy stops there, what was
/// copied is removed from RAM, and the boot goes on from the media.
#[test]
fn toram_copy_that_fails_partway_is_removed() {
    let log = machine("toram_partial", "toram").disk(lf::unreadable_file_ext4(false)).run();
    assert_live(&log);
    log.assert_contains("rdinit: toram: copy 05-unreadable.sb: ")
        .assert_contains("rdinit: toram: the copy in RAM is removed; running from the boot media")
        .assert_not_contains("toram: copied")
        .assert_probe("toram-files", "0")
        .assert_contains("PROBE mount /dev/vda /run/initramfs/memory/data ext4")
        .assert_contains("PROBE backing-dir /run/initramfs/memory/data/slax");
    assert_markers(&log, &["01-core", "05-unreadable", "10-top"]);
}

/// `toram` with a rootcopy file that cannot be read: the error is named, the incomplete
/// copy is removed, and the boot runs from the media.
#[test]
fn toram_rootcopy_errors_are_reported() {
    let log = machine("toram_rootcopy_error", "toram").disk(lf::unreadable_file_ext4(true)).run();
    assert_live(&log);
    log.assert_in_order(&[
        "rdinit: rootcopy unreadable.conf: ",
        "rdinit: toram: rootcopy: 1 entries could not be copied",
        "rdinit: toram: the copy in RAM is removed; running from the boot media",
    ])
    .assert_not_contains("toram: copied")
    .assert_probe("toram-files", "0")
    .assert_contains("PROBE backing-dir /run/initramfs/memory/data/slax");
    assert_markers(&log, &["01-core", "10-top"]);
}

/// `load=` adds optional bundles, `noload=` drops default ones (patterns, comma lists).
#[test]
fn load_and_noload_patterns() {
    let log = machine("load_noload", "load=nomatch,50-o* noload=10-*,nothing").disk(lf::standard_ext4()).run();
    assert_live(&log);
    assert_markers(&log, &["01-core", "2-erofs", "20-mod", "50-opt"]);
    log.assert_probe("override", "2-erofs").assert_probe("bundles", "01-core.sb|2-erofs.sb|20-mod.sb|50-opt.sb|");
}

/// An ISO 9660 CD (`-cdrom`, IDE) holding slax/.
#[test]
fn iso_cdrom() {
    let log = machine("cdrom", "").cdrom(lf::standard_iso()).run();
    assert_live(&log);
    log.assert_contains("rdinit: data slax on sr0")
        .assert_contains("PROBE mount /dev/sr0 /run/initramfs/memory/data iso9660");
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
    log.assert_probe("override", "10-top")
        .assert_probe("rootcopy", "640 0:0 from rootcopy")
        .assert_probe("rootcopy-link", "rootcopy.conf");
}

/// `changes=` on read-only media (the CD): a warning, and the changes stay in RAM.
#[test]
fn changes_on_read_only_cd_fall_back_to_ram() {
    let log = machine("cdrom_changes", "changes=/slax/changes").cdrom(lf::standard_iso()).run();
    assert_live(&log);
    log.assert_contains("rdinit: changes=/slax/changes: the data device is read-only; keeping changes in RAM")
        .assert_not_contains("changes persist in")
        .assert_probe("persist-count", "1");
}

/// `changes=` on a full disk: a new changes dir cannot be made, nor the layer's dirs in an
/// existing empty one; each is named with the reason, the changes stay in RAM, and the live
/// system can write.
#[test]
fn changes_on_a_full_disk_fall_back_to_ram() {
    for dir in ["/slax/changes", "/slax/changes-empty"] {
        let name = format!("full_disk_{}", dir.rsplit('/').next().unwrap().replace('-', "_"));
        let log = machine(&name, &format!("changes={dir}")).disk(lf::full_ext4()).run();
        assert_live(&log);
        log.assert_contains(&format!("rdinit: changes={dir}: no space left on device; keeping changes in RAM"))
            .assert_not_contains("changes persist in")
            .assert_probe("persist-count", "1");
        assert_markers(&log, &["01-core", "10-top"]);
    }
}

/// Overlong `changes=`, `load=` and `noload=` values (520 characters each, the kernel's
/// command line holds 2048): the changes path is named, cut, with its reason, the changes
/// stay in RAM, and the patterns (matching nothing) leave the usual bundles.
#[test]
fn overlong_live_parameters_are_named_and_the_boot_goes_on() {
    let long = "x".repeat(520);
    let log = machine("overlong_params", &format!("changes=/slax/{long} load={long} noload={long}")).disk(lf::standard_ext4()).run();
    assert_live(&log);
    let cut = format!("rdinit: changes=/slax/{}...: path too long; keeping changes in RAM", "x".repeat(194));
    log.assert_contains(&cut).assert_probe("persist-count", "1");
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
}

/// `from=/images/slax.iso`: an ISO file on an ext4 disk, loop-mounted at memory/iso; and
/// `changes=` inside it falls back to RAM.
#[test]
fn iso_file_on_ext4_with_from() {
    let log = machine("iso_file", "from=/images/slax.iso changes=/slax/changes").disk(lf::iso_file_ext4()).run();
    assert_live(&log);
    log.assert_contains("rdinit: data iso/slax on vda")
        .assert_contains("rdinit: changes=/slax/changes: the data is inside an ISO image (read-only); keeping changes in RAM")
        .assert_contains("/run/initramfs/memory/iso iso9660");
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
    log.assert_probe("override", "10-top")
        .assert_probe("rootcopy", "640 0:0 from rootcopy")
        .assert_probe("rootcopy-link", "rootcopy.conf");
}

/// A FAT USB stick with `changes=/slax/changes.img` (ext4 image on FAT): changes persist
/// across two boots.
#[test]
fn usb_fat_stick_with_persistent_changes_image() {
    let stick: PathBuf = lf::private_copy(&lf::usb_vfat(), "live-usb-persist");
    let boot = |n: u32| {
        machine(&format!("usb_changes_{n}"), "changes=/slax/changes.img")
            .usb(stick.clone())
            .persist_writes(true)
            .run()
    };
    let first = boot(1);
    assert_live(&first);
    first
        .assert_contains("rdinit: data slax on sda")
        .assert_contains("rdinit: changes persist in /slax/changes.img")
        .assert_contains("PROBE mount /dev/sda /run/initramfs/memory/data vfat")
        .assert_probe("persist-count", "1");
    assert_markers(&first, &["01-core", "10-top", "2-erofs"]);
    first.assert_probe("override", "10-top");
    let second = boot(2);
    assert_live(&second);
    second.assert_contains("rdinit: changes persist in /slax/changes.img").assert_probe("persist-count", "2");
}

/// `perch`: changes in the data dir's `changes/`, which holds an earlier boot's files; the
/// data disk is remounted read-write for it.
#[test]
fn perch_keeps_changes_in_the_data_dir() {
    let log = machine("perch", "perch").disk(lf::perch_ext4()).run();
    assert_live(&log);
    log.assert_contains("rdinit: changes persist in changes")
        .assert_probe("persisted", "from an earlier boot")
        .assert_contains("PROBE mount /dev/vda /run/initramfs/memory/changes ext4");
    assert_markers(&log, &["01-core", "10-top"]);
}

/// Two boots of a private copy of `image` with `params`, writes reaching the image: the
/// logs of boot 1 and boot 2 (each a full live boot).
fn two_boots(name: &str, image: PathBuf, usb: bool, params: &str) -> (BootLog, BootLog) {
    let copy = lf::private_copy(&image, name);
    let boot = |n: u32| {
        let m = machine(&format!("{name}_{n}"), params).persist_writes(true);
        let m = if usb { m.usb(copy.clone()) } else { m.disk(copy.clone()) };
        let log = m.run();
        assert_live(&log);
        log
    };
    (boot(1), boot(2))
}

/// `toram perch`: the bundles go to RAM, the changes stay in the data dir on the media
/// (Slax sets up the changes before the copy and keeps the media mounted for them): a file
/// written on boot 1 is there on boot 2.
#[test]
fn toram_with_perch_keeps_changes_on_the_media() {
    let (first, second) = two_boots("toram_perch", lf::perch_ext4(), false, "toram perch");
    for log in [&first, &second] {
        log.assert_contains("rdinit: toram: copied ")
            .assert_contains("rdinit: changes persist in changes")
            .assert_probe("persisted", "from an earlier boot")
            .assert_contains("PROBE mount /dev/vda /run/initramfs/memory/changes ext4");
        assert_markers(log, &["01-core", "10-top"]);
    }
    first.assert_probe("persist-count", "1");
    second.assert_probe("persist-count", "2");
}

/// `toram changes=changes.img` (an ext4 image in the data dir on a FAT stick): the image
/// stays on the stick, which stays mounted; a file written on boot 1 is there on boot 2.
#[test]
fn toram_with_a_changes_image_keeps_changes_on_the_media() {
    let (first, second) = two_boots("toram_changes_img", lf::usb_vfat(), true, "toram changes=changes.img");
    for log in [&first, &second] {
        log.assert_contains("rdinit: toram: copied ")
            .assert_contains("rdinit: changes persist in changes.img")
            .assert_contains("PROBE mount /dev/sda /run/initramfs/memory/data vfat");
        assert_markers(log, &["01-core", "10-top", "2-erofs"]);
    }
    first.assert_probe("persist-count", "1");
    second.assert_probe("persist-count", "2");
}

/// The data search mounts another system's disk without replaying its dirty journal: a
/// dirty-journal ext4 disk tried first (vda) comes out of the boot byte-identical.
#[test]
fn search_leaves_a_dirty_journal_disk_untouched() {
    let dirty = lf::private_copy(&lf::dirty_journal_ext4(), "dirty-journal");
    let media = lf::private_copy(&lf::standard_ext4(), "dirty-journal-media");
    let before = std::fs::read(&dirty).expect("reading the dirty disk");
    let log = machine("dirty_journal", "").disk(dirty.clone()).disk(media).persist_writes(true).run();
    assert_live(&log);
    log.assert_contains("rdinit: data slax on vdb");
    let after = std::fs::read(&dirty).expect("reading the dirty disk");
    if before != after {
        let first = before.iter().zip(&after).position(|(a, b)| a != b).unwrap_or(0);
        log.fail(&format!("the dirty-journal disk was written (first changed byte at {first}, block {})", first / 4096));
    }
}

/// rootcopy onto a merged-/usr union (`/lib -> usr/lib` from a bundle): `lib/…` lands in
/// /usr/lib through the link, as `cp -a` does, and /lib stays a link; a 3,000-byte symlink
/// target is copied whole.
#[test]
fn rootcopy_onto_merged_usr_lands_through_the_links() {
    let log = machine("merged_usr", "").disk(lf::merged_usr_ext4()).run();
    assert_live(&log);
    assert_markers(&log, &["01-core", "05-usrmerge"]);
    log.assert_probe("lib-link", "usr/lib")
        .assert_probe("rootcopy-merged", "through /lib")
        .assert_probe("rootcopy-long-link", &(lf::long_link_target().len() + 1).to_string())
        .assert_not_contains("rdinit: rootcopy");
}

/// `changes=LABEL=X/DIR`: the changes live in a directory of another device, mounted
/// read-write, while the data device stays read-only.
#[test]
fn changes_on_another_device_by_label() {
    let log = machine("changes_label", "changes=LABEL=changes/mine").disk(lf::standard_ext4()).disk(lf::changes_image()).run();
    assert_live(&log);
    log.assert_contains("rdinit: changes persist in LABEL=changes/mine")
        .assert_contains("PROBE mount /dev/vdb /run/initramfs/memory/changes ext4");
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
}

/// `from=LABEL=X/DIR` picks that device and dir even when another disk has a `slax/` too.
#[test]
fn from_label_with_dir_picks_the_named_device() {
    let log = machine("from_label", "from=LABEL=SLAXDATA/slax")
        .disk(lf::odd_names_ext4())
        .disk(lf::standard_ext4())
        .run();
    assert_live(&log);
    log.assert_contains("rdinit: data slax on vdb").assert_not_contains("on vda");
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
}

/// `from=/dev/NAME/DIR` and `from=UUID=X` name the device: the other disk, which also has
/// bundles, is never used.
#[test]
fn from_dev_path_and_from_uuid_pick_the_named_device() {
    for (name, param) in [("from_dev", "from=/dev/vdb/slax"), ("from_uuid", "from=UUID=5a1a0001-0000-4000-8000-000000000001")] {
        let log = machine(name, param).disk(lf::odd_names_ext4()).disk(lf::standard_ext4()).run();
        assert_live(&log);
        log.assert_contains("rdinit: data slax on vdb").assert_not_contains("on vda");
        assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
    }
}

/// `live=NAME` names the data dir.
#[test]
fn live_param_names_the_data_dir() {
    let log = machine("live_name", "live=mylive").disk(lf::two_dirs_ext4()).run();
    assert_live(&log);
    log.assert_contains("rdinit: data mylive on vda");
    assert_markers(&log, &["01-core", "2-erofs"]);
    log.assert_probe("override", "2-erofs");
}

// ---------------------------------------------------------------------------------------
// Bundle counts and timings

/// Boots the `n`-bundle medium with `debug`; checks every bundle is in; returns the log.
fn boot_counted(n: usize, memory: u32) -> BootLog {
    let log = machine(&format!("count_{n}"), "debug")
        .disk(lf::counted_ext4(n))
        .memory(memory)
        // RDINIT_ICOUNT=1: guest time counts instructions, for timings that repeat.
        .icount(std::env::var_os("RDINIT_ICOUNT").is_some())
        .timeout(Duration::from_secs(400))
        .run();
    assert_live(&log);
    let want = n.min(500).to_string();
    log.assert_probe("marker-count", &want).assert_probe("bundle-count", &want);
    log
}

#[test]
fn one_bundle() {
    let log = boot_counted(1, 512);
    assert_markers(&log, &["01-core"]);
    log.assert_probe("override", "01-core");
    eprintln!("live 1 bundle: /init -> exec {} ms", init_to_exec_ms(&log));
}

#[test]
fn ten_bundles() {
    let log = boot_counted(10, 512);
    assert_markers(&log, &["01-core", "b001", "b002", "b003", "b004", "b005", "b006", "b007", "b008", "b009"]);
    eprintln!("live 10 bundles: /init -> exec {} ms", init_to_exec_ms(&log));
}

#[test]
fn hundred_bundles() {
    let log = boot_counted(100, 512);
    eprintln!("live 100 bundles: /init -> exec {} ms", init_to_exec_ms(&log));
}

#[test]
fn five_hundred_bundles() {
    let log = boot_counted(500, 1024);
    log.assert_not_contains("refused");
    eprintln!("live 500 bundles: /init -> exec {} ms", init_to_exec_ms(&log));
}

/// 501 bundles: overlayfs takes 500 layers; the 501st is refused by name, 500 boot.
#[test]
fn five_hundred_and_one_bundles_refuses_the_last() {
    let log = boot_counted(501, 1024);
    log.assert_contains("rdinit: bundle b500.sb refused: overlayfs takes at most 500 layers")
        .assert_not_contains("bundle b499.sb refused");
}

// ---------------------------------------------------------------------------------------
// Bad input

/// 1,031 bundle files (1,030 of them not images): the 1,024 that sort first are kept, the 7
/// after them are named, in order; the boot goes on with the core bundle.
#[test]
fn too_many_bundle_files_are_named_in_order() {
    let log = machine("too_many_files", "").disk(lf::many_files_ext4()).run();
    assert_live(&log);
    let dropped: Vec<String> = (1024..=1030).map(|i| format!("rdinit: bundle z{i:04}.sb ignored: over 1024 bundle files")).collect();
    log.assert_in_order(&dropped.iter().map(String::as_str).collect::<Vec<_>>())
        .assert_not_contains("z1023.sb ignored")
        .assert_not_contains("more bundle files ignored")
        .assert_contains("rdinit: skipping bundle z1023.sb: not a squashfs or erofs image");
    assert_markers(&log, &["01-core"]);
}

/// A broken bundle is skipped and named (the line ends with `why`); the others, below and
/// above it, still boot.
fn boot_bad(kind: BadBundle, why: &str) {
    let log = machine(&format!("bad_{kind:?}").to_lowercase(), "").disk(lf::bad_bundle_ext4(kind)).run();
    assert_live(&log);
    let start = format!("rdinit: skipping bundle {}: ", kind.file_name());
    log.assert_contains(&start);
    let line = log.line_with(&start).unwrap_or("");
    if !line.ends_with(why) {
        log.fail(&format!("expected {line:?} to end with {why:?}"));
    }
    assert_markers(&log, &["01-core", "30-after"]);
    log.assert_probe("override", "30-after").assert_probe("bundle-count", "2");
}

#[test]
fn corrupt_bundle_is_skipped() {
    boot_bad(BadBundle::Corrupt, " (corrupt or truncated?)");
}

#[test]
fn truncated_bundle_is_skipped() {
    boot_bad(BadBundle::Truncated, " (corrupt or truncated?)");
}

#[test]
fn non_image_bundle_is_skipped() {
    boot_bad(BadBundle::NotAnImage, ": not a squashfs or erofs image");
}

/// Bundle file names with spaces and of 200 characters.
#[test]
fn bundle_names_with_spaces_and_200_characters() {
    let (spaced, long) = lf::odd_names();
    assert_eq!(long.len() + 3, 200);
    let log = machine("odd_names", "").disk(lf::odd_names_ext4()).run();
    assert_live(&log);
    assert_markers(&log, &["01-core", &spaced, &long]);
    log.assert_probe("override", &long)
        .assert_probe("bundles", &format!("01-core.sb|{spaced}.sb|{long}.sb|"));
}

/// The data disk arrives 5 s after /init started: the search waits for it.
#[test]
fn data_disk_hot_added_late_is_found() {
    let log = machine("hotplug", "")
        .hot_add_disk_after("Run /init as init process", Duration::from_secs(5), lf::standard_ext4())
        .run();
    assert_live(&log);
    log.assert_in_order(&["rdinit: waiting for a device with slax", "rdinit: data slax on vda", "PROBE pid=1"]);
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
}

const RESCUE: &str = "rdinit: starting rescue shell /bin/sh";

/// A data dir without bundles: the diagnosis names each device and what it held, then the
/// rescue shell of a busybox initramfs takes input.
#[test]
fn data_dir_without_bundles_gives_diagnosis_and_rescue_shell() {
    let log = Qemu::new("live_no_bundles", lf::initrd_busybox())
        .disk(lf::no_bundles_ext4())
        .append("rootwait=3")
        .send_on(RESCUE, "echo RESCUE-$((40+2))\n")
        .stop_at("RESCUE-42")
        .run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: could not locate the data directory slax after 3 s",
            "rdinit: seen vda ext4 label=NOBUNDLES: ",
            RESCUE,
            "RESCUE-42",
        ])
        .assert_not_contains("PROBE");
    let seen = log.line_with("rdinit: seen vda").unwrap_or("");
    if !seen.contains("no bundles") {
        log.fail(&format!("the diagnosis should say the data dir holds no bundles: {seen:?}"));
    }
}

/// A live attempt that fails after mounting everything (`init=` names a missing file; the
/// changes are on another device) is undone before the retry: the user fixes it from the
/// rescue shell (a link in the changes dir on vdb, which only mounts because the failed
/// attempt let go of it cleanly), and the second attempt boots with one loop device a
/// bundle, not the first attempt's stacked under it.
#[test]
fn a_failed_live_attempt_is_undone_before_the_retry() {
    let fix = "/bin/busybox mkdir -p /mnt && /bin/busybox mount -t ext4 /dev/vdb /mnt && /bin/busybox mkdir -p /mnt/mine/changes/sbin && /bin/busybox ln -s init /mnt/mine/changes/sbin/late-init && /bin/busybox umount /mnt && echo FIXED-$((40+2)); exit\n";
    let log = Qemu::new("live_retry_undo", lf::initrd_busybox())
        .disk(lf::standard_ext4())
        .disk(lf::changes_image())
        .append("changes=LABEL=changes/mine init=/sbin/late-init")
        .send_on(RESCUE, fix)
        .run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: init /sbin/late-init: ENOENT",
            RESCUE,
            "FIXED-42",
            "rdinit: trying the boot again",
            "rdinit: exec /sbin/late-init",
            "PROBE pid=1",
        ])
        .assert_probe("root", "overlay rw")
        .assert_probe("loop-count", "4")
        .assert_probe("bundle-count", "4")
        .assert_contains("PROBE done")
        .assert_exited();
    assert_markers(&log, &["01-core", "10-top", "2-erofs", "20-mod"]);
    // No mount point holds two mounts (one stacked on another).
    let points: Vec<&str> = mounts(&log).into_iter().map(|(_, mnt, _)| mnt).collect();
    for p in &points {
        if points.iter().filter(|q| *q == p).count() > 1 {
            log.fail(&format!("{p} is mounted more than once: {points:?}"));
        }
    }
}

/// A failure after the switch (the init's interpreter is missing, so its exec fails in the
/// union) is past the point of no return: the rescue shell, and never a new boot attempt
/// from the top (which would stack a live boot on the booted system).
#[test]
fn a_failure_past_the_switch_is_not_retried() {
    let log = machine("past_no_return", "init=/sbin/badinit")
        .disk(lf::merged_usr_ext4())
        .send_on(RESCUE, "exit\n")
        .send_on("rdinit: rescue shell exited", "echo AGAIN-$((40+2))\n")
        .stop_at("AGAIN-42")
        .run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: exec /sbin/badinit: ENOENT",
            "rdinit: the switch failed past the point of no return; not trying the boot again",
            RESCUE,
            "rdinit: rescue shell exited",
            RESCUE,
            "AGAIN-42",
        ])
        .assert_not_contains("rdinit: trying the boot again");
}

/// No data dir on any device, no shell in the image, `panic=-1`: the diagnosis lists the
/// devices, then the machine reboots at once.
#[test]
fn no_data_dir_anywhere_reboots_with_panic_minus_1() {
    let log = machine("no_data", "rootwait=3 panic=-1")
        .disk(lf::no_data_ext4())
        .disk(lf::no_bundles_ext4())
        .timeout(Duration::from_secs(75))
        .run();
    log.assert_no_panic()
        .assert_in_order(&["rdinit: could not locate the data directory slax after 3 s", "rdinit: no rescue shell; rebooting now"])
        .assert_contains("rdinit: seen vda ext4 label=NODATA: no slax")
        .assert_contains("rdinit: seen vdb ext4 label=NOBUNDLES: ")
        .assert_not_contains(RESCUE)
        .assert_exited();
}
