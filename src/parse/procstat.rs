//! `/proc/PID/stat`: `PID (COMM) STATE PPID PGRP SESSION TTY TPGID FLAGS ...`.

/// `PF_KTHREAD` in the flags field (include/linux/sched.h).
const PF_KTHREAD: u32 = 0x0020_0000;

/// Whether the process is one the shutdown has to stop: a user process (not a kernel
/// thread) that has not exited (not a zombie). Its cmdline cannot tell this: it is empty
/// for kernel threads and zombies, but also for a user process in the middle of execve.
pub fn is_live_user_process(stat: &[u8]) -> bool {
    // COMM may hold spaces and parentheses: the fields start after the last ')'.
    let Some(close) = stat.iter().rposition(|&c| c == b')') else { return false };
    // The kernel separates the fields by single spaces.
    let mut fields = stat.get(close + 2..).unwrap_or(&[]).split(|&c| c == b' ');
    let state = fields.next().and_then(|f| f.first().copied()).unwrap_or(b'Z');
    let flags = fields.nth(5).and_then(super::cmdline::parse_u32).unwrap_or(PF_KTHREAD);
    state != b'Z' && state != b'X' && flags & PF_KTHREAD == 0
}

/// The kilobytes of a `/proc/meminfo` field (`Dirty`, `Writeback`), 0 if it is missing.
pub fn meminfo_kb(text: &[u8], key: &[u8]) -> u64 {
    let line = text.split(|&c| c == b'\n').find(|l| l.strip_prefix(key).is_some_and(|r| r.first() == Some(&b':')));
    let digits = line.and_then(|l| l.split(|&c| c == b' ').filter(|f| !f.is_empty()).nth(1));
    digits.and_then(super::cmdline::parse_u32).map_or(0, u64::from)
}

#[cfg(test)]
mod tests {
    #[test]
    fn meminfo_fields() {
        let text = b"MemTotal:         502356 kB\nDirty:              4096 kB\nWriteback:           12 kB\nWritebackTmp:        7 kB\n";
        assert_eq!(super::meminfo_kb(text, b"Dirty"), 4096);
        assert_eq!(super::meminfo_kb(text, b"Writeback"), 12);
        assert_eq!(super::meminfo_kb(text, b"Swap"), 0);
        assert_eq!(super::meminfo_kb(b"Dirty: x kB", b"Dirty"), 0);
    }

    use super::*;

    #[test]
    fn user_processes_kernel_threads_and_zombies() {
        // Captured on Linux 6.1.
        assert!(is_live_user_process(b"18184 (cat) R 18180 18180 16944 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0\n"));
        assert!(is_live_user_process(b"42 (a b) (c)) S 1 42 42 0 -1 4194560 5 0 0 0\n"));
        assert!(!is_live_user_process(b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0\n"));
        assert!(!is_live_user_process(b"77 (sleep) Z 1 77 77 0 -1 4227084 0 0 0 0\n"));
        assert!(!is_live_user_process(b"77 (sleep) X 1 77 77 0 -1 4227084 0 0 0 0\n"));
        // Truncated or garbled: not counted rather than signalled blindly.
        assert!(!is_live_user_process(b"77 (sleep) S 1 77"));
        assert!(!is_live_user_process(b"77 sleep S 1 77 77 0 -1 4227084"));
        assert!(!is_live_user_process(b""));
    }
}
