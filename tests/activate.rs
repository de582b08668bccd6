//! Bundle activation tests (issue 13): `/run/initramfs/bundle activate | deactivate | list`
//! in a live system booted by rdinit on Debian's kernel in QEMU (TCG). The guest
//! (tests/guest/activate-init, /sbin/init of the base bundle) drives the command and prints
//! `PROBE` lines; the command line after `--` names its scenario.
//!
//! The medium (built once per run): `slax/01-core.sb` (busybox, the guest, `/etc/override`,
//! `/usr/share/lower/file`, a `/sbin/ldconfig` that logs its runs), `slax/02-erofs.sb` (an
//! EROFS boot bundle, so the erofs driver is loaded), and in `slax/extra/` (which the boot
//! does not load) the bundles to activate and the broken ones. Logs:
//! target/boot-images/logs/activate_<scenario>.log.

use std::path::PathBuf;
use std::time::Duration;
use xtask::live_fixtures::{self as lf, DATA_DIR};
use xtask::{erofs, ext4_image, squashfs_with, BootLog, Qemu, RootTree};

const GUEST: &str = include_str!("guest/activate-init");

/// 4 KiB blocks, one compressor thread (as the live tests' small bundles).
const SMALL: &[&str] = &["-comp", "zstd", "-b", "4K", "-processors", "1"];

const LOWER_FILE: &str = "usr/share/lower/file";

fn read(p: &std::path::Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("harness: reading {}: {e}", p.display()))
}

fn script(text: &str) -> String {
    format!("#!/bin/sh\necho {text}\n")
}

/// The base bundle: busybox, the guest as /sbin/init, the usual directories.
fn core_bundle() -> PathBuf {
    let mut t = RootTree::new("act-core")
        .busybox(true)
        .file("sbin/init", GUEST, 0o755)
        .file("etc/override", "01-core\n", 0o644)
        .file(LOWER_FILE, lf::noise(64 * 1024), 0o644)
        // A stand-in for glibc's: the test sees that activation ran it.
        .file("sbin/ldconfig", "#!/bin/sh\necho ldconfig-ran >> /tmp/ldconfig.log\n", 0o755)
        // And systemd's: run by activation only when /run/systemd/system exists.
        .file("usr/bin/systemctl", "#!/bin/sh\necho \"$@\" >> /tmp/systemctl.log\n", 0o755)
        // Merged /usr, as Debian has it: a bundle's lib/ lands in usr/lib/.
        .symlink("lib", "usr/lib");
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "etc", "usr/bin", "usr/lib", "usr/share"] {
        t = t.dir(d);
    }
    squashfs_with(&t.build(), &["-comp", "zstd", "-b", "128K"])
}

/// The medium: ext4 (label ACTDATA) with the data dir described at the top.
fn medium() -> PathBuf {
    let busybox = read(std::path::Path::new("/bin/busybox"));
    let tool = RootTree::new("act-tool")
        .file("usr/bin/act-tool", script("act-tool ran"), 0o755)
        // A setuid-root binary (a copy of busybox, which must be called busybox).
        .file("usr/lib/act-suid/busybox", busybox, 0o4755)
        .file("usr/share/act-tool/readme", "from act-tool\n", 0o644)
        .file("lib/act-tool/lib.conf", "through /lib\n", 0o644)
        .build();
    let erofs_tool = RootTree::new("act-erofs").file("usr/bin/act-erofs", script("act-erofs ran"), 0o755).build();
    let clash = RootTree::new("act-clash")
        .file("etc/override", "act-clash\n", 0o644)
        .file("usr/bin/act-clash-tool", script("act-clash-tool ran"), 0o755)
        .build();
    let module = RootTree::new("act-mod").file("usr/bin/act-mod-tool", script("act-mod-tool ran"), 0o755).build();
    let mut many = RootTree::new("act-many");
    for i in 0..1000 {
        many = many.file(&format!("usr/share/act-many/d{:02}/f{i:04}", i / 100), format!("{i}\n"), 0o644);
    }
    let many = many.build();
    let noisy = RootTree::new("act-noisy").file("var/noise", lf::noise(256 * 1024), 0o644).build();
    let mut truncated = read(&squashfs_with(&noisy, SMALL));
    truncated.truncate(truncated.len() / 2);
    // An EROFS image whose superblock names a block size the kernel does not support.
    let mut corrupt_erofs = read(&erofs(&erofs_tool));
    corrupt_erofs[1024 + 12] = 20;
    let put = |t: RootTree, rel: &str, bytes: Vec<u8>| t.file(&format!("{DATA_DIR}/{rel}"), bytes, 0o644);
    let mut t = RootTree::new("act-medium");
    t = put(t, "01-core.sb", read(&core_bundle()));
    t = put(t, "02-erofs.sb", read(&erofs(&RootTree::new("act-boot-erofs").file("markers/02-erofs", "02-erofs\n", 0o644).build())));
    t = put(t, "extra/act-tool.sb", read(&squashfs_with(&tool, SMALL)));
    t = put(t, "extra/act-erofs.sb", read(&erofs(&erofs_tool)));
    // With a whiteout (a 0:0 character device), which activation must not add.
    let whiteout = [SMALL, &["-p", "usr/bin/act-whiteout c 644 0 0 0 0"]].concat();
    t = put(t, "extra/act-clash.sb", read(&squashfs_with(&clash, &whiteout)));
    t = put(t, "extra/act-mod.sb", read(&squashfs_with(&module, SMALL)));
    t = put(t, "extra/act-many.sb", read(&squashfs_with(&many, SMALL)));
    t = put(t, "extra/garbage.sb", b"this is not a bundle\n".repeat(100));
    t = put(t, "extra/truncated.sb", truncated);
    t = put(t, "extra/corrupt-erofs.sb", corrupt_erofs);
    let t = t.dir(&format!("{DATA_DIR}/modules")).build();
    ext4_image(&t, 64, "ACTDATA", "5a1a0013-0000-4000-8000-000000000013")
}

