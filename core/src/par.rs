//! Work on every core: the one way lfb spreads a list of independent,
//! I/O-bound items (sidecars to read, files to stat) over threads.

/// Most threads used: more would only queue on the disk.
const MAX_THREADS: usize = 8;

/// Fewest items worth starting threads for.
const MIN_PARALLEL: usize = 64;

/// `items.iter().map(f).collect()`, with the items split into one
/// contiguous run per core and each run mapped on its own thread. The
/// results are in the order of `items`.
pub fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS);
    if threads == 1 || items.len() < MIN_PARALLEL {
        return items.iter().map(f).collect();
    }
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for w in workers {
            out.extend(w.join().expect("a worker thread panicked"));
        }
        out
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_in_the_order_of_the_items() {
        for n in [0, 1, 63, 64, 65, 1000, 4097] {
            let items: Vec<u32> = (0..n).collect();
            let doubled = super::map(&items, |x| x * 2);
            assert_eq!(doubled, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
    }
}
