//! The kernel's uevent netlink socket.
use super::{nr, ret, ret_unit, syscall3, syscall5, syscall6, Errno, Fd, OwnedFd};
use linux_raw_sys::{general as g, net as n, netlink as nl};

/// Opens a `NETLINK_KOBJECT_UEVENT` socket bound to the kernel's multicast group 1.
pub fn uevent_socket() -> Result<OwnedFd, Errno> {
    // SAFETY: no memory is passed.
    let r = unsafe {
        syscall3(nr::__NR_socket as usize, n::AF_NETLINK as usize, (n::SOCK_RAW | g::O_CLOEXEC | g::O_NONBLOCK) as usize, nl::NETLINK_KOBJECT_UEVENT as usize)
    };
    let sock = ret(r).map(OwnedFd::from_raw)?;
    // A large receive buffer: a burst of coldplug events must not overflow it. FORCE goes
    // past net.core.rmem_max, as udev's does (PID 1 has CAP_NET_ADMIN); if it fails the
    // default buffer stays, and an overflow costs a rescan (Devices::wait_events).
    let size: i32 = 1 << 20;
    // SAFETY: the kernel reads one int.
    unsafe {
        syscall5(nr::__NR_setsockopt as usize, sock.fd().raw(), n::SOL_SOCKET as usize, n::SO_RCVBUFFORCE as usize, &size as *const i32 as usize, 4);
    }
    let addr = nl::sockaddr_nl { nl_family: n::AF_NETLINK as u16, nl_pad: 0, nl_pid: 0, nl_groups: 1 };
    // SAFETY: the kernel reads one sockaddr_nl of the given size.
    ret_unit(unsafe {
        syscall3(nr::__NR_bind as usize, sock.fd().raw(), &addr as *const _ as usize, core::mem::size_of::<nl::sockaddr_nl>())
    })?;
    Ok(sock)
}

/// One datagram from a non-blocking socket; `Err(AGAIN)` when none is queued.
pub fn recv(sock: Fd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes.
    ret(unsafe { syscall6(nr::__NR_recvfrom as usize, sock.raw(), buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0) })
}

/// Waits until `fd` is readable or `timeout_ms` passes: `Ok(true)` if readable.
pub fn poll_readable(fd: Fd, timeout_ms: u32) -> Result<bool, Errno> {
    let mut pfd = g::pollfd { fd: fd.0, events: g::POLLIN as i16, revents: 0 };
    // ppoll, not poll: aarch64 and riscv64 have no poll(2). The kernel writes the time left
    // back, so a retry after a signal waits only for the rest.
    let mut timeout = g::__kernel_timespec { tv_sec: (timeout_ms / 1000) as i64, tv_nsec: (timeout_ms % 1000) as i64 * 1_000_000 };
    loop {
        // SAFETY: the kernel reads and writes one pollfd and one timespec; no sigmask.
        let r = unsafe {
            syscall5(super::abi::NR_PPOLL as usize, &mut pfd as *mut _ as usize, 1, &mut timeout as *mut _ as usize, 0, 0)
        };
        match ret(r) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
            Ok(n) => return Ok(n > 0),
        }
    }
}
