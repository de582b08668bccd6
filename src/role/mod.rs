//! Roles other than booting, picked from argv[0].
#[cfg(feature = "activate")]
pub mod bundle;
pub mod modprobe;
#[cfg(feature = "shutdown")]
pub mod shutdown;
