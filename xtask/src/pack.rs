//! Building rdinit and rdinit-pack, and running the packer.

use crate::cache::cached;
use crate::kernel::kernel;
use crate::util::{describe, images_dir, run, short_hash, tmp_sibling, workspace};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The host-built binaries under test.
#[derive(Clone, Debug)]
pub struct Tools {
    /// The init (`target/harness/release/rdinit`).
    pub rdinit: PathBuf,
    /// The packer CLI (`target/harness/release/rdinit-pack`).
    pub pack: PathBuf,
}

/// Builds `rdinit` and `rdinit-pack` (release) once per process into `target/harness`, a
/// target dir of its own so that this works from inside `cargo test` without waiting for
/// the build lock. Panics with cargo's verdict when the build fails.
pub fn tools() -> &'static Tools {
    match try_tools() {
        Ok(t) => t,
        Err(e) => panic!("harness: {e}"),
    }
}

/// [`tools`] without the panic.
pub fn try_tools() -> Result<&'static Tools, String> {
    static T: OnceLock<Result<Tools, String>> = OnceLock::new();
    T.get_or_init(|| build_tools().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(Clone::clone)
}

fn build_tools() -> Result<Tools> {
    let ws = workspace();
    let target = ws.join("target").join("harness");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("harness: building rdinit and rdinit-pack into {}", target.display());
    // The init as README.md builds it (see arch::init_build_command), then the packer.
    let init = crate::arch::init_build_command(crate::arch::Arch::X86_64, crate::arch::Features::Full, &target);
    let mut packer = Command::new(&cargo);
    packer
        .current_dir(ws)
        .args(["build", "--quiet", "--release", "-p", "rdinit-pack", "--bin", "rdinit-pack", "--target-dir"])
        .arg(&target)
        // Settings of an enclosing `cargo test` that must not leak into this build.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null());
    for mut cmd in [init, packer] {
        let out = cmd.output().with_context(|| format!("cannot run {}", describe(&cmd)))?;
        if !out.status.success() {
            bail!("{} failed ({}):\n{}", describe(&cmd), out.status, String::from_utf8_lossy(&out.stderr));
        }
    }
    let rel = target.join("release");
    let t = Tools { rdinit: rel.join("rdinit"), pack: rel.join("rdinit-pack") };
    for p in [&t.rdinit, &t.pack] {
        if !p.exists() {
            bail!("cargo build succeeded but {} is missing", p.display());
        }
    }
    Ok(t)
}

/// Runs `rdinit-pack` with the given arguments and returns its output, whatever its status
/// (for tests of the packer's own failures).
pub fn run_pack(args: &[OsString]) -> Result<Output> {
    let mut cmd = Command::new(&tools().pack);
    cmd.args(args).stdin(Stdio::null());
    cmd.output().with_context(|| format!("cannot run {}", describe(&cmd)))
}

/// Where the kernel modules come from.
#[derive(Clone, Debug)]
enum Modules {
    /// `--kernel-release REL`
    Release(String),
    /// `--modules-dir DIR`
    Dir(PathBuf),
    /// neither: the packer's default
    Default,
}

/// An initramfs to build with `rdinit-pack`:
/// `rdinit-pack -o OUT [--init PATH] [--compress none|gzip|zstd]
/// [--kernel-release REL | --modules-dir DIR] [--module NAME]... [--preset P]...
/// [--file SRC:DEST]... [--busybox PATH] [--list FILE]... [--emit-list FILE]`.
#[derive(Clone, Debug)]
pub struct Pack {
    name: String,
    init: Option<PathBuf>,
    compress: Option<String>,
    modules_from: Modules,
    modules: Vec<String>,
    presets: Vec<String>,
    files: Vec<(PathBuf, String)>,
    busybox: Option<PathBuf>,
    lists: Vec<PathBuf>,
    emit_list: Option<PathBuf>,
    extra: Vec<OsString>,
}

impl Pack {
    /// An initramfs named `name` (its file is `target/boot-images/initrd-<name>-<hash>.img`)
    /// with the harness-built rdinit as init and the modules of [`kernel`]'s tree; no
    /// presets, no modules, no busybox.
    pub fn new(name: &str) -> Pack {
        Pack {
            name: name.to_owned(),
            init: None,
            compress: None,
            modules_from: Modules::Dir(kernel().modules_dir.clone()),
            modules: Vec::new(),
            presets: Vec::new(),
            files: Vec::new(),
            busybox: None,
            lists: Vec::new(),
            emit_list: None,
            extra: Vec::new(),
        }
    }

