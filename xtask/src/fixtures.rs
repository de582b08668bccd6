//! The images the boot scenarios, the demo and the benchmarks share.

use crate::cache::cached;
use crate::images::{build_image, ext4_image, gpt_disk, vfat_image, Partition, RootTree};
use crate::kernel::kernel;
use crate::pack::Pack;
use crate::util::{images_dir, remove_any, tmp_sibling};
use anyhow::Context;
use std::fs;
use std::path::PathBuf;

/// File system label of [`root_ext4`].
pub const ROOT_LABEL: &str = "rdroot";
/// File system UUID of [`root_ext4`].
pub const ROOT_UUID: &str = "3e6c1d52-7a0b-4c8e-9f21-5d4b6a8c0e17";
/// File system label of the root partition (2) of [`root_gpt`].
pub const PART_FS_LABEL: &str = "rdpart";
/// File system UUID of the root partition of [`root_gpt`].
pub const PART_FS_UUID: &str = "9b1f6e0a-2c4d-4e8f-a3b5-c7d9e1f3a5b7";
/// GPT partition GUID (PARTUUID) of the root partition of [`root_gpt`].
pub const PART_UUID: &str = "8f3a2c61-94d7-4b05-a1e2-6c7d8e9f0a1b";
/// GPT partition name (PARTLABEL) of the root partition of [`root_gpt`].
pub const PART_LABEL: &str = "rdroot-part";
/// File system label of [`noinit_ext4`].
pub const NOINIT_LABEL: &str = "noinit";
/// File system label of [`root_vfat`].
pub const VFAT_LABEL: &str = "RDVFAT";
/// Volume id of [`root_vfat`]; blkid shows it as UUID `5EED-F00D`.
pub const VFAT_ID: u32 = 0x5eedf00d;

/// The probe root tree: busybox + the probe as /sbin/init.
pub fn probe_tree() -> PathBuf {
    RootTree::probe("probe-root").build()
}

/// ext4 (32 MiB) of [`probe_tree`], label [`ROOT_LABEL`], UUID [`ROOT_UUID`].
pub fn root_ext4() -> PathBuf {
    ext4_image(&probe_tree(), 32, ROOT_LABEL, ROOT_UUID)
}

/// A GPT disk: partition 1 a 4 MiB FAT ESP (label `ESP`), partition 2 ([`PART_UUID`],
/// [`PART_LABEL`]) an ext4 of [`probe_tree`] labelled [`PART_FS_LABEL`].
pub fn root_gpt() -> PathBuf {
    let esp_tree = RootTree::new("esp").dir("EFI/BOOT").build();
    let esp = vfat_image(&esp_tree, 4, "ESP", 0x0e5b0e5b);
    let root = ext4_image(&probe_tree(), 32, PART_FS_LABEL, PART_FS_UUID);
    gpt_disk(
        "root-gpt",
        &[
            Partition::esp(4).name("esp").image(esp),
            Partition::linux(0).uuid(PART_UUID).name(PART_LABEL).image(root),
        ],
    )
}

/// ext4 (16 MiB) of a root with no init at all: no /sbin/init, /etc/init, /bin/init, /bin/sh.
pub fn noinit_ext4() -> PathBuf {
    let tree = RootTree::new("noinit-root")
        .dir("dev")
        .dir("proc")
        .dir("sys")
        .dir("run")
        .dir("sbin")
        .dir("bin")
        .file("etc/hostname", "noinit\n", 0o644)
        .build();
    ext4_image(&tree, 16, NOINIT_LABEL, "c0ffee00-1111-4222-8333-444455556666")
}

/// A FAT root (32 MiB): busybox copied as /bin/busybox and /bin/sh (FAT has no symlinks;
/// Debian's busybox sh runs its applets without them) and the probe as /sbin/init.
pub fn root_vfat() -> PathBuf {
    let bb = std::fs::read("/bin/busybox").expect("reading /bin/busybox (busybox-static)");
    let mut tree = RootTree::new("vfat-root")
        .file("bin/busybox", bb.clone(), 0o755)
        .file("bin/sh", bb, 0o755)
        .file("sbin/init", crate::PROBE_INIT, 0o755);
    for d in ["dev", "proc", "sys", "run", "tmp"] {
        tree = tree.dir(d);
    }
    vfat_image(&tree.build(), 32, VFAT_LABEL, VFAT_ID)
}

/// The root= initramfs: `--preset storage --module ext4 --module vfat`, no busybox.
pub fn initrd() -> PathBuf {
    Pack::storage("storage").build()
}

/// [`initrd`] plus `--busybox /bin/busybox` (a rescue shell).
pub fn initrd_busybox() -> PathBuf {
    Pack::storage("storage-busybox").busybox(true).build()
}

/// A 16 MiB disk of zeros: no partition table, no filesystem.
pub fn blank_disk() -> PathBuf {
    build_image(images_dir().join("blank-16m.img"), |tmp| Ok(fs::File::create(tmp)?.set_len(16 << 20)?))
}

/// The module [`initrd_compressed_module`] carries zstd-compressed.
pub const COMPRESSED_MODULE: &str = "isofs";

