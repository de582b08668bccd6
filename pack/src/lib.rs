//! rdinit-pack: builds the initramfs that rdinit runs in.
//!
//! The image is a newc cpio archive (optionally gzip or zstd) holding `/init`, `/dev/console`,
//! the mount points rdinit uses, kernel modules picked by name with their dependencies and the
//! depmod files describing them, and whatever extra files the user adds. It is reproducible:
//! every entry has one mtime (0 or `$SOURCE_DATE_EPOCH`), entries are sorted parents first and
//! numbered in that order.
//!
//! [`build`] does the work; the `rdinit-pack` binary is a thin front-end over [`Options`].

pub mod ext2;
pub mod image;
pub mod list;
pub mod modules;

use std::fs;
use std::io::{BufWriter, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use image::{Counter, Data, Entry, Image, Kind, Priority};
use modules::{Kernel, Request, Why};

/// What kind of image is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A newc cpio archive: an initramfs (or CONFIG_INITRAMFS_SOURCE's input).
    Cpio,
    /// An ext2 filesystem: a legacy initrd for `root=/dev/ram0`, with rdinit also at
    /// /sbin/init, where the kernel looks on a root filesystem.
    Ext2,
}

/// How the archive is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// From the output's name: `.gz` is gzip, `.zst` zstd, anything else none. Names of
    /// formats this tool cannot write (`.xz`, `.lz4`, …) are an error rather than a plain cpio
    /// with a misleading name.
    pub fn from_output(path: &Path) -> Result<Compression> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Ok(match ext.as_str() {
            "gz" | "gzip" => Compression::Gzip,
            "zst" | "zstd" => Compression::Zstd,
            "xz" | "lzma" | "lz4" | "lzo" | "bz2" => bail!(
                "cannot write .{ext} ({}); name the output .gz or .zst, or pass --compress",
                path.display()
            ),
            _ => Compression::None,
        })
    }

    /// The level used when none is given: gzip 9; zstd 9. On a module-heavy image zstd 9 is
    /// within about 12% of zstd 19's size at a twentieth of its time (0.2 s against 3.6 s for
    /// the `live` preset, minutes for `all`); the kernel decompresses either equally fast.
    pub fn default_level(self) -> i32 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 9,
            Compression::Zstd => 9,
        }
    }
}

/// Named module sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Disk controllers and disks: virtio (PCI and MMIO), SCSI, AHCI, NVMe, USB storage.
    Storage,
    /// `storage` plus what a live boot mounts: loop, squashfs, overlay and the usual media
    /// file systems.
    Live,
    /// Every module of modules.dep.
    All,
}

pub const STORAGE: &[&str] = &[
    "virtio_pci",
    // virtio on device-tree machines (QEMU's `-M virt` on arm, aarch64, riscv64).
    "virtio_mmio",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "sr_mod",
    "ahci",
    "nvme",
    "usb_storage",
    "uas",
    "xhci_pci",
    "ehci_pci",
];

pub const LIVE_EXTRA: &[&str] = &[
    // The IDE CD-ROM of QEMU's default PC and of older machines (SATA drives use ahci).
    "ata_piix",
    "loop",
    "squashfs",
    "overlay",
    "ext4",
    "vfat",
    "isofs",
    "erofs",
    // vfat's defaults (Debian: codepage 437, iocharset ascii); without them mounts fail.
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859_1",
    "nls_utf8",
];

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Storage => "storage",
            Preset::Live => "live",
            Preset::All => "all",
        }
    }

    /// The names of a preset; `All` depends on the kernel and yields none here.
    pub fn names(self) -> Vec<&'static str> {
        match self {
            Preset::Storage => STORAGE.to_vec(),
            Preset::Live => STORAGE.iter().chain(LIVE_EXTRA).copied().collect(),
            Preset::All => Vec::new(),
        }
    }
}

/// A host file to put at a path of the image (`--file SRC:DEST`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub src: PathBuf,
    pub dest: String,
}

impl std::str::FromStr for FileSpec {
    type Err = anyhow::Error;