/// Boots the medium (`disk`) with the guest's `scenario`; asserts a clean run.
fn boot(name: &str, disk: PathBuf, params: &str, scenario: &str) -> BootLog {
    let log = Qemu::new(&format!("activate_{name}"), lf::initrd())
        .disk(disk)
        .append(&format!("{params} -- {scenario}"))
        .timeout(Duration::from_secs(240))
        .run();
    log.assert_no_panic()
        .assert_contains("rdinit: exec /sbin/init")
        .assert_not_contains("PROBE unknown scenario")
        .assert_contains("PROBE done")
        .assert_exited();
    log
}

/// The probe `key`, or the test fails naming it.
fn probe<'a>(log: &'a BootLog, key: &str) -> &'a str {
    log.probe(key).unwrap_or_else(|| log.fail(&format!("no PROBE {key}= line")))
}

fn assert_probe_starts(log: &BootLog, key: &str, start: &str) {
    let v = probe(log, key);
    if !v.starts_with(start) {
        log.fail(&format!("PROBE {key}: {v:?} does not start with {start:?}"));
    }
}

fn assert_probe_has(log: &BootLog, key: &str, part: &str) {
    let v = probe(log, key);
    if !v.contains(part) {
        log.fail(&format!("PROBE {key}: {v:?} does not contain {part:?}"));
    }
}

/// Activate a binary bundle and an EROFS one, run them, list, deactivate: gone, and the
/// lower files unchanged; a clash; a busy bundle; 1,000 files (timed).
#[test]
fn activate_run_deactivate_clash_busy_and_timing() {
    let log = boot("basic", medium(), "", "basic");
    assert_probe_starts(&log, "activate-tool", "rc=0 rdinit: bundle act-tool.sb activated: ");
    log.assert_probe("tool-run", "act-tool ran")
        .assert_probe("tool-link", "/run/initramfs/memory/bundles/act-tool.sb/usr/bin/act-tool")
        .assert_probe("suid-mode", "4755 0")
        .assert_probe("suid-run", "ran")
        .assert_probe("suid-nosuid", "0")
        .assert_probe("tool-dir", "755 0 from act-tool")
        .assert_probe("merged-usr", "through /lib")
        .assert_probe("erofs-run", "act-erofs ran")
        .assert_probe("list0", "boot 01-core.sb|boot 02-erofs.sb|")
        .assert_probe("list1", "activated act-erofs.sb|activated act-tool.sb|boot 01-core.sb|boot 02-erofs.sb|")
        .assert_probe("list2", "boot 01-core.sb|boot 02-erofs.sb|")
        .assert_probe("records-left", "0")
        .assert_not_contains("PROBE after-deactivate");
    // ldconfig ran after the activation; systemctl daemon-reload only once systemd "runs".
    log.assert_probe("ldconfig", "ldconfig-ran ")
        .assert_probe("systemctl-before", "none")
        .assert_probe("systemctl", "daemon-reload");
    assert_probe_starts(&log, "activate-erofs", "rc=0 ");
    assert_probe_starts(&log, "deactivate-tool", "rc=0 rdinit: bundle act-tool.sb deactivated: ");
    assert_probe_starts(&log, "deactivate-erofs", "rc=0 ");
    let before = probe(&log, "lower-sum-before");
    log.assert_probe("lower-sum-after", before);
    // The clash is named and kept; the rest is added, and goes again.
    assert_probe_starts(&log, "activate-clash", "rc=0 ");
    assert_probe_has(&log, "activate-clash", "rdinit: bundle act-clash.sb: /etc/override is there; kept");
    assert_probe_has(&log, "activate-clash", "rdinit: bundle act-clash.sb activated: 1 entries added");
    log.assert_probe("whiteout", "absent");
    log.assert_probe("clash-override", "01-core")
        .assert_probe("clash-tool", "act-clash-tool ran")
        .assert_probe("clash-override-after", "01-core")
        .assert_probe("clash-tool-after", "gone");
    assert_probe_starts(&log, "deactivate-clash", "rc=0 ");
    // Busy: refused with the reason, nothing changed; then it goes.
    assert_probe_starts(&log, "deactivate-busy", "rc=1 rdinit: bundle act-tool.sb: in use");
    log.assert_probe("busy-tool", "present").assert_probe("free-tool", "gone");
    assert_probe_starts(&log, "deactivate-free", "rc=0 ");
    assert_probe_starts(&log, "deactivate-cwd", "rc=1 rdinit: bundle act-tool.sb: in use");
    assert_probe_starts(&log, "deactivate-cwd-free", "rc=0 ");
    // 1,000 files.
    assert_probe_starts(&log, "activate-many", "rc=0 rdinit: bundle act-many.sb activated: 1011 entries added");
    log.assert_probe("many-links", "1000").assert_probe("many-after", "gone").assert_probe("dangling", "0");
    eprintln!(
        "activate: 1,000 files activated in {} ms, deactivated in {} ms (guest CLOCK_BOOTTIME, TCG)",
        probe(&log, "many-ms"),
        probe(&log, "many-deactivate-ms")
    );
}

