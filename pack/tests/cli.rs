//! The rdinit-pack command line: flags, messages, and archives read back by the system's
//! GNU cpio (when installed) and built from the installed kernel (when there is one).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PACK: &str = env!("CARGO_BIN_EXE_rdinit-pack");

fn pack(dir: &Path, args: &[&str]) -> Output {
    Command::new(PACK)
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {stderr}\n{stdout}");
    (stdout, stderr)
}

fn fails(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A work dir with an init and a tiny kernel module tree `mods/5.10.0-t`.
fn workdir() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    fs::write(d.join("init"), "#!/bin/sh\n").unwrap();
    let m = d.join("mods/5.10.0-t");
    for (f, body) in [
        ("kernel/fs/ext4/ext4.ko", "ext4"),
        ("kernel/fs/jbd2/jbd2.ko", "jbd2"),
        ("kernel/lib/crc16.ko", "crc16"),
        ("kernel/crypto/crc32c_generic.ko", "crc32c"),
        ("kernel/drivers/block/virtio_blk.ko.zst", "vblk"),
    ] {
        let p = m.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    fs::write(
        m.join("modules.dep"),
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\n\
         kernel/fs/jbd2/jbd2.ko:\nkernel/lib/crc16.ko:\nkernel/crypto/crc32c_generic.ko:\n\
         kernel/drivers/block/virtio_blk.ko.zst:\n",
    )
    .unwrap();
    fs::write(m.join("modules.softdep"), "softdep ext4 pre: crc32c\n").unwrap();
    fs::write(
        m.join("modules.alias"),
        "alias crc32c crc32c_generic\nalias virtio:d00000002v* virtio_blk\n",
    )
    .unwrap();
    fs::write(
        m.join("modules.builtin"),
        "kernel/drivers/virtio/virtio_pci.ko\n",
    )
    .unwrap();
    t
}

fn has_cpio() -> bool {
    Command::new("cpio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `cpio -itv` of an uncompressed archive.
fn cpio_tv(img: &Path) -> String {
    let out = Command::new("cpio")
        .args(["-itv", "--quiet", "-F"])
        .arg(img)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_names_every_flag() {
    let out = Command::new(PACK).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--output",
        "--init",
        "--compress",
        "--kernel-release",
        "--modules-dir",
        "--module",
        "--preset",
        "--file",
        "--busybox",
        "--list",
        "--emit-list",
        "--verbose",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
}

#[test]
fn summary_verbose_and_read_back_by_gnu_cpio() {
    let t = workdir();
    let d = t.path();
    fs::write(d.join("motd"), "hi\n").unwrap();
    fs::set_permissions(d.join("motd"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::write(d.join("data"), "linked\n").unwrap();
    fs::write(
        d.join("extra.list"),
        "# extras\nnod /dev/null 0666 0 0 c 1 3\nfile /etc/a data 0644 0 0 /etc/b\nslink /etc/c a 0777 0 0\n",
    )
    .unwrap();
    let out = pack(
        d,
        &[
            "-o",
            "img.cpio",
            "--init",
            "init",
            "--modules-dir",
            "mods/5.10.0-t",
            "--module",
            "ext4",
            "--module",
            "virtio-pci",
            "--file",
            "motd:/etc/motd",
            "--list",
            "extra.list",
            "--verbose",
        ],
    );
    let (stdout, stderr) = ok(&out);
    assert_eq!(
        stderr,
        "rdinit-pack: note: built into 5.10.0-t (nothing to include): virtio_pci\n"
    );
    let size = fs::metadata(d.join("img.cpio")).unwrap().len();
    let last = stdout.lines().last().unwrap();
    assert_eq!(
        last,
        format!("img.cpio: 32 entries, 4 modules (5.10.0-t), {size} bytes uncompressed")
    );
    for want in [
        "ext4 4 bytes named",
        "jbd2 4 bytes dep of ext4",
        "crc16 5 bytes dep of ext4",
        "crc32c_generic 6 bytes softdep of ext4 (crc32c)",
        "built in: virtio_pci",
    ] {
        let squeezed: Vec<String> = stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert!(
            squeezed.iter().any(|l| l == want),
            "{want:?} not in:\n{stdout}"
        );
    }
    assert!(stdout.contains("/dev/console"), "{stdout}");

    // cpio is in the harness's package list (`cargo xtask setup`): a missing one fails the
    // test rather than passing it unread.
    assert!(has_cpio(), "no cpio(1) for the GNU cpio read-back: run `cargo xtask setup`");
    let listing = cpio_tv(&d.join("img.cpio"));
    let lines: Vec<&str> = listing.lines().collect();
    let find = |name: &str| -> &str {
        lines
            .iter()
            .find(|l| l.ends_with(&format!(" {name}")) || l.contains(&format!(" {name} -> ")))
            .unwrap_or_else(|| panic!("{name} not in\n{listing}"))
    };
    assert!(
        find("init")
            .split_whitespace()
            .take(4)
            .eq(["-rwxr-xr-x", "1", "root", "root"]),
        "{}",
        find("init")
    );
    let console: Vec<&str> = find("dev/console").split_whitespace().collect();
    assert_eq!(console[..6], ["crw-------", "1", "root", "root", "5,", "1"]);
    assert!(find("dev/null").starts_with("crw-rw-rw-"));
    assert!(find("etc/motd").starts_with("-rw-r-----"));
    assert!(find("etc/c").starts_with("lrwxrwxrwx") && find("etc/c").ends_with("etc/c -> a"));
    assert!(find("lib/modules/5.10.0-t/kernel/fs/ext4/ext4.ko").starts_with("-rw-r--r--"));
    for dir in [
        "proc",
        "sys",
        "run",
        "root",
        "tmp",
        "mnt",
        "lib/modules/5.10.0-t/kernel",
    ] {
        assert!(find(dir).starts_with("drwxr-xr-x"), "{}", find(dir));
    }
    assert!(
        lines.iter().all(|l| l.contains(" Jan  1  1970 ")),
        "{listing}"
    );
    assert!(!listing.contains("virtio_blk"));

    // Extract the regular files: contents, and the hard link as one inode.
    let x = d.join("x");
    fs::create_dir(&x).unwrap();
    let st = Command::new("cpio")
        .args(["-idm", "--quiet", "-F"])
        .arg(d.join("img.cpio"))
        .args(["etc/*", "init", "lib/*"])
        .current_dir(&x)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(fs::read_to_string(x.join("etc/motd")).unwrap(), "hi\n");
    assert_eq!(fs::read_to_string(x.join("etc/b")).unwrap(), "linked\n");
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (
        fs::metadata(x.join("etc/a")).unwrap(),
        fs::metadata(x.join("etc/b")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(
        fs::read_to_string(x.join("lib/modules/5.10.0-t/modules.dep")).unwrap(),
        "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\n\
         kernel/fs/jbd2/jbd2.ko:\nkernel/lib/crc16.ko:\nkernel/crypto/crc32c_generic.ko:\n"
    );
    assert_eq!(
        fs::read_to_string(x.join("lib/modules/5.10.0-t/modules.alias")).unwrap(),
        "alias crc32c crc32c_generic\n"
    );
    assert_eq!(x.join("init").metadata().unwrap().mode() & 0o7777, 0o755);
}

#[test]
fn errors_are_named() {
    let t = workdir();
    let d = t.path();
    fs::write(
        d.join("list.txt"),
        "# l\ndir /a 0755 0 0\n\n\n\n\nfoo /x 0 0 0\n",
    )
    .unwrap();
    let e = fails(&pack(
        d,
        &["-o", "i.cpio", "--init", "init", "--list", "list.txt"],
    ));
    assert_eq!(
        e,
        "rdinit-pack: list.txt:7: unknown type 'foo' (expected file, dir, nod, slink, pipe or sock)\n"
    );

    let e = fails(&pack(
        d,
        &[
            "-o",
            "i.cpio",
            "--init",
            "init",
            "--modules-dir",
            "mods/5.10.0-t",
            "--module",
            "virtio_bk",
        ],
    ));
    assert_eq!(
        e,
        "rdinit-pack: module 'virtio_bk' not found in mods/5.10.0-t/modules.dep (did you mean 'virtio_blk'?)\n"
    );
    assert!(!d.join("i.cpio").exists());

    let e = fails(&pack(
        d,
        &[
            "-o",
            "i.cpio",
            "--init",
            "init",
            "--kernel-release",
            "0.0.0-nonesuch",
            "--module",
            "ext4",
        ],
    ));
    assert!(
        e.starts_with("rdinit-pack: no modules for kernel 0.0.0-nonesuch: /lib/modules/0.0.0-nonesuch does not exist (installed: "),
        "{e}"
    );

    let e = fails(&pack(
        d,
        &["-o", "i.cpio", "--init", "init", "--file", "nope:/etc/nope"],
    ));
    assert!(
        e.starts_with("rdinit-pack: --file nope:/etc/nope: cannot read nope: "),
        "{e}"
    );

    let out = pack(d, &["-o", "i.cpio", "--init", "init", "--file", "init"]);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("'init' is not SRC:DEST"), "{e}");

    let out = Command::new(PACK)
        .args(["-o", "i.cpio", "--init", "init"])
        .current_dir(d)
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap();
    let e = fails(&out);
    assert!(
        e.starts_with("rdinit-pack: SOURCE_DATE_EPOCH='yesterday' is not a number of seconds"),
        "{e}"
    );

    let out = pack(
        d,
        &["-o", "i.cpio", "--init", "init", "--preset", "everything"],
    );
    assert_eq!(out.status.code(), Some(2), "clap usage error");
}

#[test]
fn source_date_epoch_and_compression_by_extension() {
    let t = workdir();
    let d = t.path();
    let run = |name: &str| {
        let out = Command::new(PACK)
            .args([
                "-o",
                name,
                "--init",
                "init",
                "--modules-dir",
                "mods/5.10.0-t",
                "--module",
                "ext4",
            ])
            .current_dir(d)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        ok(&out).0
    };
    let s = run("i.cpio.gz");
    assert!(s.contains(" bytes gzip ("), "{s}");
    let gz = fs::read(d.join("i.cpio.gz")).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    run("i.cpio.gz");
    assert_eq!(gz, fs::read(d.join("i.cpio.gz")).unwrap());
    let s = run("i.cpio.zst");
    assert!(s.contains(" bytes zstd ("), "{s}");
    assert_eq!(
        &fs::read(d.join("i.cpio.zst")).unwrap()[..4],
        &[0x28, 0xb5, 0x2f, 0xfd]
    );
    run("i.cpio");
    if has_cpio() {
        let listing = cpio_tv(&d.join("i.cpio"));
        assert!(
            listing.lines().all(|l| l.contains(" Nov 14  2023 ")),
            "{listing}"
        );
    }
}

#[test]
fn emit_list_feeds_back() {
    let t = workdir();
    let d = t.path();
    ok(&pack(
        d,
        &[
            "-o",
            "a.cpio",
            "--init",
            "init",
            "--modules-dir",
            "mods/5.10.0-t",
            "--module",
            "ext4",
            "--emit-list",
            "a.list",
        ],
    ));
    let list = fs::read_to_string(d.join("a.list")).unwrap();
    assert!(list.contains("\nnod /dev/console 0600 0 0 c 5 1\n"));
    assert!(list.contains(&format!(
        "\nfile /init {} 0755 0 0\n",
        fs::canonicalize(d.join("init")).unwrap().display()
    )));
    ok(&pack(d, &["-o", "b.cpio", "--list", "a.list"]));
    assert_eq!(
        fs::read(d.join("a.cpio")).unwrap(),
        fs::read(d.join("b.cpio")).unwrap()
    );
}

/// The first installed kernel with a modules.dep, if any.
fn installed_kernel() -> Option<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = fs::read_dir("/lib/modules")
        .ok()?
        .flatten()
        .filter(|e| e.path().join("modules.dep").is_file())
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    v.sort();
    v.pop()
}

#[test]
fn live_preset_on_the_installed_kernel() {
    // linux-image-amd64 is in the harness's package list (`cargo xtask setup`): without
    // an installed kernel this test fails, it does not pass unchecked.
    let Some((rel, dir)) = installed_kernel() else {
        panic!("no /lib/modules/*/modules.dep: run `cargo xtask setup` (linux-image-amd64)");
    };
    let dep = fs::read_to_string(dir.join("modules.dep")).unwrap();
    assert!(dep.lines().any(|l| l.starts_with("kernel/fs/ext4/ext4.ko")), "{rel} has no ext4 module");
    let t = workdir();
    let d = t.path();
    let (stdout, _) = ok(&pack(
        d,
        &[
            "-o",
            "live.cpio",
            "--init",
            "init",
            "--kernel-release",
            &rel,
            "--preset",
            "live",
            "-v",
        ],
    ));
    let why = |name: &str| -> Option<String> {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name) && l.contains(" bytes "))
            .map(|l| l.split(" bytes ").nth(1).unwrap().trim().to_string())
    };
    assert_eq!(why("ext4").as_deref(), Some("preset live"), "{stdout}");
    for m in ["jbd2", "mbcache", "crc16"] {
        assert_eq!(why(m).as_deref(), Some("dep of ext4"), "{m}: {stdout}");
    }
    let crc = why("crc32c_generic").unwrap_or_else(|| panic!("no crc32c_generic in\n{stdout}"));
    assert!(crc.starts_with("softdep of "), "{crc}");
    for m in ["loop", "squashfs", "overlay", "vfat", "isofs", "virtio_blk"] {
        if dep.contains(&format!("/{m}.ko")) {
            assert!(why(m).is_some(), "{m} missing:\n{stdout}");
        }
    }

    let img = fs::read(d.join("live.cpio")).unwrap();
    let text = String::from_utf8_lossy(&img);
    let base = format!("lib/modules/{rel}");
    for p in [
        "kernel/fs/ext4/ext4.ko",
        "kernel/fs/jbd2/jbd2.ko",
        "kernel/crypto/crc32c_generic.ko",
        "modules.dep",
        "modules.softdep",
        "modules.alias",
        "modules.builtin",
    ] {
        assert!(
            text.contains(&format!("{base}/{p}\0")),
            "{p} not in the image"
        );
    }
    if has_cpio() {
        let x = d.join("x");
        fs::create_dir(&x).unwrap();
        let st = Command::new("cpio")
            .args(["-idm", "--quiet", "-F"])
            .arg(d.join("live.cpio"))
            .arg(format!("{base}/modules.*"))
            .current_dir(&x)
            .status()
            .unwrap();
        assert!(st.success());
        let got = fs::read_to_string(x.join(&base).join("modules.dep")).unwrap();
        let ext4_line = dep
            .lines()
            .find(|l| l.starts_with("kernel/fs/ext4/ext4.ko:"))
            .unwrap();
        assert!(got.lines().any(|l| l == ext4_line));
        // Every line is the kernel's own, in the kernel's order.
        let mut it = dep.lines();
        for l in got.lines() {
            assert!(
                it.any(|k| k == l),
                "{l} out of order or not from modules.dep"
            );
        }
        assert_eq!(
            fs::read(x.join(&base).join("modules.builtin")).unwrap(),
            fs::read(dir.join("modules.builtin")).unwrap()
        );
        let sd = fs::read_to_string(x.join(&base).join("modules.softdep")).unwrap();
        assert!(
            sd.lines().any(|l| l.starts_with("softdep ext4 pre:")),
            "{sd}"
        );
    }
}
