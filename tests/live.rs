//! Live boot tests (issue 3): see tests/live.rs once written.
