//! Roles other than booting, picked from argv[0].
#[cfg(feature = "shutdown")]
pub mod shutdown;
