//! The kernel under test: Debian's linux-image-amd64, installed, or another suite's
//! downloaded (`RDINIT_KERNEL_SUITE`).

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A kernel image with its module tree.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// `/boot/vmlinuz-<release>`
    pub vmlinuz: PathBuf,
    /// `uname -r` of that kernel, e.g. `6.1.0-56-amd64`
    pub release: String,
    /// `/lib/modules/<release>`
    pub modules_dir: PathBuf,
}

/// The newest `/boot/vmlinuz-*` that has a `/lib/modules/<release>` tree.
/// `RDINIT_KERNEL_RELEASE` picks another installed release; `RDINIT_KERNEL_SUITE=trixie`
/// (any Debian suite) runs the x86_64 boot tests on that suite's kernel instead, downloaded
/// and unpacked as tests/arch.rs's kernels are (not installed).
/// Panics when there is none (run `cargo xtask setup`).
pub fn kernel() -> &'static Kernel {
    static K: OnceLock<Result<Kernel, String>> = OnceLock::new();
    if let Ok(suite) = std::env::var("RDINIT_KERNEL_SUITE") {
        return &crate::arch::board(crate::arch::Arch::X86_64, &suite).kernel;
    }
    match K.get_or_init(|| find_kernel().map_err(|e| format!("{e:#}"))) {
        Ok(k) => k,
        Err(e) => panic!("harness: {e}"),
    }
}

fn find_kernel() -> Result<Kernel> {
    let wanted = std::env::var("RDINIT_KERNEL_RELEASE").ok();
    let mut releases = Vec::new();
    for e in std::fs::read_dir("/boot").context("reading /boot")? {
        let name = e?.file_name().to_string_lossy().into_owned();
        let Some(rel) = name.strip_prefix("vmlinuz-") else { continue };
        if rel.ends_with(".dpkg-bak") || rel.ends_with(".old") {
            continue;
        }
        if !PathBuf::from("/lib/modules").join(rel).join("modules.dep").exists() {
            continue;
        }
        releases.push(rel.to_owned());
    }
    if let Some(w) = wanted {
        releases.retain(|r| *r == w);
    }
    releases.sort_by_key(|r| version_key(r));
    let Some(release) = releases.pop() else {
        bail!("no /boot/vmlinuz-* with modules in /lib/modules (install linux-image-amd64: `cargo xtask setup`)");
    };
    Ok(Kernel {
        vmlinuz: PathBuf::from(format!("/boot/vmlinuz-{release}")),
        modules_dir: PathBuf::from(format!("/lib/modules/{release}")),
        release,
    })
}

/// Orders `6.1.0-56-amd64` before `6.1.0-100-amd64`: numbers compare as numbers.
fn version_key(s: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let mut num = String::new();
        while let Some(c) = chars.peek().filter(|c| c.is_ascii_digit()) {
            num.push(*c);
            chars.next();
        }
        let mut text = String::new();
        while let Some(c) = chars.peek().filter(|c| !c.is_ascii_digit()) {
            text.push(*c);
            chars.next();
        }
        key.push((num.parse().unwrap_or(0), text));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically() {
        let mut v = vec!["6.1.0-100-amd64", "6.1.0-56-amd64", "5.10.0-9-amd64", "6.10.1-1-amd64"];
        v.sort_by_key(|r| version_key(r));
        assert_eq!(v, ["5.10.0-9-amd64", "6.1.0-56-amd64", "6.1.0-100-amd64", "6.10.1-1-amd64"]);
    }
}
