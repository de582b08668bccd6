//! Faults injected into real boots (issue 12): Debian's kernel in QEMU (TCG) with rdinit as
//! /init, live boots from media the harness builds, and QEMU's own tools to break them:
//!
//! - power cuts (QEMU killed, SIGKILL) at random moments while the guest writes and fsyncs
//!   to persistent changes on ext4; after each cut the filesystem is clean once its journal
//!   is replayed, every file the guest reported as fsynced is intact, the next boot works;
//! - `blkdebug` (a config file of `inject-error` rules, on `read_aio`/`write_aio`, limited
//!   to a sector where asked) for read errors inside a bundle and in a superblock, and for
//!   write errors on the changes device;
//! - the monitor's `device_del` to pull the boot media out while bundles are mounted.
//!
//! A hung unmount at shutdown is tests/shutdown.rs's
//! `stuck_disk_is_given_up_and_the_machine_powers_off`.
//!
//! The guest is tests/guest/fault-init (told what to do by the command line after `--`).
//! Each medium is built once and shared; consoles are kept in
//! target/boot-images/logs/fault_<name>.log. `RDINIT_FAULT_SEED=N` repeats a run's cuts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use xtask::live_fixtures as lf;
use xtask::{ext4_image, images_dir, squashfs, tool, BootLog, Qemu, RootTree};

const FAULT_INIT: &str = include_str!("guest/fault-init");

// ---------------------------------------------------------------------------------------
// Media

/// The base bundle: busybox, the fault init as /sbin/init, its marker.
fn fault_bundle() -> PathBuf {
    squashfs(&lf::base_tree("fault-core", FAULT_INIT, "01-fault").build())
}

