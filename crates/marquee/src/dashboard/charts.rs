//! Charts as inline SVG, drawn on the server: no script, nothing fetched. Each series differs by
//! its fill pattern or its line and marker shape as well as by colour, every chart has a legend
//! in words and a `<title>` per bar or point, and the pages put the same figures in a table
//! beside the chart: readable without colour, with a screen reader, and when printed.

use maud::{Markup, html};

use super::format::{fmt_int, fmt_ms};
use crate::db::run_log::RunDay;
use crate::domain::states::RunStatus;

use super::stats::HourCalls;

/// A chart's drawing area, in SVG units: text keeps its size in these units, so a chart meant
/// for a narrow panel is drawn on a narrower canvas rather than scaled down.
#[derive(Debug, Clone, Copy)]
pub struct Canvas {
    pub width: f64,
    pub height: f64,
}

impl Canvas {
    /// A chart that spans a page or a wide panel.
    pub const WIDE: Canvas = Canvas { width: 720.0, height: 240.0 };
    /// A chart in one column of the overview's grid.
    pub const NARROW: Canvas = Canvas { width: 400.0, height: 200.0 };

    fn plot_w(&self) -> f64 {
        self.width - LEFT - RIGHT
    }
    fn plot_h(&self) -> f64 {
        self.height - TOP - BOTTOM
    }
    fn base(&self) -> f64 {
        self.height - BOTTOM
    }
}

const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 30.0;

/// How a series is drawn: its colour and the pattern that tells it apart without colour.
#[derive(Clone, Copy)]
struct Look {
    label: &'static str,
    colour: &'static str,
    pattern: Pattern,
}

#[derive(Clone, Copy, PartialEq)]
enum Pattern {
    Solid,
    /// Diagonal stripes.
    Hatch,
    /// Crossed stripes.
    Cross,
    Dots,
    /// An outline only.
    Hollow,
}

fn run_look(status: RunStatus) -> Look {
    match status {
        RunStatus::Succeeded => Look { label: "succeeded", colour: "#2e7d32", pattern: Pattern::Solid },
        RunStatus::Partial => Look { label: "partial", colour: "#b26a00", pattern: Pattern::Hatch },
        RunStatus::Failed => Look { label: "failed", colour: "#c62828", pattern: Pattern::Cross },
        RunStatus::Abandoned => Look { label: "abandoned", colour: "#6a1b9a", pattern: Pattern::Dots },
        RunStatus::Running => Look { label: "running", colour: "#1565c0", pattern: Pattern::Hollow },
    }
}

/// The fill of a series: its colour, or the pattern defined in the chart's `<defs>`.
fn fill(chart: &str, look: &Look) -> String {
    match look.pattern {
        Pattern::Solid => look.colour.to_owned(),
        Pattern::Hollow => "#ffffff".to_owned(),
        _ => format!("url(#{chart}-{})", look.label),
    }
}

fn defs(chart: &str, looks: &[Look]) -> Markup {
    html! {
        defs {
            @for look in looks {
                @match look.pattern {
                    Pattern::Hatch => {
                        pattern id=(format!("{chart}-{}", look.label)) width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                            rect width="6" height="6" fill=(look.colour) {}
                            line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2.5" {}
                        }
                    }
                    Pattern::Cross => {
                        pattern id=(format!("{chart}-{}", look.label)) width="6" height="6" patternUnits="userSpaceOnUse" {
                            rect width="6" height="6" fill=(look.colour) {}
                            path d="M0 0L6 6M6 0L0 6" stroke="#ffffff" stroke-width="1.2" {}
                        }
                    }
                    Pattern::Dots => {
                        pattern id=(format!("{chart}-{}", look.label)) width="5" height="5" patternUnits="userSpaceOnUse" {
                            rect width="5" height="5" fill="#ffffff" {}
                            circle cx="2.5" cy="2.5" r="1.6" fill=(look.colour) {}
                        }
                    }
                    Pattern::Solid | Pattern::Hollow => {}
                }
            }
        }
    }
}

