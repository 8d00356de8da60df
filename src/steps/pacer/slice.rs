//! The pacer thread's request for a short time slice.
//!
//! On a host where the run's own workers share a core with the pacer (the scheduler
//! keeps threads that wake each other together), a woken pacer may wait for the rest of
//! a worker's time slice, up to about a millisecond, and every message due meanwhile
//! leaves late. Since Linux 6.12 a thread may ask for a shorter slice (100 µs is the
//! shortest granted; no privilege needed), and a waking thread with a shorter slice may
//! cut into a running one's. Earlier kernels ignore the request.
//!
//! A higher priority (nice, or a real-time policy) was measured and rejected: the
//! senders run on the pacer's thread, and ahead of the threads that read the echoes
//! (and, on the same host, the server's) they delayed the echoes themselves. At 20,000
//! msg/s over 100 clients against the simulated board in another process, nice -10
//! brought `send_lag` p99 from 80–160 µs down to 25–36 µs but raised the echo latency
//! p99 from 200–280 µs to 0.9–2.5 ms, and SCHED_FIFO to 6–9 ms. A load tool must not
//! make the server look slower to make its own timer look better.

/// The time slice asked for, in nanoseconds.
#[cfg(target_os = "linux")]
const SLICE_NS: u64 = 100_000;

/// `struct sched_attr` as `sched_setattr(2)` and `sched_getattr(2)` take it (its first
/// version, 48 bytes).
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    /// For the normal policy: the time slice asked for, in nanoseconds.
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Asks for the short slice for the calling thread, keeping its policy (normal) and its
/// nice value. Best effort: a kernel that does not know the request keeps its default.
#[cfg(target_os = "linux")]
pub fn ask_for_short_slice() {
    use nix::errno::Errno;
    use nix::libc;

    // sched_setattr sets the nice value too: keep the thread's. -1 is a valid nice
    // value, so errno tells an error apart.
    Errno::clear();
    // SAFETY: reads the calling thread's scheduling only.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
    if Errno::last_raw() != 0 {
        return;
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        nice,
        runtime: SLICE_NS,
        ..SchedAttr::default()
    };
    // SAFETY: the kernel reads `size` bytes of `attr`, which outlives the call; pid 0
    // is the calling thread.
    let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
}

#[cfg(not(target_os = "linux"))]
pub fn ask_for_short_slice() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use nix::libc;

    /// The calling thread's (policy, nice, slice in ns), as `sched_getattr(2)` reports.
    fn attr() -> (u32, i32, u64) {
        let mut attr = SchedAttr::default();
        let size = std::mem::size_of::<SchedAttr>() as u32;
        // SAFETY: the kernel writes at most `size` bytes into `attr`.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                &mut attr as *mut SchedAttr,
                size,
                0u32,
            )
        };
        assert_eq!(r, 0, "sched_getattr: {}", std::io::Error::last_os_error());
        (attr.policy, attr.nice, attr.runtime)
    }

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let mut next = || {
            parts
                .next()
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0)
        };
        (next(), next()) >= (major, minor)
    }

    /// On a thread of its own, as the pacer does: the slice is per thread.
    #[test]
    fn the_slice_is_asked_for_and_the_nice_value_kept() {
        std::thread::spawn(|| {
            // SAFETY: changes only this test thread's scheduling (lowering it is allowed).
            unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 3) };
            let (policy, nice, _) = attr();
            ask_for_short_slice();
            let (policy_after, nice_after, slice) = attr();
            assert_eq!(policy_after, policy);
            assert_eq!(nice_after, nice);
            assert_eq!(nice_after, 3);
            // Kernels before 6.12 ignore the request; later ones grant it.
            if kernel_at_least(6, 12) {
                assert_eq!(slice, SLICE_NS);
            }
        })
        .join()
        .unwrap();
    }
}
