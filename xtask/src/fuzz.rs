//! `cargo xtask fuzz`: every cargo-fuzz target of `fuzz/` for a few seconds, failing on any
//! crash, panic (a failed property) or hang. Installs what it needs: the nightly toolchain
//! (through rustup) and cargo-fuzz at a pinned version.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::util::workspace;

/// The cargo-fuzz release the targets were written against; installed when missing.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Seconds per target in `cargo xtask test`: 11 targets fit about 4 minutes with the build.
pub const CI_SECONDS: u32 = 20;

/// An input that runs longer than this is a hang, reported like a crash.
const HANG_SECONDS: u32 = 10;

/// cargo-fuzz's build options, the same for building and running (else it rebuilds):
/// no sanitizer, since the parsers hold no `unsafe` for one to check, and it halves the
/// executions per second; debug assertions on, so integer overflow panics.
const BUILD_FLAGS: [&str; 3] = ["--sanitizer=none", "--debug-assertions", "--release"];

/// What one target's run found.
pub struct TargetRun {
    pub target: String,
    pub ok: bool,
    /// libFuzzer's final `#N DONE cov: … ft: … corp: …` line, or the crash report.
    pub summary: String,
}

fn fuzz_dir() -> PathBuf {
    workspace().join("fuzz")
}

/// The targets: every `fuzz/fuzz_targets/NAME.rs`, in name order.
pub fn targets() -> Result<Vec<String>> {
    let dir = fuzz_dir().join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".rs").map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// `cargo +nightly …` through rustup's proxy. The variables cargo set for xtask itself
/// would pin the stable toolchain's cargo and rustc: dropped.
fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly");
    for v in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN", "RUSTFLAGS", "CARGO_TARGET_DIR"] {
        c.env_remove(v);
    }
    c
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Installs the nightly toolchain and cargo-fuzz when missing (cargo-fuzz only drives
/// cargo; its version does not change the targets' code).
pub fn setup() -> Result<()> {
    if !succeeds(nightly_cargo().arg("--version")) {
        eprintln!("xtask fuzz: installing the nightly toolchain (rustup)");
        let status = Command::new("rustup")
            .args(["toolchain", "install", "nightly", "--profile", "minimal"])
            .status()
            .context("running rustup (cargo-fuzz needs a nightly toolchain)")?;
        if !status.success() {
            bail!("rustup toolchain install nightly failed ({status})");
        }
    }
    let version = nightly_cargo().args(["fuzz", "--version"]).output();
    let have = version.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    if have != format!("cargo-fuzz {CARGO_FUZZ_VERSION}") {
        eprintln!(
            "xtask fuzz: installing cargo-fuzz {CARGO_FUZZ_VERSION} (found: {})",
            if have.is_empty() { "none" } else { &have }
        );
        let status = Command::new("cargo")
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION])
            .status()
            .context("running cargo install cargo-fuzz")?;
        if !status.success() {
            bail!("cargo install cargo-fuzz {CARGO_FUZZ_VERSION} failed ({status})");
        }
    }
    Ok(())
}

/// Builds every target once (a run would otherwise build them one by one).
pub fn build() -> Result<()> {
    let status = nightly_cargo()
        .current_dir(workspace())
        .args(["fuzz", "build"])
        .args(BUILD_FLAGS)
        .status()
        .context("running cargo fuzz build")?;
    if !status.success() {
        bail!("cargo +nightly fuzz build failed ({status})");
    }
    Ok(())
}

/// The last line of `log` that starts with one of `prefixes`.
fn last_line<'a>(log: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    log.lines().rev().find(|l| prefixes.iter().any(|p| l.contains(p)))
}

/// Runs one target for `seconds`: its working corpus is `fuzz/corpus/TARGET` (not kept in
/// git), which starts from the committed seeds in `fuzz/seeds/TARGET`; a crash is written
/// to `fuzz/artifacts/TARGET/`. The full log is `fuzz/logs/TARGET.log`.
pub fn run_target(target: &str, seconds: u32) -> Result<TargetRun> {
    let dir = fuzz_dir();
    let corpus = dir.join("corpus").join(target);
    let seeds = dir.join("seeds").join(target);
    let logs = dir.join("logs");
    if !seeds.is_dir() {
        bail!("fuzz target {target} has no seed corpus {} (fuzz/seeds/make.py writes them)", seeds.display());
    }
    for d in [&corpus, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let log_path = logs.join(format!("{target}.log"));
    let log_file = std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    let status = nightly_cargo()
        .current_dir(workspace())
        .args(["fuzz", "run"])
        .args(BUILD_FLAGS)
        .arg(target)
        .args([&corpus, &seeds])
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={HANG_SECONDS}"))
        .arg("-print_final_stats=1")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .status()
        .context("running cargo fuzz run")?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    if status.success() {
        let done = last_line(&log, &["DONE"]).unwrap_or("(no DONE line)").trim();
        return Ok(TargetRun { target: target.into(), ok: true, summary: done.into() });
    }
    // libFuzzer: "Test unit written to fuzz/artifacts/T/crash-…"; the message before it
    // says what failed (a panic's message, "deadly signal", "timeout").
    let artifact = last_line(&log, &["Test unit written to "])
        .and_then(|l| l.split("Test unit written to ").nth(1))
        .map(|p| p.trim().to_owned());
    // A panic (a failed property) names itself on the line after `panicked at`.
    let lines: Vec<&str> = log.lines().collect();
    let why = match lines.iter().position(|l| l.contains("panicked at")) {
        Some(i) => format!("{} {}", lines[i].trim(), lines.get(i + 1).map_or("", |l| l.trim())),
        None => last_line(&log, &["ERROR: libFuzzer:", "==ERROR:"]).unwrap_or("").trim().to_owned(),
    };
    let summary = match &artifact {
        Some(a) => format!(
            "CRASH ({why}); reproducer {}; rerun: cargo +nightly fuzz run {} {target} {}; log {}",
            workspace().join(a).display(),
            BUILD_FLAGS.join(" "),
            workspace().join(a).display(),
            log_path.display()
        ),
        None => format!("({status}, {why}); log {}", log_path.display()),
    };
    Ok(TargetRun { target: target.into(), ok: false, summary })
}

/// Runs `targets` (all when empty) for `seconds` each, one at a time; prints one line per
/// target and fails if any crashed.
pub fn run(targets_wanted: &[String], seconds: u32) -> Result<()> {
    let started = Instant::now();
    setup()?;
    let all = targets()?;
    for t in targets_wanted {
        if !all.contains(t) {
            bail!("no fuzz target '{t}' (targets: {})", all.join(", "));
        }
    }
    let chosen = if targets_wanted.is_empty() { all } else { targets_wanted.to_vec() };
    build()?;
    let mut failed = Vec::new();
    for t in &chosen {
        let r = run_target(t, seconds)?;
        println!("fuzz {}: {} {}", r.target, if r.ok { "ok" } else { "FAILED" }, r.summary);
        if !r.ok {
            failed.push(r.target);
        }
    }
    println!(
        "fuzz: {} targets x {seconds} s, {} failed, {:.0} s wall with the build",
        chosen.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {} (reproducers under {})",
            failed.join(", "),
            Path::new("fuzz/artifacts").display()
        );
    }
    Ok(())
}