/// 50 activations and deactivations: no loop device or mount left behind.
#[test]
fn fifty_cycles_leak_nothing() {
    let log = boot("cycles", medium(), "", "cycles");
    log.assert_probe("cycles", "50 failed=0").assert_probe("dangling", "0");
    let before = probe(&log, "before mounts");
    log.assert_probe("after mounts", before);
}

/// Every bad input: its message, a failure status, and nothing changed.
#[test]
fn bad_input_is_named_and_changes_nothing() {
    let log = boot("bad", medium(), "", "bad");
    let cases = [
        ("garbage", "rdinit: bundle /run/initramfs/memory/data/slax/extra/garbage.sb: not a squashfs or erofs image"),
        ("truncated", "rdinit: bundle /run/initramfs/memory/data/slax/extra/truncated.sb: cannot mount (corrupt or truncated?): E"),
        ("corrupt-erofs", "rdinit: bundle /run/initramfs/memory/data/slax/extra/corrupt-erofs.sb: cannot mount (corrupt or truncated?): E"),
        ("missing", "rdinit: bundle /run/initramfs/memory/data/slax/extra/no-such.sb: ENOENT (2)"),
        ("twice", "rdinit: bundle act-tool.sb: already activated"),
        ("boot-name", "rdinit: bundle 02-erofs.sb: part of the boot"),
        ("deactivate-boot", "rdinit: bundle 01-core.sb: part of the boot"),
        ("deactivate-unknown", "rdinit: bundle nothing.sb: no such bundle"),
        ("usage", "rdinit: bundle usage: activate FILE.sb | deactivate NAME | list"),
        ("no-loop", "rdinit: bundle /run/initramfs/memory/data/slax/extra/act-tool.sb: no free loop device: ENOENT (2)"),
        ("full", "rdinit: bundle act-many.sb: nothing added: ENOSPC (28)"),
    ];
    for (key, message) in cases {
        assert_probe_starts(&log, &format!("bad-{key}"), &format!("rc=1 same=yes {message}"));
    }
    log.assert_probe("dangling", "0").assert_probe("tool-run", "act-tool ran");
    assert_probe_starts(&log, "activate-after-bad", "rc=0 ");
}

/// Persistent changes over two boots: a bundle activated from modules/ is a boot bundle at
/// the next boot (its links gone, its files from its layer); one activated from /tmp leaves
/// nothing behind (no dangling link, no record).
#[test]
fn persistent_changes_tidied_at_the_next_boot() {
    let disk = lf::private_copy(&medium(), "activate-persist");
    let run = |n: u32, scenario: &str| {
        let log = Qemu::new(&format!("activate_persist{n}"), lf::initrd())
            .disk(disk.clone())
            .persist_writes(true)
            .append(&format!("perch -- {scenario}"))
            .timeout(Duration::from_secs(240))
            .run();
        log.assert_no_panic().assert_contains("PROBE done").assert_exited();
        log
    };
    let first = run(1, "persist1");
    assert_probe_starts(&first, "activate-mod", "rc=0 ");
    assert_probe_starts(&first, "activate-tmp", "rc=0 ");
    first
        .assert_probe("mod-link", "/run/initramfs/memory/bundles/act-mod.sb/usr/bin/act-mod-tool")
        .assert_probe("tmp-link", "/run/initramfs/memory/bundles/act-tmp.sb/usr/bin/act-tool")
        .assert_probe("records", "act-mod.sb|act-tmp.sb|");
    let second = run(2, "persist2");
    second
        .assert_contains("rdinit: bundle act-mod.sb activated before this boot: 1 additions removed; it is a boot bundle now")
        .assert_contains("rdinit: bundle act-tmp.sb activated before this boot: 7 additions removed\n")
        .assert_probe("list", "boot 01-core.sb|boot 02-erofs.sb|boot act-mod.sb|")
        .assert_probe("mod-tool", "act-mod-tool ran")
        .assert_probe("tmp-tool", "gone")
        .assert_probe("tmp-dir", "gone")
        .assert_probe("tmp-lib", "gone")
        .assert_probe("records", "0")
        .assert_probe("dangling", "0");
}
