//! Tests of [`build`]: whole images from a fixture kernel, read back.

use super::*;
use crate::image::tests::read_back;
use crate::modules::tests::fixture;
use std::collections::BTreeMap;
use std::io::Write;

struct Fixture {
    _kernel: tempfile::TempDir,
    dir: tempfile::TempDir,
    modules_dir: PathBuf,
    init: PathBuf,
}

fn setup() -> Fixture {
    let kernel = fixture();
    let modules_dir = kernel.path().join("6.1.0-test");
    let dir = tempfile::tempdir().unwrap();
    let init = dir.path().join("rdinit");
    fs::write(&init, b"#!/bin/sh\necho init\n").unwrap();
    fs::set_permissions(&init, fs::Permissions::from_mode(0o700)).unwrap();
    Fixture {
        _kernel: kernel,
        dir,
        modules_dir,
        init,
    }
}

impl Fixture {
    fn opts(&self, out: &str) -> Options {
        let mut o = Options::new(self.dir.path().join(out));
        o.init = Some(self.init.clone());
        o.modules_dir = Some(self.modules_dir.clone());
        o
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(bytes).unwrap()
    } else {
        bytes.to_vec()
    }
}

/// name -> (mode, data)
fn members(path: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let raw = decompress(&fs::read(path).unwrap());
    read_back(&raw)
        .into_iter()
        .map(|m| (m.0, (m.1, m.6)))
        .collect()
}

fn names(path: &Path) -> Vec<String> {
    let raw = decompress(&fs::read(path).unwrap());
    read_back(&raw).into_iter().map(|m| m.0).collect()
}

#[test]
fn layout_and_modules() {
    let f = setup();
    let mut o = f.opts("img.cpio");
    o.modules = vec!["ext4".into(), "usb-storage".into(), "virtio_pci".into()];
    let r = build(&o).unwrap();
    assert_eq!(r.compression, Compression::None);
    assert_eq!(r.kernel_release.as_deref(), Some("6.1.0-test"));
    assert_eq!(r.builtin, ["virtio_pci"]);
    let mods: Vec<(&str, String)> = r
        .modules
        .iter()
        .map(|m| (m.name.as_str(), m.why.to_string()))
        .collect();
    assert_eq!(
        mods,
        [
            (
                "crc32c_intel",
                "softdep of ext4 (crypto-crc32c)".to_string()
            ),
            ("ext4", "named".into()),
            ("jbd2", "dep of ext4".into()),
            ("mbcache", "dep of ext4".into()),
            ("crc16", "dep of ext4".into()),
            ("crc32c_generic", "softdep of ext4 (crypto-crc32c)".into()),
            ("usb_storage", "named".into()),
            ("usbcore", "dep of usb_storage".into()),
        ]
    );
    assert_eq!(
        r.modules[1].path,
        "/lib/modules/6.1.0-test/kernel/fs/ext4/ext4.ko"
    );
    assert_eq!(r.modules[1].size, 100);

    let m = members(&o.output);
    assert_eq!(r.entries, m.len());
    assert_eq!(r.uncompressed, fs::metadata(&o.output).unwrap().len());
    assert_eq!(r.compressed, r.uncompressed);
    assert_eq!(m["init"], (0o100755, fs::read(&f.init).unwrap()));
    assert_eq!(m["dev"].0, 0o040755);
    assert_eq!(m["dev/console"].0, 0o020600);
    for d in [
        "proc",
        "sys",
        "run",
        "root",
        "tmp",
        "mnt",
        "lib",
        "lib/modules",
    ] {
        assert_eq!(m[d].0, 0o040755, "{d}");
    }
    let base = "lib/modules/6.1.0-test";
    assert_eq!(
        m[&format!("{base}/kernel/drivers/usb/storage/usb-storage.ko.xz")],
        (0o100644, vec![b'm'; 106])
    );
    assert_eq!(
        String::from_utf8(m[&format!("{base}/modules.dep")].1.clone()).unwrap(),
        "\
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/usb/core/usbcore.ko
kernel/drivers/usb/core/usbcore.ko:
"
    );
    assert_eq!(
        m[&format!("{base}/modules.builtin")].1,
        fs::read(f.modules_dir.join("modules.builtin")).unwrap()
    );
    let alias = String::from_utf8(m[&format!("{base}/modules.alias")].1.clone()).unwrap();
    assert!(alias.contains("alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage\n"));
    assert!(!alias.contains("virtio_blk") && !alias.contains(" loop"));
    let softdep = String::from_utf8(m[&format!("{base}/modules.softdep")].1.clone()).unwrap();
    assert!(softdep.contains("softdep usb-storage post: nosuchthing") && !softdep.contains("cifs"));
    // Modules not asked for stay out.
    assert!(!m
        .keys()
        .any(|k| k.contains("virtio_blk") || k.contains("uas")));

    // Parents before children; inodes sequential.
    let raw = fs::read(&o.output).unwrap();
    let got = read_back(&raw);
    for (i, e) in got.iter().enumerate() {
        assert_eq!(e.2, i as u32 + 1, "ino of {}", e.0);
        if let Some((parent, _)) = e.0.rsplit_once('/') {
            assert!(
                got[..i].iter().any(|p| p.0 == parent),
                "{} before its parent",
                e.0
            );
        }
        assert_eq!(e.4, 0, "mtime");
    }
}

