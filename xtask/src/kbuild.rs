//! A kernel of our own, with rdinit built into it (issue 10): Linux from Debian's
//! `linux-source-6.12` package (trixie), configured small (`make tinyconfig` plus the fragments in
//! `xtask/kconfig/`), everything built in, no modules, for x86_64 and (cross-compiled with
//! Debian's gcc-aarch64-linux-gnu) aarch64.
//!
//! The source package is downloaded through a private apt state for its suite
//! (xtask/src/debian.rs, never installed) and unpacked once per version; each architecture's configured and built tree
//! (`make O=`) is cached under `<cache>/kbuild/<version>-<arch>-<hash>`, the hash covering
//! the config fragments and [`BUILDER_VERSION`]. A cold build took 4.8 minutes (x86_64, 2
//! idle cores) to 11 (aarch64, 2 cores shared with other builds); later runs reuse the tree.
//!
//! [`kernel_image`] then sets `CONFIG_INITRAMFS_SOURCE` to a gen_init_cpio list
//! (`rdinit-pack --emit-list`) or to nothing, and relinks: only `usr/` and the final link
//! are redone (15–50 s, compression included). The list and every file it names are first copied into the tree (so the
//! image is built from exactly what was hashed, whatever later happens to the originals),
//! and the images are copied out to a directory keyed by that content, under the tree's
//! lock, so concurrent callers never see each other's half-built image.

use crate::arch::Arch;
use crate::systemd::cache_dir;
use crate::util::{describe, remove_any, run, short_hash};
use anyhow::{bail, ensure, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Debian's kernel source package, and the suite it comes from: trixie's 6.12, whose RAM
/// disk driver frees a discarded disk (the legacy initrd boot gives its memory back that
/// way; bookworm's 6.1 cannot).
pub const SOURCE_PACKAGE: &str = "linux-source-6.12";
pub const SOURCE_SUITE: &str = "trixie";

/// Bumped when the build recipe below changes in a way that changes the kernel.
const BUILDER_VERSION: &str = "1";

/// The config fragments, applied over `make tinyconfig` in this order.
const COMMON_CONFIG: &str = include_str!("../kconfig/common.config");
const X86_64_CONFIG: &str = include_str!("../kconfig/x86_64.config");
const AARCH64_CONFIG: &str = include_str!("../kconfig/aarch64.config");

/// How one architecture's kernel is built.
struct Target {
    /// The kernel's `ARCH=`.
    karch: &'static str,
    /// `CROSS_COMPILE=` (empty: the host's gcc).
    cross: &'static str,
    /// The kernel's own tiny.config fragments, from the source tree.
    tiny: &'static [&'static str],
    /// Ours, from `xtask/kconfig/`.
    fragment: &'static str,
    /// The make target.
    make_target: &'static str,
    /// What QEMU boots, relative to the build tree.
    image: &'static str,
    /// The compressed image whose size is reported (a board ships it), relative to the tree.
    compressed: &'static str,
}

fn target(arch: Arch) -> Result<Target> {
    Ok(match arch {
        Arch::X86_64 => Target {
            karch: "x86_64",
            cross: "",
            tiny: &["kernel/configs/tiny.config", "arch/x86/configs/tiny.config"],
            fragment: X86_64_CONFIG,
            make_target: "bzImage",
            image: "arch/x86/boot/bzImage",
            // bzImage is itself compressed (xz: tinyconfig's CONFIG_KERNEL_XZ).
            compressed: "arch/x86/boot/bzImage",
        },
        Arch::Aarch64 => Target {
            karch: "arm64",
            cross: "aarch64-linux-gnu-",
            tiny: &["kernel/configs/tiny.config"],
            fragment: AARCH64_CONFIG,
            // Image.gz builds Image on the way.
            make_target: "Image.gz",
            image: "arch/arm64/boot/Image",
            compressed: "arch/arm64/boot/Image.gz",
        },
        other => bail!("kbuild: no kernel config for {} (x86_64 and aarch64 only)", other.name()),
    })
}