/// What the kernel under test decompresses in finit_module (`/sys/module/compression`):
/// `none` without CONFIG_MODULE_DECOMPRESS (bookworm's 6.1), else the one algorithm its
/// modules are compressed with (trixie's 6.12: `xz`). From the kernel's config file.
pub fn kernel_decompresses() -> &'static str {
    let k = kernel();
    let config_path = k.vmlinuz.with_file_name(format!("config-{}", k.release));
    let config = fs::read_to_string(&config_path).unwrap_or_else(|e| panic!("reading {}: {e}", config_path.display()));
    let set = |opt: &str| config.lines().any(|l| l == format!("{opt}=y"));
    if !set("CONFIG_MODULE_DECOMPRESS") {
        return "none";
    }
    [("CONFIG_MODULE_COMPRESS_XZ", "xz"), ("CONFIG_MODULE_COMPRESS_ZSTD", "zstd"), ("CONFIG_MODULE_COMPRESS_GZIP", "gzip")]
        .into_iter()
        .find(|(opt, _)| set(opt))
        .map_or("none", |(_, name)| name)
}

/// [`initrd`] from a copy of the kernel's module tree in which isofs (a leaf the root= boot
/// does not need) is `updates/isofs.ko.zst`, as a distribution that compresses its modules
/// with zstd ships it. Debian's 6.1 kernel has no CONFIG_MODULE_DECOMPRESS; trixie's 6.12
/// decompresses xz only (its own modules are .ko.xz, unpacked here with `xz -dc`).
pub fn initrd_compressed_module() -> PathBuf {
    let k = kernel();
    let dir = cached("modules-zst tree", || {
        let out = images_dir().join("modules-zst").join(&k.release);
        let tmp = tmp_sibling(&out);
        remove_any(&tmp)?;
        fs::create_dir_all(tmp.join("updates"))?;
        // The other modules, through a link to the kernel's tree.
        std::os::unix::fs::symlink(k.modules_dir.join("kernel"), tmp.join("kernel"))?;
        let compressed = format!("updates/{COMPRESSED_MODULE}.ko.zst");
        let dep = fs::read_to_string(k.modules_dir.join("modules.dep"))?;
        let original = dep
            .lines()
            .filter_map(|l| l.split_once(':').map(|(path, _)| path))
            .find(|p| p.starts_with(&format!("kernel/fs/isofs/{COMPRESSED_MODULE}.ko")))
            .with_context(|| format!("{COMPRESSED_MODULE} is not in modules.dep"))?
            .to_owned();
        let raw = if original.ends_with(".xz") {
            let mut xz = std::process::Command::new(crate::tool("xz")?);
            xz.arg("-dc").arg(k.modules_dir.join(&original));
            crate::util::run(&mut xz)?.stdout
        } else {
            fs::read(k.modules_dir.join(&original))?
        };
        fs::write(tmp.join(&compressed), zstd::encode_all(&raw[..], 19)?)?;
        for e in fs::read_dir(&k.modules_dir)? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if name.starts_with("modules.") && !name.ends_with(".bin") {
                fs::copy(k.modules_dir.join(&name), tmp.join(&name))?;
            }
        }
        let prefix = format!("{original}:");
        let dep: String = dep
            .lines()
            .map(|l| match l.strip_prefix(&prefix) {
                Some(deps) => format!("{compressed}:{deps}\n"),
                None => format!("{l}\n"),
            })
            .collect();
        fs::write(tmp.join("modules.dep"), dep)?;
        remove_any(&out)?;
        fs::create_dir_all(out.parent().context("no parent")?)?;
        fs::rename(&tmp, &out)?;
        Ok(out)
    });
    Pack::storage("storage-zst").module(COMPRESSED_MODULE).modules_dir(dir).build()
}

/// [`initrd`] on which the kernel cannot open /dev/console: it then starts /init with fds
/// 0, 1 and 2 closed ("unable to open an initial console"), as with an image without the
/// node on a kernel whose built-in initramfs lacks it too. Debian's kernel unpacks its
/// default list (which has the node) before any image, so leaving the node out is not
/// enough: the image replaces it with a directory, which open(O_RDWR) refuses.
pub fn initrd_without_console() -> PathBuf {
    let full = Pack::storage("storage-plain").compress("none").build();
    let out = images_dir().join("initrd-storage-no-console.img");
    build_image(out, |tmp| {
        let kept = crate::images::newc_as_directory(&fs::read(&full)?, "dev/console")?;
        Ok(fs::write(tmp, kept)?)
    })
}

/// Size of the file [`initrd_with_ballast`] carries.
pub const BALLAST_MIB: u64 = 32;

/// [`BALLAST_MIB`] MiB of incompressible bytes, the same every run: memory a test can watch
/// being freed.
pub fn ballast() -> PathBuf {
    build_image(images_dir().join(format!("ballast-{BALLAST_MIB}m.bin")), |tmp| {
        // xorshift64: the same bytes every run, which no compressor can shrink.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut bytes = Vec::with_capacity((BALLAST_MIB << 20) as usize);
        while bytes.len() < bytes.capacity() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        Ok(fs::write(tmp, bytes)?)
    })
}

/// [`initrd`] (uncompressed) plus `/ballast` ([`ballast`]): with root= the initramfs is
/// ramfs, whose pages show as Unevictable in /proc/meminfo until the switch deletes its
/// files.
pub fn initrd_with_ballast() -> PathBuf {
    Pack::storage("storage-ballast").compress("none").file(ballast(), "/ballast").build()
}
