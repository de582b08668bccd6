//! rdinit: the init that the kernel runs as `/init` from an initramfs.
//!
//! The library holds everything but the startup glue, so that the parsers can be unit-tested
//! on the host. `src/sys/` is the only place with `unsafe`.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

pub mod parse;
