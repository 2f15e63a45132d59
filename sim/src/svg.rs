//! SVG output, written as plain SVG text (a timeline is rectangles and labels; a chart
//! library would add nothing here but dependencies): a timeline per run, one row per core
//! with a bar per poll coloured by lane, P rows above E rows; and a comparison chart of
//! makespan / bound per chip and policy.

use crate::engine::Outcome;
use crate::report::Row;
use hetsched::{CoreClass, Lane};
use std::fmt::Write;

/// The colour of a lane's bars.
pub fn lane_colour(lane: Lane) -> &'static str {
    match lane {
        Lane::Critical => "#d62728",
        Lane::Default => "#1f77b4",
        Lane::Utility => "#2ca02c",
        Lane::Background => "#9a9a9a",
    }
}

const POLICY_COLOURS: [&str; 7] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

const LEFT: f64 = 150.0;
const PLOT_W: f64 = 900.0;
const ROW_H: f64 = 14.0;
const CLASS_GAP: f64 = 8.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A timeline of each outcome (one panel per outcome, same time axis), as SVG text.
pub fn timeline(outcomes: &[&Outcome]) -> String {
    let span = outcomes.iter().map(|o| o.makespan_us).fold(1.0, f64::max);
    let panel_h = |o: &Outcome| o.cores.len() as f64 * ROW_H + CLASS_GAP + 40.0;
    let height: f64 = outcomes.iter().map(|o| panel_h(o)).sum::<f64>() + 60.0;
    let width = LEFT + PLOT_W + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    s += r#"<rect width="100%" height="100%" fill="white"/>"#;
    let mut y = 10.0;
    for o in outcomes {
        let _ = write!(
            s,
            r#"<text x="10" y="{:.1}" font-weight="bold">{} · {} · {}: makespan {:.1} ms, {:.2}x the fluid bound, {:.0}% of the work on E cores</text>"#,
            y + 12.0,
            escape(&o.chip),
            escape(&o.workload),
            escape(&o.policy),
            o.makespan_us / 1e3,
            o.over_bound(),
            o.efficiency_share() * 100.0
        );
        y += 22.0;
        let row_y = |core: usize| {
            let gap = if o.cores[core].class == CoreClass::Efficiency {
                CLASS_GAP
            } else {
                0.0
            };
            y + core as f64 * ROW_H + gap
        };
        for (c, core) in o.cores.iter().enumerate() {
            let tag = match core.class {
                CoreClass::Performance => "P",
                CoreClass::Efficiency => "E",
            };
            let fill = match core.class {
                CoreClass::Performance => "#f3f3f8",
                CoreClass::Efficiency => "#f8f3ea",
            };
            let _ = write!(
                s,
                r#"<rect x="{LEFT}" y="{:.1}" width="{PLOT_W}" height="{}" fill="{fill}"/><text x="10" y="{:.1}">{tag}{c} {} ({:.2})</text>"#,
                row_y(c),
                ROW_H - 1.0,
                row_y(c) + ROW_H - 3.0,
                escape(core.kind),
                core.speed
            );
        }
        // Merge bars closer than half a pixel on the same row and lane: a 10,000-task run
        // stays a small file.
        let px = |t: f64| LEFT + t / span * PLOT_W;
        let mut open: Vec<Option<(f64, f64, Lane)>> = vec![None; o.cores.len()];
        let flush = |s: &mut String, core: usize, bar: (f64, f64, Lane)| {
            let (x0, x1, lane) = bar;
            let _ = write!(
                s,
                r#"<rect x="{x0:.1}" y="{:.1}" width="{:.2}" height="{}" fill="{}"/>"#,
                row_y(core) + 1.0,
                (x1 - x0).max(0.5),
                ROW_H - 3.0,
                lane_colour(lane)
            );
        };
        for seg in &o.timeline {
            let (x0, x1) = (px(seg.start), px(seg.end));
            match open[seg.core] {
                Some((a, b, lane)) if lane == seg.lane && x0 - b < 0.5 => {
                    open[seg.core] = Some((a, b.max(x1), lane));
                }
                Some(bar) => {
                    flush(&mut s, seg.core, bar);
                    open[seg.core] = Some((x0, x1, seg.lane));
                }
                None => open[seg.core] = Some((x0, x1, seg.lane)),
            }
        }
        for (core, bar) in open.into_iter().enumerate() {
            if let Some(bar) = bar {
                flush(&mut s, core, bar);
            }
        }
        y += o.cores.len() as f64 * ROW_H + CLASS_GAP + 18.0;
    }
    // Time axis and legend.
    let step = nice_step(span / 1e3 / 8.0);
    let mut t = 0.0;
    while t <= span / 1e3 + 1e-9 {
        let x = LEFT + t * 1e3 / span * PLOT_W;
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#444"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{t} ms</text>"##,
            y - 4.0,
            y + 2.0,
            y + 14.0
        );
        t += step;
    }
    let mut x = LEFT;
    for lane in Lane::ALL {
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{:.1}" width="12" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            y + 24.0,
            lane_colour(lane),
            x + 16.0,
            y + 33.0,
            lane.as_str()
        );
        x += 100.0;
    }
    s += "</svg>\n";
    s
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-6);
    let base = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * base)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * base)
}

