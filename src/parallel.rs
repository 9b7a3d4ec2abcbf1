//! Work split over scoped threads with results in input order: `stepwise check` over files,
//! the analysis over a document's step items.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `work` of every item, in the items' order, on up to `threads` scoped threads (the calling
/// one among them); each takes the next `batch` items when it is free, so a thread slowed by
/// a large item or another process leaves the rest to the others. A panic in `work` reaches
/// the caller as it would without threads.
pub fn map_in_order<I: Sync, T: Send>(
    items: &[I],
    threads: usize,
    batch: usize,
    work: impl Fn(&I) -> T + Sync,
) -> Vec<T> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(work).collect();
    }
    let batch = batch.max(1);
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
        for (threads, batch) in [(1, 1), (2, 1), (2, 63), (3, 7), (8, 16), (2_000, 1)] {
            let squares = map_in_order(&items, threads, batch, |i| {
                // Uneven work, so that threads finish their batches out of order.
                if i % 7 == 0 {
                    std::thread::yield_now();
                }
                i * i
            });
            assert_eq!(
                squares,
                items.iter().map(|i| i * i).collect::<Vec<_>>(),
                "{threads} threads, batches of {batch}"
            );
        }
    }

    #[test]
    fn no_items_give_no_results() {
        assert!(map_in_order(&[] as &[u8], 4, 1, |b| *b).is_empty());
    }

    #[test]
    fn a_panic_in_a_helper_reaches_the_caller_with_its_message() {
        let items: Vec<usize> = (0..64).collect();
        let panic = std::panic::catch_unwind(|| {
            map_in_order(&items, 4, 2, |&i| {
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
}
