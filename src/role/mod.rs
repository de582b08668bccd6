//! Roles other than booting, picked from argv[0].
pub mod modprobe;
#[cfg(feature = "shutdown")]
pub mod shutdown;