/// The legend along the top: a swatch drawn like its series, and its name.
fn legend(chart: &str, looks: &[Look]) -> Markup {
    html! {
        g class="legend" {
            @for (i, look) in looks.iter().enumerate() {
                @let x = LEFT + i as f64 * 100.0;
                rect x=(x) y="8" width="14" height="14" fill=(fill(chart, look)) stroke=(look.colour) stroke-width="1.5" {}
                text x=(x + 19.0) y="20" font-size="12" fill="#333333" { (look.label) }
            }
        }
    }
}

/// The top of an axis of counts: four round steps, so that its five lines are whole numbers.
fn count_max(max: f64) -> f64 {
    4.0 * nice_max((max / 4.0).max(1.0))
}

/// A round top for an axis of `max`: 1, 2 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= max).unwrap_or(10.0 * magnitude)
}

/// Horizontal grid lines with their values on the left axis.
fn y_axis(c: Canvas, max: f64, label: impl Fn(f64) -> String) -> Markup {
    html! {
        g class="axis" {
            @for i in 0..=4 {
                @let value = max * f64::from(i) / 4.0;
                @let y = c.base() - c.plot_h() * f64::from(i) / 4.0;
                line x1=(LEFT) x2=(c.width - RIGHT) y1=(y) y2=(y) stroke="#e3e5e8" stroke-width="1" {}
                text x=(LEFT - 6.0) y=(y + 4.0) font-size="11" text-anchor="end" fill="#555555" { (label(value)) }
            }
        }
    }
}

fn svg_open(c: Canvas, id: &str, title: &str, description: &str, body: Markup) -> Markup {
    html! {
        svg id=(id) viewBox=(format!("0 0 {} {}", c.width, c.height)) role="img" aria-labelledby=(format!("{id}-title {id}-desc")) {
            title id=(format!("{id}-title")) { (title) }
            desc id=(format!("{id}-desc")) { (description) }
            (body)
        }
    }
}

/// A day's bar: one segment per series with runs, bottom up, as (look, top, height).
fn stack(c: Canvas, day: &RunDay, looks: &[Look], max: f64) -> Vec<(Look, f64, f64)> {
    let (mut base, plot_h) = (c.base(), c.plot_h());
    let mut segments = Vec::new();
    for look in looks {
        let n = day.by_status.iter().find(|(s, _)| run_look(*s).label == look.label).map_or(0, |(_, n)| *n);
        if n > 0 {
            let h = plot_h * n as f64 / max;
            base -= h;
            segments.push((*look, base, h));
        }
    }
    segments
}

/// Runs per day, stacked by how they ended.
pub fn run_outcomes(c: Canvas, id: &str, days: &[RunDay]) -> Markup {
    let looks: Vec<Look> =
        [RunStatus::Succeeded, RunStatus::Partial, RunStatus::Failed, RunStatus::Abandoned, RunStatus::Running]
            .into_iter()
            .map(run_look)
            .collect();
    let total = |d: &RunDay| d.by_status.iter().map(|(_, n)| n).sum::<i64>();
    let max = count_max(days.iter().map(total).max().unwrap_or(0) as f64);
    let slot = c.plot_w() / days.len().max(1) as f64;
    let body = html! {
        (defs(id, &looks))
        (legend(id, &looks))
        (y_axis(c, max, |v| fmt_int(v.round() as i64)))
        @for (i, day) in days.iter().enumerate() {
            @let x = LEFT + slot * i as f64 + slot * 0.15;
            @let summary = day.by_status.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("{n} {s}")).collect::<Vec<_>>().join(", ");
            g {
                title { (day.day) ": " @if summary.is_empty() { "no runs" } @else { (summary) } }
                @for (look, top, h) in stack(c, day, &looks, max) {
                    rect x=(x) y=(top) width=(slot * 0.7) height=(h) fill=(fill(id, &look)) stroke=(look.colour) stroke-width="1" {}
                }
            }
            @if i % 5 == days.len().saturating_sub(1) % 5 {
                text x=(x + slot * 0.35) y=(c.height - 10.0) font-size="11" text-anchor="middle" fill="#555555" { (day.day.format("%m-%d")) }
            }
        }
    };
    svg_open(
        c,
        id,
        "Runs per day by outcome",
        "Stacked bars: runs started each UTC day, split by how they ended.",
        body,
    )
}

