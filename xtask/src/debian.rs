//! Debian packages of any architecture and suite, downloaded and unpacked, never installed:
//! foreign kernels and busybox-static for the boot tests of other architectures, and
//! trixie's amd64 kernel.
//!
//! apt runs with a private state of its own per suite under the cache dir (its sources
//! list, package lists and cache, `APT::Architectures` naming the architecture wanted), so
//! the host's sources, lists and dpkg architectures are left as they are. The lists are
//! refreshed at most once a day; a package is downloaded once per name and version and
//! unpacked (`dpkg-deb -x`) into `<cache>/debs/<name>_<version>_<arch>/`.

use crate::systemd::cache_dir;
use crate::util::{describe, remove_any, run};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// The Debian mirror the suites come from.
const MIRROR: &str = "http://deb.debian.org/debian";

/// How old a suite's package lists may be before `apt-get update` runs again.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A private apt set-up for one suite and the architectures asked of it.
struct Apt {
    dir: PathBuf,
    archs: Vec<String>,
}

impl Apt {
    fn new(suite: &str, archs: &[&str]) -> Result<Apt> {
        let mut archs: Vec<String> = archs.iter().map(|a| a.to_string()).collect();
        archs.sort();
        archs.dedup();
        let dir = cache_dir().join("apt").join(format!("{suite}-{}", archs.join("-")));
        for d in ["lists/partial", "cache/archives/partial"] {
            fs::create_dir_all(dir.join(d)).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(
            dir.join("sources.list"),
            format!("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {MIRROR} {suite} main\n"),
        )?;
        Ok(Apt { dir, archs })
    }

    /// `prog` with options that point apt at this private state only.
    fn command(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        let d = self.dir.display();
        c.arg("-q")
            .arg(format!("-oDir::State::Lists={d}/lists"))
            .arg(format!("-oDir::Etc::SourceList={d}/sources.list"))
            .arg("-oDir::Etc::SourceParts=/nonexistent")
            .arg(format!("-oDir::Cache={d}/cache"))
            // Only the Packages lists: no translations, no AppStream metadata.
            .arg("-oAcquire::Languages=none")
            .arg("-oAcquire::IndexTargets::deb::DEP-11::DefaultEnabled=false")
            .arg("-oAcquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false")
            .arg("-oAcquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false");
        for a in &self.archs {
            c.arg(format!("-oAPT::Architectures::={a}"));
        }
        c
    }

    /// `apt-get update` unless the lists are younger than [`LISTS_MAX_AGE`].
    fn update(&self) -> Result<()> {
        let stamp = self.dir.join("updated");
        let fresh = fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age < LISTS_MAX_AGE);
        if fresh {
            return Ok(());
        }
        run(self.command("apt-get").arg("update")).context("apt-get update (private state)")?;
        fs::write(&stamp, b"")?;
        Ok(())
    }

    /// The candidate version of `pkg:arch`.
    fn version(&self, pkg: &str, arch: &str) -> Result<String> {
        let out = run(self.command("apt-cache").args(["show", "--no-all-versions", &format!("{pkg}:{arch}")]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("Version: "))
            .map(str::to_owned)
            .with_context(|| format!("apt-cache show {pkg}:{arch}: no Version"))
    }

    /// The package `pkg:arch` depends on whose name starts with `prefix` (a metapackage's
    /// real package: `linux-image-arm64` -> `linux-image-6.1.0-28-arm64`).
    fn dependency(&self, pkg: &str, arch: &str, prefix: &str) -> Result<String> {
        let out = run(self.command("apt-cache").args(["depends", &format!("{pkg}:{arch}")]))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .map(|d| d.split(':').next().unwrap_or(d))
            .find(|d| d.starts_with(prefix))
            .map(str::to_owned)
            .with_context(|| format!("{pkg}:{arch} depends on no {prefix}*:\n{text}"))
    }
}

/// An unpacked package.
#[derive(Clone, Debug)]
pub struct Unpacked {
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where its files are (the package's `/` is this directory).
    pub root: PathBuf,
}

/// Downloads and unpacks `pkg` (a package name, or a metapackage resolved through its
/// dependency starting with `resolve_prefix`) for Debian architecture `arch` from `suite`.
/// `finish` runs once on the unpacked tree, before it counts as complete (what the
/// package's maintainer scripts would have made, e.g. modules.dep). Cached by name and
/// version; concurrent callers wait for each other (a lock file).
pub fn unpacked(
    suite: &str,
    arch: &str,
    pkg: &str,
    resolve_prefix: Option<&str>,
    finish: impl FnOnce(&Path) -> Result<()>,
) -> Result<Unpacked> {
    let apt = Apt::new(suite, &[arch])?;
    let lock = fs::File::options().create(true).truncate(false).write(true).open(apt.dir.join("lock"))?;
    lock.lock().context("locking the private apt state")?;
    apt.update()?;
    let name = match resolve_prefix {
        Some(prefix) => apt.dependency(pkg, arch, prefix)?,
        None => pkg.to_owned(),
    };
    let version = apt.version(&name, arch)?;
    let root = cache_dir().join("debs").join(format!("{name}_{}_{arch}", version.replace(':', "%3a")));
    if !root.join(".complete").exists() {
        let downloads = apt.dir.join("downloads");
        remove_any(&downloads)?;
        fs::create_dir_all(&downloads)?;
        let mut dl = apt.command("apt-get");
        dl.current_dir(&downloads).args(["download", &format!("{name}:{arch}={version}")]);
        run(&mut dl).with_context(|| format!("downloading {name}:{arch} {version}"))?;
        let deb = only_file(&downloads)?;
        remove_any(&root)?;
        fs::create_dir_all(&root)?;
        let mut x = Command::new("dpkg-deb");
        x.arg("-x").arg(&deb).arg(&root);
        run(&mut x).with_context(|| format!("{} failed", describe(&x)))?;
        finish(&root).with_context(|| format!("finishing {name} {version}"))?;
        fs::write(root.join(".complete"), b"")?;
        remove_any(&downloads)?;
    }
    Ok(Unpacked { name, version, root })
}

fn only_file(dir: &Path) -> Result<PathBuf> {
    let files: Vec<PathBuf> = fs::read_dir(dir)?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    match &files[..] {
        [one] => Ok(one.clone()),
        _ => bail!("expected one .deb in {}, found {files:?}", dir.display()),
    }
}
