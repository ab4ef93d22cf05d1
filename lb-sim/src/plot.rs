//! `--plot DIR`: one SVG per scenario, `DIR/<file stem>.svg`, with each run's
//! latency by percentile (log latency axis) and, for the best run and for
//! round robin, each backend's share of the requests over simulated time.
//!
//! plotters' SVG backend writes text as `<text>` elements and sizes it by an
//! estimate, so no font is read, and the same results give the same bytes.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::ScenarioResult;
use crate::scenario::{EventKind, Scenario};
use crate::stats::{PlotData, CURVE_NINES, CURVE_STEPS_PER_NINE};

const WIDTH: u32 = 1000;
const TOP_HEIGHT: u32 = 440;
const BOTTOM_HEIGHT: u32 = 420;
/// Backends are named in a share panel's legend only up to this many.
const MAX_LEGEND_BACKENDS: usize = 10;
/// The right margin of a share panel that holds its legend, in pixels.
const LEGEND_WIDTH: u32 = 104;

/// Line colours (a common ten-colour palette for categories), taken in order.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0x79, 0x70, 0x6e),
];

const GREY: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// Where `--plot DIR` writes the picture of a scenario read from `file`.
pub fn svg_path(dir: &Path, file: &str) -> PathBuf {
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".to_string());
    dir.join(format!("{stem}.svg"))
}

/// The SVG document for one scenario's results; the runs must have been
/// recorded for plotting (`run_all_with(.., true)`).
pub fn svg(sc: &Scenario, res: &ScenarioResult) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, TOP_HEIGHT + BOTTOM_HEIGHT))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(TOP_HEIGHT);
        latency_panel(&top, res).map_err(|e| e.to_string())?;

        // The best run, and round robin beside it when it is another run.
        let best = res.best();
        let rr = res.results.iter().position(|r| r.strategy == "round_robin");
        let mut panels: Vec<(usize, String)> = Vec::new();
        if let Some(b) = best {
            panels.push((b, format!("{} (best)", res.results[b].strategy)));
        }
        if let Some(r) = rr.filter(|&r| Some(r) != best) {
            panels.push((r, res.results[r].strategy.clone()));
        }
        let areas = match panels.len() {
            2 => {
                let (l, r) = bottom.split_horizontally(WIDTH / 2);
                vec![l, r]
            }
            _ => vec![bottom],
        };
        let mut shares = Vec::new();
        let mut bucket_s = 1.0;
        for (i, _) in &panels {
            let data = res.results[*i]
                .plot
                .as_ref()
                .ok_or("the run was not recorded for plotting")?;
            shares.push(share_lines(sc, data));
            bucket_s = data.bucket_s;
        }
        // One scale for both panels, so that they compare at a glance.
        let top = shares
            .iter()
            .flat_map(|l| l.iter().flatten())
            .map(|&(_, y)| y)
            .fold(0.0, f64::max);
        let y_max = (top * 1.1).clamp(0.1, 100.0);
        for (((_, title), lines), area) in panels.iter().zip(&shares).zip(&areas) {
            share_panel(area, sc, title, lines, bucket_s, y_max).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

type PanelResult = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn latency_panel(area: &DrawingArea<SVGBackend<'_>, Shift>, res: &ScenarioResult) -> PanelResult {
    // As far into the tail as every run has requests for: the last nine
    // shown has at least one request beyond it.
    let n = res
        .results
        .iter()
        .map(|r| r.requests)
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(1);
    let nines = ((n as f64).log10().floor() as u32).clamp(1, CURVE_NINES);
    let points = (nines * CURVE_STEPS_PER_NINE) as usize + 1;
    let curves: Vec<(&str, &[f64])> = res
        .results
        .iter()
        .map(|r| {
            let c = r.plot.as_ref().map_or(&[][..], |p| &p.latency_curve[..]);
            (r.strategy.as_str(), &c[..c.len().min(points)])
        })
        .collect();
    let positive = curves.iter().flat_map(|(_, c)| c.iter()).copied();
    let lo = positive
        .clone()
        .filter(|&v| v > 0.0)
        .fold(f64::MAX, f64::min);
    let hi = positive.fold(0.0, f64::max);
    let (lo, hi) = if lo <= hi && hi > 0.0 {
        (lo * 0.8, hi * 1.25)
    } else {
        (0.1, 10.0)
    };
    let best = res.best();

    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: latency by percentile", res.name),
            ("sans-serif", 20),
        )
        .margin(12)
        // Room for the last percentile's label.
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..nines as f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(nines as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| ms_label(*y))
        .x_desc("percentile of the measured requests")
        .y_desc("latency, ms (log scale)")
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;
    for (i, (name, curve)) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let is_best = Some(i) == best;
        let width = if is_best { 3 } else { 1 };
        let line = curve.iter().enumerate().map(|(j, &v)| {
            (
                j as f64 / CURVE_STEPS_PER_NINE as f64,
                if v > 0.0 { v } else { lo },
            )
        });
        let label = if is_best {
            format!("{name} (best)")
        } else {
            name.to_string()
        };
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(width)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .draw()?;
    Ok(())
}

