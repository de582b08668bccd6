//! The union: overlayfs at `union` over the bundles and the changes layer.
use super::enter;
use crate::out;
use crate::sys::fs;
use crate::sys::mount;
use crate::sys::{Errno, PathBuf};
use crate::Reported;

/// Undoes [`mount_union`].
pub(super) fn undo() {
    super::detach(&[c"union"]);
}

/// Mounts overlayfs at `union`: bundles bottom to top (the last sorted is on top).
pub(super) fn mount_union(mounted: usize) -> Result<(), Reported> {
    // Layers by the short numbered links (l/N → ../bundles/NAME): 500 layers then fit in
    // mount(2)'s one page of options, which old kernels without `lowerdir+` need.
    enter(c"l")?;
    let mut opts = PathBuf::<4096>::new();
    let mut digits = [0u8; 20];
    let mut ok = opts.push(b"lowerdir=").is_ok();
    for k in (0..mounted).rev() {
        ok &= opts.push(out::format_u64(k as u64, &mut digits)).is_ok();
        ok &= opts.push(if k > 0 { b":" } else { b",upperdir=/live/memory/changes/changes,workdir=/live/memory/changes/workdir" }).is_ok();
    }
    let result = if ok { mount::mount(c"overlay", c"../union", Some(c"overlay"), 0, Some(opts.as_cstr())) } else { Err(Errno::TOOBIG) };
    let _ = fs::chdir(c"..");
    result.map_err(|e| {
        let hint: &[u8] = if e == Errno::NODEV { b" (overlay module missing from the image?)" } else { b"" };
        error!("mount overlay on /live/memory/union: %e%s", hint; e);
        Reported
    })?;
    #[cfg(feature = "activate")]
    remove_activations();
    Ok(())
}

/// What bundle activations of an earlier boot added to persistent changes must not outlive
/// the bundle: each record's additions are removed, through the union, before anything runs
/// in it (crate::activation; in a child chrooted into the union, so that the links' absolute
/// targets read as the running system wrote them). A bundle in the data dir's modules/ (or
/// picked by load=) is a boot bundle of this boot anyway: its files now come from its layer
/// (Slax's "activated again"); any other's leftovers are simply gone.
#[cfg(feature = "activate")]
fn remove_activations() {
    use crate::sys::{fs::Mapping, process};
    fs::for_each_opened(c"changes/activated", |_| true, b"changes/activated/", &mut |name, record| {
        let again: &[u8] = match crate::sys::PathBuf::<512>::from_parts(&[b"bundles/", name]).map(|b| fs::stat(b.as_cstr())) {
            Ok(Ok(_)) => b"; it is a boot bundle of this boot",
            _ => b"",
        };
        match (process::fork(), Mapping::of(record)) {
            (Ok(0), Ok(m)) if fs::chroot(c"union").and_then(|()| fs::chdir(c"/")).is_ok() => {
                info!("bundle %s, activated before this boot: %n additions removed%s", name, again; crate::activation::remove_added(name, m.bytes()));
                process::exit(0)
            }
            (Ok(0), _) => process::exit(1),
            (Ok(pid), _) => {
                let _ = process::wait(pid as i32);
            }
            // Without a child, the record stays for the next boot.
            (Err(e), _) => return error!("bundle %s: leftovers of its activation stay: fork: %e", name; e),
        }
        if let Ok(record) = crate::sys::PathBuf::<512>::from_parts(&[crate::activation::RECORDS, name]) {
            // A record that will not go is found again at the next boot, and does no harm.
            let _ = fs::unlinkat(fs::Fd::CWD, record.as_cstr(), 0);
        }
    });
}