/// A kernel image built by [`kernel_build`].
#[derive(Clone, Debug)]
pub struct KernelImage {
    pub arch: Arch,
    /// What QEMU's `-kernel` takes: bzImage (x86_64), Image (aarch64).
    pub image: PathBuf,
    /// The compressed image a board would ship: bzImage (xz inside), Image.gz.
    pub compressed: PathBuf,
    /// Its `uname -r`.
    pub release: String,
}

impl KernelImage {
    /// The compressed image's size in bytes.
    pub fn compressed_size(&self) -> Result<u64> {
        Ok(fs::metadata(&self.compressed).with_context(|| format!("{}", self.compressed.display()))?.len())
    }
}

/// A bootable kernel image for `arch` (bzImage, arm64 Image) with `builtin_list` (a
/// gen_init_cpio list, rdinit-pack's `--emit-list` output) as its built-in initramfs, or
/// with none (`None`: the kernel's default list, /dev/console and /root only, for `-initrd`
/// boots and the legacy initrd). Builds the kernel on first use; relinks when the list's
/// content is new.
pub fn kernel_image(arch: Arch, builtin_list: Option<&Path>) -> Result<PathBuf> {
    Ok(kernel_build(arch, builtin_list)?.image)
}

/// [`kernel_image`] with the compressed image and the release beside it.
pub fn kernel_build(arch: Arch, builtin_list: Option<&Path>) -> Result<KernelImage> {
    let t = target(arch)?;
    let tree = built_tree(arch, &t)?;
    let release = fs::read_to_string(tree.join("include/config/kernel.release"))
        .context("reading the build tree's kernel.release")?
        .trim()
        .to_owned();
    let list = match builtin_list {
        Some(p) => Some(StagedList::read(p)?),
        None => None,
    };
    let key = list.as_ref().map_or_else(|| "none".to_owned(), |l| l.key.clone());
    let out = tree.join("images").join(&key);
    let result = |out: &Path| KernelImage {
        arch,
        image: out.join(file_name(t.image)),
        compressed: out.join(file_name(t.compressed)),
        release: release.clone(),
    };
    if out.join(".complete").exists() {
        return Ok(result(&out));
    }
    let _lock = lock(&lock_path(&tree))?;
    if out.join(".complete").exists() {
        return Ok(result(&out));
    }
    let t0 = Instant::now();
    let source = match &list {
        Some(l) => l.stage(&tree.join("initramfs"))?.display().to_string(),
        None => String::new(),
    };
    set_initramfs_source(&tree, &source)?;
    make(&tree, &t, &["olddefconfig"])?;
    make(&tree, &t, &[t.make_target])?;
    remove_any(&out)?;
    fs::create_dir_all(&out)?;
    for f in [t.image, t.compressed] {
        fs::copy(tree.join(f), out.join(file_name(f))).with_context(|| format!("copying {f} out of {}", tree.display()))?;
    }
    fs::write(out.join(".complete"), b"")?;
    eprintln!(
        "kbuild: linux {release} for {} with initramfs {} linked in {:.0} s",
        arch.name(),
        builtin_list.map_or("(none)".to_owned(), |p| p.display().to_string()),
        t0.elapsed().as_secs_f64()
    );
    Ok(result(&out))
}

