//! `cargo xtask bench`: rdinit's boot time against an honest competitor (issue 5).
//!
//! Contestants, all on one QEMU set-up (TCG, `-cpu max`, same RAM, Debian's kernel, the
//! instruction-count clock `-icount shift=0,sleep=on`) and booted round-robin:
//!
//! - `rdinit`: rdinit's live boot of media with 1, 10, 100, 500 bundles (`debug`);
//! - `peer`: `bench/peer-init.sh`, a busybox-static shell /init doing the same Slax flow
//!   with the same modules on the same media;
//! - `floor`: `bench/floor-init.sh`, an /init that only loads that module set;
//! - `rdinit root=` against Debian's initramfs-tools (`/boot/initrd.img-*`) on one ext4 root
//!   disk, each with a floor of the modules it actually loaded;
//! - on a kernel of our own with everything built in and the init built into the image
//!   (issue 10, xtask/src/kbuild.rs; no `-initrd`): rdinit against the busybox shell peer
//!   (`bench/peer-init.sh` live, `bench/peer-root-init.sh` root=), kernel start → real init,
//!   where nothing is left to load and the init's own cost is all there is; and the
//!   compressed kernel image with and without rdinit, x86_64 and aarch64.
//!
//! Every boot ends in `bench/real-init.sh` (the real init), whose first act writes the
//! marker [`MARKER`] to /dev/kmsg. Times are differences of printk timestamps, one clock:
//! "Run /init as init process" → marker (/init → real init), 0 → marker (kernel → real
//! init). Results go to `bench/results/` (results.md, bundles.svg, samples.csv).

use crate::arch::{build_init, Arch, Features};
use crate::kbuild::{kernel_build, KernelImage};
use crate::util::{cmd, images_dir, run as run_cmd, workspace};
use crate::{ext4_image, kernel, squashfs_with, tools, BootLog, Outcome, Pack, Qemu, RootTree};
use anyhow::{bail, ensure, Context, Result};
use clap::{Args, ValueEnum};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

/// What the real init writes to /dev/kmsg first; its printk timestamp ends every interval.
pub const MARKER: &str = "BENCH-REAL-INIT";
/// The kernel's line just before it execs /init.
pub const RUN_INIT: &str = "Run /init as init process";

/// The modules a live boot of a virtio disk needs; the packer adds deps and softdeps
/// (15 modules on Debian's 6.1).
pub const LIVE_MODULES: &[&str] = &["virtio_pci", "virtio_blk", "loop", "squashfs", "overlay", "ext4"];

/// Guest RAM for every boot, MiB.
const MEMORY_MIB: u32 = 512;
/// Wall-clock limit of one boot.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// Kernel parameters rdinit gets: `debug` for its stage lines, `loglevel=7` to put the
/// kernel's own console verbosity back to the default the other contestants boot with
/// (`debug` alone would also echo every KERN_DEBUG record, slowing the kernel down).
const RDINIT_PARAMS: &str = "debug loglevel=7";

/// `cargo xtask bench` options.
/// `cargo xtask bench --help`: what the benchmark does.
pub const LONG_ABOUT: &str = "Boot-time benchmark (issue 5). Boots, round-robin and on one QEMU set-up \
(TCG, -cpu max, 512 MiB, Debian's kernel, instruction-count clock -icount shift=0,sleep=on):
  rdinit   rdinit's live boot of media with 1, 10, 100, 500 bundles
  peer     bench/peer-init.sh, a busybox shell /init doing the same Slax flow
  floor    bench/floor-init.sh, an /init that only loads the same modules
  root     rdinit root= against Debian's initramfs-tools on one ext4 disk, each with the
           floor of the modules it loaded
  builtin  on a kernel built here with everything built in (linux-source-6.12, no modules),
           the init built into the image: rdinit against the busybox shell peer, root= and
           live (10 bundles), kernel start -> real init; and the compressed kernel image with
           and without rdinit (x86_64, aarch64)
Times come from printk timestamps: the kernel's \"Run /init\" line -> the marker the real init \
writes to /dev/kmsg. Medians go to bench/results/results.md, a plot to bench/results/bundles.svg, \
every boot to bench/results/samples.csv; logs stay in target/boot-images/logs/bench-*.log. \
A full run (3 runs) takes about 15 minutes on 2 cores.";

/// `cargo xtask bench` options.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Boots per contestant and bundle count; medians are reported [default: 3, --quick: 1]
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,

    /// Smoke run: 1 boot each, bundle counts 1,10 (numbers not worth quoting)
    #[arg(long)]
    pub quick: bool,

    /// Bundle counts of the live media [default: 1,10,100,500; --quick: 1,10]
    #[arg(long, value_delimiter = ',', value_name = "N,N..")]
    pub bundles: Vec<usize>,

    /// Leave out contestants (repeatable or comma-separated)
    #[arg(long, value_enum, value_delimiter = ',', value_name = "WHAT")]
    pub skip: Vec<Skip>,

    /// Directory for results.md, bundles.svg, samples.csv
    #[arg(long, value_name = "DIR", default_value = "bench/results")]
    pub out: PathBuf,

    /// The initramfs-tools image to compare with [default: /boot/initrd.img-<release>]
    #[arg(long, value_name = "PATH")]
    pub debian_initrd: Option<PathBuf>,
}

/// Contestants `--skip` can leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Skip {
    /// rdinit's boots (live and root=)
    Rdinit,
    /// the shell peer
    Peer,
    /// the module floors
    Floor,
    /// Debian's initramfs-tools
    Debian,
    /// all live boots
    Live,
    /// all root= boots
    Root,
    /// the rows on the kernel with everything built in (and its builds)
    Builtin,
    /// every row on Debian's kernel (leaves the built-in rows)
    Stock,
}

/// Who boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Rdinit,
    /// rdinit live with an image carrying 100+ more drivers (loaded only if a device wants them).
    RdinitGeneric,
    /// The same generic image with `modules=all`: every module loaded.
    RdinitGenericAll,
    Peer,
    Floor,
    RdinitRoot,
    FloorRdinitRoot,
    Debian,
    FloorDebian,
    /// On the kernel with everything built in, the init built into the image.
    BuiltinRdinitRoot,
    BuiltinPeerRoot,
    BuiltinRdinitLive,
    BuiltinPeerLive,
}

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::Rdinit => "rdinit live",
            Who::RdinitGeneric => "rdinit live, generic image",
            Who::RdinitGenericAll => "rdinit live, generic image, modules=all",
            Who::Peer => "peer (busybox sh) live",
            Who::Floor => "floor (live modules)",
            Who::RdinitRoot => "rdinit root=",
            Who::FloorRdinitRoot => "floor (rdinit root= modules)",
            Who::Debian => "Debian initramfs-tools root=",
            Who::FloorDebian => "floor (Debian's modules)",
            Who::BuiltinRdinitRoot => "built-in kernel: rdinit root=",
            Who::BuiltinPeerRoot => "built-in kernel: peer (busybox sh) root=",
            Who::BuiltinRdinitLive => "built-in kernel: rdinit live",
            Who::BuiltinPeerLive => "built-in kernel: peer (busybox sh) live",
        }
    }
    fn slug(self) -> &'static str {
        match self {
            Who::Rdinit => "rdinit",
            Who::RdinitGeneric => "rdinit-generic",
            Who::RdinitGenericAll => "rdinit-generic-all",
            Who::Peer => "peer",
            Who::Floor => "floor",
            Who::RdinitRoot => "rdinit-root",
            Who::FloorRdinitRoot => "floor-rdinit-root",
            Who::Debian => "debian",
            Who::FloorDebian => "floor-debian",
            Who::BuiltinRdinitRoot => "builtin-rdinit-root",
            Who::BuiltinPeerRoot => "builtin-peer-root",
            Who::BuiltinRdinitLive => "builtin-rdinit",
            Who::BuiltinPeerLive => "builtin-peer",
        }
    }
    fn is_live(self) -> bool {
        matches!(
            self,
            Who::Rdinit | Who::RdinitGeneric | Who::RdinitGenericAll | Who::Peer | Who::Floor | Who::BuiltinRdinitLive | Who::BuiltinPeerLive
        )
    }
    /// Booted on the kernel with everything built in.
    fn is_builtin(self) -> bool {
        matches!(self, Who::BuiltinRdinitRoot | Who::BuiltinPeerRoot | Who::BuiltinRdinitLive | Who::BuiltinPeerLive)
    }
    fn is_floor(self) -> bool {
        matches!(self, Who::Floor | Who::FloorRdinitRoot | Who::FloorDebian)
    }
    /// The floor this contestant is measured against.
    fn floor(self) -> Option<Who> {
        match self {
            Who::Rdinit | Who::RdinitGeneric | Who::RdinitGenericAll | Who::Peer => Some(Who::Floor),
            Who::RdinitRoot => Some(Who::FloorRdinitRoot),
            Who::Debian => Some(Who::FloorDebian),
            _ => None,
        }
    }
    fn skipped(self, skip: &[Skip]) -> bool {
        skip.iter().any(|s| match s {
            Skip::Rdinit => matches!(
                self,
                Who::Rdinit | Who::RdinitGeneric | Who::RdinitGenericAll | Who::RdinitRoot | Who::BuiltinRdinitRoot | Who::BuiltinRdinitLive
            ),
            Skip::Peer => matches!(self, Who::Peer | Who::BuiltinPeerRoot | Who::BuiltinPeerLive),
            Skip::Floor => self.is_floor(),
            Skip::Debian => self == Who::Debian,
            Skip::Live => self.is_live(),
            Skip::Root => !self.is_live(),
            Skip::Builtin => self.is_builtin(),
            Skip::Stock => !self.is_builtin(),
        })
    }
}

