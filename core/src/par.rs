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

/// [`map`] over `items` a batch at a time, each batch's results handed to
/// `consume` on the calling thread, in order, while the next batch is
/// mapped: the caller's serial work (building, printing) overlaps the
/// parallel reads instead of leaving the cores idle. Memory holds two
/// batches. The first error from `consume` ends the walk (the batch being
/// mapped is finished and dropped).
pub fn map_batches<T: Sync, R: Send, E>(
    items: &[T],
    batch: usize,
    f: impl Fn(&T) -> R + Sync,
    mut consume: impl FnMut(Vec<R>) -> Result<(), E>,
) -> Result<(), E> {
    let f = &f;
    let mut chunks = items.chunks(batch.max(1));
    std::thread::scope(|s| {
        let mut next = chunks.next().map(|c| s.spawn(move || map(c, f)));
        while let Some(mapping) = next.take() {
            let done = mapping.join().expect("a worker thread panicked");
            next = chunks.next().map(|c| s.spawn(move || map(c, f)));
            consume(done)?;
        }
        Ok(())
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

    #[test]
    fn batches_are_consumed_in_order_and_an_error_stops_the_walk() {
        let items: Vec<u32> = (0..10_000).collect();
        let mut seen = Vec::new();
        let r: Result<(), ()> = super::map_batches(
            &items,
            999,
            |x| x + 1,
            |b| {
                seen.extend(b);
                Ok(())
            },
        );
        assert!(r.is_ok());
        assert_eq!(seen, (1..=10_000).collect::<Vec<_>>());
        let mut batches = 0;
        let r = super::map_batches(
            &items,
            1000,
            |x| *x,
            |b| {
                batches += 1;
                if b[0] == 3000 { Err(b[0]) } else { Ok(()) }
            },
        );
        assert_eq!((r, batches), (Err(3000), 4));
    }
}
