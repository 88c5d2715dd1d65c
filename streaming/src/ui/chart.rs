//! Charts as plain SVG, rendered on the server: a timeline (with an optional reference line —
//! the batch interval — and an optional overlay — the rate limit) and a histogram. No chart
//! library, no script: the page is readable as it arrives and works offline.

use std::fmt::Write;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;
const RIGHT: f64 = 8.0;

/// A series of `(x, y)` points (x: ms since the epoch).
pub(crate) type Series<'a> = &'a [(i64, f64)];

/// One line on a timeline.
pub(crate) struct Line<'a> {
    pub(crate) points: Series<'a>,
    /// A CSS class (`main`, `limit`, `reference`).
    pub(crate) class: &'static str,
    pub(crate) label: &'a str,
}

/// A short number: 1.2k, 3.4M, 0.25.
pub(crate) fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A timeline of `lines` (the first is the main series), y from 0 to the largest value.
pub(crate) fn timeline(id: &str, unit: &str, lines: &[Line<'_>]) -> String {
    let all = || lines.iter().flat_map(|l| l.points.iter());
    let (x0, x1) = all().fold((i64::MAX, i64::MIN), |(a, b), (x, _)| {
        (a.min(*x), b.max(*x))
    });
    let ymax = all().map(|(_, y)| *y).fold(0.0f64, f64::max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart timeline" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{id}">"#
    );
    let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let _ = write!(
        svg,
        r#"<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>"#
    );
    if x0 > x1 {
        let _ = write!(
            svg,
            r#"<text class="empty" x="{}" y="{}">no completed batch yet</text></svg>"#,
            LEFT + 10.0,
            TOP + ph / 2.0
        );
        return svg;
    }
    let top = if ymax > 0.0 { ymax * 1.1 } else { 1.0 };
    let span = (x1 - x0).max(1) as f64;
    let px = |x: i64| LEFT + (x - x0) as f64 / span * pw;
    let py = |y: f64| TOP + ph - (y / top) * ph;
    for frac in [0.0, 0.5, 1.0] {
        let v = top * frac;
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{} {unit}</text>"#,
            LEFT + pw,
            LEFT - 4.0,
            py(v) + 4.0,
            short(v),
            y = py(v),
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="{LEFT}" y="{}">{}</text><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
        HEIGHT - 4.0,
        clock(x0),
        LEFT + pw,
        HEIGHT - 4.0,
        clock(x1)
    );
    for line in lines {
        if line.points.is_empty() {
            continue;
        }
        let mut d = String::new();
        for (i, (x, y)) in line.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { "L" },
                px(*x),
                py(*y)
            );
        }
        if line.points.len() == 1 {
            let _ = write!(d, "h2");
        }
        let _ = write!(
            svg,
            r#"<path class="{}" d="{d}"><title>{}</title></path>"#,
            line.class,
            super::page::escape(line.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A histogram of `values` in `bins` equal bins from 0 to the largest value.
pub(crate) fn histogram(id: &str, unit: &str, values: &[f64], bins: usize) -> String {
    let (w, h) = (220.0, HEIGHT);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart histogram" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-label="{id}">"#
    );
    let max = values.iter().copied().fold(0.0f64, f64::max);
    if values.is_empty() {
        svg.push_str("</svg>");
        return svg;
    }
    let bins = bins.max(1);
    let width = if max > 0.0 { max / bins as f64 } else { 1.0 };
    let mut counts = vec![0usize; bins];
    for v in values {
        let i = ((v / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let most = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let (pw, ph) = (w - 8.0, h - TOP - BOTTOM);
    let bar = pw / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let bh = *c as f64 / most * ph;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}"><title>{}–{} {unit}: {c} batches</title></rect>"#,
            4.0 + i as f64 * bar,
            TOP + ph - bh,
            (bar - 1.0).max(1.0),
            short(i as f64 * width),
            short((i + 1) as f64 * width),
        );
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="4" y="{}">0</text><text class="axis" x="{}" y="{}" text-anchor="end">{} {unit}</text></svg>"#,
        h - 4.0,
        w - 4.0,
        h - 4.0,
        short(max)
    );
    svg
}

/// `HH:MM:SS` (UTC) of a time in ms.
pub(crate) fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(2.0), "2");
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(3_400_000.0), "3.4M");
    }

    #[test]
    fn a_timeline_draws_every_line_and_an_empty_one_says_so() {
        let pts = [(0, 1.0), (1000, 3.0)];
        let limit = [(0, 2.0), (1000, 2.0)];
        let svg = timeline(
            "t",
            "ms",
            &[
                Line {
                    points: &pts,
                    class: "main",
                    label: "a",
                },
                Line {
                    points: &limit,
                    class: "limit",
                    label: "b",
                },
            ],
        );
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains(r#"class="limit""#));
        assert!(timeline("t", "ms", &[]).contains("no completed batch yet"));
    }

    #[test]
    fn a_histogram_counts_every_value() {
        let svg = histogram("h", "ms", &[1.0, 2.0, 2.0, 10.0], 5);
        assert_eq!(svg.matches("<rect").count(), 5);
        assert!(svg.contains(": 1 batches"));
    }
}