/// One row of the results: a contestant at a bundle count (0 for root= boots).
type Row = (Who, usize);

/// One boot to run.
#[derive(Clone, Debug)]
struct Spec {
    initrd: PathBuf,
    /// A kernel with its initramfs built in, booted without `-initrd` (None: Debian's
    /// kernel with `initrd`).
    builtin_kernel: Option<PathBuf>,
    disk: PathBuf,
    append: String,
    /// `BENCH bundles=` the real init must report (None: not checked).
    expect_bundles: Option<usize>,
}

/// What one boot measured.
#[derive(Clone, Debug, Default)]
struct Sample {
    run: usize,
    /// printk("Run /init") → printk(marker), seconds.
    init_to_real: f64,
    /// printk(marker), seconds since the kernel started.
    kernel_to_real: f64,
    /// printk("Run /init") → printk of the init's own "exec" line, just before it execs the
    /// real init (rdinit's `exec /sbin/init`, the peer's `peer: exec /sbin/init`).
    init_to_exec: Option<f64>,
    /// (stage, seconds after /init started), in order.
    stages: Vec<(String, f64)>,
    /// Modules loaded when the real init ran (/proc/modules).
    modules: Vec<String>,
    peak_memory: Option<String>,
    syscalls: Option<String>,
    wall: f64,
    warnings: Vec<String>,
    log: String,
}

/// Sizes shown for a contestant.
#[derive(Clone, Debug, Default)]
struct Sizes {
    init: String,
    compressed: Option<u64>,
    unpacked: Option<u64>,
}

