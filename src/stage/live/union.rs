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
    // The changes layer is ours alone until the union is mounted over it.
    #[cfg(feature = "activate")]
    crate::activation::remove_earlier();
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
    })
}
