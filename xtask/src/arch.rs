//! The architectures rdinit is built and booted for, and what each needs: the Rust target
//! and toolchain, the cross binutils, Debian's architecture name and kernel flavour, and the
//! QEMU machine that boots it.
//!
//! x86_64 builds with the installed (rustup) stable toolchain, as it always has. The others
//! build with Debian's `rustc-web`/`cargo-web` 1.96 and their library source
//! (`rust-web-src`): `-Z build-std` compiles `core` and `compiler_builtins` (with its `mem`
//! feature: memcpy & co.) for the target, which rustup cannot here (no rust-src).

use crate::debian;
use crate::kernel::Kernel;
use crate::util::{describe, workspace};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// A CPU architecture rdinit supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    X86_64,
    Aarch64,
    /// 32-bit ARMv7-A, hard-float, built as Thumb-2.
    Armv7,
    Riscv64,
}

/// Which features of the init to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Features {
    /// The default features (live, shutdown).
    Full,
    /// `--no-default-features`: the root= boot only.
    RootOnly,
    /// The default features and `fault-hooks`: the injection points of tests/hooks.rs.
    /// Never shipped, never in a size report.
    FaultHooks,
}

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::X86_64, Arch::Aarch64, Arch::Armv7, Arch::Riscv64];

    /// The name `cargo xtask build --arch` takes and size-report prints.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Armv7 => "armv7",
            Arch::Riscv64 => "riscv64",
        }
    }

    pub fn from_name(name: &str) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The Rust target triple. armv7: the plain hard-float target (VFPv3-D16, no NEON
    /// required, so it runs on every ARMv7-A board) switched to Thumb-2 by
    /// its RUSTFLAGS: 42.7 KB against 60.6 KB in ARM mode; thumbv7neon saves 0.5 KB
    /// more but needs NEON.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::Armv7 => "armv7-unknown-linux-gnueabihf",
            Arch::Riscv64 => "riscv64gc-unknown-linux-gnu",
        }
    }

    /// RUSTFLAGS for every crate of the cross build (core included).
    fn rustflags(self) -> &'static str {
        match self {
            Arch::Armv7 => "-C target-feature=+thumb-mode",
            _ => "",
        }
    }

    /// The GNU triple of the cross binutils and gcc (`<triple>-gcc` links, `<triple>-strip`
    /// strips); `None` for the host.
    fn gnu_triple(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("aarch64-linux-gnu"),
            Arch::Armv7 => Some("arm-linux-gnueabihf"),
            Arch::Riscv64 => Some("riscv64-linux-gnu"),
        }
    }

    /// `strip` for this architecture's binaries.
    pub fn strip(self) -> String {
        match self.gnu_triple() {
            Some(t) => format!("{t}-strip"),
            None => "strip".to_owned(),
        }
    }

    /// Debian's name for the architecture.
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Armv7 => "armhf",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// What `uname -m` says on it.
    pub fn uname_m(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Armv7 => "armv7l",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Debian's kernel metapackage for a QEMU `virt`-style machine of this architecture
    /// (armv7: the LPAE flavour, for the Cortex-A15 of `-M virt`).
    pub fn kernel_package(self) -> &'static str {
        match self {
            Arch::X86_64 => "linux-image-amd64",
            Arch::Aarch64 => "linux-image-arm64",
            Arch::Armv7 => "linux-image-armmp-lpae",
            Arch::Riscv64 => "linux-image-riscv64",
        }
    }

    /// The oldest Debian suite with a kernel for it: bookworm has no riscv64 port.
    pub fn default_suite(self) -> &'static str {
        match self {
            Arch::Riscv64 => "trixie",
            _ => "bookworm",
        }
    }

    /// The QEMU system emulator.
    pub fn qemu(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
            Arch::Armv7 => "qemu-system-arm",
            Arch::Riscv64 => "qemu-system-riscv64",
        }
    }

    /// QEMU's machine arguments (after `-accel tcg`).
    pub fn machine(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &["-cpu", "max"],
            Arch::Aarch64 => &["-M", "virt", "-cpu", "cortex-a57"],
            Arch::Armv7 => &["-M", "virt", "-cpu", "cortex-a15"],
            // OpenSBI (the `opensbi` package) runs in M-mode and jumps to the kernel.
            Arch::Riscv64 => &["-M", "virt", "-bios", "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.bin"],
        }
    }

    /// The serial console's name in the guest.
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 | Arch::Riscv64 => "ttyS0",
            Arch::Aarch64 | Arch::Armv7 => "ttyAMA0",
        }
    }

    /// Whether virtio disks are virtio-mmio devices (`-M virt`; the guest finds the
    /// virtio_mmio driver by the device tree's `of:` modalias) rather than PCI ones.
    pub fn virtio_mmio(self) -> bool {
        self != Arch::X86_64
    }
}

