//! Root trees and disk images, built without mounting anything.
//!
//! Every builder writes under `target/boot-images/`, into a temporary name renamed into
//! place when complete, and at most once per process and set of parameters (later calls get
//! the same path). A new test process rebuilds, so images always match the current sources.

use crate::cache::cached;
use crate::util::{cmd, images_dir, remove_any, run, short_hash, tmp_sibling};
use anyhow::{bail, ensure, Context, Result};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// A root file system tree to turn into an image.
#[derive(Clone, Debug)]
pub struct RootTree {
    name: String,
    /// The busybox binary to install, if any.
    busybox: Option<PathBuf>,
    probe: bool,
    dirs: Vec<String>,
    files: Vec<(String, Vec<u8>, u32)>,
    symlinks: Vec<(String, String)>,
}

/// The directories of a usable root: mount points rdinit moves its mounts onto, and more.
const STANDARD_DIRS: &[&str] = &[
    "bin", "sbin", "etc", "dev", "proc", "sys", "run", "tmp", "root", "mnt", "var", "usr",
];

/// Debian's busybox-static on the host.
const HOST_BUSYBOX: &str = "/bin/busybox";

/// Busybox applets not linked: a `/bin/init` would be a fallback init of its own.
const SKIPPED_APPLETS: &[&str] = &["busybox", "init", "linuxrc"];

impl RootTree {
    /// An empty tree named `name` (built at `target/boot-images/trees/<name>`).
    pub fn new(name: &str) -> RootTree {
        RootTree {
            name: name.to_owned(),
            busybox: None,
            probe: false,
            dirs: Vec::new(),
            files: Vec::new(),
            symlinks: Vec::new(),
        }
    }

    /// The standard test root: the usual directories, busybox-static at /bin/busybox with a
    /// symlink in /bin for every applet (sh, mount, cat, ls, poweroff, ...), and the probe
    /// init (tests/guest/probe-init) as /sbin/init. No /init.
    pub fn probe(name: &str) -> RootTree {
        let mut t = RootTree::new(name).busybox(true).probe_init(true);
        for d in STANDARD_DIRS {
            t = t.dir(d);
        }
        t
    }

    /// Busybox at /bin/busybox plus applet symlinks in /bin.
    pub fn busybox(mut self, on: bool) -> RootTree {
        self.busybox = on.then(|| PathBuf::from(HOST_BUSYBOX));
        self
    }
    /// [`RootTree::busybox`] with another busybox binary, e.g. another architecture's
    /// busybox-static. The applet links are those of the host's busybox (which cannot run
    /// a foreign one), Debian's same build configuration.
    pub fn busybox_from(mut self, binary: impl Into<PathBuf>) -> RootTree {
        self.busybox = Some(binary.into());
        self
    }
    /// The probe script as /sbin/init.
    pub fn probe_init(mut self, on: bool) -> RootTree {
        self.probe = on;
        self
    }
    /// An empty directory (path relative to the root, parents created).
    pub fn dir(mut self, path: &str) -> RootTree {
        self.dirs.push(path.trim_start_matches('/').to_owned());
        self
    }
    /// A file with these contents and permission bits.
    pub fn file(mut self, path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> RootTree {
        self.files.push((path.trim_start_matches('/').to_owned(), contents.into(), mode));
        self
    }
    /// A symbolic link `path` -> `target`.
    pub fn symlink(mut self, path: &str, target: &str) -> RootTree {
        self.symlinks.push((path.trim_start_matches('/').to_owned(), target.to_owned()));
        self
    }

    /// Writes the tree (once per process) and returns its directory.
    pub fn build(&self) -> PathBuf {
        let out = images_dir().join("trees").join(&self.name);
        cached(&format!("tree {}", out.display()), || {
            fs::create_dir_all(out.parent().unwrap())?;
            let tmp = tmp_sibling(&out);
            remove_any(&tmp)?;
            self.write(&tmp).with_context(|| format!("writing tree {}", self.name))?;
            remove_any(&out)?;
            fs::rename(&tmp, &out)?;
            Ok(out.clone())
        })
    }

    fn write(&self, root: &Path) -> Result<()> {
        fs::create_dir_all(root)?;
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))?;
        for d in &self.dirs {
            fs::create_dir_all(root.join(d))?;
        }
        if let Some(bb) = &self.busybox {
            let bin = root.join("bin");
            fs::create_dir_all(&bin)?;
            fs::copy(bb, bin.join("busybox")).with_context(|| format!("copying {} (busybox-static)", bb.display()))?;
            for applet in busybox_applets(Path::new(HOST_BUSYBOX))? {
                if SKIPPED_APPLETS.contains(&applet.as_str()) {
                    continue;
                }
                symlink("busybox", bin.join(&applet))?;
            }
        }
        if self.probe {
            let sbin = root.join("sbin");
            fs::create_dir_all(&sbin)?;
            fs::write(sbin.join("init"), crate::PROBE_INIT)?;
            fs::set_permissions(sbin.join("init"), fs::Permissions::from_mode(0o755))?;
        }
        for (path, contents, mode) in &self.files {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap())?;
            fs::write(&p, contents)?;
            fs::set_permissions(&p, fs::Permissions::from_mode(*mode))?;
        }
        for (path, target) in &self.symlinks {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap())?;
            remove_any(&p)?;
            symlink(target, &p)?;
        }
        Ok(())
    }
}

