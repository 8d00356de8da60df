//! Inline SVG line charts for `report.html`: drawn here so the HTML needs no script
//! and no network. Only drawing lives here; the figures come from the model as given.

use std::fmt::Write;

use super::format::escape_markup;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 46.0;
/// Above this many points a series is drawn as a line only, without a dot per point.
const MAX_DOTS: usize = 40;

/// How x values are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XScale {
    /// Plain linear axis (seconds on a timeline).
    Linear,
    /// x is a percentile (0..=100) placed on a log scale of 1/(1-p), so the tail
    /// (99%, 99.9%, ...) gets as much room as the body, as HdrHistogram plots do.
    /// The 100th percentile (the maximum) is drawn at the right edge, labelled "max".
    Percentile,
}

/// One line on a chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// A CSS colour.
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

/// A shaded x range with a label (a step's span on a timeline).
#[derive(Debug, Clone)]
pub struct Band {
    pub start: f64,
    pub end: f64,
    pub label: String,
}

/// A line chart with axes, grid, legend and optional shaded bands. The y axis starts
/// at zero so a small change is not drawn as a large one.
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub x_scale: XScale,
    /// Formats a y value for the axis (a duration, a byte count, a plain number).
    pub y_format: fn(f64) -> String,
    /// Ticks fall on round multiples of this (1 for counts and times, 1024 for bytes).
    pub y_tick_unit: f64,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
}

impl LineChart {
    /// The chart as an `<svg>` element that scales to its container's width.
    pub fn render(&self) -> String {
        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}"><title>{t}</title>"#,
            t = escape_markup(&self.title)
        );
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="18" class="ctitle">{}</text>"#,
            escape_markup(&self.title)
        );
        let points: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .collect();
        if points.is_empty() {
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="middle" class="empty">no data</text></svg>"#,
                WIDTH / 2.0,
                HEIGHT / 2.0
            );
            return svg;
        }
        let x_axis = XAxis::new(self.x_scale, &points, &self.bands);
        let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max);
        let unit = if self.y_tick_unit > 0.0 {
            self.y_tick_unit
        } else {
            1.0
        };
        let (y_top, y_ticks) = nice_ticks(y_max / unit);
        let (y_top, y_ticks): (f64, Vec<f64>) = (
            y_top * unit,
            y_ticks.into_iter().map(|t| t * unit).collect(),
        );
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let px = |x: f64| LEFT + x_axis.fraction(x) * plot_w;
        let py = |y: f64| TOP + plot_h - (y / y_top).clamp(0.0, 1.0) * plot_h;

        self.legend(&mut svg);
        for (i, band) in self.bands.iter().enumerate() {
            let (x0, x1) = (px(band.start), px(band.end.max(band.start)));
            // Alternating shades keep neighbouring steps apart.
            let _ = write!(
                svg,
                r#"<rect x="{x0:.1}" y="{TOP}" width="{w:.1}" height="{plot_h}" class="band{}"/>"#,
                i % 2,
                w = (x1 - x0).max(1.0)
            );
            // Label only where it fits, so short steps do not smear text over their neighbours.
            if x1 - x0 >= band.label.chars().count() as f64 * 6.5 + 6.0 {
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{}" class="blabel">{}</text>"#,
                    x0 + 3.0,
                    TOP + 11.0,
                    escape_markup(&band.label)
                );
            }
        }
        for &tick in &y_ticks {
            let y = py(tick);
            let _ = write!(
                svg,
                r#"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" text-anchor="end" class="tick">{}</text>"#,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                escape_markup(&(self.y_format)(tick))
            );
        }
        for (x, label) in x_axis.ticks() {
            let x = px(x);
            let _ = write!(
                svg,
                r#"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{:.1}" class="grid"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" class="tick">{}</text>"#,
                TOP + plot_h,
                TOP + plot_h + 16.0,
                escape_markup(&label)
            );
        }
        let _ = write!(
            svg,
            r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/><text x="{:.1}" y="{:.1}" text-anchor="middle" class="axis">{}</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 8.0,
            escape_markup(&self.x_label)
        );
        for s in &self.series {
            let path: Vec<String> = s
                .points
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2" stroke-linejoin="round"/>"#,
                path.join(" "),
                s.color
            );
            if s.points.len() <= MAX_DOTS {
                for &(x, y) in &s.points {
                    let _ = write!(
                        svg,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"><title>{}</title></circle>"#,
                        px(x),
                        py(y),
                        s.color,
                        escape_markup(&format!(
                            "{}: {} at {}",
                            s.name,
                            (self.y_format)(y),
                            x_axis.describe(x)
                        ))
                    );
                }
            }
        }
        svg.push_str("</svg>");
        svg
    }

    fn legend(&self, svg: &mut String) {
        let mut x = WIDTH - RIGHT;
        for s in self.series.iter().rev() {
            let text_w = s.name.chars().count() as f64 * 6.5;
            x -= text_w;
            let _ = write!(
                svg,
                r#"<text x="{x:.1}" y="18" class="legend">{}</text>"#,
                escape_markup(&s.name)
            );
            x -= 16.0;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="10" width="12" height="4" fill="{}"/>"#,
                s.color
            );
            x -= 12.0;
        }
    }
}

