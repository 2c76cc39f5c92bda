//! Dataset, seeded shuffle/split and DataLoader.

use neuroxide::data::{shuffle_indices, DataLoader, Dataset, SPLIT_STREAM};
use neuroxide::Tensor;

/// `n` rows: x row `i` is `[i, 10 i]` (shape [n, 2]), y row `i` is `[100 i]`.
fn numbered(n: usize) -> Dataset {
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, 10.0 * i as f32]).collect();
    let y: Vec<f32> = (0..n).map(|i| 100.0 * i as f32).collect();
    Dataset::new(
        Tensor::new(vec![n, 2], x).unwrap(),
        Tensor::new(vec![n, 1], y).unwrap(),
    )
    .unwrap()
}

fn ids(ds: &Dataset) -> Vec<usize> {
    (0..ds.len()).map(|r| ds.x.row(r)[0] as usize).collect()
}

#[test]
fn dataset_checks_row_counts() {
    let err = Dataset::new(Tensor::zeros(vec![3, 2]), Tensor::zeros(vec![4, 1])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shape error: dataset inputs and targets must have the same number of rows: x has 3 rows \
         (shape [3, 2]), y has 4 rows (shape [4, 1])"
    );
    let ds = numbered(5);
    assert_eq!(ds.len(), 5);
    assert!(!ds.is_empty());
}

#[test]
fn subset_by_range_and_indices() {
    let ds = numbered(6);
    let a = ds.subset(2..5).unwrap();
    assert_eq!(ids(&a), [2, 3, 4]);
    assert_eq!(a.y.data(), [200.0, 300.0, 400.0]);
    let b = ds.subset(&[5, 0, 5]).unwrap();
    assert_eq!(ids(&b), [5, 0, 5]);
    assert_eq!(b.x.shape(), [3, 2]);
    let c = ds.subset(vec![1]).unwrap();
    assert_eq!(c.y.data(), [100.0]);
    assert_eq!(
        ds.subset(4..7).unwrap_err().to_string(),
        "row range 4..7 is out of bounds for a dataset of 6 rows"
    );
    assert_eq!(
        ds.subset(&[1, 6]).unwrap_err().to_string(),
        "row index 6 is out of bounds for a dataset of 6 rows"
    );
}

#[test]
fn split_is_a_seeded_partition() {
    let ds = numbered(100);
    let (train, val) = ds.split(0.2, 42).unwrap();
    assert_eq!((train.len(), val.len()), (80, 20));
    let mut all = ids(&train);
    all.extend(ids(&val));
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    // rows keep their original order inside each part, and x stays paired with y
    assert!(ids(&val).windows(2).all(|w| w[0] < w[1]));
    for r in 0..val.len() {
        assert_eq!(val.y.row(r)[0], 100.0 * val.x.row(r)[0]);
    }
    // the validation rows are the tail of the documented permutation
    let mut expected: Vec<usize> = shuffle_indices(100, 42, SPLIT_STREAM)[80..].to_vec();
    expected.sort_unstable();
    assert_eq!(ids(&val), expected);
    // same seed, same split; another seed, another split
    assert_eq!(ds.split(0.2, 42).unwrap().1, val);
    assert_ne!(ids(&ds.split(0.2, 43).unwrap().1), ids(&val));
    // rounding: 0.25 of 10 rows is 2.5 → 3 validation rows (round half away from zero)
    assert_eq!(numbered(10).split(0.25, 1).unwrap().1.len(), 3);
    assert_eq!(ds.split(0.0, 1).unwrap().1.len(), 0);
    assert_eq!(
        ds.split(1.0, 1).unwrap_err().to_string(),
        "validation fraction must be in [0, 1), got 1"
    );
    assert_eq!(
        numbered(1).split(0.6, 1).unwrap_err().to_string(),
        "validation fraction 0.6 of 1 rows leaves no training rows"
    );
}

#[test]
fn shuffle_is_uniform_over_permutations_of_three() {
    // 6 permutations of 3 items over 60,000 (seed, stream) pairs: each should appear
    // 10,000 times; 5 sigma of the binomial (sd ≈ 91) is ±456.
    let mut counts = std::collections::HashMap::new();
    for seed in 0..60u64 {
        for stream in 0..1000u64 {
            *counts
                .entry(shuffle_indices(3, seed, stream))
                .or_insert(0usize) += 1;
        }
    }
    assert_eq!(counts.len(), 6);
    for (perm, &c) in &counts {
        assert!((9544..=10456).contains(&c), "{perm:?} appeared {c} times");
    }
    // every position of a longer shuffle is equally likely to hold item 0
    let mut where0 = [0usize; 10];
    for stream in 0..20_000u64 {
        let p = shuffle_indices(10, 9, stream);
        where0[p.iter().position(|&v| v == 0).unwrap()] += 1;
    }
    for (pos, &c) in where0.iter().enumerate() {
        assert!((1800..=2200).contains(&c), "item 0 at {pos}: {c} times");
    }
}