/// A bundle of 256 KiB of incompressible data (`/var/noise`) and its marker.
fn noise_bundle(name: &str) -> PathBuf {
    let t = RootTree::new(&format!("fault-{name}"))
        .file(&format!("markers/{name}"), format!("{name}\n"), 0o644)
        .file("var/noise", lf::noise(256 * 1024), 0o644)
        .build();
    squashfs(&t)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The bundle [`data_ext4`] holds that the read-error case breaks.
const NOISE: &str = "05-noise";

/// ext4 (32 MiB, label `FAULTDATA`): `slax/01-fault.sb`, `slax/05-noise.sb` and
/// `slax/30-after.sb`.
fn data_ext4() -> PathBuf {
    let t = RootTree::new("fault-data")
        .file("slax/01-fault.sb", read(&fault_bundle()), 0o644)
        .file(&format!("slax/{NOISE}.sb"), read(&noise_bundle(NOISE)), 0o644)
        .file("slax/30-after.sb", read(&lf::marker_squashfs("30-after", false)), 0o644)
        .build();
    ext4_image(&t, 32, "FAULTDATA", "fa170001-0000-4000-8000-000000000001")
}

/// The base bundle on a 96 MiB ext4 (label `FAULTCUTS`): room for the power cuts'
/// writer, whose files are never deleted.
fn cuts_ext4() -> PathBuf {
    let t = RootTree::new("fault-cuts")
        .file("slax/01-fault.sb", read(&fault_bundle()), 0o644)
        .build();
    ext4_image(&t, 96, "FAULTCUTS", "fa170004-0000-4000-8000-000000000004")
}

/// An empty ext4 (16 MiB, label `FCHANGES`) for changes on their own device.
fn changes_ext4() -> PathBuf {
    ext4_image(&RootTree::new("fault-changes-empty").build(), 16, "FCHANGES", "fa170002-0000-4000-8000-000000000002")
}

fn run(c: &mut Command) -> (bool, String) {
    let out = c.output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// The first 512-byte sector of `file`'s data in an ext4 image (debugfs `bmap` of block 0).
fn first_sector_of(image: &Path, file: &str) -> u64 {
    let (ok, bmap) = run(Command::new(tool("debugfs").unwrap()).arg("-R").arg(format!("bmap {file} 0")).arg(image));
    let block: u64 = bmap.lines().filter_map(|l| l.trim().parse().ok()).next().unwrap_or_else(|| panic!("debugfs bmap {file}: {ok} {bmap}"));
    let (_, dump) = run(Command::new(tool("dumpe2fs").unwrap()).arg("-h").arg(image));
    let bs: u64 = dump
        .lines()
        .find_map(|l| l.strip_prefix("Block size:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("dumpe2fs: no block size:\n{dump}"));
    block * bs / 512
}

// ---------------------------------------------------------------------------------------
// Machines

/// A live boot (rdinit's live initramfs) with these parameters.
fn machine(name: &str, params: &str) -> Qemu {
    Qemu::new(&format!("fault_{name}"), lf::initrd()).append(params)
}

/// Attaches `image` as a virtio disk with id `id` (device `id`-dev) behind a blkdebug node
/// whose `[inject-error]` rules are `rules` (blkdebug's config file format). Reads-only
/// faults can share the image (`snapshot=on`: writes go to a throw-away overlay, reads of
/// what was not written pass through blkdebug); write faults need `persist`.
fn blkdebug_disk(q: Qemu, id: &str, image: &Path, rules: &str, persist: bool) -> Qemu {
    // One file per call: tests run in parallel, and two of them may use the same drive id.
    static CONFS: AtomicUsize = AtomicUsize::new(0);
    let n = CONFS.fetch_add(1, Ordering::Relaxed);
    let conf = images_dir().join(format!("fault-blkdebug-{id}-{}-{n}.conf", std::process::id()));
    std::fs::write(&conf, rules).unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
    let snap = if persist { "" } else { ",snapshot=on" };
    let p = |p: &Path| p.to_string_lossy().replace(',', ",,");
    q.qemu_arg("-drive")
        .qemu_arg(format!(
            "if=none,id={id},driver=raw,file.driver=blkdebug,file.config={},file.image.filename={}{snap}",
            p(&conf),
            p(image)
        ))
        .qemu_arg("-device")
        .qemu_arg(format!("virtio-blk-pci,drive={id},id={id}-dev"))
}

/// An `[inject-error]` rule: EIO on `event` (`read_aio`, `write_aio`), for requests that
/// touch `sector` if given.
fn eio_rule(event: &str, sector: Option<u64>) -> String {
    let mut r = format!("[inject-error]\nevent = \"{event}\"\nerrno = \"5\"\n");
    if let Some(s) = sector {
        r += &format!("sector = \"{s}\"\n");
    }
    r
}

/// The value of the fault init's first `GUEST key=value` line.
fn guest_value<'a>(log: &'a BootLog, key: &str) -> &'a str {
    let prefix = format!("GUEST {key}=");
    log.lines()
        .find_map(|l| l.find(&prefix).map(|i| &l[i + prefix.len()..]))
        .unwrap_or_else(|| log.fail(&format!("no `GUEST {key}=` line")))
}

fn assert_guest(log: &BootLog, key: &str, want: &str) {
    let got = guest_value(log, key);
    if got != want {
        log.fail(&format!("GUEST {key}={got:?}, expected {want:?}"));
    }
}

/// A boot that reached the fault init and powered off through rdinit's shutdown.
fn assert_booted_and_powered_off(log: &BootLog) {
    log.assert_no_panic()
        .assert_in_order(&["rdinit: exec /sbin/init", "GUEST done", "rdinit: shutdown: poweroff", "reboot: Power down"])
        .assert_exited();
}

// ---------------------------------------------------------------------------------------
// 1. Power cuts

/// A small seeded xorshift generator: the cuts of a run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The power is cut this many times on each of two disks, whose boots run side by side.
const CUTS_PER_CHAIN: usize = 11;
/// The cut comes at a uniformly random moment this long after the writer started.
const CUT_WINDOW_MS: u64 = 2500;

/// `e2fsck -fn` on a copy of `image` after its journal was replayed (`e2fsck -E
/// journal_only`, as the next mount would): `Err` with e2fsck's words if not clean.
fn clean_after_replay(image: &Path, what: &str) -> Result<(), String> {
    let copy = images_dir().join(format!("private-fault-{what}-check-{}.img", std::process::id()));
    std::fs::copy(image, &copy).map_err(|e| format!("copying: {e}"))?;
    let e2fsck = tool("e2fsck").unwrap();
    let (_, replay) = run(Command::new(&e2fsck).args(["-fy", "-E", "journal_only"]).arg(&copy));
    let (ok, check) = run(Command::new(&e2fsck).arg("-fn").arg(&copy));
    let _ = std::fs::remove_file(&copy);
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: e2fsck -fn after the journal replay is not clean:\n{replay}\n{check}"))
    }
}

/// What a chain of cuts saw.
struct Chain {
    synced_files: usize,
    replays: usize,
}

/// One disk cut CUTS_PER_CHAIN times (see the test), then booted once more to check the
/// last cut.
fn cut_chain(chain: usize, mut rng: Rng) -> Chain {
    let disk = lf::private_copy(&cuts_ext4(), &format!("fault-cuts-{chain}"));
    let mut synced: BTreeMap<String, String> = BTreeMap::new();
    let mut state_synced: u64 = 0;
    let mut replays = 0;
    for n in 0..=CUTS_PER_CHAIN {
        let last = n == CUTS_PER_CHAIN;
        let delay = Duration::from_millis(rng.below(CUT_WINDOW_MS + 1));
        let m = machine(&format!("cut_{chain}_{n:02}"), "changes=/slax/changes -- writer")
            .disk(&disk)
            .persist_writes(true)
            .timeout(Duration::from_secs(120));
        let m = if last { m.stop_at("GUEST WRITER started") } else { m.kill_after("GUEST WRITER started", delay) };
        let log = m.run();
        log.assert_no_panic()
            .assert_contains("rdinit: changes persist in /slax/changes")
            .assert_contains("GUEST WRITER started");
        if log.exited() {
            log.fail("QEMU ended by itself: the writer was not cut");
        }
        if log.contains("EXT4-fs (vda): recovery complete") {
            replays += 1;
        }
        // What survived the cut before.
        let mut have: BTreeMap<&str, &str> = BTreeMap::new();
        for l in log.lines() {
            if let Some((name, sha)) = l.strip_prefix("GUEST HAVE ").and_then(|r| r.split_once(' ')) {
                // The sha256 only: whatever a kernel message appended to the line is not it.
                have.insert(name, sha.get(..64).unwrap_or(sha));
            }
        }
        for (name, sha) in &synced {
            match have.get(name.as_str()) {
                Some(h) if h == sha => {}
                Some(h) => log.fail(&format!("after cut {chain}.{n}: {name} was fsynced with sha256 {sha}, is now {h}")),
                None => log.fail(&format!("after cut {chain}.{n}: {name} was fsynced and is gone")),
            }
        }
        let state = log.lines().find_map(|l| l.strip_prefix("GUEST HAVE-STATE ")).unwrap_or_else(|| log.fail("no `GUEST HAVE-STATE` line"));
        if state_synced > 0 && !state.parse::<u64>().is_ok_and(|s| s >= state_synced) {
            log.fail(&format!("after cut {chain}.{n}: state is {state:?}, it was {state_synced} when last reported synced"));
        }
        if log.contains("GUEST FAILED") {
            log.fail("the writer reports a failed write or fsync");
        }
        if last {
            return Chain { synced_files: synced.len(), replays };
        }
        // What this boot fsynced before its cut.
        let mut wrote = 0;
        for l in log.lines() {
            if let Some(rest) = l.strip_prefix("SYNCED f") {
                // A line the cut ended early is no report (the whole sha256 is).
                if let Some((num, sha)) = rest.split_once(' ').filter(|(_, sha)| sha.len() == 64) {
                    synced.insert(format!("f{num}"), sha.to_owned());
                    wrote += 1;
                }
            } else if let Some(s) = l.strip_prefix("SYNCED-STATE ") {
                // A number the cut ended early is smaller: a weaker check, never a false one.
                state_synced = s.trim().parse().unwrap_or(state_synced);
            }
        }
        eprintln!(
            "power cut {chain}.{n}: {} ms after the writer started, {wrote} files fsynced ({:.1} s wall)",
            delay.as_millis(),
            log.wall.as_secs_f64()
        );
        if let Err(e) = clean_after_replay(&disk, &format!("cut-{chain}-{n}")) {
            log.fail(&e);
        }
    }
    unreachable!()
}

/// The power is cut (QEMU killed) 2 × CUTS_PER_CHAIN times at random moments while the
/// guest writes files to its persistent changes (changes=/slax/changes on the ext4 data
/// disk), fsyncing each with its directory and replacing a state file atomically. After
/// each cut the data disk is clean once its journal is replayed, and the next boot (a full
/// live boot, whose changes mount replays the journal) sees every fsynced file with the
/// content it had and a state no older than the last one reported; a last boot checks the
/// last cut. Two disks are cut side by side, each by its own generator from the seed.
#[test]
fn power_cuts_while_writing_lose_nothing_synced() {
    let seed = std::env::var("RDINIT_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    eprintln!("power cuts: seed {seed} (RDINIT_FAULT_SEED={seed} repeats these cuts)");
    let t0 = Instant::now();
    // Build the medium once, before the threads.
    cuts_ext4();
    let chains: Vec<Chain> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64).map(|c| s.spawn(move || cut_chain(c as usize, Rng(seed ^ (c * 0x9e37_79b9_7f4a_7c15) | 1)))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    eprintln!(
        "power cuts: {} cuts survived, {} files fsynced, all intact; {} boots replayed the journal; {:.0} s",
        2 * CUTS_PER_CHAIN,
        chains.iter().map(|c| c.synced_files).sum::<usize>(),
        chains.iter().map(|c| c.replays).sum::<usize>(),
        t0.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// 2.–5. I/O errors and a pulled disk

/// Read errors in the first block of a bundle (every read that touches it fails): the
/// bundle is named with the error and skipped, the others boot.
#[test]
fn read_error_inside_a_bundle_skips_it() {
    let image = data_ext4();
    let sector = first_sector_of(&image, &format!("/slax/{NOISE}.sb"));
    let log = blkdebug_disk(machine("bundle_read_error", "-- probe"), "data", &image, &eio_rule("read_aio", Some(sector)), false).run();
    assert_booted_and_powered_off(&log);
    log.assert_in_order(&["rdinit: data slax on vda", &format!("rdinit: skipping bundle {NOISE}.sb: read: EIO (5)"), "rdinit: exec /sbin/init"]);
    assert_guest(&log, "markers", "01-fault|30-after|");
    assert_guest(&log, "writable", "yes");
}

/// Read errors in the data device's superblock (sector 2, where ext4's starts): the device
/// is named with the error and the search goes on to the next device.
#[test]
fn read_error_in_the_data_superblock_goes_on_to_the_next_device() {
    let image = data_ext4();
    let log = blkdebug_disk(machine("superblock_read_error", "-- probe"), "bad", &image, &eio_rule("read_aio", Some(2)), false);
    let log = log.qemu_arg("-drive").qemu_arg(format!("if=virtio,format=raw,snapshot=on,file={}", image.to_string_lossy().replace(',', ",,"))).run();
    assert_booted_and_powered_off(&log);
    // The blkdebug disk is vda (its -device comes first on QEMU's command line).
    log.assert_in_order(&["rdinit: vda: cannot read the superblock: EIO (5)", "rdinit: data slax on vdb"]);
    assert_guest(&log, "markers", "01-fault|05-noise|30-after|");
}

/// The same read error on the only disk: the device is named with the error, the diagnosis
/// lists it, and `panic=-1` reboots (QEMU exits under -no-reboot).
#[test]
fn read_error_in_the_only_superblock_is_named_in_the_diagnosis() {
    let m = machine("superblock_read_error_alone", "rootwait=2 panic=-1 -- probe");
    let log = blkdebug_disk(m, "bad", &data_ext4(), &eio_rule("read_aio", Some(2)), false).timeout(Duration::from_secs(90)).run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: vda: cannot read the superblock: EIO (5)",
            "rdinit: could not locate the data directory slax after 2 s",
            "rdinit: seen vda no known filesystem",
            "rdinit: no rescue shell; rebooting now",
        ])
        .assert_not_contains("GUEST")
        .assert_exited();
}

/// Write errors on the changes device during the boot (every write fails): its read-write
/// mount fails (ext4 writes its superblock), which is named, and the changes stay in RAM.
#[test]
fn write_errors_on_the_changes_device() {
    let changes = lf::private_copy(&changes_ext4(), "fault-write-errors");
    let m = machine("changes_write_error", "changes=LABEL=FCHANGES/mine -- probe").disk(data_ext4());
    let log = blkdebug_disk(m, "changes", &changes, &eio_rule("write_aio", None), true).timeout(Duration::from_secs(150)).run();
    assert_booted_and_powered_off(&log);
    log.assert_contains("rdinit: changes=LABEL=FCHANGES/mine: cannot mount the device read-write; keeping changes in RAM")
        .assert_not_contains("changes persist in");
    assert_guest(&log, "writable", "yes");
}

/// FCHANGES with `mine/changes/root/fill` (4 MiB of 0x5a, so its blocks are allocated), and
/// the sectors that file's data occupies.
fn changes_with_fill() -> (PathBuf, Vec<u64>) {
    let t = RootTree::new("fault-changes-fill").file("mine/changes/root/fill", vec![0x5au8; 4 << 20], 0o644).build();
    let image = ext4_image(&t, 16, "FCHANGES", "fa170003-0000-4000-8000-000000000003");
    let (ok, blocks) = run(Command::new(tool("debugfs").unwrap()).arg("-R").arg("blocks /mine/changes/root/fill").arg(&image));
    let (_, dump) = run(Command::new(tool("dumpe2fs").unwrap()).arg("-h").arg(&image));
    let bs: u64 = dump.lines().find_map(|l| l.strip_prefix("Block size:")).and_then(|v| v.trim().parse().ok()).expect("block size");
    let sectors: Vec<u64> = blocks.split_whitespace().filter_map(|b| b.parse::<u64>().ok()).map(|b| b * bs / 512).collect();
    assert!(ok && sectors.len() as u64 * bs == 4 << 20, "debugfs blocks: {blocks}");
    (image, sectors)
}

/// Write errors on the changes device at shutdown: the data blocks of a file in the changes
/// fail (the boot wrote none of them); the guest overwrites the file without syncing and
/// powers off through rdinit's shutdown, whose sync meets the errors. The shutdown names the
/// failed write-back of that mount (the data is lost, and the user must hear it) and still
/// powers off.
#[test]
fn write_errors_on_the_changes_device_at_shutdown() {
    let (image, sectors) = changes_with_fill();
    let changes = lf::private_copy(&image, "fault-write-errors-at-shutdown");
    // One rule per 4 KiB of the file: a write-back request of any size touches one.
    let rules: String = sectors.iter().step_by(8.max(1)).map(|&s| eio_rule("write_aio", Some(s))).collect();
    let m = machine("changes_write_error_at_shutdown", "changes=LABEL=FCHANGES/mine -- fill").disk(data_ext4());
    let log = blkdebug_disk(m, "changes", &changes, &rules, true).timeout(Duration::from_secs(150)).run();
    log.assert_no_panic()
        .assert_in_order(&[
            "rdinit: changes persist in LABEL=FCHANGES/mine",
            "GUEST filled, shutting down",
            "rdinit: shutdown: poweroff",
            "reboot: Power down",
        ])
        .assert_exited();
    let line = log.rdinit_lines().into_iter().find(|l| l.contains("EIO")).unwrap_or_else(|| log.fail("the shutdown does not name the failed write-back"));
    eprintln!("changes write error at shutdown: {line:?}");
}

/// The boot media pulled out (`device_del`) while 100 bundles are being mounted: a clear
/// message, no hang, and `panic=-1` reboots (QEMU exits under -no-reboot).
#[test]
fn boot_media_pulled_out_while_bundles_mount() {
    let media = lf::counted_ext4(100);
    let m = machine("media_pulled", "panic=-1 debug");
    let m = m
        .qemu_arg("-drive")
        .qemu_arg(format!("if=none,id=media,format=raw,snapshot=on,file={}", media.to_string_lossy().replace(',', ",,")))
        .qemu_arg("-device")
        .qemu_arg("virtio-blk-pci,drive=media,id=media-dev")
        .monitor_after("rdinit: data slax on vda", Duration::from_millis(400), "device_del media-dev")
        .timeout(Duration::from_secs(150));
    let log = m.run();
    log.assert_no_panic()
        .assert_in_order(&["rdinit: data slax on vda", ": EIO (5)", "rdinit: no rescue shell; rebooting now"])
        .assert_not_contains("PROBE done")
        .assert_exited();
    let first = log.rdinit_lines().into_iter().find(|l| l.contains("EIO")).unwrap_or("");
    eprintln!("media pulled: first error {first:?}; {} rdinit lines name EIO", log.rdinit_lines().iter().filter(|l| l.contains("EIO")).count());
}
