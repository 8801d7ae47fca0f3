//! [`Quantiles`]: an empirical distribution kept as 101 percentile points, to draw from
//! and to read percentiles of.

use serde::{Deserialize, Serialize};

/// Percentile points of observed values: p0, p1, ..., p100 (fewer when fewer values
/// were seen: then every value, sorted). Drawing interpolates between neighbouring
/// points, so a replay reproduces the observed spread, tails included.
///
/// ```
/// use routewise::replay::Quantiles;
///
/// let latency = Quantiles::from_values((1..=1000).map(f64::from));
/// assert!((latency.quantile(0.5) - 500.5).abs() < 1.0);
/// assert_eq!(latency.quantile(1.0), 1000.0);
/// assert_eq!(Quantiles::constant(7.0).draw(0.3), 7.0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantiles {
    points: Vec<f64>,
}

const POINTS: usize = 101;

impl Quantiles {
    /// The distribution of `values` (non-finite ones are ignored).
    pub fn from_values(values: impl IntoIterator<Item = f64>) -> Self {
        let mut sorted: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        if sorted.len() <= POINTS {
            return Self { points: sorted };
        }
        let points = (0..POINTS)
            .map(|i| interpolate(&sorted, i as f64 / (POINTS - 1) as f64))
            .collect();
        Self { points }
    }

    /// Every one of `values`, sorted, for exact percentiles of any number of values.
    #[cfg(feature = "replay")]
    pub(crate) fn exact(mut values: Vec<f64>) -> Self {
        values.retain(|v| v.is_finite());
        values.sort_by(f64::total_cmp);
        Self { points: values }
    }

    /// Always `value`.
    pub fn constant(value: f64) -> Self {
        Self {
            points: vec![value],
        }
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The `q`-quantile (`0.0..=1.0`); 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        interpolate(&self.points, q)
    }

    /// The value at `u` (`0.0..1.0`, uniform) of the distribution: feed it uniform draws
    /// to sample it.
    pub fn draw(&self, u: f64) -> f64 {
        self.quantile(u)
    }

    /// Every point multiplied by `factor` ("what if this target were twice as slow?").
    #[must_use]
    pub fn scaled(&self, factor: f64) -> Self {
        Self {
            points: self.points.iter().map(|p| p * factor).collect(),
        }
    }
}

/// Linear interpolation at `q` over sorted `values`.
fn interpolate(values: &[f64], q: f64) -> f64 {
    let Some(last) = values.len().checked_sub(1) else {
        return 0.0;
    };
    let position = q.clamp(0.0, 1.0) * last as f64;
    // In range: `position` is at most `last`.
    let below = position.floor() as usize;
    let above = (below + 1).min(last);
    let fraction = position - below as f64;
    values[below] + (values[above] - values[below]) * fraction
}
