//! [`Comparison::write_png`]: the comparison as a PNG chart, current beside candidate:
//! cost, success rate and p95 latency, overall, per policy and per target.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::report::Comparison;

/// The font every label is drawn with, shipped with the crate (DejaVu Sans Mono, under
/// the Bitstream Vera licence in `assets/DejaVu-LICENSE`): no system font is looked up.
const FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");
const FAMILY: &str = "routewise-mono";

const CURRENT: RGBColor = RGBColor(120, 144, 156);
const CANDIDATE: RGBColor = RGBColor(30, 136, 229);
const PANEL_HEIGHT: u32 = 300;
const GROUP_WIDTH: u32 = 130;
const MIN_WIDTH: u32 = 900;

/// A chart could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// Drawing or encoding failed (the message says where), or the file could not be
    /// written: check that its folder exists and is writable.
    #[error("the comparison chart could not be drawn or written: {0}")]
    Draw(String),
}

/// One bar pair: a label and the two values.
struct Pair {
    label: String,
    current: f64,
    candidate: f64,
}

/// One panel: a title, how values read, and its bar pairs.
struct Panel {
    title: &'static str,
    unit: fn(f64) -> String,
    pairs: Vec<Pair>,
}

#[cfg_attr(docsrs, doc(cfg(feature = "chart")))]
impl Comparison {
    /// Writes the comparison as a PNG chart: three panels (cost, success rate, p95
    /// latency), each with a bar for the current configuration beside one for the
    /// candidate, for all requests, per policy and (cost, success rate) per target.
    /// The image is 300 pixels high per panel and at least 900 wide, 130 per group.
    ///
    /// ```
    /// # use routewise::replay::{Comparison, Summary};
    /// let dir = tempfile::tempdir()?;
    /// let mut current = Summary::default();
    /// current.requests = 10;
    /// current.cost_usd = 2.0;
    /// let mut candidate = current.clone();
    /// candidate.cost_usd = 0.5;
    /// let path = dir.path().join("comparison.png");
    /// Comparison::of_summaries(current, candidate).write_png(&path)?;
    /// assert!(std::fs::metadata(&path)?.len() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ChartError`] when drawing fails or the file cannot be written.
    pub fn write_png(&self, path: impl AsRef<Path>) -> Result<(), ChartError> {
        register_font()?;
        let panels = self.panels();
        let groups = panels.iter().map(|p| p.pairs.len()).max().unwrap_or(1);
        let width = (GROUP_WIDTH * u32::try_from(groups).unwrap_or(u32::MAX)).max(MIN_WIDTH);
        let height = PANEL_HEIGHT * u32::try_from(panels.len()).unwrap_or(1);
        let root = BitMapBackend::new(path.as_ref(), (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let areas = root.split_evenly((panels.len(), 1));
        for (panel, area) in panels.iter().zip(&areas) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(draw_error)
    }

    fn panels(&self) -> Vec<Panel> {
        let (a, b) = (&self.current, &self.candidate);
        let policies = || {
            a.policies
                .keys()
                .chain(b.policies.keys().filter(|k| !a.policies.contains_key(*k)))
        };
        let targets = || {
            a.targets
                .keys()
                .chain(b.targets.keys().filter(|k| !a.targets.contains_key(*k)))
        };
        let pair = |label: String, current: f64, candidate: f64| Pair {
            label,
            current,
            candidate,
        };
        let target_success = |s: &super::Summary, name: &str| {
            s.targets
                .get(name)
                .filter(|t| t.calls > 0)
                .map_or(0.0, |t| 1.0 - t.failed as f64 / t.calls as f64)
        };
        let mut cost = vec![pair("all".into(), a.cost_usd, b.cost_usd)];
        let mut success = vec![pair("all".into(), a.success_rate, b.success_rate)];
        let mut p95 = vec![pair("all".into(), a.p95_ms, b.p95_ms)];
        for name in policies() {
            let (p, q) = (a.policies.get(name), b.policies.get(name));
            let get = |s: Option<&super::PolicySummary>, f: fn(&super::PolicySummary) -> f64| {
                s.map_or(0.0, f)
            };
            let label = format!("policy {name}");
            cost.push(pair(
                label.clone(),
                get(p, |s| s.cost_usd),
                get(q, |s| s.cost_usd),
            ));
            success.push(pair(
                label.clone(),
                get(p, |s| s.success_rate),
                get(q, |s| s.success_rate),
            ));
            p95.push(pair(label, get(p, |s| s.p95_ms), get(q, |s| s.p95_ms)));
        }
        for name in targets() {
            let (p, q) = (a.targets.get(name), b.targets.get(name));
            let spent = |s: Option<&super::TargetSummary>| s.map_or(0.0, |t| t.cost_usd);
            cost.push(pair(name.clone(), spent(p), spent(q)));
            success.push(pair(
                name.clone(),
                target_success(a, name),
                target_success(b, name),
            ));
        }
        vec![
            Panel {
                title: "cost (USD)",
                unit: |v| {
                    if v < 1.0 {
                        format!("${v:.4}")
                    } else {
                        format!("${v:.2}")
                    }
                },
                pairs: cost,
            },
            Panel {
                title: "success rate (targets: calls that did not fail)",
                unit: |v| format!("{:.1}%", v * 100.0),
                pairs: success,
            },
            Panel {
                title: "p95 end-to-end latency",
                unit: |v| format!("{v:.0} ms"),
                pairs: p95,
            },
        ]
    }
}

/// Registers the shipped font once per process.
fn register_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the shipped font could not be read".to_owned())
        })
        .clone()
        .map_err(ChartError::Draw)
}

