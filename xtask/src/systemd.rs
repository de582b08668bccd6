//! A minimal Debian userspace with systemd as a squashfs bundle, for the shutdown hand-back
//! test: `debootstrap --variant=minbase --include=systemd-sysv` from the host's Debian
//! mirror, trimmed (no docs, man pages, locales, .debs, apt lists) and packed.
//!
//! The bundle is cached outside the work tree, in [`cache_dir`] (`/var/cache/rdinit`,
//! or `$RDINIT_CACHE_DIR`), under a name keyed by a hash of the suite, the package list and
//! the recipe, so CI reruns and fresh clones reuse it; a lock file serialises concurrent
//! builders. A cold build takes about 35 s of debootstrap (a fast mirror) plus about 20 s
//! of mksquashfs on 2 cores; debootstrap is killed after [`DEBOOTSTRAP_TIMEOUT`] and tried
//! once more, so a stuck mirror fails the test in bounded time.

use crate::util::{cmd, describe, remove_any, run, short_hash};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The Debian release of the userspace (the harness kernel's own release, bookworm).
/// `$RDINIT_SYSTEMD_SUITE` overrides it.
pub const SUITE: &str = "bookworm";

/// Packages on top of minbase: systemd as /sbin/init, and udev, without which no device
/// unit ever appears (serial-getty@ttyS0 alone then holds the boot for 90 s). Everything
/// else the boot needs (util-linux's agetty and mount, dash) is in minbase.
pub const PACKAGES: &[&str] = &["systemd-sysv", "udev"];

/// Bumped when the recipe below changes in a way that changes the bundle.
const RECIPE: &str = "1";

/// One debootstrap attempt may take this long before it is killed.
pub const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(600);

/// Trimmed from the tree before packing: nothing the boot reads.
const TRIM: &[&str] = &[
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/cache/debconf/templates.dat-old",
];

/// Where cached userspaces live: `$RDINIT_CACHE_DIR`, else `/var/cache/rdinit` when it can
/// be created, else `target/boot-images/cache`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RDINIT_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let system = PathBuf::from("/var/cache/rdinit");
    if fs::create_dir_all(&system).is_ok() && writable(&system) {
        return system;
    }
    crate::util::images_dir().join("cache")
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    let ok = fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(&probe);
    ok
}

/// The suite in use ([`SUITE`] unless `$RDINIT_SYSTEMD_SUITE`).
pub fn suite() -> String {
    std::env::var("RDINIT_SYSTEMD_SUITE").unwrap_or_else(|_| SUITE.to_owned())
}

/// The Debian mirror: `$RDINIT_DEBIAN_MIRROR`, else the first `deb` source of apt's
/// configuration (one-line `.list` or deb822 `.sources`) serving the suite, else
/// deb.debian.org.
pub fn mirror() -> String {
    if let Ok(m) = std::env::var("RDINIT_DEBIAN_MIRROR") {
        return m;
    }
    let suite = suite();
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else { continue };
        if let Some(m) = mirror_in(&text, &suite) {
            return m;
        }
    }
    "http://deb.debian.org/debian".to_owned()
}

/// The first mirror in an apt source file (either format) that serves `suite` itself.
fn mirror_in(text: &str, suite: &str) -> Option<String> {
    // One-line form: `deb [options] URI SUITE COMPONENTS...`
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        if rest.first().is_some_and(|w| w.starts_with('[')) {
            let end = rest.iter().position(|w| w.ends_with(']'))?;
            rest.drain(..=end);
        }
        if rest.get(1) == Some(&suite) {
            return rest.first().map(|u| u.to_string());
        }
    }
    // deb822 form: stanzas separated by blank lines.
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let types = field("Types").unwrap_or_default();
        let suites = field("Suites").unwrap_or_default();
        if types.split_whitespace().any(|t| t == "deb") && suites.split_whitespace().any(|s| s == suite) {
            if let Some(uris) = field("URIs") {
                return uris.split_whitespace().next().map(str::to_owned);
            }
        }
    }
    None
}

/// The cache key of the bundle.
fn key() -> String {
    let suite = suite();
    let mut parts = vec![suite.as_str(), "minbase", RECIPE];
    parts.extend_from_slice(PACKAGES);
    short_hash(&parts)
}

/// The systemd userspace bundle (squashfs, zstd): built on first use, then taken from the
/// cache. Panics with the reason when it cannot be built (not root, no debootstrap, mirror
/// unreachable).
pub fn bundle() -> PathBuf {
    static B: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match B.get_or_init(|| build_cached().map_err(|e| format!("{e:#}"))) {
        Ok(p) => p.clone(),
        Err(e) => panic!("harness: systemd userspace: {e}"),
    }
}