/// LLVM settings for the init's final crate (where fat LTO generates all the code), for
/// size: the machine outliner, which folds repeated instruction sequences into shared
/// functions (on by default for aarch64, armv7 and riscv64 at opt-level "z", not for
/// x86_64), and switches as compare chains up to 8 cases rather than jump tables.
pub const SIZE_FLAGS: [&str; 4] = ["-C", "llvm-args=-enable-machine-outliner=always", "-C", "llvm-args=-min-jump-table-entries=8"];

/// The init's cargo command for `arch`: `cargo rustc` as README.md builds it (the static
/// relocation model for the final crate only, where fat LTO generates all the code), with
/// the cross toolchain for the other architectures.
pub fn init_build_command(arch: Arch, features: Features, target_dir: &std::path::Path) -> Command {
    let mut cmd;
    if arch == Arch::X86_64 {
        cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.args(["rustc", "--target-dir"]).arg(target_dir);
    } else {
        // Debian's toolchain, whatever rustup would pick for this directory.
        cmd = Command::new("/usr/bin/cargo");
        cmd.args(["rustc", "--target-dir"]).arg(target_dir);
        cmd.env("RUSTC", "/usr/bin/rustc")
            .env("RUSTC_BOOTSTRAP", "1")
            .env("RUSTFLAGS", arch.rustflags())
            .env(
                format!("CARGO_TARGET_{}_LINKER", arch.rust_target().to_uppercase().replace('-', "_")),
                format!("{}-gcc", arch.gnu_triple().unwrap()),
            )
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("CARGO");
        cmd.args(["--target", arch.rust_target(), "-Z", "build-std=core,compiler_builtins"])
            .args(["-Z", "build-std-features=compiler-builtins-mem"]);
    }
    cmd.args(["--quiet", "--release", "-p", "rdinit", "--bin", "rdinit"]);
    match features {
        Features::Full => {}
        Features::RootOnly => {
            cmd.arg("--no-default-features");
        }
        Features::FaultHooks => {
            cmd.args(["--features", "fault-hooks"]);
        }
    }
    cmd.args(["--", "-C", "relocation-model=static"]).args(SIZE_FLAGS);
    // Settings of an enclosing `cargo test` that must not leak into this build.
    cmd.current_dir(workspace())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdin(Stdio::null());
    cmd
}

/// Where [`build_init`] leaves the binary for `arch` under `target_dir`.
fn init_path(arch: Arch, target_dir: &std::path::Path) -> PathBuf {
    match arch {
        Arch::X86_64 => target_dir.join("release").join("rdinit"),
        _ => target_dir.join(arch.rust_target()).join("release").join("rdinit"),
    }
}

/// Builds the init for `arch` into `target/arch/<arch>-<features>` and returns the
/// (unstripped) binary. Each build runs once per process.
pub fn build_init(arch: Arch, features: Features) -> Result<PathBuf> {
    static BUILT: Mutex<BTreeMap<(Arch, Features), PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(&(arch, features)) {
        return Ok(p.clone());
    }
    let suffix = match features {
        Features::Full => "full",
        Features::RootOnly => "root-only",
        Features::FaultHooks => "fault-hooks",
    };
    let target_dir = workspace().join("target").join("arch").join(format!("{}-{suffix}", arch.name()));
    let mut cmd = init_build_command(arch, features, &target_dir);
    let out = cmd.output().with_context(|| format!("cannot run {}", describe(&cmd)))?;
    if !out.status.success() {
        bail!("{} failed ({}):\n{}", describe(&cmd), out.status, String::from_utf8_lossy(&out.stderr));
    }
    let bin = init_path(arch, &target_dir);
    if !bin.exists() {
        bail!("the build succeeded but {} is missing", bin.display());
    }
    built.insert((arch, features), bin.clone());
    Ok(bin)
}

/// The init for `arch` with every feature, for the boot tests. Panics when it cannot be built.
pub fn init(arch: Arch) -> PathBuf {
    build_init(arch, Features::Full).unwrap_or_else(|e| panic!("harness: building rdinit for {}: {e:#}", arch.name()))
}

