//! The step items of a document analysed on every core, the way `stepwise check` splits
//! files: each item's parse, lowering and key scan depend on its text alone, so they can run
//! anywhere, and the results are put back in document order.

use std::sync::OnceLock;

/// Below this many bytes of items per thread, a thread costs more to start than it saves
/// (about 120 generated steps, 2 ms of work; starting one is some 50 µs).
const BYTES_PER_THREAD: usize = 16 * 1024;

/// Batches each thread takes in turn: enough that a thread slowed by another process leaves
/// its share to the others, few enough that taking one costs nothing.
const BATCHES_PER_THREAD: usize = 8;

/// How many threads analyse `bytes` of step items: one per core, fewer for little text.
pub(super) fn threads_for(bytes: usize) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from));
    cores.min(bytes / BYTES_PER_THREAD).max(1)
}

/// `work` of every item, in the items' order, on up to `threads` threads, in batches of
/// [`BATCHES_PER_THREAD`] per thread.
pub(super) fn map_in_order<I: Sync, T: Send>(items: &[I], threads: usize, work: impl Fn(&I) -> T + Sync) -> Vec<T> {
    let batch = items.len().div_ceil(threads.max(1) * BATCHES_PER_THREAD);
    crate::parallel::map_in_order(items, threads, batch, work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_text_is_analysed_on_one_thread() {
        assert_eq!(threads_for(0), 1);
        assert_eq!(threads_for(BYTES_PER_THREAD - 1), 1);
    }
}
