//! `--plot FILE.svg`: committed TPS and latency over the run, drawn as plain SVG.

use std::fmt::Write as _;

use serde::Serialize;

use super::Report;

/// The chain's state after one committed block.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Sample {
    /// Since the first submission.
    pub(crate) seconds: f64,
    /// Transactions committed so far.
    pub(crate) committed: u64,
    /// Median submission-to-commit latency of the block's transactions.
    pub(crate) latency_ms: f64,
}

/// Committed TPS over a sliding second, at each sample.
fn tps_series(samples: &[Sample]) -> Vec<(f64, f64)> {
    let mut from = 0;
    samples
        .iter()
        .map(|s| {
            while samples[from].seconds < s.seconds - 1.0 {
                from += 1;
            }
            let base = if from == 0 {
                (0.0, 0)
            } else {
                (samples[from - 1].seconds, samples[from - 1].committed)
            };
            let span = (s.seconds - base.0).max(1e-3);
            (s.seconds, (s.committed - base.1) as f64 / span)
        })
        .collect()
}

const WIDTH: f64 = 900.0;
const PANEL: f64 = 260.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const GAP: f64 = 70.0;

/// A rounded-up axis limit with a few tidy ticks.
fn axis(max: f64) -> (f64, f64) {
    let max = max.max(1e-9);
    let magnitude = 10f64.powf(max.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| max / step <= 5.0)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

/// A panel's axes, `top` pixels down: scales `(max, step)` for x and y, from [`axis`].
struct Frame {
    top: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn x(&self, v: f64) -> f64 {
        LEFT + v / self.x.0 * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        self.top + PANEL - v / self.y.0 * PANEL
    }

    /// The title, the border, and the ticks of both axes with their units.
    fn draw(&self, svg: &mut String, title: &str, x_unit: &str, y_unit: &str) {
        let (top, plot_w) = (self.top, WIDTH - LEFT - RIGHT);
        let _ = writeln!(
            svg,
            r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{title}</text>"#,
            top - 12.0
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>"##
        );
        let (ymax, ystep) = self.y;
        let mut tick = 0.0;
        while tick <= ymax + ystep / 2.0 {
            let yv = self.y(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" x2="{}" y1="{yv}" y2="{yv}" stroke="#eee"/><text x="{}" y="{}" font-size="11" text-anchor="end">{} {y_unit}</text>"##,
                LEFT + plot_w,
                LEFT - 6.0,
                yv + 4.0,
                human(tick),
            );
            tick += ystep;
        }
        let (xmax, xstep) = self.x;
        let mut tick = 0.0;
        while tick <= xmax + xstep / 2.0 {
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{} {x_unit}</text>"#,
                self.x(tick),
                top + PANEL + 16.0,
                human(tick)
            );
            tick += xstep;
        }
    }

    /// The points joined by one line of `colour`, in data coordinates.
    fn polyline(&self, svg: &mut String, points: &[(f64, f64)], colour: &str) {
        let path: Vec<String> = points
            .iter()
            .map(|(px, py)| format!("{:.1},{:.1}", self.x(*px), self.y(*py)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{}"/>"#,
            path.join(" ")
        );
    }
}

fn panel(
    svg: &mut String,
    top: f64,
    title: &str,
    unit: &str,
    points: &[(f64, f64)],
    end: f64,
    reference: Option<(f64, &str)>,
) {
    let ymax = points
        .iter()
        .map(|p| p.1)
        .chain(reference.map(|r| r.0))
        .fold(0.0, f64::max);
    let frame = Frame {
        top,
        x: axis(end),
        y: axis(ymax * 1.05),
    };
    frame.draw(svg, title, "s", unit);
    let plot_w = WIDTH - LEFT - RIGHT;
    let y = |v: f64| frame.y(v);
    if let Some((value, label)) = reference {
        let yv = y(value);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{yv}" y2="{yv}" stroke="#c33" stroke-dasharray="6 4"/><text x="{}" y="{}" font-size="11" fill="#c33" text-anchor="end">{label}</text>"##,
            LEFT + plot_w,
            LEFT + plot_w - 4.0,
            yv - 4.0,
        );
    }
    frame.polyline(svg, points, SERIES[0]);
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 10.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The report's run as an SVG document: TPS on top, latency below.
pub(crate) fn svg(report: &Report) -> String {
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let end = report.samples.last().map_or(1.0, |s| s.seconds);
    let tps = tps_series(&report.samples);
    let title = format!(
        "Committed TPS, 1 s window: mean {:.0}/s = {:.2} x raw ({} transfers, {} accounts)",
        report.tps, report.ratio, report.txs, report.accounts
    );
    let raw = format!(
        "raw Ed25519 batch verification {:.0}/s",
        report.raw_verify_per_s
    );
    let tps_reference = (report.raw_verify_per_s <= report.tps * 3.0)
        .then_some((report.raw_verify_per_s, raw.as_str()));
    panel(&mut svg, TOP, &title, "", &tps, end, tps_reference);
    let latency: Vec<(f64, f64)> = report
        .samples
        .iter()
        .map(|s| (s.seconds, s.latency_ms))
        .collect();
    let title = format!(
        "Latency, submission to durable commit (median per block): p50 {:.0} ms, p99 {:.0} ms",
        report.latency_ms.p50, report.latency_ms.p99
    );
    panel(
        &mut svg,
        TOP + PANEL + GAP,
        &title,
        "ms",
        &latency,
        end,
        None,
    );
    svg.push_str("</svg>\n");
    svg
}

/// Colours of the series of a [`curve`], in order.
const SERIES: [&str; 4] = ["#2a6fdb", "#c0392b", "#27ae60", "#8e44ad"];

/// Named series of (x, y) points as one SVG panel with a legend: `lamina bench --rate sweep`'s
/// latency against throughput.
pub(crate) fn curve(
    title: &str,
    series: &[(&str, &[(f64, f64)])],
    x_unit: &str,
    y_unit: &str,
) -> String {
    let height = TOP + PANEL + 70.0;
    let points = || series.iter().flat_map(|(_, points)| points.iter());
    let frame = Frame {
        top: TOP,
        x: axis(points().map(|p| p.0).fold(0.0, f64::max) * 1.05),
        y: axis(points().map(|p| p.1).fold(0.0, f64::max) * 1.05),
    };
    let x = |v: f64| frame.x(v);
    let y = |v: f64| frame.y(v);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    frame.draw(&mut svg, title, x_unit, y_unit);
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = SERIES[i % SERIES.len()];
        frame.polyline(&mut svg, points, colour);
        for (px, py) in points.iter() {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                x(*px),
                y(*py)
            );
        }
        let legend_x = LEFT + 12.0 + 90.0 * i as f64;
        let legend_y = TOP + PANEL + 44.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x}" x2="{}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}" font-size="12">{name}</text>"#,
            legend_x + 24.0,
            legend_x + 30.0,
            legend_y + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_the_rate_over_the_last_second() {
        let samples: Vec<Sample> = (1..=20)
            .map(|i| Sample {
                seconds: f64::from(i) * 0.25,
                committed: u64::from(i as u32) * 2_500,
                latency_ms: 100.0,
            })
            .collect();
        let series = tps_series(&samples);
        // 2,500 transactions every quarter second.
        for (_, tps) in &series[4..] {
            assert!((tps - 10_000.0).abs() < 1.0, "{tps}");
        }
    }

    #[test]
    fn a_curve_draws_each_series_and_names_it() {
        let p50 = [(500.0, 210.0), (750.0, 230.0), (1_100.0, 400.0)];
        let p99 = [(500.0, 400.0), (750.0, 520.0), (1_100.0, 2_400.0)];
        let svg = curve("t", &[("p50", &p50), ("p99", &p99)], "tx/s", "ms");
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(svg.contains(">p50</text>") && svg.contains(">p99</text>"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn axes_round_up_to_tidy_steps() {
        assert_eq!(axis(43_000.0), (50_000.0, 10_000.0));
        assert_eq!(axis(7.3), (8.0, 2.0));
        assert_eq!(axis(0.9), (1.0, 0.2));
    }
}