fn draw_error(error: impl std::fmt::Display) -> ChartError {
    ChartError::Draw(error.to_string())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<(), ChartError> {
    let (width, height) = area.dim_in_pixel();
    let (width, height) = (
        i32::try_from(width).unwrap_or(i32::MAX),
        i32::try_from(height).unwrap_or(i32::MAX),
    );
    let font = |size: f64| (FAMILY, size).into_font();
    let (left, right, top, bottom) = (90, 20, 40, 50);
    let (plot_w, plot_h) = (
        (width - left - right).max(1),
        (height - top - bottom).max(1),
    );
    let max = panel
        .pairs
        .iter()
        .flat_map(|p| [p.current, p.candidate])
        .fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { max } else { 1.0 };
    let text = |s: String, at: (i32, i32), size: f64, color: &RGBColor| {
        area.draw(&Text::new(s, at, font(size).color(color)))
            .map_err(draw_error)
    };
    text(panel.title.to_owned(), (10, 10), 18.0, &BLACK)?;
    for (i, (name, color)) in [("current", CURRENT), ("candidate", CANDIDATE)]
        .into_iter()
        .enumerate()
    {
        let x = width - right - 230 + i32::try_from(i).unwrap_or(0) * 115;
        area.draw(&Rectangle::new([(x, 12), (x + 14, 26)], color.filled()))
            .map_err(draw_error)?;
        text(name.to_owned(), (x + 20, 12), 14.0, &BLACK)?;
    }
    let base = top + plot_h;
    area.draw(&PathElement::new(
        vec![(left, top), (left, base), (left + plot_w, base)],
        BLACK,
    ))
    .map_err(draw_error)?;
    text((panel.unit)(max), (4, top), 13.0, &BLACK)?;
    text((panel.unit)(0.0), (4, base - 12), 13.0, &BLACK)?;
    let groups = i32::try_from(panel.pairs.len().max(1)).unwrap_or(i32::MAX);
    let group_w = plot_w / groups;
    let bar_w = (group_w * 35 / 100).max(1);
    for (i, pair) in panel.pairs.iter().enumerate() {
        let x0 = left + i32::try_from(i).unwrap_or(0) * group_w + group_w * 15 / 100;
        for (j, (value, color)) in [(pair.current, CURRENT), (pair.candidate, CANDIDATE)]
            .into_iter()
            .enumerate()
        {
            let x = x0 + i32::try_from(j).unwrap_or(0) * bar_w;
            let h = ((value / scale) * f64::from(plot_h)).round() as i32;
            if h > 0 {
                area.draw(&Rectangle::new(
                    [(x, base - h), (x + bar_w - 2, base)],
                    color.filled(),
                ))
                .map_err(draw_error)?;
            }
        }
        let chars = usize::try_from(group_w / 8).unwrap_or(1).max(3);
        let label: String = if pair.label.chars().count() > chars {
            let tail: String = pair
                .label
                .chars()
                .rev()
                .take(chars - 1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("…{tail}")
        } else {
            pair.label.clone()
        };
        text(label, (x0 - group_w * 10 / 100, base + 8), 13.0, &BLACK)?;
        let change = format!(
            "{} → {}",
            (panel.unit)(pair.current),
            (panel.unit)(pair.candidate)
        );
        let short: String = change.chars().take(chars).collect();
        text(
            short,
            (x0 - group_w * 10 / 100, base + 26),
            11.0,
            &RGBColor(80, 80, 80),
        )?;
    }
    Ok(())
}