#[test]
fn presets_skip_what_the_kernel_lacks() {
    let f = setup();
    let mut o = f.opts("img.cpio");
    o.presets = vec![Preset::Storage];
    let r = build(&o).unwrap();
    assert_eq!(r.builtin, ["virtio_pci", "xhci_pci"]);
    assert_eq!(
        r.skipped,
        [
            "virtio_mmio",
            "virtio_scsi",
            "sd_mod",
            "sr_mod",
            "ahci",
            "nvme",
            "ehci_pci"
        ]
    );
    let mods: Vec<&str> = r.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        mods,
        ["usb_storage", "uas", "usbcore", "virtio_blk", "virtio_ring"]
    );
    assert!(r.notes.contains(
        &"not in 6.1.0-test, skipped: virtio_mmio, virtio_scsi, sd_mod, sr_mod, ahci, nvme, ehci_pci"
            .to_string()
    ));

    let mut o = f.opts("all.cpio");
    o.presets = vec![Preset::All, Preset::Live];
    o.modules = vec!["loop".into()];
    let r = build(&o).unwrap();
    assert_eq!(r.modules.len(), 14);
    let lp = r.modules.iter().find(|m| m.name == "loop").unwrap();
    assert_eq!(lp.why, Why::Named);
    let md5 = r.modules.iter().find(|m| m.name == "md5").unwrap();
    assert_eq!(md5.why, Why::Preset("all".into()));
}