    /// `SRC:DEST`, split at the last `:`. A DEST ending in `/` gets SRC's file name.
    fn from_str(s: &str) -> Result<FileSpec> {
        let Some((src, dest)) = s.rsplit_once(':') else {
            bail!("'{s}' is not SRC:DEST");
        };
        if src.is_empty() || dest.is_empty() {
            bail!("'{s}' is not SRC:DEST");
        }
        let dest = if dest.ends_with('/') {
            let name = Path::new(src)
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("'{s}': SRC has no file name to put under {dest}"))?;
            format!("{dest}{name}")
        } else {
            dest.to_string()
        };
        image::normalize_path(&dest).with_context(|| format!("'{s}': bad DEST"))?;
        Ok(FileSpec {
            src: PathBuf::from(src),
            dest,
        })
    }
}

/// Everything [`build`] needs. `Options::new(output)` gives the defaults.
#[derive(Clone, Debug)]
pub struct Options {
    pub output: PathBuf,
    /// The rdinit binary. None: `rdinit` next to the running executable, unless a list or
    /// `--file` already provides `/init`.
    pub init: Option<PathBuf>,
    /// None: from the output's extension.
    pub compress: Option<Compression>,
    /// None: the compression's default level.
    pub compress_level: Option<i32>,
    pub kernel_release: Option<String>,
    pub modules_dir: Option<PathBuf>,
    pub modules: Vec<String>,
    pub presets: Vec<Preset>,
    pub files: Vec<FileSpec>,
    pub busybox: Option<PathBuf>,
    pub lists: Vec<PathBuf>,
    pub emit_list: Option<PathBuf>,
    /// The mtime of every entry.
    pub mtime: u32,
    pub format: Format,
}

impl Options {
    pub fn new(output: impl Into<PathBuf>) -> Options {
        Options {
            output: output.into(),
            init: None,
            compress: None,
            compress_level: None,
            kernel_release: None,
            modules_dir: None,
            modules: Vec::new(),
            presets: Vec::new(),
            files: Vec::new(),
            busybox: None,
            lists: Vec::new(),
            emit_list: None,
            mtime: 0,
            format: Format::Cpio,
        }
    }
}

/// `$SOURCE_DATE_EPOCH` as an mtime, 0 when unset or empty.
pub fn source_date_epoch() -> Result<u32> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => {
            let secs: u64 = v
                .trim()
                .parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH='{v}' is not a number of seconds"))?;
            u32::try_from(secs).with_context(|| {
                format!("SOURCE_DATE_EPOCH={v} does not fit a cpio mtime (32 bits)")
            })
        }
        _ => Ok(0),
    }
}

/// A module in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleInfo {
    pub name: String,
    /// Its path in the image.
    pub path: String,
    pub size: u64,
    pub why: Why,
}

/// One line of the verbose listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    pub path: String,
    pub what: String,
    pub origin: String,
}

/// What [`build`] made.
#[derive(Clone, Debug)]
pub struct Report {
    pub output: PathBuf,
    pub compression: Compression,
    pub entries: usize,
    pub kernel_release: Option<String>,
    pub modules_dir: Option<PathBuf>,
    pub modules: Vec<ModuleInfo>,
    /// Asked-for names that are built into the kernel.
    pub builtin: Vec<String>,
    /// Preset names the kernel lacks.
    pub skipped: Vec<String>,
    pub notes: Vec<String>,
    pub listing: Vec<EntryInfo>,
    pub uncompressed: u64,
    pub compressed: u64,
    pub emitted_list: Option<PathBuf>,
}

impl Report {
    /// One line: entries, modules, sizes.
    pub fn summary(&self) -> String {
        let kernel = match &self.kernel_release {
            Some(r) => format!(" ({r})"),
            None => String::new(),
        };
        let sizes = match self.compression {
            Compression::None => format!("{} bytes uncompressed", self.uncompressed),
            c => format!(
                "{} bytes uncompressed, {} bytes {} ({:.1}%)",
                self.uncompressed,
                self.compressed,
                c.name(),
                100.0 * self.compressed as f64 / self.uncompressed.max(1) as f64
            ),
        };
        format!(
            "{}: {} entries, {} modules{kernel}, {sizes}",
            self.output.display(),
            self.entries,
            self.modules.len()
        )
    }
}