/// Each backend's share, in %, per bucket that has requests: (bucket middle in
/// s, share). An added backend's line starts when it joins.
fn share_lines(sc: &Scenario, data: &PlotData) -> Vec<Vec<(f64, f64)>> {
    let backends = sc.total_backends();
    let mut from_bucket = vec![0usize; backends];
    for e in &sc.events {
        if let EventKind::Add { backend, .. } = e.kind {
            from_bucket[backend] = (e.at_s / data.bucket_s) as usize;
        }
    }
    let mut lines: Vec<Vec<(f64, f64)>> = vec![Vec::new(); backends];
    for (t, row) in data.picks.iter().enumerate() {
        let total: u64 = row.iter().map(|&c| c as u64).sum();
        if total == 0 {
            continue;
        }
        let x = (t as f64 + 0.5) * data.bucket_s;
        for (b, line) in lines.iter_mut().enumerate() {
            if t >= from_bucket[b] {
                let share = row.get(b).copied().unwrap_or(0) as f64 / total as f64 * 100.0;
                line.push((x, share));
            }
        }
    }
    lines
}

fn share_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    sc: &Scenario,
    title: &str,
    lines: &[Vec<(f64, f64)>],
    bucket_s: f64,
    y_max: f64,
) -> PanelResult {
    let legend = lines.len() <= MAX_LEGEND_BACKENDS;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("share per backend: {title}"), ("sans-serif", 16))
        .margin(12)
        // Room on the right for the legend, so that it hides no line.
        .margin_right(if legend { LEGEND_WIDTH } else { 24 })
        .x_label_area_size(40)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..sc.duration_s, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "simulated seconds ({} s buckets; grey: warm-up, dashed: events)",
            trim_number(bucket_s)
        ))
        .y_desc("% of the requests")
        .x_label_formatter(&|x| trim_number(*x))
        .y_label_formatter(&|y| trim_number(*y))
        .light_line_style(RGBColor(0xee, 0xee, 0xee))
        .draw()?;
    if sc.warmup_s > 0.0 {
        // Requests of the warm-up count here, not in the tables: shaded.
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, 0.0), (sc.warmup_s, y_max)],
            RGBColor(0xf0, 0xf0, 0xf0).filled(),
        )))?;
    }
    for e in &sc.events {
        chart.draw_series(DashedLineSeries::new(
            vec![(e.at_s, 0.0), (e.at_s, y_max)],
            6,
            4,
            RGBColor(0x44, 0x44, 0x44).stroke_width(1),
        ))?;
    }
    for (b, line) in lines.iter().enumerate() {
        let color = PALETTE[b % PALETTE.len()];
        chart.draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(1)))?;
    }
    if legend {
        // Drawn by hand in the right margin: plotters places its own legend
        // inside the plotting area.
        let (w, _) = area.dim_in_pixel();
        let x0 = w as i32 - LEGEND_WIDTH as i32 + 10;
        for b in 0..lines.len() {
            let y = 48 + 18 * b as i32;
            let color = PALETTE[b % PALETTE.len()];
            area.draw(&PathElement::new(
                vec![(x0, y), (x0 + 18, y)],
                color.stroke_width(2),
            ))?;
            area.draw(&Text::new(
                format!("backend {b}"),
                (x0 + 24, y - 6),
                ("sans-serif", 12),
            ))?;
        }
    }
    Ok(())
}

/// The percentile at x nines: 0 -> "0%", 2 -> "99%", 3 -> "99.9%".
fn percentile_label(x: f64) -> String {
    let nines = libm::round(x);
    if (x - nines).abs() > 1e-9 || nines < 0.0 {
        return String::new();
    }
    match nines as u32 {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        k => format!("99.{}%", "9".repeat(k as usize - 2)).replace(".%", "%"),
    }
}

fn ms_label(y: f64) -> String {
    if y >= 1.0 {
        trim_number(libm::round(y * 100.0) / 100.0)
    } else {
        format!("{y:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// A number without trailing zeros: 20 -> "20", 0.5 -> "0.5".
fn trim_number(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(4.0), "99.99%");
        assert_eq!(percentile_label(1.5), "");
    }

    #[test]
    fn file_stems() {
        let d = Path::new("out");
        assert_eq!(
            svg_path(d, "scenarios/02-slow-backend.toml"),
            Path::new("out/02-slow-backend.svg")
        );
        assert_eq!(svg_path(d, "x.y.toml"), Path::new("out/x.y.svg"));
    }
}