/// The applets a busybox binary provides (`busybox --list`).
pub(crate) fn busybox_applets(busybox: &Path) -> Result<Vec<String>> {
    let out = run(std::process::Command::new(busybox).arg("--list"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('/'))
        .map(str::to_owned)
        .collect())
}

/// Cache path for an image of `kind` made from `dir` with `params`.
fn image_path(kind: &str, dir: &Path, params: &[&str]) -> PathBuf {
    let base = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let d = dir.to_string_lossy();
    let mut parts = vec![kind, &*d];
    parts.extend_from_slice(params);
    images_dir().join(format!("{kind}-{base}-{}.img", short_hash(&parts)))
}

/// Builds `out` once per process: `make` writes the temporary path it is given.
pub(crate) fn build_image(out: PathBuf, make: impl FnOnce(&Path) -> Result<()>) -> PathBuf {
    cached(&format!("image {}", out.display()), || {
        fs::create_dir_all(images_dir())?;
        let tmp = tmp_sibling(&out);
        remove_any(&tmp)?;
        let r = make(&tmp);
        if r.is_err() {
            let _ = remove_any(&tmp);
        }
        r.with_context(|| format!("building {}", out.display()))?;
        fs::rename(&tmp, &out)?;
        Ok(out.clone())
    })
}

/// An ext4 image of `size_mib` MiB holding `dir` (`mkfs.ext4 -d`, root owned by 0:0).
pub fn ext4_image(dir: &Path, size_mib: u64, label: &str, uuid: &str) -> PathBuf {
    ext4_image_with(dir, size_mib, label, uuid, &[])
}

/// [`ext4_image`] with more `mkfs.ext4` options (e.g. `-b 4096`: small images get 1 KiB
/// blocks, and mkfs.ext4 -d cannot make a symlink longer than a block).
pub fn ext4_image_with(dir: &Path, size_mib: u64, label: &str, uuid: &str, options: &[&str]) -> PathBuf {
    let size = size_mib.to_string();
    let mut params = vec![&*size, label, uuid];
    params.extend_from_slice(options);
    let out = image_path("ext4", dir, &params);
    build_image(out, |tmp| {
        fs::File::create(tmp)?.set_len(size_mib << 20)?;
        run(cmd("mkfs.ext4")?
            .args(["-q", "-F", "-L", label, "-U", uuid, "-E", "root_owner=0:0"])
            .args(options)
            .arg("-d")
            .arg(dir)
            .arg(tmp))?;
        Ok(())
    })
}

/// The free bytes of an ext4 image, from its superblock (`dumpe2fs -h`).
pub fn ext4_free_bytes(image: &Path) -> Result<u64> {
    let out = run(cmd("dumpe2fs")?.arg("-h").arg(image))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> Result<u64> {
        let line = text.lines().find(|l| l.starts_with(name)).with_context(|| format!("dumpe2fs: no {name:?}"))?;
        Ok(line[name.len()..].trim().parse()?)
    };
    Ok(field("Free blocks:")? * field("Block size:")?)
}

/// A FAT image of `size_mib` MiB holding `dir` (`mkfs.vfat` + `mcopy -s`), with the volume
/// id `volume_id` (seen by blkid as UUID `XXXX-XXXX`). FAT has no symlinks: mcopy copies
/// their targets, so use a tree without dangling ones.
pub fn vfat_image(dir: &Path, size_mib: u64, label: &str, volume_id: u32) -> PathBuf {
    let size = size_mib.to_string();
    let id = format!("{volume_id:08x}");
    let out = image_path("vfat", dir, &[&size, label, &id]);
    build_image(out, |tmp| {
        run(cmd("mkfs.vfat")?
            .args(["-C"])
            .arg(tmp)
            .arg((size_mib * 1024).to_string())
            .args(["-n", label, "-i", &id]))?;
        let mut entries: Vec<PathBuf> =
            fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        if !entries.is_empty() {
            run(cmd("mcopy")?
                .env("MTOOLS_SKIP_CHECK", "1")
                .args(["-s", "-p", "-Q", "-i"])
                .arg(tmp)
                .args(&entries)
                .arg("::/"))?;
        }
        Ok(())
    })
}