#[test]
fn errors_name_the_thing() {
    let f = setup();
    let mut o = f.opts("img.cpio");
    o.modules = vec!["virtio_bk".into()];
    let e = format!("{:#}", build(&o).unwrap_err());
    assert_eq!(
        e,
        format!(
            "module 'virtio_bk' not found in {} (did you mean 'virtio_blk'?)",
            f.modules_dir.join("modules.dep").display()
        )
    );
    assert!(!o.output.exists());

    let list = f.path("list.txt");
    fs::write(&list, "dir /a 0755 0 0\n\nfoo /x\n").unwrap();
    let mut o = f.opts("img.cpio");
    o.lists = vec![list.clone()];
    let e = format!("{:#}", build(&o).unwrap_err());
    assert_eq!(
        e,
        format!(
            "{}:3: unknown type 'foo' (expected file, dir, nod, slink, pipe or sock)",
            list.display()
        )
    );

    fs::write(&list, "file /bin/x ./no/such/file 0755 0 0\n").unwrap();
    let e = format!("{:#}", build(&o).unwrap_err());
    assert!(
        e.starts_with(&format!(
            "{}:1: '/bin/x': cannot read ./no/such/file",
            list.display()
        )),
        "{e}"
    );

    let mut o = f.opts("img.cpio");
    o.init = Some(f.path("nope"));
    let e = format!("{:#}", build(&o).unwrap_err());
    assert!(
        e.starts_with(&format!(
            "--init {0}: cannot read {0}",
            f.path("nope").display()
        )),
        "{e}"
    );

    let mut o = f.opts("img.cpio.xz");
    o.modules_dir = None;
    let e = format!("{:#}", build(&o).unwrap_err());
    assert!(e.starts_with("cannot write .xz"), "{e}");

    let mut o = f.opts("img.cpio");
    o.modules_dir = Some(f.path("empty"));
    let e = format!("{:#}", build(&o).unwrap_err());
    assert!(e.contains("empty/modules.dep"), "{e}");
}

#[test]
fn reproducible_and_compressed() {
    let f = setup();
    let mut plain = None;
    for (name, c) in [
        ("a.cpio", Compression::None),
        ("a.cpio.gz", Compression::Gzip),
        ("a.cpio.zst", Compression::Zstd),
    ] {
        let mut o = f.opts(name);
        o.modules = vec!["ext4".into()];
        o.mtime = 1_700_000_000;
        let r1 = build(&o).unwrap();
        assert_eq!(r1.compression, c);
        let first = fs::read(&o.output).unwrap();
        // Touch the sources' mtimes: nothing of the host's time may leak in.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        fs::File::options()
            .write(true)
            .open(&f.init)
            .unwrap()
            .set_modified(later)
            .unwrap();
        let r2 = build(&o).unwrap();
        let second = fs::read(&o.output).unwrap();
        assert_eq!(first, second, "{name} differs between builds");
        assert_eq!(r1.compressed, first.len() as u64);
        assert_eq!(r1.uncompressed, r2.uncompressed);
        let raw = decompress(&first);
        assert_eq!(raw.len() as u64, r1.uncompressed);
        assert!(read_back(&raw).iter().all(|m| m.4 == 1_700_000_000));
        match &plain {
            None => plain = Some(raw),
            Some(p) => assert_eq!(p, &raw, "{name} holds a different archive"),
        }
        if c != Compression::None {
            assert!(r1.compressed < r1.uncompressed);
        }
    }
    // Forced compression beats the extension.
    let mut o = f.opts("b.img");
    o.compress = Some(Compression::Gzip);
    build(&o).unwrap();
    assert!(fs::read(&o.output).unwrap().starts_with(&[0x1f, 0x8b]));
}

#[test]
fn zstd_output_does_not_depend_on_worker_count() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let enc = |workers: u32| {
        let mut z = zstd::Encoder::new(Vec::new(), Compression::Zstd.default_level()).unwrap();
        z.include_checksum(true).unwrap();
        z.multithread(workers).unwrap();
        z.write_all(&data).unwrap();
        z.finish().unwrap()
    };
    assert_eq!(enc(1), enc(2));
    assert_eq!(enc(1), enc(4));
}

