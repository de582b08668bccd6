//! Build-once-per-process artefacts, keyed by name.
//!
//! Scenarios run on parallel test threads and share images: the first thread that asks for
//! a key builds it, the others wait for it. A failed build is remembered and reported to
//! every caller, so one broken image fails its scenarios quickly with the same message.

use anyhow::Result;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

type Cell = Arc<OnceLock<Result<PathBuf, String>>>;

static CELLS: Mutex<BTreeMap<String, Cell>> = Mutex::new(BTreeMap::new());

/// Returns the artefact for `key`, building it with `build` on first use in this process.
/// Panics (with the build's error) when the build failed.
pub(crate) fn cached(key: &str, build: impl FnOnce() -> Result<PathBuf>) -> PathBuf {
    let cell = {
        let mut cells = CELLS.lock().unwrap_or_else(|e| e.into_inner());
        cells.entry(key.to_owned()).or_default().clone()
    };
    match cell.get_or_init(|| build().map_err(|e| format!("{e:#}"))) {
        Ok(p) => p.clone(),
        Err(e) => panic!("harness: building {key} failed:\n{e}"),
    }
}