/// A squashfs image of `dir` (zstd, 128 KiB blocks, all files owned by root).
pub fn squashfs(dir: &Path) -> PathBuf {
    squashfs_with(dir, &["-comp", "zstd", "-b", "128K"])
}

/// A squashfs image of `dir` with extra `mksquashfs` options (compression, block size...).
pub fn squashfs_with(dir: &Path, options: &[&str]) -> PathBuf {
    let out = image_path("squashfs", dir, options);
    build_image(out, |tmp| {
        run(cmd("mksquashfs")?
            .arg(dir)
            .arg(tmp)
            .args(["-noappend", "-no-progress", "-all-root"])
            .args(options))?;
        Ok(())
    })
}

/// An EROFS image of `dir` (uncompressed, all files owned by root).
pub fn erofs(dir: &Path) -> PathBuf {
    let out = image_path("erofs", dir, &[]);
    build_image(out, |tmp| {
        run(cmd("mkfs.erofs")?.args(["--all-root", "--quiet"]).arg(tmp).arg(dir))?;
        Ok(())
    })
}

/// An ISO 9660 image of `dir` with Rock Ridge and Joliet, volume id `volid`.
pub fn iso(dir: &Path, volid: &str) -> PathBuf {
    let out = image_path("iso", dir, &[volid]);
    build_image(out, |tmp| {
        run(cmd("xorriso")?
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", volid, "-o"])
            .arg(tmp)
            .arg(dir))?;
        Ok(())
    })
}

/// The partition table of a [`partitioned_disk`].
#[derive(Clone, Debug)]
pub enum PartTable {
    /// GPT, with an optional disk GUID.
    Gpt { disk_uuid: Option<String> },
    /// MBR; PARTUUIDs are `<disk id>-<NN>`.
    Dos { disk_id: u32 },
}

/// One partition of a [`partitioned_disk`]: 1 MiB aligned, in the order given.
#[derive(Clone, Debug)]
pub struct Partition {
    /// Size in MiB; 0 = the image's size rounded up.
    pub size_mib: u64,
    /// sfdisk type: an alias (`L` Linux, `U` EFI system, `S` swap) or a GUID / MBR id.
    pub kind: String,
    /// GPT partition GUID (PARTUUID).
    pub uuid: Option<String>,
    /// GPT partition name (PARTLABEL).
    pub name: Option<String>,
    /// File system image written at the partition's start.
    pub image: Option<PathBuf>,
}

impl Partition {
    /// A Linux data partition.
    pub fn linux(size_mib: u64) -> Partition {
        Partition { size_mib, kind: "L".into(), uuid: None, name: None, image: None }
    }
    /// An EFI system partition.
    pub fn esp(size_mib: u64) -> Partition {
        Partition { kind: "U".into(), ..Partition::linux(size_mib) }
    }
    /// Sets the GPT partition GUID.
    pub fn uuid(mut self, uuid: &str) -> Partition {
        self.uuid = Some(uuid.into());
        self
    }
    /// Sets the GPT partition name.
    pub fn name(mut self, name: &str) -> Partition {
        self.name = Some(name.into());
        self
    }
    /// Writes this file system image at the partition's start.
    pub fn image(mut self, image: impl Into<PathBuf>) -> Partition {
        self.image = Some(image.into());
        self
    }
}

/// A GPT disk named `name` holding `parts` (see [`partitioned_disk`]).
pub fn gpt_disk(name: &str, parts: &[Partition]) -> PathBuf {
    partitioned_disk(name, &PartTable::Gpt { disk_uuid: None }, parts)
}