#[test]
fn files_busybox_and_lists() {
    let f = setup();
    let src = f.path("tool");
    fs::write(&src, b"tool").unwrap();
    fs::set_permissions(&src, fs::Permissions::from_mode(0o750)).unwrap();
    let bb = f.path("busybox");
    fs::write(&bb, b"#!/bin/sh\n").unwrap();
    let data = f.path("data");
    fs::write(&data, b"shared").unwrap();
    let list = f.path("extra.list");
    fs::write(
        &list,
        format!(
            "# extras\ndir /dev 0700 0 0\nnod /dev/null 0666 0 0 c 1 3\n\
             file /etc/a {} 0640 0 0 /etc/b /usr/share/c\nslink /etc/link a 0777 0 0\n",
            data.display()
        ),
    )
    .unwrap();
    let mut o = f.opts("img.cpio");
    o.modules_dir = None;
    o.files = vec![
        format!("{}:/usr/local/bin/", src.display())
            .parse()
            .unwrap(),
        format!("{}:opt/x/tool2", src.display()).parse().unwrap(),
    ];
    o.busybox = Some(bb);
    o.lists = vec![list.clone()];
    let r = build(&o).unwrap();
    assert!(r.modules.is_empty() && r.kernel_release.is_none());
    assert!(
        r.notes.iter().any(|n| n.starts_with(&format!(
            "'/dev' from {}:2 replaces the default directory",
            list.display()
        ))),
        "{:?}",
        r.notes
    );
    let m = members(&o.output);
    assert_eq!(m["usr/local/bin/tool"], (0o100750, b"tool".to_vec()));
    assert_eq!(m["opt/x/tool2"].0, 0o100750);
    assert_eq!(m["opt"].0, 0o040755);
    assert_eq!(m["bin/busybox"].0, 0o100755);
    assert_eq!(m["bin/sh"], (0o120777, b"busybox".to_vec()));
    assert_eq!(m["dev"].0, 0o040700);
    assert_eq!(m["dev/null"].0, 0o020666);
    assert_eq!(m["dev/console"].0, 0o020600);
    assert_eq!(m["etc/link"], (0o120777, b"a".to_vec()));
    assert!(!m.contains_key("lib"));
    // Hard links: one inode, data on the last name.
    let raw = fs::read(&o.output).unwrap();
    let got = read_back(&raw);
    let group: Vec<_> = got
        .iter()
        .filter(|e| ["etc/a", "etc/b", "usr/share/c"].contains(&e.0.as_str()))
        .collect();
    assert_eq!(group.len(), 3);
    assert!(group.iter().all(|e| e.2 == group[0].2 && e.3 == 3));
    assert_eq!(group[2].0, "usr/share/c");
    assert_eq!(group[2].6, b"shared");
    assert!(group[0].6.is_empty() && group[1].6.is_empty());

    // Two user entries at one path are an error naming both.
    let mut o2 = o.clone();
    o2.files = vec![format!("{}:/etc/a", src.display()).parse().unwrap()];
    let e = format!("{:#}", build(&o2).unwrap_err());
    assert_eq!(
        e,
        format!(
            "'/etc/a' is added twice: as a file by {}:4 and as a file by --file {}:/etc/a",
            list.display(),
            src.display()
        )
    );
}

#[test]
fn file_spec_parsing() {
    let s: FileSpec = "a:b:/etc/x".parse().unwrap();
    assert_eq!((s.src, s.dest.as_str()), (PathBuf::from("a:b"), "/etc/x"));
    let s: FileSpec = "/x/y.conf:/etc/".parse().unwrap();
    assert_eq!(s.dest, "/etc/y.conf");
    assert!("nocolon".parse::<FileSpec>().is_err());
    assert!("a:".parse::<FileSpec>().is_err());
    assert!("a:/../x".parse::<FileSpec>().is_err());
}

