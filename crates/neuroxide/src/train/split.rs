//! Stratified train/validation split: every class keeps its share in both parts, which matters
//! for small tables (Iris' 30 validation rows would otherwise vary between 6 and 14 per class).

use crate::data::{shuffle_indices, Dataset, SPLIT_STREAM};
use crate::error::{Error, Result};

/// Splits `data` into `(train, validation)` holding out `round(fraction × n_c)` rows of every
/// class `c`, but never all of a class's rows. Targets must be one class index per row.
///
/// Which rows: the seeded permutation `shuffle_indices(n, seed, SPLIT_STREAM)` (the same one
/// [`Dataset::split`] uses) is walked from its end; a row goes to validation while its class
/// still needs rows. Both parts keep the original row order, so the result depends only on the
/// data and `seed`.
pub fn stratified_split(data: &Dataset, fraction: f32, seed: u64) -> Result<(Dataset, Dataset)> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(Error::invalid(format!(
            "validation fraction must be in [0, 1), got {fraction}"
        )));
    }
    if data.y.row_len() != 1 {
        return Err(Error::invalid(format!(
            "a stratified split needs one class index per row; targets have shape {:?}",
            data.y.shape()
        )));
    }
    let n = data.len();
    let mut classes = Vec::with_capacity(n);
    // Class labels are i32 (f32 ones are converted, naming a non-integer value).
    let labels = data.y.to_i32()?;
    for (r, &v) in labels.ids()?.iter().enumerate() {
        if !(0..1_000_000).contains(&v) {
            return Err(Error::invalid(format!(
                "a stratified split needs class indices; target row {r} is {v}"
            )));
        }
        classes.push(v as usize);
    }
    let k = classes.iter().max().map_or(0, |&m| m + 1);
    let mut per_class = vec![0usize; k];
    for &c in &classes {
        per_class[c] += 1;
    }
    let mut want: Vec<usize> = per_class
        .iter()
        .map(|&m| {
            let v = (m as f64 * f64::from(fraction)).round() as usize;
            v.min(m.saturating_sub(1))
        })
        .collect();
    let perm = shuffle_indices(n, seed, SPLIT_STREAM);
    let mut is_val = vec![false; n];
    for &r in perm.iter().rev() {
        let c = classes[r];
        if want[c] > 0 {
            want[c] -= 1;
            is_val[r] = true;
        }
    }
    let train: Vec<usize> = (0..n).filter(|&r| !is_val[r]).collect();
    let val: Vec<usize> = (0..n).filter(|&r| is_val[r]).collect();
    Ok((data.subset(&train)?, data.subset(&val)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    #[test]
    fn keeps_class_shares_and_is_seeded() {
        let n = 60;
        let x = Tensor::new([n, 1], (0..n).map(|i| i as f32).collect()).unwrap();
        // 30 of class 0, 20 of class 1, 10 of class 2.
        let y: Vec<f32> = (0..n)
            .map(|i| {
                if i < 30 {
                    0.0
                } else if i < 50 {
                    1.0
                } else {
                    2.0
                }
            })
            .collect();
        let data = Dataset::new(x, Tensor::new([n, 1], y).unwrap()).unwrap();
        let (t, v) = stratified_split(&data, 0.2, 7).unwrap();
        assert_eq!((t.len(), v.len()), (48, 12));
        let count = |d: &Dataset, c: f32| d.y.data().iter().filter(|&&v| v == c).count();
        assert_eq!([count(&v, 0.0), count(&v, 1.0), count(&v, 2.0)], [6, 4, 2]);
        let (_, v2) = stratified_split(&data, 0.2, 7).unwrap();
        assert_eq!(v, v2);
        let (_, v3) = stratified_split(&data, 0.2, 8).unwrap();
        assert_ne!(v.x, v3.x);
        // Train and validation partition the rows.
        let mut all: Vec<f32> = t.x.data().iter().chain(v.x.data()).copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..n).map(|i| i as f32).collect::<Vec<_>>());
        let e = stratified_split(&data, 1.5, 7).unwrap_err().to_string();
        assert!(
            e.contains("validation fraction must be in [0, 1), got 1.5"),
            "{e}"
        );
    }
}