/// Builds the image described by `opts` and writes it (atomically) to `opts.output`.
pub fn build(opts: &Options) -> Result<Report> {
    let compression = match opts.compress {
        Some(c) => c,
        None => Compression::from_output(&opts.output)?,
    };
    let mut img = Image::new();
    let mut notes = Vec::new();

    // What the user asked for first: it decides over the defaults.
    for list in &opts.lists {
        for e in list::parse_file(list)? {
            img.add(e, Priority::User)?;
        }
    }
    for f in &opts.files {
        let origin = format!("--file {}:{}", f.src.display(), f.dest);
        let meta = host_file(&f.src).with_context(|| origin.clone())?;
        let mode = meta.permissions().mode() & 0o7777;
        img.add(
            Entry::file(&f.dest, mode, Data::Host(f.src.clone()), &origin)?,
            Priority::User,
        )?;
    }
    if let Some(bb) = &opts.busybox {
        let origin = format!("--busybox {}", bb.display());
        host_file(bb).with_context(|| origin.clone())?;
        notes.extend(check_executable(bb, "/bin/busybox"));
        img.add(
            Entry::file("/bin/busybox", 0o755, Data::Host(bb.clone()), &origin)?,
            Priority::User,
        )?;
        let sh = Kind::Symlink {
            target: "busybox".into(),
        };
        img.add(Entry::new("/bin/sh", 0o777, sh, &origin)?, Priority::User)?;
    }

    // /init.
    match &opts.init {
        Some(init) => {
            let origin = format!("--init {}", init.display());
            host_file(init).with_context(|| origin.clone())?;
            notes.extend(check_executable(init, "/init"));
            img.add(
                Entry::file("/init", 0o755, Data::Host(init.clone()), &origin)?,
                Priority::User,
            )?;
        }
        None if img.get("/init").is_some() => {}
        None => {
            let exe = std::env::current_exe().context("cannot find the running executable")?;
            let sibling = exe.with_file_name("rdinit");
            if !sibling.is_file() {
                bail!(
                    "no init: pass --init PATH (the rdinit binary); there is none at {}",
                    sibling.display()
                );
            }
            notes.extend(check_executable(&sibling, "/init"));
            let origin = format!("default init {}", sibling.display());
            img.add(
                Entry::file("/init", 0o755, Data::Host(sibling), &origin)?,
                Priority::Default,
            )?;
        }
    }

    // The fixed layout.
    let layout = "rdinit-pack layout";
    img.add(Entry::dir("/dev", 0o755, layout)?, Priority::Default)?;
    // Without it the kernel has nothing to open as PID 1's stdin/stdout/stderr.
    let console = Kind::CharDev { major: 5, minor: 1 };
    img.add(
        Entry::new("/dev/console", 0o600, console, layout)?,
        Priority::Default,
    )?;
    for d in ["/proc", "/sys", "/run", "/root", "/tmp", "/mnt"] {
        img.add(Entry::dir(d, 0o755, layout)?, Priority::Default)?;
    }
    if opts.format == Format::Ext2 {
        // On a root filesystem the kernel runs /sbin/init (rdinit= is the initramfs's).
        let init = Kind::Symlink {
            target: "../init".into(),
        };
        img.add(Entry::new("/sbin/init", 0o777, init, layout)?, Priority::Default)?;
    }

    // Kernel modules.
    let mut report_modules = Vec::new();
    let (mut builtin, mut skipped) = (Vec::new(), Vec::new());
    let kernel = open_kernel(opts)?;
    if let Some(k) = &kernel {
        let mut requests = Vec::new();
        for p in &opts.presets {
            let names: Vec<String> = match p {
                Preset::All => k.all_names(),
                p => p.names().into_iter().map(str::to_string).collect(),
            };
            requests.extend(names.into_iter().map(|name| Request {
                name,
                why: Why::Preset(p.name().to_string()),
                required: false,
            }));
        }
        // Named modules go first so that a module both named and in a preset reads "named".
        let named = opts.modules.iter().map(|name| Request {
            name: name.clone(),
            why: Why::Named,
            required: true,
        });
        let requests: Vec<Request> = named.chain(requests).collect();
        let sel = k.select(&requests)?;
        let base = format!("/lib/modules/{}", k.release);
        let origin = format!("modules of {}", k.dir.display());
        for m in &sel.modules {
            let host = k.host_path(&m.path);
            let rel = image_relative(&m.path, &k.dir)?;
            let path = format!("{base}/{rel}");
            let meta = host_file(&host)
                .with_context(|| format!("module {} (listed in modules.dep)", m.name))?;
            img.add(
                Entry::file(&path, 0o644, Data::Host(host), &origin)?,
                Priority::Default,
            )?;
            report_modules.push(ModuleInfo {
                name: m.name.clone(),
                path,
                size: meta.len(),
                why: m.why.clone(),
            });
        }
        let meta_origin = format!("filtered from {}", k.dir.display());
        let mut meta_file = |name: &str, bytes: Vec<u8>| -> Result<()> {
            img.add(
                Entry::file(
                    &format!("{base}/{name}"),
                    0o644,
                    Data::Bytes(bytes),
                    &meta_origin,
                )?,
                Priority::Default,
            )
        };
        meta_file("modules.dep", k.filtered_dep(&sel).into_bytes())?;
        if let Some(s) = k.filtered_softdep(&sel) {
            meta_file("modules.softdep", s.into_bytes())?;
        }
        if let Some(s) = k.filtered_alias(&sel) {
            meta_file("modules.alias", s.into_bytes())?;
        }
        match &k.builtin_raw {
            Some(b) => img.add(
                Entry::file(
                    &format!("{base}/modules.builtin"),
                    0o644,
                    Data::Bytes(b.clone()),
                    &format!("copied from {}", k.dir.display()),
                )?,
                Priority::Default,
            )?,
            None => notes.push(format!(
                "{} has no modules.builtin; the image will not know the built-in modules",
                k.dir.display()
            )),
        }
        builtin = sel.builtin;
        skipped = sel.skipped;
        if !builtin.is_empty() {
            notes.push(format!(
                "built into {} (nothing to include): {}",
                k.release,
                builtin.join(", ")
            ));
        }
        if !skipped.is_empty() {
            notes.push(format!(
                "not in {}, skipped: {}",
                k.release,
                skipped.join(", ")
            ));
        }
        notes.extend(sel.notes);
    }

    img.finish()?;
    notes.append(&mut img.notes);

    // Every host file must be readable before anything is written.
    for e in img.entries() {
        if let Kind::File {
            data: Data::Host(src),
            ..
        } = &e.kind
        {
            host_file(src).with_context(|| format!("{}: '{}'", e.origin, e.path))?;
        }
    }

    let written = write_output(&img, opts, compression)?;

    let emitted_list = match &opts.emit_list {
        Some(path) => {
            emit_list(&img, path, opts.mtime)?;
            Some(path.clone())
        }
        None => None,
    };

    let listing = img
        .entries()
        .map(|e| EntryInfo {
            path: e.path.clone(),
            what: describe(e),
            origin: e.origin.clone(),
        })
        .collect();

    Ok(Report {
        output: opts.output.clone(),
        compression,
        entries: written.entries,
        kernel_release: kernel.as_ref().map(|k| k.release.clone()),
        modules_dir: kernel.as_ref().map(|k| k.dir.clone()),
        modules: report_modules,
        builtin,
        skipped,
        notes,
        listing,
        uncompressed: written.uncompressed,
        compressed: written.compressed,
        emitted_list,
    })
}

