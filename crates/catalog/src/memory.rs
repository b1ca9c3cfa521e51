//! Giving the operating system back the memory a burst of model actors used.
//!
//! glibc keeps freed memory in its per-thread arenas and returns it only from the top of each
//! heap, so after a burst over many models (each with its own actor, its mailbox and its
//! requests' buffers) the process stays near its peak long after the actors are gone. Once a
//! burst is over, [`Trim`] says so, and the sweeper has the store close the connections the
//! burst opened (`storage::Store::release_memory`), then asks glibc to return every whole free
//! page.

/// Decides when a burst is over: the live actors fell to a quarter of the most seen since the
/// last trim, and that peak was large enough for the memory to matter. What is left of the
/// burst is followed until it has drained too: each quarter of it, down to none, is trimmed
/// again, so the last actors of a burst do not keep their memory however few they are.
#[derive(Debug, Default)]
pub(crate) struct Trim {
    peak: usize,
    /// A burst was trimmed and some of its actors were still live.
    draining: bool,
}

/// Fewer live actors than this at the peak is not a burst worth a trim.
const BURST: usize = 1024;

impl Trim {
    /// Called after a sweep with how many actors were live before it and are live now; true
    /// when the allocator should be trimmed now.
    pub(crate) fn after_sweep(&mut self, before: usize, live: usize) -> bool {
        self.peak = self.peak.max(before);
        if (self.peak >= BURST || self.draining) && live <= self.peak / 4 {
            self.peak = live;
            self.draining = live > 0;
            return true;
        }
        false
    }
}

/// Returns the free pages of every glibc arena to the operating system (`malloc_trim(0)`);
/// true when any memory was returned. Other allocators return memory on their own: nothing to
/// do there.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub(crate) fn release_free_pages() -> bool {
    // SAFETY: `malloc_trim` takes no pointer and touches only the allocator's own free lists,
    // under each arena's lock, as any `malloc` or `free` call does.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_pages() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_a_burst_has_drained() {
        let mut trim = Trim::default();
        // Small traffic never trims.
        assert!(!trim.after_sweep(100, 0));
        // A burst building up, then holding: no trim while it lasts.
        assert!(!trim.after_sweep(2000, 1900));
        assert!(!trim.after_sweep(5000, 4000));
        assert!(!trim.after_sweep(4000, 1300));
        // Drained to a quarter of its peak: trim, once.
        assert!(trim.after_sweep(1300, 1250));
        assert!(!trim.after_sweep(1250, 1250));
        // What was left of it drains too: trim again.
        assert!(trim.after_sweep(1250, 0));
        // The next burst is measured from there.
        assert!(!trim.after_sweep(900, 0));
        assert!(!trim.after_sweep(3000, 800));
        assert!(trim.after_sweep(800, 10));
        // Its last few actors are followed until none is left.
        assert!(!trim.after_sweep(10, 5));
        assert!(trim.after_sweep(5, 0));
        // And then small traffic never trims again.
        assert!(!trim.after_sweep(100, 0));
        assert!(!trim.after_sweep(100, 20));
    }

    #[test]
    fn the_rest_of_a_burst_is_trimmed_however_small() {
        let mut trim = Trim::default();
        // A burst of 8,000 that falls to 900 in one sweep: trimmed there, then again at none,
        // though 900 alone would not be a burst.
        assert!(!trim.after_sweep(8000, 6000));
        assert!(trim.after_sweep(6000, 900));
        assert!(!trim.after_sweep(900, 400));
        assert!(trim.after_sweep(400, 0));
        assert!(!trim.after_sweep(0, 0));
        // Actors that stay live are not trimmed over and over.
        assert!(!trim.after_sweep(4000, 3000));
        assert!(trim.after_sweep(3000, 200));
        assert!(!trim.after_sweep(200, 200));
        assert!(!trim.after_sweep(200, 200));
    }
}
