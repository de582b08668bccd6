//! rdinit-pack: the command line over `rdinit_pack::build`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use rdinit_pack::{build, source_date_epoch, Compression, FileSpec, Format, Options, Preset};

#[derive(Clone, Copy, ValueEnum)]
enum CompressArg {
    None,
    Gzip,
    Zstd,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// a newc cpio archive: an initramfs
    Cpio,
    /// an ext2 filesystem: a legacy initrd, booted with root=/dev/ram0 real_root=ROOT
    Ext2,
}

#[derive(Clone, Copy, ValueEnum)]
enum PresetArg {
    /// virtio_pci virtio_mmio virtio_blk virtio_scsi sd_mod sr_mod ahci nvme usb_storage uas xhci_pci ehci_pci
    Storage,
    /// storage + ata_piix loop squashfs overlay ext4 vfat isofs erofs nls_cp437 nls_ascii nls_iso8859_1 nls_utf8
    Live,
    /// every module in modules.dep
    All,
}

/// Build an rdinit initramfs: a newc cpio with /init, /dev/console, kernel modules and their
/// dependencies, and extra files. The archive is reproducible: uid/gid 0 for rdinit-pack's own
/// entries, every mtime 0 (or $SOURCE_DATE_EPOCH), entries sorted.
#[derive(Parser)]
#[command(name = "rdinit-pack", version, max_term_width = 100)]
struct Cli {
    /// The image to write (.gz or .zst picks the compression)
    #[arg(short, long, value_name = "OUTPUT")]
    output: PathBuf,

    /// The rdinit binary to put at /init [default: rdinit beside rdinit-pack]
    #[arg(long, value_name = "PATH")]
    init: Option<PathBuf>,

    /// Image format [default: cpio]
    #[arg(long, value_enum, value_name = "cpio|ext2", hide_possible_values = true)]
    format: Option<FormatArg>,

    /// Compression [default: from OUTPUT's extension (.gz, .zst), else none]
    #[arg(
        long,
        value_enum,
        value_name = "none|gzip|zstd",
        hide_possible_values = true
    )]
    compress: Option<CompressArg>,

    /// Compression level (gzip 0-9, zstd 1-22) [default: 9]
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    compress_level: Option<i32>,

    /// Take modules from /lib/modules/REL [default: the running kernel, when modules are asked for]
    #[arg(long, value_name = "REL")]
    kernel_release: Option<String>,

    /// The directory holding modules.dep (overrides /lib/modules/REL; REL then defaults to DIR's name)
    #[arg(long, value_name = "DIR")]
    modules_dir: Option<PathBuf>,

    /// Include this module and its dependencies (repeatable; '-' and '_' match alike)
    #[arg(long = "module", value_name = "NAME")]
    modules: Vec<String>,

    /// Include a module set (repeatable; names the kernel lacks are skipped with a note)
    #[arg(long = "preset", value_enum, value_name = "NAME")]
    presets: Vec<PresetArg>,

    /// Put host file SRC at DEST (repeatable; mode from SRC, parents created; DEST/ keeps SRC's name)
    #[arg(long = "file", value_name = "SRC:DEST")]
    files: Vec<FileSpec>,

    /// Add busybox at /bin/busybox and /bin/sh -> busybox (a rescue shell)
    #[arg(long, value_name = "PATH")]
    busybox: Option<PathBuf>,

    /// Merge in entries from a gen_init_cpio list (repeatable)
    #[arg(long = "list", value_name = "FILE")]
    lists: Vec<PathBuf>,

    /// Also write the whole image as a gen_init_cpio list (generated files go in FILE.d/)
    #[arg(long, value_name = "FILE")]
    emit_list: Option<PathBuf>,

    /// Print what was included: every entry, and modules with why (named/dep/softdep)
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdinit-pack: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut opts = Options::new(cli.output);
    opts.init = cli.init;
    opts.compress = cli.compress.map(|c| match c {
        CompressArg::None => Compression::None,
        CompressArg::Gzip => Compression::Gzip,
        CompressArg::Zstd => Compression::Zstd,
    });
    opts.compress_level = cli.compress_level;
    opts.kernel_release = cli.kernel_release;
    opts.modules_dir = cli.modules_dir;
    opts.modules = cli.modules;
    opts.presets = cli
        .presets
        .into_iter()
        .map(|p| match p {
            PresetArg::Storage => Preset::Storage,
            PresetArg::Live => Preset::Live,
            PresetArg::All => Preset::All,
        })
        .collect();
    opts.files = cli.files;
    opts.busybox = cli.busybox;
    opts.lists = cli.lists;
    opts.emit_list = cli.emit_list;
    opts.mtime = source_date_epoch()?;
    opts.format = match cli.format {
        None | Some(FormatArg::Cpio) => Format::Cpio,
        Some(FormatArg::Ext2) => Format::Ext2,
    };

    let report = build(&opts)?;

    for note in &report.notes {
        eprintln!("rdinit-pack: note: {note}");
    }
    if cli.verbose {
        let module_paths: std::collections::HashSet<&str> =
            report.modules.iter().map(|m| m.path.as_str()).collect();
        println!("entries:");
        for e in &report.listing {
            if !module_paths.contains(e.path.as_str()) {
                println!("  {:<48} {}  ({})", e.path, e.what, e.origin);
            }
        }
        if let Some(dir) = &report.modules_dir {
            println!("modules from {}:", dir.display());
            let width = report
                .modules
                .iter()
                .map(|m| m.name.len())
                .max()
                .unwrap_or(0);
            for m in &report.modules {
                println!("  {:<width$} {:>9} bytes  {}", m.name, m.size, m.why);
            }
            if !report.builtin.is_empty() {
                println!("built in: {}", report.builtin.join(" "));
            }
        }
        if let Some(list) = &report.emitted_list {
            println!("list: {}", list.display());
        }
    }
    println!("{}", report.summary());
    Ok(())
}