/// The kernel whose modules go in: from --modules-dir, --kernel-release, or (when modules are
/// asked for without either) the running kernel.
fn open_kernel(opts: &Options) -> Result<Option<Kernel>> {
    let wants_modules = !opts.modules.is_empty() || !opts.presets.is_empty();
    let (dir, release) = match (&opts.modules_dir, &opts.kernel_release) {
        (Some(dir), rel) => {
            let release = match rel {
                Some(r) => r.clone(),
                None => {
                    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                    abs.file_name()
                        .and_then(|n| n.to_str())
                        .map(str::to_string)
                        .with_context(|| {
                            format!(
                                "cannot tell the kernel release from {}; pass --kernel-release",
                                dir.display()
                            )
                        })?
                }
            };
            (dir.clone(), release)
        }
        (None, Some(rel)) => (PathBuf::from("/lib/modules").join(rel), rel.clone()),
        (None, None) if wants_modules => {
            let rel = fs::read_to_string("/proc/sys/kernel/osrelease")
                .context("cannot read the running kernel's release; pass --kernel-release")?
                .trim()
                .to_string();
            let dir = PathBuf::from("/lib/modules").join(&rel);
            if !dir.join("modules.dep").is_file() {
                let installed = installed_releases();
                bail!(
                    "modules asked for but no --kernel-release given, and the running kernel {rel} has no {}; installed: {}",
                    dir.join("modules.dep").display(),
                    if installed.is_empty() { "none".to_string() } else { installed.join(", ") }
                );
            }
            (dir, rel)
        }
        (None, None) => return Ok(None),
    };
    if release.is_empty() || release.contains('/') || release == "." || release == ".." {
        bail!("'{release}' is not a kernel release name");
    }
    let k = Kernel::load(&dir, &release).map_err(|e| {
        if opts.modules_dir.is_none() && !dir.exists() {
            let installed = installed_releases();
            anyhow::anyhow!(
                "no modules for kernel {release}: {} does not exist (installed: {})",
                dir.display(),
                if installed.is_empty() {
                    "none".to_string()
                } else {
                    installed.join(", ")
                }
            )
        } else {
            e
        }
    })?;
    Ok(Some(k))
}

