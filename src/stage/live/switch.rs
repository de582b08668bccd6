//! The switch into the union: /live becomes `/`, the union is pivoted onto it, and the
//! initramfs is emptied.
use super::enter;
use crate::stage::{root, switch, Boot};
use crate::sys::{fs, mount};
use crate::{out, report, Reported};
use core::ffi::CStr;

/// /live becomes `/` (move + chroot), then `pivot_root` puts the union at `/` and /live at
/// /run/initramfs; the initramfs is emptied through a saved fd; then init is exec'd.
pub(super) fn switch_live(boot: &mut Boot, init: &CStr) -> Result<Reported, Reported> {
    let old_root = switch::open_old_root()?;
    out::stage(b"live: switching root");
    root::report_syscalls();
    for d in crate::sys::cstr::packed(b"union/dev\0union/proc\0union/sys\0union/run\0") {
        let _ = fs::mkdir(d, 0o755);
    }
    crate::sys::mount::make_private();
    switch::move_api_mounts(b"/live/memory/union");
    switch::enter_root(c"/live")?;
    // Now /live is `/`; the union sits at /memory/union and /run inside it.
    let _ = fs::mkdir(c"/memory/union/run/initramfs", 0o755);
    enter(c"/memory/union")?;
    mount::pivot_root(c".", c"run/initramfs").map_err(|e| report(b"pivot_root into", b"/memory/union", e))?;
    enter(c"/")?;
    old_root.clear();
    crate::out::open_console();
    Ok(root::exec_init(boot, init))
}
