//! Shutdown tests (issue 4).