/// The x86_64 init with the fault-injection hooks (`--features fault-hooks`), for
/// tests/hooks.rs only; built once per process. Panics when it cannot be built.
pub fn fault_hooks_init() -> PathBuf {
    build_init(Arch::X86_64, Features::FaultHooks).unwrap_or_else(|e| panic!("harness: building rdinit with fault-hooks: {e:#}"))
}

/// A machine to boot: an architecture and a kernel for it.
#[derive(Clone, Debug)]
pub struct Board {
    pub arch: Arch,
    /// The Debian suite the kernel came from.
    pub suite: String,
    pub kernel: Kernel,
    /// That suite's busybox-static for `arch` (a real init and shell for the guests).
    pub busybox: PathBuf,
    /// The Debian packages it came from, `name version` each.
    pub packages: Vec<String>,
}

impl Board {
    /// A short name for logs and images: `aarch64-bookworm`.
    pub fn name(&self) -> String {
        format!("{}-{}", self.arch.name(), self.suite)
    }
}

/// Debian's own kernel and busybox-static for `arch` from `suite`, downloaded and unpacked
/// into the cache on first use (never installed). Panics with the reason when it cannot.
pub fn board(arch: Arch, suite: &str) -> &'static Board {
    type Cell = &'static OnceLock<Result<Board, String>>;
    static BOARDS: Mutex<BTreeMap<(Arch, String), Cell>> = Mutex::new(BTreeMap::new());
    let cell = *BOARDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry((arch, suite.to_owned()))
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())));
    match cell.get_or_init(|| fetch_board(arch, suite).map_err(|e| format!("{e:#}"))) {
        Ok(b) => b,
        Err(e) => panic!("harness: Debian {suite}'s kernel for {}: {e}", arch.name()),
    }
}

/// Where an unpacked kernel package keeps its module trees: merged /usr (trixie) or not
/// (bookworm).
fn modules_base(root: &Path) -> Result<PathBuf> {
    ["usr/lib/modules", "lib/modules"]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.is_dir())
        .with_context(|| format!("{} has no lib/modules", root.display()))
}

/// The one kernel release under `modules_base`.
fn only_release(modules_base: &Path) -> Result<String> {
    let releases: Vec<String> = std::fs::read_dir(modules_base)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    match &releases[..] {
        [one] => Ok(one.clone()),
        _ => bail!("{}: expected one kernel release, found {releases:?}", modules_base.display()),
    }
}

/// modules.dep and friends, which the package's postinst would make: `depmod -b`. depmod
/// looks under `<base>/lib/modules`, so a merged-/usr tree gets the `lib -> usr/lib` link
/// that base-files would provide.
fn depmod(root: &Path) -> Result<()> {
    let base = modules_base(root)?;
    if !root.join("lib").exists() {
        std::os::unix::fs::symlink("usr/lib", root.join("lib"))?;
    }
    let release = only_release(&base)?;
    let mut cmd = Command::new(crate::util::tool("depmod")?);
    cmd.arg("-b").arg(root).arg(&release);
    crate::util::run(&mut cmd)?;
    anyhow::ensure!(base.join(&release).join("modules.dep").exists(), "depmod made no modules.dep");
    Ok(())
}

fn fetch_board(arch: Arch, suite: &str) -> Result<Board> {
    let deb = arch.debian();
    let image = debian::unpacked(suite, deb, arch.kernel_package(), Some("linux-image-"), depmod)?;
    let busybox = debian::unpacked(suite, deb, "busybox-static", None, |_| Ok(()))?;
    let modules_base = modules_base(&image.root)?;
    let release = only_release(&modules_base)?;
    // riscv64's is an uncompressed Image, `vmlinux-`.
    let vmlinuz = ["vmlinuz", "vmlinux"]
        .iter()
        .map(|v| image.root.join("boot").join(format!("{v}-{release}")))
        .find(|p| p.exists())
        .with_context(|| format!("{} has no boot/vmlinuz-{release} or vmlinux-{release}", image.name))?;
    let busybox_bin = ["usr/bin/busybox", "bin/busybox"]
        .iter()
        .map(|p| busybox.root.join(p))
        .find(|p| p.is_file())
        .with_context(|| format!("{} has no busybox", busybox.name))?;
    Ok(Board {
        arch,
        suite: suite.to_owned(),
        kernel: Kernel { vmlinuz, modules_dir: modules_base.join(&release), release },
        busybox: busybox_bin,
        packages: [&image, &busybox].iter().map(|p| format!("{} {}", p.name, p.version)).collect(),
    })
}