    /// What the root= scenarios boot: `--preset storage --module ext4 --module vfat`.
    pub fn storage(name: &str) -> Pack {
        // vfat asks the kernel for its code page and charset only at mount time (Debian's
        // defaults: cp437, ascii), so nothing in modules.dep brings them in.
        Pack::new(name).preset("storage").module("ext4").module("vfat").module("nls_cp437").module("nls_ascii")
    }

    /// `--init PATH` (default: the harness-built rdinit).
    pub fn init(mut self, path: impl Into<PathBuf>) -> Pack {
        self.init = Some(path.into());
        self
    }
    /// `--compress none|gzip|zstd`
    pub fn compress(mut self, how: &str) -> Pack {
        self.compress = Some(how.to_owned());
        self
    }
    /// `--kernel-release REL`
    pub fn kernel_release(mut self, rel: &str) -> Pack {
        self.modules_from = Modules::Release(rel.to_owned());
        self
    }
    /// `--modules-dir DIR`
    pub fn modules_dir(mut self, dir: impl Into<PathBuf>) -> Pack {
        self.modules_from = Modules::Dir(dir.into());
        self
    }
    /// Neither `--kernel-release` nor `--modules-dir`.
    pub fn no_kernel(mut self) -> Pack {
        self.modules_from = Modules::Default;
        self
    }
    /// `--module NAME`
    pub fn module(mut self, name: &str) -> Pack {
        self.modules.push(name.to_owned());
        self
    }
    /// `--preset storage|live|all`
    pub fn preset(mut self, name: &str) -> Pack {
        self.presets.push(name.to_owned());
        self
    }
    /// `--file SRC:DEST`
    pub fn file(mut self, src: impl Into<PathBuf>, dest: &str) -> Pack {
        self.files.push((src.into(), dest.to_owned()));
        self
    }
    /// `--busybox /bin/busybox` (Debian's busybox-static) when `on`.
    pub fn busybox(mut self, on: bool) -> Pack {
        self.busybox = on.then(|| PathBuf::from("/bin/busybox"));
        self
    }
    /// `--busybox PATH`
    pub fn busybox_path(mut self, path: impl Into<PathBuf>) -> Pack {
        self.busybox = Some(path.into());
        self
    }
    /// `--list FILE`
    pub fn list(mut self, file: impl Into<PathBuf>) -> Pack {
        self.lists.push(file.into());
        self
    }
    /// `--emit-list FILE`
    pub fn emit_list(mut self, file: impl Into<PathBuf>) -> Pack {
        self.emit_list = Some(file.into());
        self
    }
    /// Any other argument, passed as is.
    pub fn arg(mut self, a: impl Into<OsString>) -> Pack {
        self.extra.push(a.into());
        self
    }

    /// The packer's arguments, `-o out` first.
    pub fn args(&self, out: &Path) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["-o".into(), out.into()];
        let init = self.init.clone().unwrap_or_else(|| tools().rdinit.clone());
        a.extend(["--init".into(), init.into()]);
        if let Some(c) = &self.compress {
            a.extend(["--compress".into(), c.into()]);
        }
        match &self.modules_from {
            Modules::Release(r) => a.extend(["--kernel-release".into(), r.into()]),
            Modules::Dir(d) => a.extend(["--modules-dir".into(), d.into()]),
            Modules::Default => {}
        }
        for m in &self.modules {
            a.extend(["--module".into(), m.into()]);
        }
        for p in &self.presets {
            a.extend(["--preset".into(), p.into()]);
        }
        for (src, dest) in &self.files {
            let mut s = OsString::from(src);
            s.push(":");
            s.push(dest);
            a.extend(["--file".into(), s]);
        }
        if let Some(b) = &self.busybox {
            a.extend(["--busybox".into(), b.into()]);
        }
        for l in &self.lists {
            a.extend(["--list".into(), l.into()]);
        }
        if let Some(e) = &self.emit_list {
            a.extend(["--emit-list".into(), e.into()]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// Runs the packer once per process for this configuration and returns the initramfs.
    /// Panics with the packer's output when it fails.
    pub fn build(&self) -> PathBuf {
        let probe = self.args(Path::new("OUT"));
        let key_parts: Vec<String> = probe.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let key_refs: Vec<&str> = key_parts.iter().map(String::as_str).collect();
        let out = images_dir().join(format!("initrd-{}-{}.img", self.name, short_hash(&key_refs)));
        cached(&format!("initrd {}", out.display()), || {
            std::fs::create_dir_all(images_dir())?;
            let tmp = tmp_sibling(&out);
            let mut cmd = Command::new(&tools().pack);
            cmd.args(self.args(&tmp));
            run(&mut cmd)?;
            std::fs::rename(&tmp, &out)?;
            Ok(out.clone())
        })
    }
}

/// Runs rdinit-pack for `p` (see [`Pack::build`]).
pub fn pack(p: &Pack) -> PathBuf {
    p.build()
}
