//! Pooling per-frame scores into one number per run.

use serde::Serialize;

/// A metric pooled over the scored frames of a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Pooled {
    /// Arithmetic mean.
    pub mean: f64,
    /// Harmonic mean as libvmaf pools it: `n / Σ 1/(xᵢ + 1) − 1` (the +1
    /// keeps a zero score finite; libvmaf `VMAF_POOL_METHOD_HARMONIC_MEAN`).
    /// Dominated by the worst frames, which is why encoders targeting a
    /// score watch it.
    pub harmonic_mean: f64,
    /// 1st percentile, linear interpolation between the closest ranks
    /// (rank `0.01·(n − 1)`, NumPy's default "linear" method).
    pub p1: f64,
    /// Lowest frame score.
    pub min: f64,
}

impl Pooled {
    /// Pools `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let harmonic_mean = n / values.iter().map(|v| 1.0 / (v + 1.0)).sum::<f64>() - 1.0;
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Self { mean, harmonic_mean, p1: percentile(&sorted, 1.0), min: sorted[0] })
    }
}

/// The `p`th percentile (0..100) of sorted, non-empty `sorted`, interpolated linearly.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_like_libvmaf_and_numpy() {
        let v: Vec<f64> = (0..=100).map(f64::from).rev().collect();
        let p = Pooled::of(&v).unwrap();
        assert_eq!(p.mean, 50.0);
        assert_eq!(p.min, 0.0);
        // 101 values: rank 1.0 exactly, the second smallest.
        assert_eq!(p.p1, 1.0);
        // n / Σ 1/(x+1) − 1 with x+1 = 1..=101.
        let h: f64 = (1..=101).map(|k| 1.0 / f64::from(k)).sum();
        assert!((p.harmonic_mean - (101.0 / h - 1.0)).abs() < 1e-12);
        assert!(p.harmonic_mean < p.mean);
        // Interpolated: 0.01 · 9 = 0.09 of the way from 10 to 20.
        let q = Pooled::of(&[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]).unwrap();
        assert!((q.p1 - 10.9).abs() < 1e-12, "{}", q.p1);
        assert_eq!(Pooled::of(&[]), None);
        let one = Pooled::of(&[93.5]).unwrap();
        assert_eq!((one.mean, one.p1, one.min), (93.5, 93.5, 93.5));
        assert!((one.harmonic_mean - 93.5).abs() < 1e-12);
    }
}
