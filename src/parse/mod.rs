//! Pure parsers: `&[u8]` in, borrowed values out, no allocation, no panics, no I/O.
//! Everything the boot reads from the kernel or from disks is decoded here, so it can be
//! unit-tested on the host against real captures in `tests/fixtures/`.
// A trap in PID 1 panics the kernel with no message: keep the boot path free of panics.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub(crate) mod bytes;
pub mod cmdline;
pub mod modules;
pub mod mountinfo;
pub mod partition;
pub mod pattern;
pub mod procstat;
pub mod superblock;
pub mod text;
pub mod uevent;

#[cfg(test)]
mod robustness;

pub use text::Text;