/// A raw disk image with a partition table written by `sfdisk`, each partition's image
/// copied in at its offset (`dd conv=notrunc`). Partitions start at 1 MiB and are 1 MiB
/// aligned; 1 MiB is left free at the end for the backup GPT.
pub fn partitioned_disk(name: &str, table: &PartTable, parts: &[Partition]) -> PathBuf {
    let desc = format!("{table:?} {parts:?}");
    let out = images_dir().join(format!("disk-{name}-{}.img", short_hash(&[name, &desc])));
    build_image(out, |tmp| {
        let mut script = String::new();
        match table {
            PartTable::Gpt { disk_uuid } => {
                script.push_str("label: gpt\n");
                if let Some(u) = disk_uuid {
                    script.push_str(&format!("label-id: {u}\n"));
                }
            }
            PartTable::Dos { disk_id } => {
                script.push_str(&format!("label: dos\nlabel-id: 0x{disk_id:08x}\n"));
            }
        }
        script.push_str("unit: sectors\n");
        let mut start_mib = 1u64;
        let mut placed = Vec::new();
        for p in parts {
            let img_len = match &p.image {
                Some(i) => fs::metadata(i).with_context(|| format!("{}", i.display()))?.len(),
                None => 0,
            };
            let size_mib = if p.size_mib == 0 { img_len.div_ceil(1 << 20).max(1) } else { p.size_mib };
            ensure!(
                img_len <= size_mib << 20,
                "image of {img_len} bytes does not fit a {size_mib} MiB partition"
            );
            let mut line = format!("start={}, size={}, type={}", start_mib * 2048, size_mib * 2048, p.kind);
            if let Some(u) = &p.uuid {
                line.push_str(&format!(", uuid={u}"));
            }
            if let Some(n) = &p.name {
                if n.contains('"') {
                    bail!("partition name {n:?} contains a quote");
                }
                line.push_str(&format!(", name=\"{n}\""));
            }
            script.push_str(&line);
            script.push('\n');
            placed.push((start_mib, p.image.clone()));
            start_mib += size_mib;
        }
        fs::File::create(tmp)?.set_len((start_mib + 1) << 20)?;
        let mut sfdisk = cmd("sfdisk")?;
        sfdisk.args(["--quiet", "--no-reread", "--no-tell-kernel", "--wipe", "always"]).arg(tmp);
        sfdisk_with_script(&mut sfdisk, &script)?;
        for (start, image) in placed {
            let Some(image) = image else { continue };
            run(cmd("dd")?
                .arg(format!("if={}", image.display()))
                .arg(format!("of={}", tmp.display()))
                .args(["bs=1M", &format!("seek={start}"), "conv=notrunc,sparse", "status=none"]))?;
        }
        Ok(())
    })
}

/// A newc cpio archive with its entry `name` (as the archive spells it, no leading `/`)
/// turned into an empty directory of mode `0o700`; every other byte is kept. Fails if `name`
/// is not there or holds data.
pub(crate) fn newc_as_directory(archive: &[u8], name: &str) -> Result<Vec<u8>> {
    const HEADER: usize = 110;
    let pad4 = |n: usize| (n + 3) & !3;
    let field = |h: &[u8], i: usize| -> Result<usize> {
        let text = std::str::from_utf8(&h[6 + 8 * i..14 + 8 * i])?;
        Ok(usize::from_str_radix(text, 16)?)
    };
    let mut out = archive.to_vec();
    let mut at = 0;
    loop {
        let h = archive.get(at..at + HEADER).context("newc: truncated header")?;
        ensure!(&h[..6] == b"070701", "newc: bad magic at byte {at}");
        let (filesize, namesize) = (field(h, 6)?, field(h, 11)?);
        let entry_name = archive.get(at + HEADER..at + HEADER + namesize - 1).context("newc: truncated name")?;
        if entry_name == name.as_bytes() {
            ensure!(filesize == 0, "newc: {name:?} holds data");
            // Fields 1 (mode), 9 and 10 (rdev major, minor).
            for (i, value) in [(1, 0o040700), (9, 0), (10, 0)] {
                out[at + 6 + 8 * i..at + 14 + 8 * i].copy_from_slice(format!("{value:08X}").as_bytes());
            }
            return Ok(out);
        }
        ensure!(entry_name != b"TRAILER!!!", "newc: no entry {name:?}");
        at = pad4(pad4(at + HEADER + namesize) + filesize);
    }
}

