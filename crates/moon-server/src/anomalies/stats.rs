//! Robust statistics for the data detectors: the median and the median absolute deviation (MAD).
//!
//! Why these and not the mean and standard deviation: one huge sale moves a mean and a standard
//! deviation enough to hide itself (and the next one); the median and the MAD ignore up to half
//! of the values being extreme. Amounts are integer cents; only the score (how many MADs a value
//! lies from the median) is a float, and it decides nothing about money.

/// The centre and spread of a history of amounts, in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// The median (the lower middle value of an even count, so it is always an observed amount).
    pub median: i64,
    /// The median absolute deviation from the median.
    pub mad: i64,
    /// How many values it was computed from.
    pub count: usize,
}

fn lower_median(sorted: &[i64]) -> i64 {
    sorted[(sorted.len() - 1) / 2]
}

impl Spread {
    /// The spread of `values`; `None` when there are none.
    pub fn of(values: &[i64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_unstable();
        let median = lower_median(&v);
        let mut dev: Vec<i64> = v.iter().map(|x| x.saturating_sub(median).saturating_abs()).collect();
        dev.sort_unstable();
        Some(Self { median, mad: lower_median(&dev), count: v.len() })
    }

    /// The MAD used to divide: never below 1 % of the median nor below one cent, so a history of
    /// identical amounts (MAD 0) does not make every other amount infinitely far.
    pub fn unit(&self) -> i64 {
        self.mad.max(self.median.saturating_abs() / 100).max(1)
    }

    /// How many MADs `value` lies from the median (signed: negative below it).
    #[expect(clippy::cast_precision_loss, reason = "a score for people to read; amounts stay integers")]
    pub fn score(&self, value: i64) -> f64 {
        (value.saturating_sub(self.median)) as f64 / self.unit() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_mad_ignore_one_extreme_value() {
        let s = Spread::of(&[10, 12, 11, 13, 9, 1_000_000]).unwrap();
        assert_eq!(s.median, 11);
        assert_eq!(s.mad, 1);
        assert_eq!(s.count, 6);
        assert!(s.score(1_000_000) > 1000.0);
        assert!(s.score(12).abs() <= 1.0);
    }

    #[test]
    fn identical_history_has_a_floor_under_the_mad() {
        let s = Spread::of(&[5000; 30]).unwrap();
        assert_eq!(s.mad, 0);
        assert_eq!(s.unit(), 50);
        assert!((s.score(5100) - 2.0).abs() < 1e-9);
        assert!(Spread::of(&[]).is_none());
    }
}
