//! Host set-up: the Debian packages the harness drives.

use anyhow::{bail, Result};
use std::process::Command;

/// Debian packages the harness needs: QEMU, the kernel under test, busybox for guests, and
/// the image tools.
pub const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "linux-image-amd64",
    "busybox-static",
    "e2fsprogs",
    "dosfstools",
    "mtools",
    "squashfs-tools",
    "erofs-utils",
    "xorriso",
    "cpio",
    "fdisk",
    // mkswap, for the swap-partition root test (Essential on Debian; named all the same).
    "util-linux",
    "gdisk",
    // The systemd userspace of the shutdown acceptance test.
    "debootstrap",
    // strip, nm and size for ./size-report; zstd for its compressed sizes.
    "binutils",
    "zstd",
    // The other architectures (`cargo xtask build --arch`, tests/arch.rs): Debian's Rust
    // with its library source for -Z build-std, the cross gcc as linker (and its binutils'
    // strip), QEMU for arm, aarch64 and riscv64, OpenSBI as riscv64's firmware. The foreign
    // kernels and busyboxes are downloaded, not installed (xtask/src/debian.rs).
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "gcc-aarch64-linux-gnu",
    "gcc-arm-linux-gnueabihf",
    "gcc-riscv64-linux-gnu",
    "qemu-system-arm",
    "qemu-system-misc",
    "opensbi",
    // depmod for the downloaded kernels' module trees.
    "kmod",
    // Building Linux from Debian's linux-source package (xtask/src/kbuild.rs; the source
    // itself is downloaded, not installed): make and gcc, Kconfig's parser, objtool's
    // libelf (x86_64), bc for the timer constants, xz for the bzImage.
    "make",
    "gcc",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "xz-utils",
];

/// The packages of [`PACKAGES`] that `dpkg -s` does not report as installed.
pub fn missing_packages() -> Vec<&'static str> {
    PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            let out = Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output();
            !matches!(out, Ok(o) if o.status.success()
                && String::from_utf8_lossy(&o.stdout).ends_with(" installed"))
        })
        .collect()
}

/// Installs whatever of [`PACKAGES`] is missing (`apt-get update && apt-get install -y`),
/// printing what it installs; does nothing when all are present.
pub fn setup() -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask setup: installing {}", missing.join(" "));
    if !is_root() {
        bail!(
            "xtask setup: need root to install {} (apt-get)",
            missing.join(" ")
        );
    }
    let apt = |args: &[&str]| {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        c
    };
    run_loud(&mut apt(&["update", "-q"]))?;
    let mut install = apt(&["install", "-y", "-q"]);
    install.args(&missing);
    run_loud(&mut install)?;
    let still = missing_packages();
    if !still.is_empty() {
        bail!("xtask setup: still missing after apt-get: {}", still.join(" "));
    }
    Ok(())
}

/// Runs with output shown (apt's progress is worth seeing), failing on a non-zero exit.
fn run_loud(cmd: &mut Command) -> Result<()> {
    let status = cmd.status()?;
    if !status.success() {
        bail!("{} failed ({status})", crate::util::describe(cmd));
    }
    Ok(())
}

fn is_root() -> bool {
    // No libc dependency: ask the kernel through /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