/// Places x values on the chosen scale and labels its ticks.
struct XAxis {
    scale: XScale,
    /// Upper end of the axis in scale units (seconds, or decades of 1/(1-p)).
    max: f64,
    has_maximum: bool,
}

impl XAxis {
    /// The axis spans the data and any bands, so timeline charts of one run line up.
    fn new(scale: XScale, points: &[(f64, f64)], bands: &[Band]) -> Self {
        match scale {
            XScale::Linear => {
                let data = points.iter().map(|p| p.0);
                let max = data.chain(bands.iter().map(|b| b.end)).fold(0.0, f64::max);
                XAxis {
                    scale,
                    max: if max > 0.0 { max } else { 1.0 },
                    has_maximum: false,
                }
            }
            XScale::Percentile => {
                let finite = points
                    .iter()
                    .filter(|p| p.0 < 100.0)
                    .map(|p| decades(p.0))
                    .fold(0.0, f64::max);
                // One decade past the last finite point, so the maximum has its own place.
                XAxis {
                    scale,
                    max: (finite.floor() + 1.0).max(2.0),
                    has_maximum: points.iter().any(|p| p.0 >= 100.0),
                }
            }
        }
    }

    fn fraction(&self, x: f64) -> f64 {
        let v = match self.scale {
            XScale::Linear => x,
            XScale::Percentile if x >= 100.0 => self.max,
            XScale::Percentile => decades(x),
        };
        (v / self.max).clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match self.scale {
            XScale::Linear => {
                // Ticks stop inside the axis, so it ends where the run ended.
                let (_, ticks) = nice_ticks(self.max * 0.99);
                ticks
                    .into_iter()
                    .filter(|&t| t <= self.max)
                    .map(|t| (t, super::format::number(t, 2)))
                    .collect()
            }
            XScale::Percentile => (0..=self.max as u32)
                .map(|d| {
                    let p = 100.0 - 100.0 / 10f64.powi(d as i32);
                    if d == self.max as u32 && self.has_maximum {
                        (100.0, "max".to_string())
                    } else {
                        (p, format!("{}%", super::format::number(p, 6)))
                    }
                })
                .collect(),
        }
    }

    fn describe(&self, x: f64) -> String {
        match self.scale {
            XScale::Linear => format!("{} s", super::format::number(x, 2)),
            XScale::Percentile if x >= 100.0 => "max".to_string(),
            XScale::Percentile => format!("p{}", super::format::number(x, 4)),
        }
    }
}

/// log10(1/(1-p)) for a percentile p in 0..100: 0 at p0, 1 at p90, 2 at p99...
fn decades(p: f64) -> f64 {
    let rest = (1.0 - p / 100.0).max(1e-9);
    -rest.log10()
}

