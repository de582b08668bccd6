//! rdinit's test and dev harness, shared by `tests/boot.rs`, `cargo xtask demo` and
//! (later) `cargo xtask bench`.
//!
//! - [`setup`] installs the Debian packages the harness drives.
//! - [`kernel`] finds Debian's kernel, [`tools`] builds `rdinit` and `rdinit-pack` once per
//!   process, [`Pack`] runs the packer.
//! - [`arch`] builds the init for every architecture and fetches Debian's kernel and
//!   busybox-static for each ([`arch::board`]); [`Qemu::board`] boots them.
//! - [`RootTree`], [`ext4_image`], [`vfat_image`], [`gpt_disk`], [`squashfs`], [`erofs`],
//!   [`iso`] build disk images without mounting anything; every artefact lives under
//!   `target/boot-images/` and is built at most once per process.
//! - [`Qemu`] boots one machine (TCG only) and returns its [`BootLog`]; at most
//!   [`max_parallel_qemus`] run at once, across processes.
//! - [`kbuild`] builds Linux from Debian's source package, small and without modules, with
//!   a gen_init_cpio list (rdinit built in) as its initramfs.
//! - [`fixtures`] are the images the boot scenarios share.
//! - [`fuzz`] runs the cargo-fuzz targets of `fuzz/`.
//! - [`demo`] is `cargo xtask demo`: a live system to play with, or its scripted session.
//!
//! Harness functions that return paths panic with a full explanation when something cannot
//! be built: they are meant for tests.

pub mod arch;
pub mod bench;
mod debian;
mod cache;
pub mod demo;
pub mod fixtures;
pub mod fuzz;
mod images;
pub mod kbuild;
mod kernel;
pub mod live_fixtures;
mod pack;
mod qemu;
pub mod selftest;
mod setup;
pub mod systemd;
mod util;

pub use images::{
    erofs, ext4_image, gpt_disk, iso, partitioned_disk, squashfs, squashfs_with, vfat_image,
    PartTable, Partition, RootTree,
};
pub use kernel::{kernel, Kernel};
pub use pack::{pack, run_pack, tools, try_tools, Pack, Tools};
pub use qemu::{max_parallel_qemus, BootLog, Drive, Outcome, Qemu};
pub use setup::{missing_packages, setup, PACKAGES};
pub use util::{images_dir, tool, workspace};

/// The probe init (tests/guest/probe-init), installed as /sbin/init by [`RootTree::probe`].
pub const PROBE_INIT: &str = include_str!("../../tests/guest/probe-init");