fn sfdisk_with_script(cmd: &mut std::process::Command, script: &str) -> Result<()> {
    use std::io::Write;
    use std::process::Stdio;
    let desc = crate::util::describe(cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {desc}"))?;
    child.stdin.take().unwrap().write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{desc} failed ({}) on script:\n{script}{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::cmd;

    fn small_tree(name: &str) -> PathBuf {
        RootTree::new(name)
            .dir("etc")
            .file("etc/hostname", "rdinit-test\n", 0o644)
            .file("sbin/init", "#!/bin/sh\necho hi\n", 0o755)
            .symlink("bin/sh", "busybox")
            .build()
    }

    fn stdout(c: &mut std::process::Command) -> String {
        String::from_utf8_lossy(&run(c).unwrap().stdout).into_owned()
    }

    #[test]
    fn tree_has_files_modes_and_links() {
        let t = small_tree("unit-small");
        assert_eq!(fs::read_to_string(t.join("etc/hostname")).unwrap(), "rdinit-test\n");
        let mode = fs::metadata(t.join("sbin/init")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read_link(t.join("bin/sh")).unwrap(), Path::new("busybox"));
    }

    #[test]
    fn probe_tree_has_busybox_applets_and_no_init_at_root() {
        let t = RootTree::probe("unit-probe").build();
        assert!(t.join("bin/busybox").is_file());
        for a in ["sh", "mount", "cat", "poweroff", "grep", "awk"] {
            assert_eq!(fs::read_link(t.join("bin").join(a)).unwrap(), Path::new("busybox"), "{a}");
        }
        assert!(!t.join("bin/init").exists());
        assert!(!t.join("init").exists());
        assert_eq!(fs::read_to_string(t.join("sbin/init")).unwrap(), crate::PROBE_INIT);
    }

    #[test]
    fn ext4_image_has_label_uuid_and_files() {
        let t = small_tree("unit-ext4");
        let img = ext4_image(&t, 8, "unitlabel", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert_eq!(img, ext4_image(&t, 8, "unitlabel", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"));
        assert_eq!(fs::metadata(&img).unwrap().len(), 8 << 20);
        let dump = stdout(cmd("dumpe2fs").unwrap().arg("-h").arg(&img));
        assert!(dump.contains("Filesystem volume name:   unitlabel"), "{dump}");
        assert!(dump.contains("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"), "{dump}");
        let cat = stdout(cmd("debugfs").unwrap().args(["-R", "cat /etc/hostname"]).arg(&img));
        assert_eq!(cat, "rdinit-test\n");
        let stat = stdout(cmd("debugfs").unwrap().args(["-R", "stat /sbin/init"]).arg(&img));
        assert!(stat.contains("Mode:  0755") && stat.contains("User:     0"), "{stat}");
    }

    #[test]
    fn vfat_image_has_label_and_files() {
        let t = RootTree::new("unit-vfat").file("boot/hello.txt", "hello\n", 0o644).build();
        let img = vfat_image(&t, 8, "UNITFAT", 0x1234abcd);
        let out = stdout(
            cmd("mtype").unwrap().env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&img).arg("::/boot/hello.txt"),
        );
        assert_eq!(out, "hello\n");
        let label = stdout(cmd("mlabel").unwrap().env("MTOOLS_SKIP_CHECK", "1").args(["-s", "-i"]).arg(&img).arg("::"));
        assert!(label.contains("UNITFAT"), "{label}");
    }

    #[test]
    fn gpt_disk_places_partitions() {
        let t = small_tree("unit-gpt");
        let fs_img = ext4_image(&t, 8, "unitgpt", "11111111-2222-3333-4444-555555555555");
        let disk = gpt_disk(
            "unit",
            &[
                Partition::esp(2).name("esp"),
                Partition::linux(0)
                    .uuid("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
                    .name("unit-root")
                    .image(&fs_img),
            ],
        );
        assert_eq!(fs::metadata(&disk).unwrap().len(), (1 + 2 + 8 + 1) << 20);
        let dump = stdout(cmd("sfdisk").unwrap().arg("--dump").arg(&disk));
        assert!(dump.contains("start=        6144, size=       16384"), "{dump}");
        assert!(dump.contains("uuid=AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"), "{dump}");
        assert!(dump.contains("name=\"unit-root\""), "{dump}");
        // The file system sits at 3 MiB, byte for byte.
        let disk_bytes = fs::read(&disk).unwrap();
        let fs_bytes = fs::read(&fs_img).unwrap();
        assert!(disk_bytes[3 << 20..(3 << 20) + fs_bytes.len()] == fs_bytes[..]);
    }

    #[test]
    fn squashfs_erofs_iso_build() {
        let t = small_tree("unit-ro");
        let sq = squashfs(&t);
        let list = stdout(cmd("unsquashfs").unwrap().arg("-l").arg(&sq));
        assert!(list.contains("squashfs-root/etc/hostname"), "{list}");
        let er = erofs(&t);
        let magic = &fs::read(&er).unwrap()[1024..1028];
        assert_eq!(magic, &0xE0F5E1E2u32.to_le_bytes());
        let iso_img = iso(&t, "UNITISO");
        let bytes = fs::read(&iso_img).unwrap();
        assert_eq!(&bytes[0x8001..0x8006], b"CD001");
        assert!(String::from_utf8_lossy(&bytes[0x8028..0x8048]).starts_with("UNITISO"));
    }
}