#[test]
fn emitted_list_rebuilds_the_same_image() {
    let f = setup();
    let list = f.path("in.list");
    let data = f.path("data");
    fs::write(&data, b"shared").unwrap();
    fs::write(
        &list,
        format!(
            "file /etc/a {} 0640 0 0 /etc/b\nsock /run/s 0600 0 0\npipe /run/p 0600 0 0\nnod /dev/sda 0660 0 6 b 8 0\n",
            data.display()
        ),
    )
    .unwrap();
    let mut o = f.opts("one.cpio");
    o.modules = vec!["uas".into()];
    o.lists = vec![list];
    o.emit_list = Some(f.path("image.list"));
    o.mtime = 42;
    build(&o).unwrap();
    let text = fs::read_to_string(f.path("image.list")).unwrap();
    assert!(
        text.contains("\nnod /dev/console 0600 0 0 c 5 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\ndir /lib/modules/6.1.0-test 0755 0 0\n"),
        "{text}"
    );
    let dep = f.path("image.list.d/lib/modules/6.1.0-test/modules.dep");
    assert!(text.contains(&format!(
        "\nfile /lib/modules/6.1.0-test/modules.dep {} 0644 0 0\n",
        fs::canonicalize(&dep).unwrap().display()
    )));
    assert!(text.contains(" 0640 0 0 /etc/b\n"), "{text}");

    // The list alone makes the same archive.
    let mut again = Options::new(f.path("two.cpio"));
    again.lists = vec![f.path("image.list")];
    again.mtime = 42;
    let r = build(&again).unwrap();
    assert!(r.modules.is_empty());
    assert_eq!(
        fs::read(f.path("one.cpio")).unwrap(),
        fs::read(f.path("two.cpio")).unwrap()
    );
    assert_eq!(names(&f.path("two.cpio"))[0], "dev");
}

#[test]
fn elf_checks() {
    // A minimal ELF64 LE header with one PT_INTERP program header.
    let mut elf = vec![0u8; 0x100];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 1;
    elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
    elf[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
    elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
    elf[0x40..0x44].copy_from_slice(&3u32.to_le_bytes());
    elf[0x48..0x50].copy_from_slice(&0xa0u64.to_le_bytes());
    elf[0x60..0x68].copy_from_slice(&11u64.to_le_bytes());
    elf[0xa0..0xab].copy_from_slice(b"/lib/ld.so\0");
    assert_eq!(elf_interpreter(&elf).as_deref(), Some("/lib/ld.so"));
    elf[0x40] = 1; // PT_LOAD: static
    assert_eq!(elf_interpreter(&elf), None);
    if let Ok(exe) = std::env::current_exe() {
        // The test binary itself is a dynamically linked host program.
        let note = check_executable(&exe, "/init").unwrap_or_default();
        assert!(note.contains("dynamically linked"), "{note}");
    }
}

/// `debugfs -R REQUEST IMAGE`'s output (e2fsprogs, installed by xtask setup).
fn debugfs(image: &Path, request: &str) -> String {
    let out = std::process::Command::new("debugfs")
        .args(["-R", request])
        .arg(image)
        .output()
        .expect("debugfs (e2fsprogs) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ext2_initrd_holds_the_init_at_both_names_and_the_modules() {
    let f = setup();
    let mut o = f.opts("initrd.ext2.gz");
    o.format = Format::Ext2;
    o.modules = vec!["ext4".into()];
    build(&o).unwrap();
    let raw = decompress(&fs::read(f.path("initrd.ext2.gz")).unwrap());
    // ext2's magic at byte 1080: the kernel's rd_load_image looks for it there.
    assert_eq!(&raw[1080..1082], &[0x53, 0xef]);
    let image = f.path("initrd.ext2");
    fs::write(&image, &raw).unwrap();
    let fsck = std::process::Command::new("e2fsck").args(["-fn"]).arg(&image).output().unwrap();
    assert!(fsck.status.success(), "e2fsck: {}", String::from_utf8_lossy(&fsck.stdout));
    assert_eq!(debugfs(&image, "cat /init").as_bytes(), fs::read(&f.init).unwrap());
    assert!(debugfs(&image, "stat /sbin/init").contains("Fast link dest: \"../init\""));
    for dir in ["/dev", "/proc", "/sys", "/run", "/root"] {
        assert!(debugfs(&image, &format!("stat {dir}")).contains("Type: directory"), "{dir}");
    }
    let listing = debugfs(&image, "ls -p /lib/modules/6.1.0-test");
    assert!(listing.contains("modules.dep"), "{listing}");
    assert!(debugfs(&image, "stat /init").contains("Mode:  0755"));
}
