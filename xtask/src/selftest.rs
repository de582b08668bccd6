//! Harness self-test helpers: a hand-made initramfs with busybox-static as the shell of a
//! script /init and chosen kernel modules, made with `cpio -H newc` — no rdinit, no packer.
//! It proves QEMU, serial capture, input, the monitor, timeouts and the image builders
//! independently of the code under test.

use crate::cache::cached;
use crate::kernel::kernel;
use crate::util::{cmd, images_dir, remove_any, run, short_hash, tmp_sibling};
use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The module files (relative to the modules dir) needed to load `modules` of [`kernel`],
/// dependencies first, each once. Built-in modules are skipped; unknown ones are an error.
pub fn module_closure(modules: &[&str]) -> Result<Vec<String>> {
    let dir = &kernel().modules_dir;
    let dep = fs::read_to_string(dir.join("modules.dep")).context("modules.dep")?;
    let builtin = fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    let norm = |s: &str| s.replace('-', "_");
    let stem = |p: &str| norm(p.rsplit('/').next().unwrap_or(p).split(".ko").next().unwrap_or(p));
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in dep.lines() {
        let Some((path, rest)) = line.split_once(':') else { continue };
        deps.insert(stem(path), (path.to_owned(), rest.split_whitespace().map(stem).collect()));
    }
    let builtins: BTreeSet<String> = builtin.lines().map(stem).collect();
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        m: &str,
        deps: &BTreeMap<String, (String, Vec<String>)>,
        builtins: &BTreeSet<String>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) -> Result<()> {
        if !seen.insert(m.to_owned()) {
            return Ok(());
        }
        let Some((path, ds)) = deps.get(m) else {
            if builtins.contains(m) {
                return Ok(());
            }
            bail!("module {m} is neither in modules.dep nor built in");
        };
        for d in ds {
            visit(d, deps, builtins, seen, order)?;
        }
        order.push(path.clone());
        Ok(())
    }
    for m in modules {
        visit(&norm(m), &deps, &builtins, &mut seen, &mut order)?;
    }
    Ok(order)
}

/// An initramfs whose /init is a busybox sh script: it installs the applets, mounts /proc,
/// /sys, /dev (devtmpfs), loads `modules` (with their dependencies, from [`kernel`]), prints
/// `SELFTEST init ready`, then runs `script`. Built once per process per content.
pub fn busybox_initramfs(name: &str, modules: &[&str], script: &str) -> PathBuf {
    let key = short_hash(&[name, &modules.join(","), script]);
    let out = images_dir().join(format!("selftest-{name}-{key}.cpio"));
    cached(&format!("selftest initramfs {}", out.display()), || {
        let files = module_closure(modules)?;
        let stage = images_dir().join("trees").join(format!("selftest-{name}"));
        remove_any(&stage)?;
        for d in ["bin", "dev", "proc", "sys", "run", "tmp", "etc", "newroot", "mnt"] {
            fs::create_dir_all(stage.join(d))?;
        }
        fs::copy("/bin/busybox", stage.join("bin/busybox")).context("copying /bin/busybox")?;
        let mods_root = Path::new("lib/modules").join(&kernel().release);
        let mut list = String::new();
        for f in &files {
            let dest = stage.join(&mods_root).join(f);
            fs::create_dir_all(dest.parent().unwrap())?;
            fs::copy(kernel().modules_dir.join(f), &dest)?;
            list.push_str(&format!("/{}\n", mods_root.join(f).display()));
        }
        fs::write(stage.join("etc/modules.load"), list)?;
        let init = format!(
            "#!/bin/busybox sh\n\
             /bin/busybox --install -s /bin\n\
             export PATH=/bin\n\
             mount -t proc proc /proc\n\
             mount -t sysfs sysfs /sys\n\
             mount -t devtmpfs devtmpfs /dev\n\
             while read -r m; do insmod \"$m\" || echo \"SELFTEST insmod $m failed\"; done < /etc/modules.load\n\
             echo 'SELFTEST init ready'\n\
             {script}\n\
             echo 'SELFTEST script ended'\n\
             poweroff -f\n"
        );
        fs::write(stage.join("init"), init)?;
        fs::set_permissions(stage.join("init"), fs::Permissions::from_mode(0o755))?;
        let tmp = tmp_sibling(&out);
        run(cmd("sh")?.current_dir(&stage).arg("-c").arg(format!(
            "find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > '{}'",
            tmp.display()
        )))?;
        fs::rename(&tmp, &out)?;
        Ok(out.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_orders_dependencies_first() {
        let c = module_closure(&["ext4", "virtio_blk", "virtio-pci"]).unwrap();
        let pos = |m: &str| c.iter().position(|p| p.ends_with(&format!("/{m}.ko"))).unwrap_or_else(|| panic!("{m} in {c:?}"));
        assert!(pos("jbd2") < pos("ext4"));
        assert!(pos("virtio") < pos("virtio_blk"));
        assert!(pos("virtio_ring") < pos("virtio_pci"));
        assert_eq!(c.iter().filter(|p| p.ends_with("/virtio.ko")).count(), 1);
        assert!(module_closure(&["no_such_module"]).is_err());
    }
}