/// Median and longest run duration per day: two lines, told apart by dash and marker shape.
pub fn run_durations(c: Canvas, id: &str, days: &[RunDay]) -> Markup {
    let max = nice_max(days.iter().filter_map(|d| d.max_duration_ms).max().unwrap_or(0) as f64);
    let slot = c.plot_w() / days.len().max(1) as f64;
    let point = |i: usize, ms: i64| (LEFT + slot * (i as f64 + 0.5), c.base() - c.plot_h() * ms as f64 / max);
    let path = |values: Vec<(usize, i64)>| {
        values
            .iter()
            .enumerate()
            .map(|(k, (i, ms))| {
                let (x, y) = point(*i, *ms);
                format!("{}{x:.1} {y:.1}", if k == 0 { "M" } else { "L" })
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let medians: Vec<(usize, i64)> =
        days.iter().enumerate().filter_map(|(i, d)| d.p50_duration_ms.map(|v| (i, v))).collect();
    let longest: Vec<(usize, i64)> =
        days.iter().enumerate().filter_map(|(i, d)| d.max_duration_ms.map(|v| (i, v))).collect();
    let body = html! {
        g class="legend" {
            circle cx=(LEFT + 7.0) cy="15" r="4" fill="#0b57d0" {}
            line x1=(LEFT - 4.0) x2=(LEFT + 18.0) y1="15" y2="15" stroke="#0b57d0" stroke-width="2" {}
            text x=(LEFT + 24.0) y="20" font-size="12" fill="#333333" { "median (solid, circles)" }
            rect x=(LEFT + 197.0) y="11" width="8" height="8" fill="#b3261e" {}
            line x1=(LEFT + 186.0) x2=(LEFT + 216.0) y1="15" y2="15" stroke="#b3261e" stroke-width="2" stroke-dasharray="5 3" {}
            text x=(LEFT + 222.0) y="20" font-size="12" fill="#333333" { "longest (dashed, squares)" }
        }
        (y_axis(c, max, |v| fmt_ms(Some(v.round() as i64))))
        path d=(path(medians.clone())) fill="none" stroke="#0b57d0" stroke-width="2" {}
        path d=(path(longest.clone())) fill="none" stroke="#b3261e" stroke-width="2" stroke-dasharray="5 3" {}
        @for (i, ms) in &medians {
            @let (x, y) = point(*i, *ms);
            circle cx=(x) cy=(y) r="3.5" fill="#0b57d0" { title { (days[*i].day) ": median " (fmt_ms(Some(*ms))) } }
        }
        @for (i, ms) in &longest {
            @let (x, y) = point(*i, *ms);
            rect x=(x - 3.5) y=(y - 3.5) width="7" height="7" fill="#b3261e" { title { (days[*i].day) ": longest " (fmt_ms(Some(*ms))) } }
        }
        @for (i, day) in days.iter().enumerate() {
            @if i % 5 == days.len().saturating_sub(1) % 5 {
                text x=(LEFT + slot * (i as f64 + 0.5)) y=(c.height - 10.0) font-size="11" text-anchor="middle" fill="#555555" { (day.day.format("%m-%d")) }
            }
        }
    };
    svg_open(
        c,
        id,
        "Run durations per day",
        "Lines: the median and the longest duration of the runs of each UTC day.",
        body,
    )
}

/// TMDB calls per hour: answered (solid) and errors (hatched) stacked.
pub fn hourly_calls(c: Canvas, id: &str, hours: &[HourCalls]) -> Markup {
    let looks = [
        Look { label: "answered", colour: "#0b57d0", pattern: Pattern::Solid },
        Look { label: "errors", colour: "#c62828", pattern: Pattern::Hatch },
    ];
    let max = count_max(hours.iter().map(|h| h.calls).max().unwrap_or(0) as f64);
    let slot = c.plot_w() / hours.len().max(1) as f64;
    // An hour label every ~70 units.
    let every = ((70.0 / slot).ceil() as usize).max(1);
    let body = html! {
        (defs(id, &looks))
        (legend(id, &looks))
        (y_axis(c, max, |v| fmt_int(v.round() as i64)))
        @for (i, hour) in hours.iter().enumerate() {
            @let x = LEFT + slot * i as f64 + slot * 0.1;
            @let ok = hour.calls - hour.errors;
            @let ok_h = c.plot_h() * ok as f64 / max;
            @let err_h = c.plot_h() * hour.errors as f64 / max;
            g {
                title { (hour.hour.format("%Y-%m-%d %H:00")) " UTC: " (fmt_int(hour.calls)) " calls, " (fmt_int(hour.errors)) " errors" }
                @if ok > 0 {
                    rect x=(x) y=(c.base() - ok_h) width=(slot * 0.8) height=(ok_h) fill=(fill(id, &looks[0])) {}
                }
                @if hour.errors > 0 {
                    rect x=(x) y=(c.base() - ok_h - err_h) width=(slot * 0.8) height=(err_h) fill=(fill(id, &looks[1])) stroke=(looks[1].colour) stroke-width="1" {}
                }
            }
            @if i % every == hours.len().saturating_sub(1) % every {
                text x=(x + slot * 0.4) y=(c.height - 10.0) font-size="11" text-anchor="middle" fill="#555555" { (hour.hour.format("%d %H:00")) }
            }
        }
    };
    svg_open(c, id, "TMDB calls per hour", "Stacked bars: TMDB calls of each UTC hour, answered and errors.", body)
}

/// Calls by latency bucket.
pub fn latency_histogram(c: Canvas, id: &str, buckets: &[(i32, i64)]) -> Markup {
    let max = count_max(buckets.iter().map(|(_, n)| *n).max().unwrap_or(0) as f64);
    let slot = c.plot_w() / buckets.len().max(1) as f64;
    let body = html! {
        (y_axis(c, max, |v| fmt_int(v.round() as i64)))
        @for (i, (le, n)) in buckets.iter().enumerate() {
            @let x = LEFT + slot * i as f64 + slot * 0.15;
            @let h = c.plot_h() * *n as f64 / max;
            rect x=(x) y=(c.base() - h) width=(slot * 0.7) height=(h) fill="#0b57d0" {
                title { (super::format::le_label(*le)) ": " (fmt_int(*n)) " calls" }
            }
            text x=(x + slot * 0.35) y=(c.height - 10.0) font-size="11" text-anchor="middle" fill="#555555" { (super::format::le_label(*le)) }
        }
    };
    svg_open(c, id, "TMDB call latency", "Bars: calls by latency bucket (upper bound in milliseconds).", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(480.0), 500.0);
        assert_eq!(nice_max(1000.0), 1000.0);
        assert_eq!(count_max(2.0), 4.0, "five lines of whole numbers");
        assert_eq!(count_max(13.0), 20.0);
    }

    #[test]
    fn svg_elements_are_closed_and_patterns_are_defined_once_per_chart() {
        let day = |n: i64| RunDay {
            day: chrono::NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
            by_status: RunStatus::ALL.iter().map(|s| (*s, if *s == RunStatus::Partial { n } else { 1 })).collect(),
            p50_duration_ms: Some(1200),
            max_duration_ms: Some(9000),
        };
        let svg = run_outcomes(Canvas::WIDE, "runs", &[day(2), day(0)]).into_string();
        assert!(svg.contains("<pattern id=\"runs-partial\""), "{svg}");
        assert!(svg.contains("fill=\"url(#runs-partial)\""));
        assert!(!svg.contains("<rect x=\"0\"/>") && svg.contains("</rect>"), "SVG in HTML needs end tags");
        assert!(
            svg.contains("<title>2026-05-01: 1 running, 1 succeeded, 2 partial, 1 failed, 1 abandoned</title>"),
            "{svg}"
        );
    }
}