fn installed_releases() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir("/lib/modules")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("modules.dep").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort();
    v
}

/// A module path of modules.dep relative to the modules dir (old depmods wrote absolute ones).
fn image_relative(path: &str, dir: &Path) -> Result<String> {
    if !path.starts_with('/') {
        return Ok(path.to_string());
    }
    Path::new(path)
        .strip_prefix(dir)
        .ok()
        .and_then(|p| p.to_str())
        .map(str::to_string)
        .with_context(|| format!("modules.dep names {path}, outside {}", dir.display()))
}

/// Metadata of a host file that must be a readable regular file.
fn host_file(path: &Path) -> Result<fs::Metadata> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(meta)
}

/// Warnings about a binary the image will exec: not ELF nor a script, or dynamically linked
/// (an initramfs without the loader cannot run it).
fn check_executable(path: &Path, as_name: &str) -> Option<String> {
    let mut head = Vec::new();
    let f = fs::File::open(path).ok()?;
    f.take(64 << 20).read_to_end(&mut head).ok()?;
    if head.starts_with(b"#!") {
        return None;
    }
    if !head.starts_with(b"\x7fELF") {
        return Some(format!(
            "{} ({}) is neither an ELF binary nor a #! script; the kernel cannot run it",
            as_name,
            path.display()
        ));
    }
    elf_interpreter(&head).map(|interp| {
        format!(
            "{} ({}) is dynamically linked (loader {interp}); it will not run unless the image also holds its loader and libraries",
            as_name,
            path.display()
        )
    })
}