/// A grouped bar chart of makespan / bound for one workload: a group per chip (and speed),
/// a bar per policy, lines at the bound (1.0) and at the 1.2 target.
pub fn comparison(workload: &str, rows: &[&Row]) -> String {
    let mut groups: Vec<(String, f64)> = Vec::new();
    let mut policies: Vec<String> = Vec::new();
    for r in rows {
        if !groups.iter().any(|(c, s)| *c == r.chip && *s == r.speed) {
            groups.push((r.chip.clone(), r.speed));
        }
        if !policies.contains(&r.policy) {
            policies.push(r.policy.clone());
        }
    }
    let top = rows
        .iter()
        .map(|r| r.over_bound())
        .fold(1.5, f64::max)
        .min(6.0);
    let (left, plot_h, bar_w) = (50.0, 300.0, 12.0);
    let group_w = bar_w * policies.len() as f64 + 14.0;
    let width = left + group_w * groups.len() as f64 + 20.0;
    let height = plot_h + 120.0;
    let y_of = |v: f64| 30.0 + plot_h - v.min(top) / top * plot_h;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="10" y="18" font-weight="bold">{}: makespan / fluid bound (lower is better)</text>"#,
        escape(workload)
    );
    for (v, dash) in [(1.0, ""), (1.2, r#" stroke-dasharray="4 3""#)] {
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#444"{dash}/><text x="5" y="{:.1}">{v:.1}x</text>"##,
            width - 10.0,
            y_of(v) + 4.0,
            y = y_of(v)
        );
    }
    for (g, (chip, speed)) in groups.iter().enumerate() {
        let x0 = left + g as f64 * group_w + 7.0;
        for r in rows.iter().filter(|r| &r.chip == chip && r.speed == *speed) {
            let p = policies.iter().position(|p| *p == r.policy).unwrap_or(0);
            let y = y_of(r.over_bound());
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{y:.1}" width="{bar_w}" height="{:.1}" fill="{}"><title>{} {}: {:.2}x</title></rect>"#,
                x0 + p as f64 * bar_w,
                y_of(0.0) - y,
                POLICY_COLOURS[p % POLICY_COLOURS.len()],
                escape(chip),
                escape(&r.policy),
                r.over_bound()
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" transform="rotate(40 {:.1} {:.1})">{} @{:.2}</text>"#,
            x0,
            y_of(0.0) + 14.0,
            x0,
            y_of(0.0) + 14.0,
            escape(chip),
            speed
        );
    }
    for (p, name) in policies.iter().enumerate() {
        let x = left + p as f64 * 110.0;
        let _ = write!(
            s,
            r#"<rect x="{x}" y="{:.1}" width="12" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            height - 20.0,
            POLICY_COLOURS[p % POLICY_COLOURS.len()],
            x + 16.0,
            height - 11.0,
            escape(name)
        );
    }
    s += "</svg>\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chip::Chip;
    use crate::engine::{simulate, Config};
    use crate::policies::Hetsched;
    use crate::workload::Workload;

    #[test]
    fn a_timeline_has_a_row_per_core_and_bars_in_lane_colours() {
        let chip = Chip::by_name("m1").unwrap();
        let cfg = Config {
            timeline: true,
            ..Config::default()
        };
        let o = simulate(&chip, &Hetsched::shipped(), Workload::ProbeUnderBatch, &cfg).unwrap();
        let svg = timeline(&[&o]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("Firestorm").count(), 4);
        assert_eq!(svg.matches("Icestorm").count(), 4);
        assert!(svg.contains(lane_colour(Lane::Background)));
        assert!(svg.contains(lane_colour(Lane::Critical)));
        assert!(svg.len() < 2_000_000, "{} bytes", svg.len());
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.15), 0.2);
        assert_eq!(nice_step(10.0), 10.0);
    }
}