/// Entry point of `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let load_before = loadavg();
    crate::setup()?;
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let mut counts: Vec<usize> = if !args.bundles.is_empty() {
        args.bundles.clone()
    } else if args.quick {
        vec![1, 10]
    } else {
        vec![1, 10, 100, 500]
    };
    counts.sort_unstable();
    counts.dedup();
    ensure!(counts.iter().all(|&n| (1..=500).contains(&n)), "bundle counts must be 1..=500 (overlayfs' layer limit)");
    let out_dir = if args.out.is_absolute() { args.out.clone() } else { workspace().join(&args.out) };
    let skip = &args.skip;
    let k = kernel();
    let bench_dir = images_dir().join("bench");
    fs::create_dir_all(&bench_dir)?;
    let index = ModIndex::load(&k.modules_dir)?;

    println!("bench: kernel {}, {} run(s) per row, bundle counts {:?}", k.release, runs, counts);
    println!("bench: building images (rdinit, peer, floor, media) ...");
    let scripts = workspace().join("bench");
    let peer_init = scripts.join("peer-init.sh");
    let floor_init = scripts.join("floor-init.sh");
    let real_init = fs::read(scripts.join("real-init.sh")).context("reading bench/real-init.sh")?;
    for p in [&peer_init, &floor_init] {
        ensure!(p.is_file(), "{} is missing", p.display());
    }
    let applets = applet_list(&bench_dir)?;
    let kmsg_list = bench_dir.join("kmsg.list");
    fs::write(&kmsg_list, "nod /dev/kmsg 0600 0 0 c 1 11\n")?;

    // The live module set, as the packer resolves it (deps, softdeps), and its load order.
    let live_list = bench_dir.join("rdinit-live.list");
    let rdinit_live = live_pack("bench-rdinit-live").emit_list(&live_list).compress("zstd");
    let rdinit_live_img = rdinit_live.build();
    let live_set = modules_of_list(&live_list)?;
    let live_order = write_order(&bench_dir, "live", &index, &live_set, &k.release)?;
    println!("bench: live module set ({}): {}", live_set.len(), live_set.iter().cloned().collect::<Vec<_>>().join(" "));

    let peer = live_pack("bench-peer")
        .init(&peer_init)
        .busybox(true)
        .list(&applets)
        .file(&live_order, "/etc/bench-modules")
        .compress("zstd");
    let peer_img = peer.build();
    let floor = floor_pack("bench-floor-live", &floor_init, &applets, &kmsg_list, &live_order, &live_set);
    let floor_img = floor.build();

    let mut sizes: BTreeMap<Who, Sizes> = BTreeMap::new();
    let rdinit_bin = stripped_size(&tools().rdinit, &bench_dir)?;
    let busybox_len = fs::metadata("/bin/busybox").map(|m| m.len()).unwrap_or(0);
    let script_len = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    sizes.insert(
        Who::Rdinit,
        Sizes {
            init: format!("{} (rdinit, stripped)", bytes(rdinit_bin)),
            compressed: file_len(&rdinit_live_img),
            unpacked: file_len(&rdinit_live.clone().compress("none").build()),
        },
    );
    sizes.insert(
        Who::Peer,
        Sizes {
            init: format!("{} (busybox) + {} (script)", bytes(busybox_len), bytes(script_len(&peer_init))),
            compressed: file_len(&peer_img),
            unpacked: file_len(&peer.clone().compress("none").build()),
        },
    );
    sizes.insert(
        Who::Floor,
        Sizes {
            init: format!("{} (busybox) + {} (script)", bytes(busybox_len), bytes(script_len(&floor_init))),
            compressed: file_len(&floor_img),
            unpacked: file_len(&floor.clone().compress("none").build()),
        },
    );

    // The boots of one round, in order.
    let mut order: Vec<Row> = Vec::new();
    let generic_count = if counts.contains(&10) { 10 } else { counts[0] };
    for &n in &counts {
        for who in [Who::Rdinit, Who::Peer, Who::Floor] {
            order.push((who, n));
        }
        if n == generic_count {
            order.extend([(Who::RdinitGeneric, n), (Who::RdinitGenericAll, n)]);
        }
    }
    order.extend([(Who::RdinitRoot, 0), (Who::FloorRdinitRoot, 0), (Who::Debian, 0), (Who::FloorDebian, 0)]);
    // The kernel with everything built in: root=, and live at 10 bundles.
    let builtin_n = if counts.contains(&10) { 10 } else { counts[0] };
    order.extend([(Who::BuiltinRdinitRoot, 0), (Who::BuiltinPeerRoot, 0)]);
    order.extend([(Who::BuiltinRdinitLive, builtin_n), (Who::BuiltinPeerLive, builtin_n)]);
    order.retain(|(w, _)| !w.skipped(skip));

    // Media: one ext4 disk per bundle count, and the root= disk.
    let media: BTreeMap<usize, PathBuf> = if !order.iter().any(|(w, _)| w.is_live()) {
        BTreeMap::new()
    } else {
        let bundles = build_bundles(*counts.last().unwrap(), &real_init)?;
        counts.iter().map(|&n| Ok((n, media_disk(&bench_dir, &bundles[..n])?))).collect::<Result<_>>()?
    };
    let root_disk = ext4_image(&root_tree(&real_init, "bench-root", "b-root").build(), 32, "benchroot", "5b1e0c3a-6d2f-4e8b-9a71-0c3d5e7f9b21");

    // A generic image: the live set plus every Ethernet, ATA and USB host/storage driver of
    // the kernel (100+ modules), as a distribution would ship. On-demand loading should boot
    // it as fast as the minimal image; `modules=all` shows what loading everything costs.
    let generic_extra: Vec<&String> = index
        .names
        .iter()
        .filter(|n| {
            index.path.get(*n).is_some_and(|p| {
                ["kernel/drivers/net/ethernet/", "kernel/drivers/ata/", "kernel/drivers/usb/host/", "kernel/drivers/usb/storage/"]
                    .iter()
                    .any(|d| p.starts_with(d))
            })
        })
        .collect();
    let generic = generic_extra.iter().fold(live_pack("bench-rdinit-generic").compress("zstd"), |p, m| p.module(m.as_str()));
    let generic_img = generic.build();
    let generic_modules = live_set.len() + generic_extra.len();
    for who in [Who::RdinitGeneric, Who::RdinitGenericAll] {
        sizes.insert(
            who,
            Sizes {
                init: format!("{} (rdinit, stripped), {generic_modules}+ modules", bytes(rdinit_bin)),
                compressed: file_len(&generic_img),
                unpacked: None,
            },
        );
    }
    let rdinit_root = Pack::new("bench-rdinit-root").preset("storage").module("ext4").compress("zstd");
    let rdinit_root_img = rdinit_root.build();
    sizes.insert(
        Who::RdinitRoot,
        Sizes {
            init: format!("{} (rdinit, stripped)", bytes(rdinit_bin)),
            compressed: file_len(&rdinit_root_img),
            unpacked: file_len(&rdinit_root.clone().compress("none").build()),
        },
    );
    let debian_img = args.debian_initrd.clone().unwrap_or_else(|| PathBuf::from(format!("/boot/initrd.img-{}", k.release)));
    let debian_ok = debian_img.is_file();
    if !debian_ok && !Who::Debian.skipped(skip) {
        println!("bench: {} not found: Debian's initramfs-tools is left out", debian_img.display());
    }
    if debian_ok {
        sizes.insert(
            Who::Debian,
            Sizes { init: "sh + udev + klibc tools".into(), compressed: file_len(&debian_img), unpacked: unpacked_size(&debian_img).ok() },
        );
    }
    let builtin = if skip.contains(&Skip::Builtin) {
        None
    } else {
        println!("bench: kernels with everything built in (a cold build takes ~5 min per architecture) ...");
        Some(builtin_images(&bench_dir, &peer_init, &scripts.join("peer-root-init.sh"), &applets)?)
    };
    println!("bench: images ready after {:.0} s", started.elapsed().as_secs_f64());

    // The boots, round-robin.
    let mut samples: BTreeMap<Row, Vec<Sample>> = BTreeMap::new();
    let mut failures: BTreeMap<Row, Vec<String>> = BTreeMap::new();
    let mut root_floors: BTreeMap<Who, Option<PathBuf>> = BTreeMap::new();
    order.retain(|(w, _)| debian_ok || !matches!(w, Who::Debian | Who::FloorDebian));
    let total = order.len() * runs;
    let mut done = 0;
    for run in 1..=runs {
        for &(who, n) in &order {
            let spec = match who {
                Who::Rdinit => Spec { builtin_kernel: None, initrd: rdinit_live_img.clone(), disk: media[&n].clone(), append: RDINIT_PARAMS.into(), expect_bundles: Some(n) },
                Who::RdinitGeneric => Spec { builtin_kernel: None, initrd: generic_img.clone(), disk: media[&n].clone(), append: RDINIT_PARAMS.into(), expect_bundles: Some(n) },
                Who::RdinitGenericAll => Spec {
                    builtin_kernel: None,
                    initrd: generic_img.clone(),
                    disk: media[&n].clone(),
                    append: format!("{RDINIT_PARAMS} modules=all"),
                    expect_bundles: Some(n),
                },
                Who::Peer => Spec { builtin_kernel: None, initrd: peer_img.clone(), disk: media[&n].clone(), append: String::new(), expect_bundles: Some(n) },
                Who::Floor => Spec { builtin_kernel: None, initrd: floor_img.clone(), disk: media[&n].clone(), append: String::new(), expect_bundles: None },
                Who::RdinitRoot => Spec {
                    builtin_kernel: None,
                    initrd: rdinit_root_img.clone(),
                    disk: root_disk.clone(),
                    append: format!("root=/dev/vda {RDINIT_PARAMS}"),
                    expect_bundles: Some(1),
                },
                Who::Debian => Spec { builtin_kernel: None, initrd: debian_img.clone(), disk: root_disk.clone(), append: "root=/dev/vda ro".into(), expect_bundles: Some(1) },
                Who::BuiltinRdinitRoot | Who::BuiltinPeerRoot | Who::BuiltinRdinitLive | Who::BuiltinPeerLive => {
                    let b = builtin.as_ref().expect("built-in rows are left out with --skip builtin");
                    let (kernel, disk, append, bundles) = match who {
                        Who::BuiltinRdinitRoot => (&b.rdinit, &root_disk, format!("root=/dev/vda {RDINIT_PARAMS}"), 1),
                        Who::BuiltinPeerRoot => (&b.peer_root, &root_disk, "root=/dev/vda".to_owned(), 1),
                        Who::BuiltinRdinitLive => (&b.rdinit, &media[&n], RDINIT_PARAMS.to_owned(), n),
                        _ => (&b.peer_live, &media[&n], String::new(), n),
                    };
                    Spec {
                        builtin_kernel: Some(kernel.image.clone()),
                        initrd: PathBuf::new(),
                        disk: disk.clone(),
                        append,
                        expect_bundles: Some(bundles),
                    }
                }
                Who::FloorRdinitRoot | Who::FloorDebian => {
                    let of = if who == Who::FloorRdinitRoot { Who::RdinitRoot } else { Who::Debian };
                    let img = root_floors.entry(who).or_insert_with(|| {
                        // The modules the contestant had loaded when its real init ran.
                        let loaded = samples.get(&(of, 0)).and_then(|s| s.first()).map(|s| s.modules.clone())?;
                        let set: BTreeSet<String> = loaded.iter().map(|m| norm(m)).filter(|m| index.path.contains_key(m)).collect();
                        let tag = who.slug();
                        let order_file = write_order(&bench_dir, tag, &index, &set, &k.release).ok()?;
                        let p = floor_pack(&format!("bench-{tag}"), &floor_init, &applets, &kmsg_list, &order_file, &set);
                        Some(p.build())
                    });
                    let Some(img) = img.clone() else {
                        if run == 1 {
                            println!("bench: {} skipped: {} never reached its real init", who.label(), of.label());
                        }
                        continue;
                    };
                    Spec { builtin_kernel: None, initrd: img, disk: root_disk.clone(), append: String::new(), expect_bundles: None }
                }
            };
            done += 1;
            let name = format!("bench-{}{}-r{run}", who.slug(), if n > 0 { format!("-{n}") } else { String::new() });
            let mut qemu = Qemu::new(&name, &spec.initrd);
            if let Some(k) = &spec.builtin_kernel {
                qemu = qemu.kernel(k).without_initrd();
            }
            let log = qemu
                .disk(&spec.disk)
                .append(&spec.append)
                .memory(MEMORY_MIB)
                .icount(true)
                .timeout(BOOT_TIMEOUT)
                .run();
            let what = format!("{}{}", who.label(), if n > 0 { format!(", {n} bundles") } else { String::new() });
            match measure(&log, &spec, run) {
                Ok(s) => {
                    println!(
                        "[{done:3}/{total}] {what}, run {run}: /init -> real init {:.3} s, kernel -> real init {:.3} s ({:.0} s wall)",
                        s.init_to_real, s.kernel_to_real, s.wall
                    );
                    for w in &s.warnings {
                        println!("          warning: {w}");
                    }
                    samples.entry((who, n)).or_default().push(s);
                }
                Err(e) => {
                    println!("[{done:3}/{total}] {what}, run {run}: FAILED: {e} (log: target/boot-images/logs/{name}.log)");
                    failures.entry((who, n)).or_default().push(format!("run {run}: {e} (`target/boot-images/logs/{name}.log`)"));
                }
            }
        }
    }

    let elapsed = started.elapsed();
    let report = Report {
        runs,
        counts: &counts,
        samples: &samples,
        failures: &failures,
        sizes: &sizes,
        elapsed,
        debian_img: &debian_img,
        builtin: builtin.as_ref(),
        live_modules: live_set.len(),
        source: source_version(),
        load: format!("{load_before} at the start, {} at the end", loadavg()),
    };
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let md = report.markdown();
    fs::write(out_dir.join("results.md"), &md)?;
    fs::write(out_dir.join("samples.csv"), report.csv())?;
    let svg = out_dir.join("bundles.svg");
    if let Err(e) = report.plot(&svg) {
        println!("bench: plot not written: {e:#}");
    }
    println!();
    print!("{}", report.summary());
    println!("bench: {} boots in {:.1} min; results in {}", total, elapsed.as_secs_f64() / 60.0, out_dir.display());
    let all_ok = order.iter().all(|r| samples.contains_key(r));
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The kernels with everything built in (issue 10) the built-in rows boot, and the image
/// sizes with and without rdinit.
struct Builtin {
    /// rdinit built in (the root= and live rows).
    rdinit: KernelImage,
    /// The shell peer of the live rows built in.
    peer_live: KernelImage,
    /// The shell peer of the root= rows built in.
    peer_root: KernelImage,
    sizes: Vec<KernelSizes>,
}