/// The PT_INTERP of an ELF file, if any.
fn elf_interpreter(elf: &[u8]) -> Option<String> {
    let is64 = *elf.get(4)? == 2;
    let le = *elf.get(5)? == 1;
    let num = |off: usize, len: usize| -> Option<u64> {
        let b = elf.get(off..off + len)?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if le { b[len - 1 - i] } else { b[i] };
            v = (v << 8) | byte as u64;
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = if is64 {
        (num(0x20, 8)?, num(0x36, 2)?, num(0x38, 2)?)
    } else {
        (num(0x1c, 4)?, num(0x2a, 2)?, num(0x2c, 2)?)
    };
    for i in 0..phnum {
        let ph = usize::try_from(phoff + i * phentsize).ok()?;
        if num(ph, 4)? != 3 {
            continue;
        }
        let (off, size) = if is64 {
            (num(ph + 8, 8)?, num(ph + 0x20, 8)?)
        } else {
            (num(ph + 4, 4)?, num(ph + 0x10, 4)?)
        };
        let s = elf.get(usize::try_from(off).ok()?..usize::try_from(off + size).ok()?)?;
        let s = s.split(|&b| b == 0).next()?;
        return Some(String::from_utf8_lossy(s).into_owned());
    }
    None
}

fn describe(e: &Entry) -> String {
    let m = format!("{:04o}", e.mode);
    match &e.kind {
        Kind::Dir => format!("dir  {m}"),
        Kind::File { data, .. } => {
            let size = match data {
                Data::Bytes(b) => b.len() as u64,
                Data::Host(p) => fs::metadata(p).map(|m| m.len()).unwrap_or(0),
            };
            format!("file {m} {size} bytes")
        }
        Kind::HardLink { to } => format!("link {m} = {to}"),
        Kind::Symlink { target } => format!("slink -> {target}"),
        Kind::CharDev { major, minor } => format!("nod  {m} c {major}:{minor}"),
        Kind::BlockDev { major, minor } => format!("nod  {m} b {major}:{minor}"),
        Kind::Fifo => format!("pipe {m}"),
        Kind::Socket => format!("sock {m}"),
    }
}

struct Sizes {
    entries: usize,
    uncompressed: u64,
    compressed: u64,
}

/// Writes the image in `opts.format` to `out`.
fn write_body<W: std::io::Write>(img: &Image, opts: &Options, out: W) -> Result<image::Written> {
    match opts.format {
        Format::Cpio => img.write_cpio(out, opts.mtime),
        Format::Ext2 => ext2::write_ext2(img, out),
    }
}

/// Writes the archive to a temporary file beside the output and renames it into place.
fn write_output(img: &Image, opts: &Options, compression: Compression) -> Result<Sizes> {
    let out = &opts.output;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".rdinit-pack.")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    let level = opts
        .compress_level
        .unwrap_or_else(|| compression.default_level());
    let (written, compressed) = {
        let file = Counter::new(BufWriter::new(tmp.as_file()));
        let (written, file) = match compression {
            Compression::None => {
                let mut file = file;
                let w = write_body(img, opts, &mut file)?;
                (w, file)
            }
            Compression::Gzip => {
                if !(0..=9).contains(&level) {
                    bail!("gzip level {level} is out of range (0-9)");
                }
                let mut gz = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(file, flate2::Compression::new(level as u32));
                let w = write_body(img, opts, &mut gz)?;
                (w, gz.finish()?)
            }
            Compression::Zstd => {
                let range = zstd::compression_level_range();
                if !range.contains(&level) {
                    bail!(
                        "zstd level {level} is out of range ({}-{})",
                        range.start(),
                        range.end()
                    );
                }
                let mut z = zstd::Encoder::new(file, level)?;
                z.include_checksum(true)?;
                // The output does not depend on the number of workers (only on there being some),
                // so images are the same on any machine.
                let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
                z.multithread(workers.clamp(1, 8))?;
                let w = write_body(img, opts, &mut z)?;
                (w, z.finish()?)
            }
        };
        let compressed = file.count;
        file.inner
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", out.display()))?;
        (written, compressed)
    };
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    tmp.persist(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Sizes {
        entries: written.entries,
        uncompressed: written.bytes,
        compressed,
    })
}

/// Writes the image as a gen_init_cpio list. Files that exist only in memory (the filtered
/// modules.* files) are written under `<list>.d/` and named there.
fn emit_list(img: &Image, path: &Path, mtime: u32) -> Result<()> {
    let side = PathBuf::from(format!("{}.d", path.display()));
    let mut text = String::from(
        "# gen_init_cpio list written by rdinit-pack\n\
         # (mtimes are not part of this format: give gen_init_cpio -t, or the kernel build\n\
         # KBUILD_BUILD_TIMESTAMP, for a reproducible archive)\n",
    );
    let mut made_side = false;
    for e in img.entries() {
        let location = match &e.kind {
            Kind::HardLink { .. } => continue,
            Kind::File {
                data: Data::Bytes(bytes),
                ..
            } => {
                let p = side.join(&e.path[1..]);
                if !made_side {
                    if side.exists() {
                        fs::remove_dir_all(&side)
                            .with_context(|| format!("cannot clear {}", side.display()))?;
                    }
                    made_side = true;
                }
                fs::create_dir_all(p.parent().unwrap())
                    .with_context(|| format!("cannot create {}", side.display()))?;
                fs::write(&p, bytes).with_context(|| format!("cannot write {}", p.display()))?;
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.into());
                fs::File::options()
                    .write(true)
                    .open(&p)
                    .and_then(|f| f.set_modified(t))
                    .ok();
                Some(fs::canonicalize(&p)?)
            }
            Kind::File {
                data: Data::Host(src),
                ..
            } => Some(
                fs::canonicalize(src)
                    .with_context(|| format!("cannot resolve {}", src.display()))?,
            ),
            _ => None,
        };
        // Only the hard links that made it into the image.
        let mut entry = e.clone();
        if let Kind::File { links, .. } = &mut entry.kind {
            links.retain(|l| {
                matches!(img.get(l).map(|x| &x.kind), Some(Kind::HardLink { to }) if *to == e.path)
            });
        }
        text += &list::format_entry(&entry, location.as_deref())
            .with_context(|| format!("cannot write {}", path.display()))?;
        text.push('\n');
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