/// A rounded axis top at or above `max` and 4 to 6 evenly spaced ticks from zero, with
/// steps of 1, 2 or 5 times a power of ten (no 2.5, so counts keep whole ticks).
fn nice_ticks(max: f64) -> (f64, Vec<f64>) {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return (1.0, vec![0.0, 1.0]);
    }
    let raw = max / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    let count = (max / step).ceil().max(1.0) as usize;
    let ticks = (0..=count).map(|i| i as f64 * step).collect();
    (count as f64 * step, ticks)
}

/// A `capacity` step's rungs as latency (p50, p99) against the offered rate, the rates
/// between the highest sustained and the lowest that broke shaded as the knee.
pub fn capacity_chart(step: &str, rungs: &[crate::report::model::CapacityRung]) -> String {
    let mut by_rate: Vec<_> = rungs.iter().collect();
    by_rate.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let line = |f: fn(&crate::report::model::CapacityRung) -> u64| -> Vec<(f64, f64)> {
        by_rate.iter().map(|r| (r.rate, f(r) as f64)).collect()
    };
    let held = by_rate
        .iter()
        .filter(|r| r.broke.is_empty())
        .map(|r| r.rate)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let broke = by_rate
        .iter()
        .filter(|r| !r.broke.is_empty())
        .map(|r| r.rate)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
    let bands = match (held, broke) {
        (Some(h), Some(b)) if b > h => vec![Band {
            start: h,
            end: b,
            label: "knee".into(),
        }],
        _ => vec![],
    };
    LineChart {
        title: format!(
            "{step}: echo latency by offered rate ({} rungs)",
            rungs.len()
        ),
        x_label: "offered rate (msg/s, all clients)".to_string(),
        x_scale: XScale::Linear,
        y_format: super::format::duration_us,
        y_tick_unit: 1.0,
        series: vec![
            Series {
                name: "p50".into(),
                color: "#4c78a8",
                points: line(|r| r.latency_p50_us),
            },
            Series {
                name: "p99".into(),
                color: "#e45756",
                points: line(|r| r.latency_p99_us),
            },
        ],
        bands,
    }
    .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(scale: XScale, points: Vec<(f64, f64)>) -> LineChart {
        LineChart {
            title: "echo <latency> & more".into(),
            x_label: "percentile".into(),
            x_scale: scale,
            y_format: |v| super::super::format::duration_us(v),
            y_tick_unit: 1.0,
            series: vec![Series {
                name: "latency".into(),
                color: "#c00",
                points,
            }],
            bands: vec![Band {
                start: 0.0,
                end: 5.0,
                label: "echo".into(),
            }],
        }
    }

    #[test]
    fn nice_ticks_cover_the_maximum() {
        assert_eq!(nice_ticks(9.0), (10.0, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]));
        let (top, ticks) = nice_ticks(1234.0);
        assert!(top >= 1234.0 && ticks.len() <= 7, "{top} {ticks:?}");
        assert_eq!(nice_ticks(0.0).0, 1.0);
    }

    #[test]
    fn percentile_axis_is_logarithmic_in_the_tail() {
        let axis = XAxis::new(
            XScale::Percentile,
            &[(0.0, 1.0), (99.9, 5.0), (100.0, 9.0)],
            &[],
        );
        assert_eq!(axis.max, 4.0);
        assert!((axis.fraction(90.0) - 0.25).abs() < 1e-9);
        assert!((axis.fraction(99.0) - 0.5).abs() < 1e-9);
        assert_eq!(axis.fraction(100.0), 1.0);
        let labels: Vec<String> = axis.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "max"]);
    }

    #[test]
    fn renders_escaped_well_formed_svg() {
        let svg = chart(
            XScale::Percentile,
            vec![(0.0, 100.0), (50.0, 300.0), (100.0, 900.0)],
        )
        .render();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        assert!(svg.contains("echo &lt;latency&gt; &amp; more"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains(">max</text>"));
    }

    #[test]
    fn empty_chart_says_so() {
        let svg = chart(XScale::Linear, vec![]).render();
        assert!(svg.contains("no data"));
        roxmltree::Document::parse(&svg).expect("well-formed SVG");
    }
}