/// `<tree>.lock` beside the tree (not `with_extension`: the version in the name has dots).
fn lock_path(tree: &Path) -> PathBuf {
    let mut name = tree.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// An exclusive lock on `path` (created), held until the file is dropped. flock(2) locks
/// belong to the open file: threads of one process wait for each other as processes do.
fn lock(path: &Path) -> Result<fs::File> {
    let f = fs::File::options().create(true).truncate(false).write(true).open(path)?;
    f.lock().with_context(|| format!("locking {}", path.display()))?;
    Ok(f)
}

// ---------------------------------------------------------------------------------------
// The source

/// The version of [`SOURCE_PACKAGE`] in [`SOURCE_SUITE`], and the downloaded package's
/// files (a private apt state, as the foreign kernels come: xtask/src/debian.rs).
fn source_package() -> Result<crate::debian::Unpacked> {
    crate::debian::unpacked(SOURCE_SUITE, "amd64", SOURCE_PACKAGE, None, |_| Ok(()))
}

/// The unpacked source tree of the package, unpacked on first use.
fn source_tree(package: &crate::debian::Unpacked) -> Result<PathBuf> {
    let base = cache_dir().join("kbuild");
    fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let name = format!("{SOURCE_PACKAGE}_{}", package.version.replace(':', "%3a"));
    let tree = base.join(&name);
    if tree.join(".complete").exists() {
        return Ok(tree);
    }
    let _lock = lock(&base.join(format!("{name}.lock")))?;
    if tree.join(".complete").exists() {
        return Ok(tree);
    }
    let t0 = Instant::now();
    // The package holds /usr/src/linux-source-6.12.tar.xz, whose top directory is
    // linux-source-6.12/.
    let tarball = package.root.join(format!("usr/src/{SOURCE_PACKAGE}.tar.xz"));
    remove_any(&tree)?;
    fs::create_dir_all(&tree)?;
    let mut unpack = Command::new("tar");
    unpack.arg("-xJf").arg(&tarball).arg("-C").arg(&tree).arg("--strip-components=1");
    run(&mut unpack).with_context(|| format!("unpacking {}", tarball.display()))?;
    ensure!(tree.join("Makefile").is_file(), "{} has no Makefile after unpacking", tree.display());
    fs::write(tree.join(".complete"), b"")?;
    eprintln!("kbuild: {SOURCE_PACKAGE} {} unpacked in {:.0} s", package.version, t0.elapsed().as_secs_f64());
    Ok(tree)
}

// ---------------------------------------------------------------------------------------
// The configured, built tree

/// The cache key of one architecture's tree.
fn tree_key(arch: Arch, t: &Target) -> String {
    short_hash(&[BUILDER_VERSION, arch.name(), COMMON_CONFIG, t.fragment])
}

/// The configured and built tree of `arch` (`make O=`), built on first use.
fn built_tree(arch: Arch, t: &Target) -> Result<PathBuf> {
    let package = source_package()?;
    let version = &package.version;
    let tree = cache_dir().join("kbuild").join(format!("{}-{}-{}", version.replace(':', "%3a"), arch.name(), tree_key(arch, t)));
    if tree.join(".built").exists() {
        return Ok(tree);
    }
    let source = source_tree(&package)?;
    let _lock = lock(&lock_path(&tree))?;
    if tree.join(".built").exists() {
        return Ok(tree);
    }
    let t0 = Instant::now();
    remove_any(&tree)?;
    fs::create_dir_all(&tree)?;
    // allnoconfig with every fragment as KCONFIG_ALLCONFIG is what `make tinyconfig` does
    // with its own two; ours come after theirs and win.
    let mut all = String::new();
    for f in t.tiny {
        all += &fs::read_to_string(source.join(f)).with_context(|| format!("reading {f} of the source"))?;
    }
    all += COMMON_CONFIG;
    all += t.fragment;
    let allconfig = tree.join("rdinit-allconfig");
    fs::write(&allconfig, all)?;
    let mut cfg = make_command(&source, &tree, t);
    cfg.arg(format!("KCONFIG_ALLCONFIG={}", allconfig.display())).arg("allnoconfig");
    make_run(&mut cfg, &tree)?;
    set_initramfs_source(&tree, "")?;
    make(&tree, t, &["olddefconfig"])?;
    check_config(&tree, &[COMMON_CONFIG, t.fragment])?;
    make(&tree, t, &[t.make_target])?;
    fs::write(tree.join(".built"), b"")?;
    eprintln!("kbuild: linux {version} for {} built in {:.0} s ({})", arch.name(), t0.elapsed().as_secs_f64(), tree.display());
    Ok(tree)
}

/// `make -C <source> O=<tree> ARCH= CROSS_COMPILE= -j<cores>`.
fn make_command(source: &Path, tree: &Path, t: &Target) -> Command {
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut c = Command::new("make");
    c.arg("-C")
        .arg(source)
        .arg(format!("O={}", tree.display()))
        .arg(format!("ARCH={}", t.karch))
        .arg(format!("-j{jobs}"))
        .arg("-s");
    if !t.cross.is_empty() {
        c.arg(format!("CROSS_COMPILE={}", t.cross));
    }
    // An enclosing make's job server and flags are not ours.
    c.env_remove("MAKEFLAGS").env_remove("MFLAGS").env_remove("MAKELEVEL").stdin(Stdio::null());
    c
}

/// `make TARGETS` in a configured tree.
fn make(tree: &Path, t: &Target, targets: &[&str]) -> Result<()> {
    // `make O=` leaves a `source` link to the source tree in the build tree.
    let source = fs::canonicalize(tree.join("source")).context("the build tree has no source link")?;
    let mut c = make_command(&source, tree, t);
    c.args(targets);
    make_run(&mut c, tree)
}

/// Runs a make command with its output in `<tree>/build.log`; on failure, the log's tail.
fn make_run(c: &mut Command, tree: &Path) -> Result<()> {
    let log_path = tree.join("build.log");
    let log = fs::File::options().create(true).append(true).open(&log_path)?;
    c.stdout(log.try_clone()?).stderr(log);
    let status = c.status().with_context(|| format!("cannot run {}", describe(c)))?;
    if !status.success() {
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        bail!(
            "{} failed ({status}); the end of {}:\n{}",
            describe(c),
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

/// Sets `CONFIG_INITRAMFS_SOURCE` in the tree's .config (`make olddefconfig` must follow).
/// A list is built in uncompressed: the kernel image around it is compressed already.
fn set_initramfs_source(tree: &Path, source: &str) -> Result<()> {
    let path = tree.join(".config");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(!source.contains(['"', '\\', '\n']), "kbuild: unusable initramfs path {source:?}");
    let mut out: String = text
        .lines()
        .filter(|l| !l.starts_with("CONFIG_INITRAMFS_SOURCE=") && !l.contains("CONFIG_INITRAMFS_COMPRESSION_"))
        .map(|l| format!("{l}\n"))
        .collect();
    out += &format!("CONFIG_INITRAMFS_SOURCE=\"{source}\"\n");
    if !source.is_empty() {
        out += "CONFIG_INITRAMFS_COMPRESSION_NONE=y\n";
    }
    fs::write(&path, out)?;
    Ok(())
}

/// Every `CONFIG_X=y` line of the fragments must have survived `make olddefconfig`: a
/// symbol whose dependencies are unmet is silently dropped by Kconfig.
fn check_config(tree: &Path, fragments: &[&str]) -> Result<()> {
    let config = fs::read_to_string(tree.join(".config"))?;
    let missing = missing_symbols(&config, fragments);
    ensure!(
        missing.is_empty(),
        "kbuild: {} lacks what the fragments in xtask/kconfig/ ask for (unmet dependencies?): {}",
        tree.join(".config").display(),
        missing.join(", ")
    );
    Ok(())
}

/// The `CONFIG_X=y` lines of `fragments` that `config` does not have.
fn missing_symbols(config: &str, fragments: &[&str]) -> Vec<String> {
    fragments
        .iter()
        .flat_map(|f| f.lines())
        .map(str::trim)
        .filter(|l| l.starts_with("CONFIG_") && l.ends_with("=y"))
        .filter(|l| !config.lines().any(|c| c.trim() == *l))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------
// The built-in list

/// A gen_init_cpio list with the content of every file it names.
struct StagedList {
    /// The list's lines.
    lines: Vec<String>,
    /// `(line index, source path)` of each `file` line.
    files: Vec<(usize, PathBuf)>,
    /// A hash of the list and of every file's content: the output directory's name.
    key: String,
}

impl StagedList {
    fn read(path: &Path) -> Result<StagedList> {
        let text = fs::read_to_string(path).with_context(|| format!("reading the initramfs list {}", path.display()))?;
        let mut hash = Fnv64::new();
        let mut lines = Vec::new();
        let mut files = Vec::new();
        for (i, line) in text.lines().enumerate() {
            hash.write(line.as_bytes());
            hash.write(b"\n");
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"file") {
                // file <name> <location> <mode> <uid> <gid> [<hard links>]
                let loc = *words.get(2).with_context(|| format!("{}:{}: a file line without a location", path.display(), i + 1))?;
                ensure!(!loc.contains("${"), "{}:{}: environment variables in locations are not supported", path.display(), i + 1);
                let bytes = fs::read(loc).with_context(|| format!("{}:{}: reading {loc}", path.display(), i + 1))?;
                hash.write(&bytes);
                files.push((i, PathBuf::from(loc)));
            }
            lines.push(line.to_owned());
        }
        Ok(StagedList { lines, files, key: format!("{:016x}", hash.0) })
    }

    /// Copies every file into `dir` (emptied first) and writes the list naming the copies;
    /// returns the list's path.
    fn stage(&self, dir: &Path) -> Result<PathBuf> {
        remove_any(dir)?;
        fs::create_dir_all(dir)?;
        let mut lines = self.lines.clone();
        for (n, (i, src)) in self.files.iter().enumerate() {
            let copy = dir.join(format!("{n}"));
            fs::copy(src, &copy).with_context(|| format!("copying {}", src.display()))?;
            let mut words: Vec<String> = lines[*i].split_whitespace().map(str::to_owned).collect();
            words[2] = copy.display().to_string();
            lines[*i] = words.join(" ");
        }
        let list = dir.join("list");
        fs::write(&list, lines.join("\n") + "\n")?;
        Ok(list)
    }
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike DefaultHasher.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Fnv64 {
        Fnv64(0xcbf29ce484222325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_symbols_are_named() {
        let config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=m\n";
        let frag = "# comment\nCONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\nCONFIG_S=\"x\"\n";
        assert_eq!(missing_symbols(config, &[frag]), ["CONFIG_B=y", "CONFIG_C=y"]);
    }

    #[test]
    fn initramfs_source_replaces_the_old_setting() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join(".config");
        fs::write(&cfg, "CONFIG_X=y\nCONFIG_INITRAMFS_SOURCE=\"\"\nCONFIG_INITRAMFS_COMPRESSION_GZIP=y\n").unwrap();
        set_initramfs_source(dir.path(), "/l/list").unwrap();
        let text = fs::read_to_string(&cfg).unwrap();
        assert_eq!(text, "CONFIG_X=y\nCONFIG_INITRAMFS_SOURCE=\"/l/list\"\nCONFIG_INITRAMFS_COMPRESSION_NONE=y\n");
        set_initramfs_source(dir.path(), "").unwrap();
        assert_eq!(fs::read_to_string(&cfg).unwrap(), "CONFIG_X=y\nCONFIG_INITRAMFS_SOURCE=\"\"\n");
    }

    /// The key follows the content of the files a list names, not only the list's text;
    /// the staged list names the copies.
    #[test]
    fn list_key_covers_file_contents() {
        let dir = tempfile::tempdir().unwrap();
        let init = dir.path().join("init");
        let list = dir.path().join("list");
        fs::write(&list, format!("dir /dev 0755 0 0\nfile /init {} 0755 0 0\n", init.display())).unwrap();
        fs::write(&init, "one").unwrap();
        let a = StagedList::read(&list).unwrap();
        fs::write(&init, "two").unwrap();
        let b = StagedList::read(&list).unwrap();
        assert_ne!(a.key, b.key);
        let staged = b.stage(&dir.path().join("stage")).unwrap();
        let text = fs::read_to_string(&staged).unwrap();
        let copy = dir.path().join("stage").join("0");
        assert_eq!(text, format!("dir /dev 0755 0 0\nfile /init {} 0755 0 0\n", copy.display()));
        assert_eq!(fs::read(copy).unwrap(), b"two");
    }
}