/// The compressed kernel image (bzImage, arm64 Image.gz) with and without rdinit.
struct KernelSizes {
    arch: Arch,
    release: String,
    /// The kernel's own default initramfs (/dev, /dev/console, /root).
    without: u64,
    with_rdinit: u64,
    /// rdinit itself, stripped.
    rdinit_stripped: u64,
}

/// Builds the lists (no modules: the kernel has none) and relinks the kernel with each.
fn builtin_images(dir: &Path, peer_init: &Path, peer_root_init: &Path, applets: &Path) -> Result<Builtin> {
    let list = |name: &str, pack: Pack| -> PathBuf {
        let l = dir.join(format!("{name}.list"));
        pack.emit_list(&l).build();
        l
    };
    // The peer reads its insmod order from /etc/bench-modules: nothing to load here.
    let no_modules = dir.join("builtin-no-modules");
    fs::write(&no_modules, "")?;
    let peer = |name: &str, init: &Path| {
        Pack::new(name).no_kernel().init(init).busybox(true).list(applets).file(&no_modules, "/etc/bench-modules")
    };
    let peer_live = kernel_build(Arch::X86_64, Some(&list("builtin-peer", peer("bench-builtin-peer", peer_init))))?;
    let peer_root = kernel_build(Arch::X86_64, Some(&list("builtin-peer-root", peer("bench-builtin-peer-root", peer_root_init))))?;
    let mut rdinit = None;
    let mut sizes = Vec::new();
    for arch in [Arch::X86_64, Arch::Aarch64] {
        // x86_64: the same rdinit as every other row, stripped as a board would ship it.
        let init = match arch {
            Arch::X86_64 => tools().rdinit.clone(),
            _ => build_init(arch, Features::Full)?,
        };
        let stripped = dir.join(format!("rdinit-{}.stripped", arch.name()));
        run_cmd(cmd(&arch.strip())?.arg("-o").arg(&stripped).arg(&init))?;
        let name = format!("builtin-rdinit-{}", arch.name());
        let with = kernel_build(arch, Some(&list(&name, Pack::new(&format!("bench-{name}")).no_kernel().init(&stripped))))?;
        let without = kernel_build(arch, None)?;
        sizes.push(KernelSizes {
            arch,
            release: with.release.clone(),
            without: without.compressed_size()?,
            with_rdinit: with.compressed_size()?,
            rdinit_stripped: fs::metadata(&stripped)?.len(),
        });
        if arch == Arch::X86_64 {
            rdinit = Some(with);
        }
    }
    Ok(Builtin { rdinit: rdinit.expect("x86_64 is built above"), peer_live, peer_root, sizes })
}

/// The live set, as packed for rdinit (no busybox: rdinit needs none).
fn live_pack(name: &str) -> Pack {
    LIVE_MODULES.iter().fold(Pack::new(name), |p, m| p.module(m))
}

/// A floor image: busybox, applet links, /dev/kmsg, the modules of `set` and their order.
fn floor_pack(name: &str, init: &Path, applets: &Path, kmsg: &Path, order: &Path, set: &BTreeSet<String>) -> Pack {
    set.iter()
        .fold(Pack::new(name), |p, m| p.module(m))
        .init(init)
        .busybox(true)
        .list(applets)
        .list(kmsg)
        .file(order, "/etc/bench-modules")
        .compress("zstd")
}

/// A gen_init_cpio list linking every busybox applet in /bin (what `busybox --install -s`
/// makes): busybox's shell finds an applet through /proc/self/exe, and through PATH
/// before /proc is mounted and after it has moved.
fn applet_list(dir: &Path) -> Result<PathBuf> {
    let applets = crate::images::busybox_applets(Path::new("/bin/busybox"))?;
    let mut s = String::new();
    for a in applets {
        if !["busybox", "sh", "init", "linuxrc"].contains(&a.as_str()) {
            writeln!(s, "slink /bin/{a} busybox 0777 0 0")?;
        }
    }
    let p = dir.join("applets.list");
    fs::write(&p, s)?;
    Ok(p)
}

/// Module names in a `--emit-list` output's cut-down modules.dep.
fn modules_of_list(list: &Path) -> Result<BTreeSet<String>> {
    let d = PathBuf::from(format!("{}.d", list.display()));
    let dep = walk_find(&d, "modules.dep").with_context(|| format!("no modules.dep under {}", d.display()))?;
    let text = fs::read_to_string(&dep)?;
    Ok(text.lines().filter_map(|l| l.split_once(':')).map(|(p, _)| mod_name(p)).collect())
}

fn walk_find(dir: &Path, name: &str) -> Option<PathBuf> {
    for e in fs::read_dir(dir).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if let Some(f) = walk_find(&p, name) {
                return Some(f);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// Writes the insmod order of `set` (one absolute module path a line) and returns its path.
fn write_order(dir: &Path, tag: &str, index: &ModIndex, set: &BTreeSet<String>, release: &str) -> Result<PathBuf> {
    let mut s = String::new();
    for rel in index.load_order(set) {
        writeln!(s, "/lib/modules/{release}/{rel}")?;
    }
    let p = dir.join(format!("order-{tag}.txt"));
    fs::write(&p, s)?;
    Ok(p)
}

/// `kernel/fs/ext4/ext4.ko.xz` → `ext4`; `-` → `_`.
fn mod_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.find(".ko").map(|i| &base[..i]).unwrap_or(base);
    norm(stem)
}

fn norm(name: &str) -> String {
    name.trim().replace('-', "_")
}

/// The host kernel's depmod files.
struct ModIndex {
    /// Module names in modules.dep order.
    names: Vec<String>,
    path: BTreeMap<String, String>,
    deps: BTreeMap<String, Vec<String>>,
    pre: BTreeMap<String, Vec<String>>,
    post: BTreeMap<String, Vec<String>>,
    alias: BTreeMap<String, Vec<String>>,
}

impl ModIndex {
    fn load(dir: &Path) -> Result<ModIndex> {
        let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap_or_default();
        let mut ix = ModIndex {
            names: Vec::new(),
            path: BTreeMap::new(),
            deps: BTreeMap::new(),
            pre: BTreeMap::new(),
            post: BTreeMap::new(),
            alias: BTreeMap::new(),
        };
        let dep = read("modules.dep");
        ensure!(!dep.is_empty(), "no modules.dep in {}", dir.display());
        for line in dep.lines() {
            let Some((p, rest)) = line.split_once(':') else { continue };
            let name = mod_name(p);
            ix.names.push(name.clone());
            ix.path.insert(name.clone(), p.to_owned());
            ix.deps.insert(name, rest.split_whitespace().map(mod_name).collect());
        }
        for line in read("modules.softdep").lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(m) = words.next().map(norm) else { continue };
            let mut into_post = false;
            for w in words {
                match w {
                    "pre:" => into_post = false,
                    "post:" => into_post = true,
                    _ => {
                        let list = if into_post { &mut ix.post } else { &mut ix.pre };
                        list.entry(m.clone()).or_default().push(norm(w));
                    }
                }
            }
        }
        for line in read("modules.alias").lines() {
            let mut words = line.split_whitespace();
            if let (Some("alias"), Some(a), Some(m)) = (words.next(), words.next(), words.next()) {
                ix.alias.entry(norm(a)).or_default().push(norm(m));
            }
        }
        Ok(ix)
    }

    /// A module name, or the modules an alias names.
    fn resolve(&self, name: &str) -> Vec<String> {
        if self.path.contains_key(name) {
            vec![name.to_owned()]
        } else {
            self.alias.get(name).cloned().unwrap_or_default()
        }
    }

    /// The paths of `set` in an order insmod can follow: softdeps `pre:` first, then hard
    /// deps (the last listed first, as modprobe does), then the module, then `post:`.
    /// Only modules of `set` are listed.
    fn load_order(&self, set: &BTreeSet<String>) -> Vec<String> {
        fn visit(ix: &ModIndex, set: &BTreeSet<String>, m: &str, seen: &mut BTreeSet<String>, out: &mut Vec<String>) {
            if !set.contains(m) || !seen.insert(m.to_owned()) {
                return;
            }
            for s in ix.pre.get(m).into_iter().flatten().flat_map(|s| ix.resolve(s)) {
                visit(ix, set, &s, seen, out);
            }
            for d in ix.deps.get(m).into_iter().flatten().rev() {
                visit(ix, set, d, seen, out);
            }
            out.push(ix.path[m].clone());
            for s in ix.post.get(m).into_iter().flatten().flat_map(|s| ix.resolve(s)) {
                visit(ix, set, &s, seen, out);
            }
        }
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for m in &self.names {
            visit(self, set, m, &mut seen, &mut out);
        }
        out
    }
}

