//! The pacer thread's claim on a core.
//!
//! When the load shares its host with other busy threads (on a 2-core machine: the
//! simulated board and the run's own workers), the scheduler may hold a woken pacer
//! back for the rest of another thread's time slice, a millisecond or more, and every
//! message due meanwhile leaves late. Measured here at 20,000 msg/s over 100 clients,
//! that made `send_lag` p99 1–4 ms in about one run of five (max 30 ms), against 70–130
//! µs in the others. Two requests to the scheduler make it rare:
//!
//! - a short time slice (100 µs, the shortest Linux grants), which any thread may ask
//!   for: since Linux 6.12 a waking thread with a shorter slice may cut into a running
//!   one's;
//! - a higher priority (nice 10 below the process's), which takes `CAP_SYS_NICE` or an
//!   `RLIMIT_NICE` that allows it. With it, p99 was 18–41 µs in every run.
//!
//! The higher priority is held only while the pacer paces on time. A pacer behind its
//! plan (the load is at the client's limit) is busy running the clients' sends, and
//! ahead of the threads that read the echoes it would starve them: measured, saturation
//! throughput fell by a sixth. So it drops back to the process's priority when most
//! releases leave well after their due time, and takes the higher one again when most
//! leave on time.

use std::time::{Duration, Instant};

/// How much higher (in nice steps) the pacer runs while it paces on time.
const RAISE_BY: i32 = 10;

/// The time slice asked for, in nanoseconds.
#[cfg(target_os = "linux")]
const SLICE_NS: u64 = 100_000;

/// Releases looked at before the pacer decides again whether it paces on time.
const WINDOW: u32 = 256;

/// How long the pacer stays at the process's priority once it found itself behind. At
/// its limit a raised pacer is on time again at once (it took the cores the clients'
/// reads needed), so without a hold it would switch back and forth every window.
const HOLD_LOWERED: Duration = Duration::from_secs(1);

/// What the pacer could get from the scheduler, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Runs higher while pacing on time.
    Raised,
    /// Not permitted to run higher (no `CAP_SYS_NICE`, `RLIMIT_NICE` too low).
    Refused,
    /// This OS has no such request (only Linux does).
    Unsupported,
}

/// The pacer thread's priority and the evidence for whether it paces on time.
pub struct Priority {
    /// The process's nice value, and the higher one when permitted.
    base: i32,
    raised: Option<i32>,
    /// Whether the thread runs at `raised` now.
    high: bool,
    seen: u32,
    behind: u32,
    /// When the pacer last went back to the process's priority.
    lowered_at: Option<Instant>,
}

impl Priority {
    /// Asks for the short slice and the higher priority for the calling thread.
    pub fn claim() -> (Self, Claim) {
        let base = os::nice();
        os::short_slice(base);
        let want = (base - RAISE_BY).max(-20);
        let claim = if !os::SUPPORTED {
            Claim::Unsupported
        } else if os::set_nice(want) {
            Claim::Raised
        } else {
            Claim::Refused
        };
        let me = Priority {
            base,
            raised: (claim == Claim::Raised).then_some(want),
            high: claim == Claim::Raised,
            seen: 0,
            behind: 0,
            lowered_at: None,
        };
        (me, claim)
    }

    /// Notes one release: whether it left well after its due time, the pacer being
    /// behind its plan.
    pub fn released(&mut self, behind: bool) {
        let Some(raised) = self.raised else { return };
        self.seen += 1;
        self.behind += u32::from(behind);
        if self.seen < WINDOW {
            return;
        }
        let on_time = self.behind * 2 < self.seen;
        self.seen = 0;
        self.behind = 0;
        if self.high && !on_time {
            os::set_nice(self.base);
            self.high = false;
            self.lowered_at = Some(Instant::now());
        } else if !self.high
            && on_time
            && self.lowered_at.is_none_or(|t| t.elapsed() >= HOLD_LOWERED)
        {
            self.high = os::set_nice(raised);
        }
    }
}

#[cfg(target_os = "linux")]
mod os {
    use nix::errno::Errno;
    use nix::libc;

    pub const SUPPORTED: bool = true;

    /// `struct sched_attr` as `sched_setattr(2)` takes it (its first version, 48 bytes).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }

    /// The calling thread's nice value.
    pub fn nice() -> i32 {
        // -1 is a valid value, so errno tells an error apart.
        Errno::clear();
        // SAFETY: reads the calling thread's scheduling only.
        let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        if Errno::last_raw() != 0 { 0 } else { n }
    }

    /// Sets the calling thread's nice value; false when not permitted.
    pub fn set_nice(nice: i32) -> bool {
        // SAFETY: changes only the calling thread's scheduling.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) == 0 }
    }

    /// Asks for the short slice, keeping the thread's policy (normal) and `nice`. A
    /// kernel before 6.12 ignores the request.
    pub fn short_slice(nice: i32) {
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            flags: 0,
            nice,
            priority: 0,
            runtime: super::SLICE_NS,
            deadline: 0,
            period: 0,
        };
        // SAFETY: the kernel reads `size` bytes of `attr`, which outlives the call.
        let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub const SUPPORTED: bool = false;
    pub fn nice() -> i32 {
        0
    }
    pub fn set_nice(_: i32) -> bool {
        false
    }
    pub fn short_slice(_: i32) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything on a thread of its own, as the pacer does: nice values are per thread.
    #[test]
    fn the_raise_is_held_only_while_on_time() {
        std::thread::spawn(|| {
            let before = os::nice();
            let (mut p, claim) = Priority::claim();
            match claim {
                Claim::Raised => {
                    let raised = (before - RAISE_BY).max(-20);
                    assert_eq!(os::nice(), raised);
                    // A window of releases on time keeps it.
                    (0..WINDOW).for_each(|_| p.released(false));
                    assert_eq!(os::nice(), raised);
                    // A window mostly behind lowers it, and it stays lowered while on
                    // time again within the hold.
                    (0..WINDOW).for_each(|i| p.released(i % 4 != 0));
                    assert_eq!(os::nice(), before);
                    (0..WINDOW).for_each(|_| p.released(false));
                    assert_eq!(os::nice(), before);
                    // After the hold, a window on time raises it again.
                    std::thread::sleep(HOLD_LOWERED);
                    (0..WINDOW).for_each(|_| p.released(false));
                    assert_eq!(os::nice(), raised);
                }
                Claim::Refused => {
                    // Not permitted (not root, no CAP_SYS_NICE): nothing changes.
                    assert_eq!(os::nice(), before);
                    (0..2 * WINDOW).for_each(|i| p.released(i % 2 == 0));
                    assert_eq!(os::nice(), before);
                }
                Claim::Unsupported => assert_ne!(std::env::consts::OS, "linux"),
            }
        })
        .join()
        .unwrap();
    }
}