#[test]
fn loader_without_shuffle_keeps_order_and_last_partial_batch() {
    let ds = numbered(10);
    let loader = DataLoader::new(&ds, 4).unwrap();
    assert_eq!(loader.num_batches(), 3);
    assert_eq!(
        (
            loader.batch_rows(0),
            loader.batch_rows(2),
            loader.batch_rows(3)
        ),
        (4, 2, 0)
    );
    let batches: Vec<_> = loader.batches(0).collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].x.shape(), [4, 2]);
    assert_eq!(batches[2].x.shape(), [2, 2]);
    assert_eq!(batches[2].x.data(), [8.0, 80.0, 9.0, 90.0]);
    assert_eq!(batches[2].y.data(), [800.0, 900.0]);
    assert_eq!(loader.epoch_order(5), (0..10).collect::<Vec<_>>());

    let dropping = DataLoader::new(&ds, 4).unwrap().drop_last(true);
    assert_eq!(dropping.num_batches(), 2);
    assert_eq!(dropping.batches(0).len(), 2);
    assert_eq!(
        DataLoader::new(&ds, 0).unwrap_err().to_string(),
        "batch size must be at least 1, got 0"
    );
}

#[test]
fn loader_shuffles_per_epoch_and_fill_batch_matches_iterator() {
    let ds = numbered(50);
    let loader = DataLoader::new(&ds, 8).unwrap().shuffle(1234);
    let e0 = loader.epoch_order(0);
    let e1 = loader.epoch_order(1);
    assert_eq!(e0, shuffle_indices(50, 1234, 0));
    assert_eq!(e1, shuffle_indices(50, 1234, 1));
    assert_ne!(e0, e1);
    assert_ne!(e0, (0..50).collect::<Vec<_>>());
    assert_eq!(loader.epoch_order(1), e1);

    // preallocated buffers, reused across batches and epochs
    let mut order = Vec::with_capacity(50);
    let mut xb = vec![0f32; 8 * loader.x_row_len()];
    let mut yb = vec![0f32; 8 * loader.y_row_len()];
    for epoch in 0..2 {
        loader.fill_epoch_order(epoch, &mut order);
        let iter: Vec<_> = loader.batches(epoch).collect();
        assert_eq!(iter.len(), 7);
        let mut seen = Vec::new();
        for (b, batch) in iter.iter().enumerate() {
            let rows = loader.fill_batch(&order, b, &mut xb, &mut yb).unwrap();
            assert_eq!(rows, batch.x.rows());
            assert_eq!(&xb[..rows * 2], batch.x.data());
            assert_eq!(&yb[..rows], batch.y.data());
            for r in 0..rows {
                assert_eq!(xb[2 * r] as usize, order[b * 8 + r]);
                assert_eq!(yb[r], 100.0 * xb[2 * r]);
                seen.push(order[b * 8 + r]);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    }
}

#[test]
fn fill_batch_errors() {
    let ds = numbered(10);
    let loader = DataLoader::new(&ds, 4).unwrap();
    let order = loader.epoch_order(0);
    let (mut x, mut y) = (vec![0f32; 8], vec![0f32; 4]);
    let msg = |r: neuroxide::Result<usize>| r.unwrap_err().to_string();
    assert_eq!(
        msg(loader.fill_batch(&order, 3, &mut x, &mut y)),
        "batch index 3 out of range: the loader has 3 batches"
    );
    assert_eq!(
        msg(loader.fill_batch(&order[..9], 0, &mut x, &mut y)),
        "epoch order has 9 entries, the dataset has 10 rows"
    );
    assert_eq!(
        msg(loader.fill_batch(&order, 0, &mut x[..7], &mut y)),
        "batch buffers too small for 4 rows: x needs 8 values (has 7), y needs 4 values (has 4)"
    );
    let mut bad = order.clone();
    bad[1] = 10;
    assert_eq!(
        msg(loader.fill_batch(&bad, 0, &mut x, &mut y)),
        "epoch order holds row 10, the dataset has 10 rows"
    );
    // the last, partial batch needs only 2 rows of buffer
    assert_eq!(
        loader
            .fill_batch(&order, 2, &mut x[..4], &mut y[..2])
            .unwrap(),
        2
    );
    assert_eq!(&x[..4], [8.0, 80.0, 9.0, 90.0]);
}