/// A root tree with busybox (and its applet links), the standard directories, the real
/// init as /sbin/init and `/etc/bench/<mark>`, which the real init counts.
fn root_tree(real_init: &[u8], name: &str, mark: &str) -> RootTree {
    let mut t = RootTree::new(name)
        .busybox(true)
        .file("sbin/init", real_init.to_vec(), 0o755)
        .file(&format!("etc/bench/{mark}"), format!("{mark}\n"), 0o644);
    for d in ["dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "usr", "etc", "bin", "sbin"] {
        t = t.dir(d);
    }
    t
}

/// Bundle files 0001..count: the base (busybox, the real init, /etc/bench/b-0001) and
/// small ones each adding /etc/bench/b-NNNN. squashfs, zstd; the small ones in 4 KiB
/// blocks (each mounted squashfs pins a few blocks of RAM: 500 of them must fit 512 MiB),
/// the base in 128 KiB blocks as real bundles are: the real init's busybox is paged in from
/// it, and 4 KiB blocks made that start ~30 ms slower and more sensitive to host load
/// (every block one virtio read, and I/O waits follow host time under `sleep=on`).
fn build_bundles(count: usize, real_init: &[u8]) -> Result<Vec<(String, PathBuf)>> {
    const OPTS: &[&str] = &["-comp", "zstd", "-b", "4096", "-quiet"];
    const BASE_OPTS: &[&str] = &["-comp", "zstd", "-b", "131072", "-quiet"];
    let base = root_tree(real_init, "bench-bundle-0001", "b-0001").build();
    let mut out = vec![("0001-base.sb".to_owned(), squashfs_with(&base, BASE_OPTS))];
    let rest: Vec<usize> = (2..=count).collect();
    // mksquashfs is quick on these; two at a time keeps both cores busy.
    let built: Vec<Result<(String, PathBuf)>> = std::thread::scope(|sc| {
        let half = rest.len().div_ceil(2).max(1);
        let handles: Vec<_> = rest
            .chunks(half)
            .map(|chunk| {
                sc.spawn(move || {
                    chunk
                        .iter()
                        .map(|&i| {
                            let tree = RootTree::new(&format!("bench-bundle-{i:04}"))
                                .file(&format!("etc/bench/b-{i:04}"), format!("bundle {i}\n"), 0o644)
                                .build();
                            Ok((format!("{i:04}-bundle.sb"), squashfs_with(&tree, OPTS)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("bundle thread")).collect()
    });
    for b in built {
        out.push(b?);
    }
    Ok(out)
}

/// An ext4 disk holding `slax/` with these bundles.
fn media_disk(bench_dir: &Path, bundles: &[(String, PathBuf)]) -> Result<PathBuf> {
    let n = bundles.len();
    let tree = bench_dir.join(format!("media-{n}"));
    crate::util::remove_any(&tree)?;
    let slax = tree.join("slax");
    fs::create_dir_all(&slax)?;
    for (name, file) in bundles {
        fs::hard_link(file, slax.join(name)).or_else(|_| fs::copy(file, slax.join(name)).map(|_| ()))?;
    }
    let total: u64 = bundles.iter().filter_map(|(_, f)| fs::metadata(f).ok()).map(|m| m.len()).sum();
    let mib = (total >> 20) * 2 + 32;
    Ok(ext4_image(&tree, mib, "benchmedia", "7e2a9c41-3b5d-4f6a-8c1e-2d4f6a8b0c13"))
}

/// The 1-minute load average of the host.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg").ok().and_then(|s| s.split_whitespace().next().map(str::to_owned)).unwrap_or_else(|| "?".into())
}

/// `git describe --always --dirty` of the workspace, or "unknown".
fn source_version() -> String {
    cmd("git")
        .and_then(|mut c| run_cmd(c.current_dir(workspace()).args(["describe", "--always", "--dirty"])))
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// The size of `bin` once stripped.
fn stripped_size(bin: &Path, dir: &Path) -> Result<u64> {
    let out = dir.join("rdinit.stripped");
    run_cmd(cmd("strip")?.arg("-o").arg(&out).arg(bin))?;
    Ok(fs::metadata(&out)?.len())
}

fn file_len(p: &Path) -> Option<u64> {
    fs::metadata(p).ok().map(|m| m.len())
}

/// The uncompressed length of an initramfs: leading uncompressed cpio archives (early
/// microcode) as they are, then the compressed rest decompressed.
fn unpacked_size(p: &Path) -> Result<u64> {
    let data = fs::read(p)?;
    let mut off = 0usize;
    let hex = |b: &[u8]| u64::from_str_radix(std::str::from_utf8(b).unwrap_or("x"), 16).ok();
    while data.get(off..off + 6) == Some(b"070701") {
        loop {
            let h = data.get(off..off + 110).context("truncated cpio header")?;
            let filesize = hex(&h[54..62]).context("bad cpio header")? as usize;
            let namesize = hex(&h[94..102]).context("bad cpio header")? as usize;
            let name = data.get(off + 110..off + 110 + namesize.saturating_sub(1)).context("truncated cpio name")?;
            let trailer = name == b"TRAILER!!!";
            off = (off + 110 + namesize + 3) & !3;
            off = (off + filesize + 3) & !3;
            if trailer {
                break;
            }
        }
        while data.get(off) == Some(&0) {
            off += 1;
        }
    }
    let rest = &data[off.min(data.len())..];
    let tool = match rest {
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
        [0x1f, 0x8b, ..] => "gzip",
        [0xfd, b'7', b'z', b'X', b'Z', ..] => "xz",
        _ => return Ok(data.len() as u64),
    };
    let mut child = cmd(tool)?.arg("-dc").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let rest = rest.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&rest);
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = off as u64;
    loop {
        let got = stdout.read(&mut buf)?;
        if got == 0 {
            break;
        }
        n += got as u64;
    }
    let _ = writer.join();
    child.wait()?;
    Ok(n)
}

/// The printk timestamp of the first line containing `needle`, taken from that line itself
/// (the `[   1.234567]` nearest before the needle).
fn stamp_of(log: &BootLog, needle: &str) -> Option<f64> {
    log.lines().find_map(|l| {
        let at = l.find(needle)?;
        let head = &l[..at];
        let open = head.rfind('[')?;
        let close = open + head[open..].find(']')?;
        head[open + 1..close].trim().parse().ok()
    })
}

/// Reads one boot's log.
fn measure(log: &BootLog, spec: &Spec, run: usize) -> Result<Sample, String> {
    if !log.harness_errors.is_empty() {
        return Err(format!("harness: {}", log.harness_errors.join("; ")));
    }
    let t_init = stamp_of(log, RUN_INIT).ok_or("the kernel never ran /init")?;
    let Some(t_real) = stamp_of(log, MARKER) else {
        let why = if let Some(p) = log.line_with("Kernel panic") {
            p.trim().to_owned()
        } else if let Some(f) = log.line_with("FAILED") {
            f.trim().to_owned()
        } else {
            match &log.outcome {
                Outcome::TimedOut(t) => format!("timed out after {} s", t.as_secs()),
                o => format!("{o:?}"),
            }
        };
        return Err(format!("no real-init marker ({why})"));
    };
    let value = |key: &str| log.lines().find_map(|l| l.find(key).map(|i| l[i + key.len()..].trim().to_owned()));
    if let Some(want) = spec.expect_bundles {
        let got = value("BENCH bundles=").and_then(|v| v.parse::<usize>().ok());
        if got != Some(want) {
            return Err(format!("the real init saw {got:?} bundles, not {want}"));
        }
    }
    let mut s = Sample {
        run,
        init_to_real: t_real - t_init,
        kernel_to_real: t_real,
        wall: log.wall.as_secs_f64(),
        log: format!("target/boot-images/logs/{}.log", log.name),
        modules: value("BENCH modules=").map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
        ..Sample::default()
    };
    for l in log.lines() {
        if let Some(i) = l.find("rdinit: [") {
            // `rdinit: [123 ms] text`: its own clock, from its start (right after "Run /init").
            let rest = &l[i + "rdinit: [".len()..];
            let Some((ms, text)) = rest.split_once(" ms] ") else { continue };
            let Ok(ms) = ms.trim().parse::<f64>() else { continue };
            let text = text.trim();
            if let Some(v) = text.strip_prefix("peak memory") {
                s.peak_memory = Some(v.trim_start_matches([':', ' ']).trim().to_owned());
            } else if let Some(v) = text.strip_prefix("syscalls") {
                s.syscalls = Some(v.trim_start_matches([':', ' ']).trim().to_owned());
            } else {
                s.stages.push((text.to_owned(), ms / 1000.0));
            }
        } else if l.contains("rdinit: exec ") {
            if let Some(t) = stamp_of_line(l) {
                s.stages.push(("exec of the real init (printk)".to_owned(), t - t_init));
                s.init_to_exec.get_or_insert(t - t_init);
            }
        } else if let Some(i) = l.find("] peer: ") {
            let text = l[i + "] peer: ".len()..].trim();
            if let Some(t) = stamp_of_line(l) {
                s.stages.push((text.to_owned(), t - t_init));
                if text.starts_with("exec ") {
                    s.init_to_exec.get_or_insert(t - t_init);
                }
            }
        }
    }
    s.stages.push(("real init's marker".to_owned(), s.init_to_real));
    if let Some(w) = value("BENCH warn=") {
        s.warnings.push(w);
    }
    if log.contains("Kernel panic") {
        s.warnings.push("kernel panic after the marker".into());
    }
    Ok(s)
}

fn stamp_of_line(l: &str) -> Option<f64> {
    let open = l.find('[')?;
    let close = open + l[open..].find(']')?;
    l[open + 1..close].trim().parse().ok()
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Least-squares line through (x, y): (slope, intercept).
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

fn bytes(n: u64) -> String {
    if n >= 10 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else if n >= 100 << 10 {
        format!("{:.0} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn secs(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())
}

struct Report<'a> {
    runs: usize,
    counts: &'a [usize],
    samples: &'a BTreeMap<Row, Vec<Sample>>,
    failures: &'a BTreeMap<Row, Vec<String>>,
    sizes: &'a BTreeMap<Who, Sizes>,
    elapsed: Duration,
    debian_img: &'a Path,
    builtin: Option<&'a Builtin>,
    /// How many modules the live images carry.
    live_modules: usize,
    /// `git describe` of the sources rdinit was built from.
    source: String,
    /// Host load averages, for the reader to judge the noise.
    load: String,
}

impl Report<'_> {
    fn med(&self, row: Row, f: impl Fn(&Sample) -> f64) -> Option<f64> {
        let mut v: Vec<f64> = self.samples.get(&row)?.iter().map(f).collect();
        median(&mut v)
    }
    fn init(&self, row: Row) -> Option<f64> {
        self.med(row, |s| s.init_to_real)
    }
    fn spread(&self, row: Row) -> Option<(f64, f64)> {
        let v = self.samples.get(&row)?;
        let lo = v.iter().map(|s| s.init_to_real).fold(f64::INFINITY, f64::min);
        let hi = v.iter().map(|s| s.init_to_real).fold(f64::NEG_INFINITY, f64::max);
        v.first().map(|_| (lo, hi))
    }
    /// Median time above the contestant's floor at the same bundle count.
    fn above(&self, row: Row) -> Option<f64> {
        let floor = row.0.floor()?;
        Some(self.init(row)? - self.init((floor, row.1))?)
    }
    /// Median /init → the init's exec of the real init, above the floor: the init's own work,
    /// without the real init's start (the same binary from the same media for both, and
    /// absent from the floor, which ends in a shell already running).
    fn exec_above(&self, row: Row) -> Option<f64> {
        let floor = row.0.floor()?;
        Some(self.exec(row)? - self.init((floor, row.1))?)
    }
    /// Median /init → the init's exec of the real init (boots that logged it).
    fn exec(&self, row: Row) -> Option<f64> {
        let mut v: Vec<f64> = self.samples.get(&row)?.iter().filter_map(|s| s.init_to_exec).collect();
        median(&mut v)
    }
    fn slope(&self, who: Who) -> Option<(f64, f64)> {
        let pts: Vec<(f64, f64)> = self.counts.iter().filter_map(|&n| Some((n as f64, self.init((who, n))?))).collect();
        fit(&pts)
    }
    fn first_text(&self, row: Row, f: impl Fn(&Sample) -> Option<&String>) -> String {
        self.samples.get(&row).and_then(|v| v.iter().find_map(|s| f(s).cloned())).unwrap_or_else(|| "n/a".into())
    }
    fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self.samples.keys().chain(self.failures.keys()).copied().collect();
        rows.sort_by_key(|&(w, n)| (!w.is_live(), n, w));
        rows.dedup();
        rows
    }
    fn ratio_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ten = if self.counts.contains(&10) { Some(10) } else { self.counts.first().copied() };
        if let Some(n) = ten {
            match (self.above((Who::Rdinit, n)), self.above((Who::Peer, n))) {
                (Some(r), Some(p)) if p > 0.0 => out.push(format!(
                    "At {n} bundles, time above the module floor: rdinit {:.0} ms, peer {:.0} ms: ratio {:.2} (target ≤ 0.2)",
                    r * 1e3,
                    p * 1e3,
                    r / p
                )),
                (r, p) => out.push(format!(
                    "At {n} bundles, time above the module floor: rdinit {}, peer {} (no ratio)",
                    secs(r),
                    secs(p)
                )),
            }
            if let (Some(r), Some(p)) = (self.exec_above((Who::Rdinit, n)), self.exec_above((Who::Peer, n))) {
                if p > 0.0 {
                    out.push(format!(
                        "At {n} bundles, /init → exec of the real init, above the module floor (the real init's own start, \
                         {:.0} ms for rdinit's boots, left out of both): rdinit {:.0} ms, peer {:.0} ms: ratio {:.2} (target ≤ 0.2)",
                        (self.above((Who::Rdinit, n)).unwrap_or(r) - r) * 1e3,
                        r * 1e3,
                        p * 1e3,
                        r / p
                    ));
                }
            }
        }
        for who in [Who::Rdinit, Who::Peer, Who::Floor] {
            if let Some((slope, icpt)) = self.slope(who) {
                let lo = self.counts.first().unwrap();
                let hi = self.counts.last().unwrap();
                out.push(format!(
                    "Per-bundle slope, {}: {:.2} ms per bundle (least squares over {lo}..{hi} bundles, intercept {:.3} s)",
                    who.label(),
                    slope * 1e3,
                    icpt
                ));
            }
        }
        if let Some(&(_, n)) = self.samples.keys().find(|(w, _)| *w == Who::RdinitGeneric) {
            if let (Some(min), Some(gen)) = (self.init((Who::Rdinit, n)), self.init((Who::RdinitGeneric, n))) {
                let all = self.init((Who::RdinitGenericAll, n)).map_or("n/a".into(), |a| format!("{a:.3} s"));
                out.push(format!(
                    "Generic image (100+ more drivers), {n} bundles: rdinit {gen:.3} s against {min:.3} s with the minimal image ({:+.0} ms); loading everything (modules=all) {all}",
                    (gen - min) * 1e3
                ));
            }
        }
        for (what, r, p) in self.builtin_pairs() {
            let (Some(r), Some(p)) = (self.med(r, |s| s.kernel_to_real), self.med(p, |s| s.kernel_to_real)) else { continue };
            out.push(format!(
                "Built-in kernel, {what}: kernel start → real init rdinit {r:.3} s, peer {p:.3} s: ratio {:.2} ({:+.0} ms)",
                r / p,
                (r - p) * 1e3
            ));
        }
        let (r, d) = (self.init((Who::RdinitRoot, 0)), self.init((Who::Debian, 0)));
        if let (Some(r), Some(d)) = (r, d) {
            out.push(format!(
                "root=: rdinit {:.3} s vs Debian initramfs-tools {:.3} s /init → real init: {:.1}× faster, {:.0} ms less",
                r,
                d,
                d / r,
                (d - r) * 1e3
            ));
            let (fr, fd) = (self.init((Who::FloorRdinitRoot, 0)), self.init((Who::FloorDebian, 0)));
            if let (Some(fr), Some(fd)) = (fr, fd) {
                out.push(format!(
                    "root=: the module floors differ by {:.0} ms (rdinit's modules {:.3} s, Debian's {:.3} s); \
                     above their floors rdinit {:.0} ms, Debian {:.0} ms: the gap exceeds the floor difference by {:.0} ms",
                    (fd - fr) * 1e3,
                    fr,
                    fd,
                    (r - fr) * 1e3,
                    (d - fd) * 1e3,
                    ((d - r) - (fd - fr)) * 1e3
                ));
            }
        }
        out
    }

    /// (what, rdinit's row, the peer's row) on the kernel with everything built in.
    fn builtin_pairs(&self) -> Vec<(String, Row, Row)> {
        let mut v = vec![("root=".to_owned(), (Who::BuiltinRdinitRoot, 0), (Who::BuiltinPeerRoot, 0))];
        let live = self.rows().into_iter().find(|r| r.0 == Who::BuiltinRdinitLive).map(|r| r.1);
        if let Some(n) = live {
            v.push((format!("live, {n} bundles"), (Who::BuiltinRdinitLive, n), (Who::BuiltinPeerLive, n)));
        }
        v
    }

    /// The section of the kernel with everything built in: times and image sizes.
    fn builtin_markdown(&self, m: &mut String) {
        let Some(b) = self.builtin else { return };
        let _ = writeln!(m, "\n## Built into the kernel (issue 10)\n");
        let _ = writeln!(
            m,
            "Linux {} built here from Debian's `{}` (`make tinyconfig` plus `xtask/kconfig/`: everything built in, \
             no modules), the init's image built in as `CONFIG_INITRAMFS_SOURCE` (rdinit-pack `--emit-list`, no modules), \
             booted with no `-initrd` on the same QEMU set-up. Nothing is left to load: the init's own cost is all there is. \
             **Kernel start → real init** is the marker's printk timestamp: it includes the kernel unpacking the \
             built-in image (the peer's carries busybox-static). **/init → exec** ends at the init's own line just \
             before it execs the real init. The peers are `bench/peer-root-init.sh` (root=) and `bench/peer-init.sh` \
             (live), busybox-static, built in the same way.\n",
            b.rdinit.release,
            crate::kbuild::SOURCE_PACKAGE
        );
        let _ = writeln!(
            m,
            "| boot | rdinit: kernel → real init | peer: kernel → real init | ratio | rdinit: /init → real init | peer: /init → real init | rdinit: /init → exec | peer: /init → exec |"
        );
        let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (what, r, p) in self.builtin_pairs() {
            let (kr, kp) = (self.med(r, |s| s.kernel_to_real), self.med(p, |s| s.kernel_to_real));
            let ratio = match (kr, kp) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
                _ => "–".into(),
            };
            let _ = writeln!(
                m,
                "| {what} | {} | {} | {ratio} | {} | {} | {} | {} |",
                secs(kr),
                secs(kp),
                secs(self.init(r)),
                secs(self.init(p)),
                secs(self.exec(r)),
                secs(self.exec(p))
            );
        }
        let _ = writeln!(m, "\nThe compressed kernel image (x86_64 bzImage, xz inside; arm64 Image.gz) with and without rdinit:\n");
        let _ = writeln!(m, "| architecture | kernel | without an initramfs | with rdinit built in | rdinit's cost | rdinit (stripped) |");
        let _ = writeln!(m, "|---|---|---:|---:|---:|---:|");
        for k in &b.sizes {
            let _ = writeln!(
                m,
                "| {} | {} | {} B | {} B | {:+} B | {} B |",
                k.arch.name(),
                k.release,
                k.without,
                k.with_rdinit,
                k.with_rdinit as i64 - k.without as i64,
                k.rdinit_stripped
            );
        }
    }

    fn markdown(&self) -> String {
        let k = kernel();
        let qemu = cmd("qemu-system-x86_64")
            .and_then(|mut c| run_cmd(c.arg("--version")))
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").trim().to_owned())
            .unwrap_or_default();
        let mut m = String::new();
        let _ = writeln!(m, "# rdinit boot benchmark\n");
        let _ = writeln!(
            m,
            "Written by `cargo xtask bench` ({} boot(s) per row, round-robin, {:.1} min in all). \
             Kernel {} (`{}`), {qemu}, `-accel tcg -cpu max -m {MEMORY_MIB} -icount shift=0,sleep=on`, \
             one virtio disk. Times are medians on the guest's printk clock, in seconds: \
             **/init → real init** from the kernel's \"{RUN_INIT}\" line to the `{MARKER}` line the real \
             init writes to /dev/kmsg first, **kernel → real init** the marker's own timestamp. \
             **Above floor** subtracts the median of the floor row at the same bundle count: an /init \
             that only loads the same modules. rdinit boots with `{RDINIT_PARAMS}`. See bench/README.md.\n\n\
             rdinit built from `{}`; host load average (1 min) {}.\n",
            self.runs,
            self.elapsed.as_secs_f64() / 60.0,
            k.release,
            k.vmlinuz.display(),
            self.source,
            self.load
        );

        let _ = writeln!(m, "## Live boot: /init → real init against bundle count\n");
        let _ = writeln!(m, "| bundles | rdinit | peer (busybox sh) | floor | rdinit above floor | peer above floor | above-floor ratio |");
        let _ = writeln!(m, "|---:|---:|---:|---:|---:|---:|---:|");
        for &n in self.counts {
            let (r, p) = (self.above((Who::Rdinit, n)), self.above((Who::Peer, n)));
            let ratio = match (r, p) {
                (Some(r), Some(p)) if p > 0.0 => format!("{:.2}", r / p),
                _ => "–".into(),
            };
            let _ = writeln!(
                m,
                "| {n} | {} | {} | {} | {} | {} | {ratio} |",
                secs(self.init((Who::Rdinit, n))),
                secs(self.init((Who::Peer, n))),
                secs(self.init((Who::Floor, n))),
                secs(r),
                secs(p)
            );
        }
        let _ = writeln!(m, "\n![/init → real init against bundle count](bundles.svg)\n");

        let _ = writeln!(m, "## Ratios and slopes\n");
        for l in self.ratio_lines() {
            let _ = writeln!(m, "- {l}");
        }

        let _ = writeln!(m, "\n## Every row\n");
        let _ = writeln!(
            m,
            "| contestant | bundles | boots ok | /init → real init | min–max | above floor | /init → exec | exec above floor | kernel → real init | modules loaded | peak memory (Rss at the switch) | syscalls |"
        );
        let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in self.rows() {
            let (who, n) = row;
            let ok = self.samples.get(&row).map_or(0, Vec::len);
            let failed = self.failures.get(&row).map_or(0, Vec::len);
            let spread = self.spread(row).map(|(a, b)| format!("{a:.3}–{b:.3}")).unwrap_or_else(|| "–".into());
            let mods = self.samples.get(&row).and_then(|v| v.first()).map(|s| s.modules.len().to_string()).unwrap_or_else(|| "–".into());
            let is_rdinit = matches!(who, Who::Rdinit | Who::RdinitRoot | Who::BuiltinRdinitRoot | Who::BuiltinRdinitLive);
            let (peak, sys) = if is_rdinit {
                (self.first_text(row, |s| s.peak_memory.as_ref()), self.first_text(row, |s| s.syscalls.as_ref()))
            } else {
                ("".into(), "".into())
            };
            let _ = writeln!(
                m,
                "| {} | {} | {ok}/{} | {} | {spread} | {} | {} | {} | {} | {mods} | {peak} | {sys} |",
                who.label(),
                if who.is_live() { n.to_string() } else { "–".into() },
                ok + failed,
                secs(self.init(row)),
                secs(self.above(row)),
                secs(self.exec(row)),
                secs(self.exec_above(row)),
                secs(self.med(row, |s| s.kernel_to_real)),
            );
        }

        self.builtin_markdown(&mut m);

        let _ = writeln!(m, "\n## Sizes\n");
        let _ = writeln!(m, "| contestant | init | initramfs (compressed) | initramfs (uncompressed cpio) |");
        let _ = writeln!(m, "|---|---|---:|---:|");
        let rows = self.rows();
        for (who, s) in self.sizes.iter().filter(|(w, _)| rows.iter().any(|r| r.0 == **w)) {
            let name = if *who == Who::Debian { format!("{} (`{}`)", who.label(), self.debian_img.display()) } else { who.label().to_owned() };
            let _ = writeln!(
                m,
                "| {name} | {} | {} | {} |",
                s.init,
                s.compressed.map(bytes).unwrap_or_else(|| "n/a".into()),
                s.unpacked.map(bytes).unwrap_or_else(|| "n/a".into())
            );
        }
        let _ = writeln!(
            m,
            "\nrdinit, the peer and the floor carry the same {} modules (`{}` with deps and softdeps); \
             all but Debian's are zstd images from rdinit-pack. rdinit root= carries `--preset storage --module ext4`.",
            self.live_modules,
            LIVE_MODULES.join(" ")
        );

        for (who, title) in [(Who::Rdinit, "rdinit live stages (its `debug` lines, own clock from its start)"), (Who::Peer, "Peer stages (its /dev/kmsg marks)")] {
            let stages = self.stage_table(who);
            if stages.is_empty() {
                continue;
            }
            let _ = writeln!(m, "\n## {title}, median ms after /init start\n");
            let _ = write!(m, "| stage |");
            for n in self.counts {
                let _ = write!(m, " {n} |");
            }
            let _ = writeln!(m);
            let _ = write!(m, "|---|");
            for _ in self.counts {
                let _ = write!(m, "---:|");
            }
            let _ = writeln!(m);
            for (stage, by_n) in stages {
                let _ = write!(m, "| {stage} |");
                for n in self.counts {
                    let _ = write!(m, " {} |", by_n.get(n).map(|v| format!("{:.0}", v * 1e3)).unwrap_or_else(|| "–".into()));
                }
                let _ = writeln!(m);
            }
        }
        let root_stages = self.stage_table_row((Who::RdinitRoot, 0));
        if !root_stages.is_empty() {
            let _ = writeln!(m, "\n## rdinit root= stages, median ms after /init start\n");
            let _ = writeln!(m, "| stage | ms |\n|---|---:|");
            for (stage, v) in root_stages {
                let _ = writeln!(m, "| {stage} | {:.0} |", v * 1e3);
            }
        }

        if !self.failures.is_empty() {
            let _ = writeln!(m, "\n## Failed boots\n");
            for ((who, n), v) in self.failures {
                for f in v {
                    let _ = writeln!(m, "- {}{}: {f}", who.label(), if *n > 0 { format!(", {n} bundles") } else { String::new() });
                }
            }
        }
        m
    }

    /// Stage name → bundle count → median seconds, stages in first-seen order.
    fn stage_table(&self, who: Who) -> Vec<(String, BTreeMap<usize, f64>)> {
        let mut names: Vec<String> = Vec::new();
        let mut table: BTreeMap<String, BTreeMap<usize, f64>> = BTreeMap::new();
        for &n in self.counts {
            for (stage, v) in self.stage_table_row((who, n)) {
                if !names.contains(&stage) {
                    names.push(stage.clone());
                }
                table.entry(stage).or_default().insert(n, v);
            }
        }
        names.into_iter().map(|s| {
            let v = table.remove(&s).unwrap_or_default();
            (s, v)
        }).collect()
    }

    /// Median time of each stage of one row; a stage name is its text with digits of
    /// counts kept (they are part of what happened).
    fn stage_table_row(&self, row: Row) -> Vec<(String, f64)> {
        let Some(v) = self.samples.get(&row) else { return Vec::new() };
        let mut names: Vec<String> = Vec::new();
        let mut vals: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for s in v {
            let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
            for (name, t) in &s.stages {
                // A stage seen twice in one boot keeps both, numbered.
                let k = seen.entry(name).or_default();
                *k += 1;
                let key = if *k > 1 { format!("{name} ({})", *k) } else { name.clone() };
                if !names.contains(&key) {
                    names.push(key.clone());
                }
                vals.entry(key).or_default().push(*t);
            }
        }
        names.into_iter().filter_map(|n| {
            let mut v = vals.remove(&n)?;
            Some((n, median(&mut v)?))
        }).collect()
    }

    fn csv(&self) -> String {
        let mut c = String::from("contestant,bundles,run,init_to_real_s,kernel_to_real_s,wall_s,modules_loaded,peak_memory,syscalls,log\n");
        for ((who, n), v) in self.samples {
            for s in v {
                let _ = writeln!(
                    c,
                    "{},{n},{},{:.6},{:.6},{:.1},{},{},{},{}",
                    who.slug(),
                    s.run,
                    s.init_to_real,
                    s.kernel_to_real,
                    s.wall,
                    s.modules.len(),
                    s.peak_memory.as_deref().unwrap_or("").replace(',', ";"),
                    s.syscalls.as_deref().unwrap_or("").replace(',', ";"),
                    s.log
                );
            }
        }
        c
    }

    fn summary(&self) -> String {
        let mut s = String::from("===== bench summary (medians, /init -> real init, seconds)\n");
        for row in self.rows() {
            let (who, n) = row;
            let ok = self.samples.get(&row).map_or(0, Vec::len);
            let _ = writeln!(
                s,
                "{:<32} {:>9}  {:>7}  above floor {:>7}  ({ok} ok{})",
                who.label(),
                if who.is_live() { format!("{n} bundles") } else { String::new() },
                secs(self.init(row)),
                secs(self.above(row)),
                self.failures.get(&row).map(|f| format!(", {} failed", f.len())).unwrap_or_default()
            );
        }
        for l in self.ratio_lines() {
            let _ = writeln!(s, "{l}");
        }
        s
    }

    fn plot(&self, path: &Path) -> Result<()> {
        use plotters::prelude::*;
        type Series = (Who, RGBColor, Vec<(f64, f64)>);
        let series: Vec<Series> = [
            (Who::Rdinit, RGBColor(0x1f, 0x77, 0xb4)),
            (Who::Peer, RGBColor(0xd6, 0x27, 0x28)),
            (Who::Floor, RGBColor(0x7f, 0x7f, 0x7f)),
        ]
        .into_iter()
        .map(|(w, c)| (w, c, self.counts.iter().filter_map(|&n| Some((n as f64, self.init((w, n))?))).collect::<Vec<_>>()))
        .filter(|(_, _, p)| !p.is_empty())
        .collect();
        if series.is_empty() {
            bail!("no live boot succeeded");
        }
        let ymax = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.1;
        let xmax = *self.counts.last().unwrap() as f64 * 1.04 + 1.0;
        let root = SVGBackend::new(path, (860, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("/init → real init against bundle count (median of {}, icount clock)", self.runs),
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..xmax, 0f64..ymax.max(0.1))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        chart
            .configure_mesh()
            .x_desc("bundles (squashfs, loop-mounted, one overlay)")
            .y_desc("seconds, /init → real init")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        for (who, color, pts) in &series {
            let color = *color;
            let label = match (who, self.slope(*who)) {
                (Who::Floor, _) => who.label().to_owned(),
                (_, Some((s, _))) => format!("{} ({:.1} ms/bundle)", who.label(), s * 1e3),
                _ => who.label().to_owned(),
            };
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares() {
        let (s, i) = fit(&[(1.0, 3.0), (10.0, 21.0), (100.0, 201.0)]).unwrap();
        assert!((s - 2.0).abs() < 1e-9 && (i - 1.0).abs() < 1e-9);
        assert!(fit(&[(1.0, 1.0)]).is_none());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn order_puts_deps_and_softdeps_first() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("modules.dep"),
            "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n\
             kernel/fs/jbd2/jbd2.ko:\nkernel/fs/mbcache.ko:\nkernel/lib/crc16.ko:\nkernel/crypto/crc32c_generic.ko:\n\
             kernel/drivers/block/loop.ko:\n",
        )
        .unwrap();
        fs::write(dir.path().join("modules.softdep"), "softdep ext4 pre: crypto-crc32c\n").unwrap();
        fs::write(dir.path().join("modules.alias"), "alias crypto-crc32c crc32c_generic\n").unwrap();
        let ix = ModIndex::load(dir.path()).unwrap();
        let set: BTreeSet<String> = ["ext4", "jbd2", "mbcache", "crc16", "crc32c_generic"].iter().map(|s| s.to_string()).collect();
        let names: Vec<String> = ix.load_order(&set).iter().map(|p| mod_name(p)).collect();
        assert_eq!(names, ["crc32c_generic", "jbd2", "mbcache", "crc16", "ext4"]);
    }

    fn log(console: &str) -> BootLog {
        BootLog::for_unit_test(console)
    }

    #[test]
    fn measures_one_boot() {
        let l = log(
            "[    2.500000] Run /init as init process\n\
             rdinit: [3 ms] early mounts done\n\
             rdinit: [700 ms] modules loaded\n\
             rdinit: [720 ms] peak memory 312 KiB\n\
             [    3.400000] peer: modules loaded\n\
             [    3.750000] BENCH-REAL-INIT\n\
             BENCH bundles=10\nBENCH modules=ext4 loop\n",
        );
        let spec = Spec { builtin_kernel: None, initrd: "/i".into(), disk: "/d".into(), append: String::new(), expect_bundles: Some(10) };
        let s = measure(&l, &spec, 1).unwrap();
        assert!((s.init_to_real - 1.25).abs() < 1e-9);
        assert!((s.kernel_to_real - 3.75).abs() < 1e-9);
        assert_eq!(s.modules, ["ext4", "loop"]);
        assert_eq!(s.peak_memory.as_deref(), Some("312 KiB"));
        assert_eq!(s.stages[1], ("modules loaded".to_owned(), 0.7));
        assert!((s.stages[2].1 - 0.9).abs() < 1e-9);
        let wrong = Spec { expect_bundles: Some(11), ..spec };
        assert!(measure(&l, &wrong, 1).unwrap_err().contains("bundles"));
        assert!(measure(&log("[ 1.0] Run /init as init process\n"), &wrong, 1).unwrap_err().contains("no real-init marker"));
    }
}
