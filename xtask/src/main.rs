//! `cargo xtask setup | build | test | fuzz | demo | bench`

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::process::{Command, ExitCode};
use xtask::arch::{Arch, Features};
use xtask::setup;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "rdinit's dev and test automation")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the Debian packages the harness needs (QEMU, kernel, busybox, image tools),
    /// and the nightly toolchain with cargo-fuzz for the fuzz targets.
    Setup,
    /// Build the init for one architecture and print the binary's path (with --strip, a
    /// stripped copy's). x86_64 uses the installed toolchain; aarch64, armv7 (Thumb-2) and
    /// riscv64 Debian's rustc-web with -Z build-std and the cross gcc as linker (`cargo xtask
    /// setup` installs them).
    Build {
        /// aarch64, armv7, riscv64 or x86_64.
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// The root=-only build (`--no-default-features`).
        #[arg(long)]
        root_only: bool,
        /// Print the path of a stripped copy (`<binary>.stripped`) instead.
        #[arg(long)]
        strip: bool,
    },
    /// Build Linux (Debian's linux-source-6.1, small config, no modules; cached under
    /// /var/cache/rdinit/kbuild) with a gen_init_cpio list built in (`rdinit-pack
    /// --emit-list`), or none; print the bootable image's path and the compressed size.
    Kernel {
        /// x86_64 or aarch64.
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// The gen_init_cpio list for CONFIG_INITRAMFS_SOURCE.
        #[arg(long, value_name = "FILE")]
        list: Option<std::path::PathBuf>,
    },
    /// Setup, then `cargo test --workspace --no-fail-fast`: unit tests of all crates and the
    /// QEMU boot tests; without arguments, the x86_64 boot and live tests again on trixie's
    /// kernel, then every fuzz target briefly (`cargo xtask fuzz`).
    Test {
        /// Passed to `cargo test` (e.g. `-- root_label` to run one scenario).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Every cargo-fuzz target of fuzz/ (nightly; installs cargo-fuzz) for a while each;
    /// fails on a crash, naming the target and the reproducer.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = xtask::fuzz::CI_SECONDS)]
        seconds: u32,
        /// Targets to run (default: all).
        targets: Vec<String>,
    },
    /// Setup, build the images, boot a Slax-style live system with rdinit in QEMU into a shell
    /// on this terminal, twice (the second boot shows the changes of the first). Without a
    /// terminal on stdin, a scripted session that checks itself (exit status = result).
    Demo {
        /// The older demo instead: a root= boot of an ext4 disk into a probe init.
        #[arg(long)]
        root: bool,
        /// Empty the persistent changes (target/demo/changes.img) first.
        #[arg(long)]
        fresh: bool,
        /// Extra kernel command line parameters.
        #[arg(long, default_value = "")]
        append: String,
    },
    /// Boot-time benchmark: rdinit vs a busybox shell peer, the module floor, Debian's initramfs-tools.
    #[command(long_about = xtask::bench::LONG_ABOUT)]
    Bench(xtask::bench::BenchArgs),
}

/// `cargo test ARGS EXTRA` in the workspace, on another Debian suite's kernel when `suite`
/// names one; whether it passed.
fn cargo_test(args: &[&str], extra: &[String], suite: Option<&str>) -> Result<bool> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(xtask::workspace()).arg("test").args(args).args(extra);
    if let Some(suite) = suite {
        cmd.env("RDINIT_KERNEL_SUITE", suite);
    }
    Ok(cmd.status().context("running cargo test")?.success())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    match Cli::parse().cmd {
        Cmd::Setup => {
            setup()?;
            xtask::fuzz::setup()?;
            println!("xtask setup: all of {} installed", xtask::PACKAGES.join(" "));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Test { args } => {
            setup()?;
            // Every crate's tests run even when an earlier test binary failed.
            let mut ok = cargo_test(&["--workspace", "--no-fail-fast"], &args, None)?;
            if args.is_empty() {
                // The whole run boots the x86_64 root= and live suites a second time on
                // trixie's 6.12 kernel (.ko.xz modules, merged /usr, the new mount API), as
                // well as on the installed bookworm 6.1 above.
                println!("xtask test: the x86_64 boot and live suites again, on trixie's kernel");
                ok &= cargo_test(&["--no-fail-fast", "--test", "boot", "--test", "live"], &[], Some("trixie"))?;
                // Then every fuzz target briefly; it runs even after a failed test, so CI
                // reports both.
                if let Err(e) = xtask::fuzz::run(&[], xtask::fuzz::CI_SECONDS) {
                    eprintln!("xtask: {e:#}");
                    ok = false;
                }
            } else {
                println!("xtask test: arguments given; the trixie pass and the fuzz targets are skipped");
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Cmd::Build { arch, root_only, strip } => {
            let Some(arch) = Arch::from_name(&arch) else {
                anyhow::bail!("unknown architecture {arch:?}; one of: {}", Arch::ALL.map(Arch::name).join(", "));
            };
            let features = if root_only { Features::RootOnly } else { Features::Full };
            let bin = xtask::arch::build_init(arch, features)?;
            if strip {
                let out = bin.with_extension("stripped");
                let status = Command::new(arch.strip())
                    .arg("--strip-all")
                    .arg("-o")
                    .arg(&out)
                    .arg(&bin)
                    .status()
                    .with_context(|| format!("running {}", arch.strip()))?;
                anyhow::ensure!(status.success(), "{} failed ({status})", arch.strip());
                println!("{}", out.display());
            } else {
                println!("{}", bin.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kernel { arch, list } => {
            let Some(arch) = Arch::from_name(&arch) else {
                anyhow::bail!("unknown architecture {arch:?}; x86_64 or aarch64");
            };
            setup()?;
            let k = xtask::kbuild::kernel_build(arch, list.as_deref())?;
            println!("{}", k.image.display());
            eprintln!("linux {}: {} is {} bytes", k.release, k.compressed.display(), k.compressed_size()?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Fuzz { seconds, targets } => {
            xtask::fuzz::run(&targets, seconds)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo { root, fresh, append } => xtask::demo::run(root, fresh, &append),
        Cmd::Bench(args) => xtask::bench::run(&args),
    }
}