fn build_cached() -> Result<PathBuf> {
    let dir = cache_dir();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = format!("systemd-{}-{}", suite(), key());
    let out = dir.join(format!("{name}.sb"));
    if out.exists() {
        return Ok(out);
    }
    // Another process may be building the same bundle: wait for it, then look again.
    let lock = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{name}.lock")))?;
    lock.lock().context("locking the systemd cache")?;
    if out.exists() {
        return Ok(out);
    }
    let tree = dir.join(format!("{name}.tree"));
    remove_any(&tree)?;
    let t0 = Instant::now();
    debootstrap(&tree).or_else(|e| {
        eprintln!("harness: debootstrap failed ({e:#}); trying once more");
        remove_any(&tree)?;
        debootstrap(&tree)
    })?;
    let t_boot = t0.elapsed();
    for t in TRIM {
        remove_any(&tree.join(t))?;
    }
    // An empty fstab: the live boot mounts everything; a hostname for the prompt.
    fs::write(tree.join("etc/fstab"), "# rdinit live system: nothing to mount\n")?;
    fs::write(tree.join("etc/hostname"), "rdinit-systemd\n")?;
    let tmp = dir.join(format!(".{name}.sb.tmp{}", std::process::id()));
    remove_any(&tmp)?;
    let t1 = Instant::now();
    run(cmd("mksquashfs")?
        .arg(&tree)
        .arg(&tmp)
        .args(["-noappend", "-no-progress", "-quiet", "-comp", "zstd", "-b", "1M"]))?;
    fs::rename(&tmp, &out)?;
    remove_any(&tree)?;
    eprintln!(
        "harness: systemd userspace {} built: debootstrap {:.0} s, mksquashfs {:.0} s, {} MiB",
        out.display(),
        t_boot.as_secs_f64(),
        t1.elapsed().as_secs_f64(),
        fs::metadata(&out)?.len() >> 20
    );
    Ok(out)
}

/// `debootstrap --variant=minbase --include=PACKAGES SUITE tree MIRROR`, killed after
/// [`DEBOOTSTRAP_TIMEOUT`]. Its log goes to `tree.log` beside the tree.
fn debootstrap(tree: &Path) -> Result<()> {
    install_debootstrap()?;
    let mut c = cmd("debootstrap")?;
    let log_path = tree.with_extension("log");
    let log = fs::File::create(&log_path)?;
    c.args(["--variant=minbase", &format!("--include={}", PACKAGES.join(","))])
        .arg(suite())
        .arg(tree)
        .arg(mirror())
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    eprintln!("harness: {} (log: {})", describe(&c), log_path.display());
    let mut child = c.spawn().with_context(|| format!("cannot run {}", describe(&c)))?;
    let deadline = Instant::now() + DEBOOTSTRAP_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("debootstrap still running after {} s; killed", DEBOOTSTRAP_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        let text = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        bail!("{} failed ({status}):\n{}", describe(&c), tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    if !tree.join("lib/systemd/systemd-shutdown").exists() && !tree.join("usr/lib/systemd/systemd-shutdown").exists() {
        bail!("debootstrap finished but {} has no systemd-shutdown", tree.display());
    }
    Ok(())
}

/// Installs debootstrap with apt-get when it is missing (the harness runs as root, like
/// `cargo xtask setup`; debootstrap needs root anyway).
fn install_debootstrap() -> Result<()> {
    if cmd("debootstrap").is_ok() {
        return Ok(());
    }
    eprintln!("harness: installing debootstrap");
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args).stdin(Stdio::null());
        c
    };
    if run(&mut apt(&["install", "-y", "-q", "debootstrap"])).is_err() {
        // A machine whose package lists were never fetched knows no debootstrap yet.
        run(&mut apt(&["update", "-q"]))?;
        run(&mut apt(&["install", "-y", "-q", "debootstrap"]))?;
    }
    cmd("debootstrap").map(|_| ()).context("debootstrap still missing after apt-get install")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_from_both_formats() {
        let list = "# comment\ndeb-src http://x/debian bookworm main\ndeb [arch=amd64 signed-by=/k] http://m.example/debian bookworm main\n";
        assert_eq!(mirror_in(list, "bookworm").as_deref(), Some("http://m.example/debian"));
        let security = "deb http://deb.debian.org/debian-security bookworm-security main\n";
        assert_eq!(mirror_in(security, "bookworm"), None);
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n";
        assert_eq!(mirror_in(deb822, "bookworm").as_deref(), Some("http://deb.debian.org/debian"));
        assert_eq!(mirror_in(deb822, "trixie"), None);
    }

    #[test]
    fn key_is_stable() {
        assert_eq!(key(), key());
        assert_eq!(key().len(), 8);
    }
}
