//! The comparison chart: a PNG of the expected size, with bars of both colours drawn.
#![cfg(feature = "chart")]

use routewise::replay::{Comparison, PolicySummary, Summary, TargetSummary};

/// A run's figures: `cost` dollars at `rate` success, one policy and one target.
fn summary(cost: f64, rate: f64) -> Summary {
    let mut summary = Summary::default();
    summary.requests = 100;
    summary.success_rate = rate;
    summary.p95_ms = 900.0;
    summary.cost_usd = cost;
    let mut policy = PolicySummary::default();
    policy.matches = 60;
    policy.success_rate = rate;
    policy.p95_ms = 800.0;
    policy.cost_usd = cost * 0.6;
    summary.policies.insert("chat".into(), policy);
    let mut target = TargetSummary::default();
    target.calls = 100;
    target.failed = 5;
    target.cost_usd = cost;
    summary
        .targets
        .insert("large/primary/large-v1".into(), target);
    summary
}

fn summaries() -> (Summary, Summary) {
    (summary(2.0, 0.95), summary(0.5, 0.90))
}

fn decode(path: &std::path::Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = buffer[..info.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

#[test]
fn the_chart_is_a_png_of_three_panels_with_both_runs_drawn() {
    let (current, candidate) = summaries();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comparison.png");
    Comparison::of_summaries(current, candidate)
        .write_png(&path)
        .unwrap();

    let (width, height, pixels) = decode(&path);
    assert_eq!((width, height), (900, 900));
    let count = |rgb: [u8; 3]| pixels.iter().filter(|p| **p == rgb).count();
    let white = count([255, 255, 255]);
    assert!(white < pixels.len(), "the chart is blank");
    // Bars of both runs: the current run's grey and the candidate's blue.
    assert!(count([120, 144, 156]) > 1_000, "no bars of the current run");
    assert!(count([30, 136, 229]) > 1_000, "no bars of the candidate");
    // Text (the shipped font, anti-aliased): dark pixels that are neither bar colour.
    let dark = pixels.iter().filter(|p| p.iter().all(|c| *c < 60)).count();
    assert!(dark > 500, "no text drawn: {dark} dark pixels");
}

#[test]
fn a_chart_into_a_missing_folder_is_an_error_not_a_panic() {
    let (current, candidate) = summaries();
    let error = Comparison::of_summaries(current, candidate)
        .write_png("/nonexistent-folder/for/sure/chart.png")
        .unwrap_err();
    assert!(
        error.to_string().contains("could not be drawn or written"),
        "{error}"
    );
}
