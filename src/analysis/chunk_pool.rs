//! The step items of a document analysed on every core, the way `stepwise check` splits
//! files: each item's parse, lowering and key scan depend on its text alone, so they can run
//! anywhere, and the results are put back in document order.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// `work` of every item, in the items' order, on up to `threads` scoped threads (the
/// calling one among them); each takes the next batch of items when it is free. A panic in
/// `work` reaches the caller as it would without threads.
pub(super) fn map_in_order<I: Sync, T: Send>(items: &[I], threads: usize, work: impl Fn(&I) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(work).collect();
    }
    let batch = items.len().div_ceil(threads * BATCHES_PER_THREAD);
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(batch, Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + batch).min(items.len());
            done.push((start, items[start..end].iter().map(&work).collect::<Vec<T>>()));
        }
    };
    let mut batches = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(take)).collect();
        let mut all = take();
        for helper in helpers {
            match helper.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    batches.sort_unstable_by_key(|(start, _)| *start);
    let mut out = Vec::with_capacity(items.len());
    for (_, results) in batches {
        out.extend(results);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_items_order_whatever_thread_made_them() {
        let items: Vec<usize> = (0..1_000).collect();
        for threads in [1, 2, 3, 8, 2_000] {
            let squares = map_in_order(&items, threads, |i| {
                // Uneven work, so that threads finish their batches out of order.
                if i % 7 == 0 {
                    std::thread::yield_now();
                }
                i * i
            });
            assert_eq!(
                squares,
                items.iter().map(|i| i * i).collect::<Vec<_>>(),
                "{threads} threads"
            );
        }
    }

    #[test]
    fn no_items_give_no_results() {
        assert!(map_in_order(&[] as &[u8], 4, |b| *b).is_empty());
    }

    #[test]
    fn a_panic_in_a_helper_reaches_the_caller_with_its_message() {
        let items: Vec<usize> = (0..64).collect();
        let panic = std::panic::catch_unwind(|| {
            map_in_order(&items, 4, |&i| {
                assert!(i != 40, "item forty");
                i
            })
        })
        .expect_err("the panic is passed on");
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied());
        assert_eq!(message, Some("item forty"));
    }

    #[test]
    fn little_text_is_analysed_on_one_thread() {
        assert_eq!(threads_for(0), 1);
        assert_eq!(threads_for(BYTES_PER_THREAD - 1), 1);
    }
}
