//! `--plot FILE.svg`: a benchmark's rounds drawn beside its table, kvs and the peer side by side.
//!
//! Each row of the table is a group: one bar per system at its median, and a dot per round, all
//! as a ratio to the peer's median so rows of very different rates share one axis (1.0 is the
//! peer). The spread of the dots is the figure a ratio in the docs should be read with.
//!
//! Written by hand: the chart is bars, dots, a few lines and text, where a plotting crate would
//! add a font stack for nothing this needs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where charts go, if `--plot` asked for them.
static PLOT: OnceLock<PathBuf> = OnceLock::new();
/// Charts written so far: the second table of a run goes to `FILE-2.svg`, and so on.
static WRITTEN: AtomicUsize = AtomicUsize::new(0);

/// Makes every table of this run draw itself to `path`.
pub fn plot_to(path: Option<PathBuf>) {
    if let Some(path) = path {
        let _ = PLOT.set(path);
    }
}

/// One row of a table: its label, and each system's rates over the rounds.
pub(super) struct Group {
    pub(super) label: String,
    /// Per system (in the order of the chart's names), the rate of each round.
    pub(super) rounds: Vec<Vec<f64>>,
}

/// Draws `groups` (systems named `names`, the first the peer every ratio is to) if `--plot`
/// asked for it; returns the file written.
pub(super) fn draw(title: &str, names: &[&str], groups: &[Group]) -> Result<Option<PathBuf>, String> {
    let Some(path) = PLOT.get() else { return Ok(None) };
    let path = match WRITTEN.fetch_add(1, Ordering::Relaxed) {
        0 => path.clone(),
        n => numbered(path, n + 1),
    };
    std::fs::write(&path, svg(title, names, groups)).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(Some(path))
}

/// `FILE.svg` as `FILE-n.svg`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path.file_stem().map_or("plot".into(), |s| s.to_string_lossy().into_owned());
    let extension = path.extension().map_or("svg".into(), |e| e.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-{n}.{extension}"))
}

/// Colours of the systems, the peer first (colour-blind safe, from the Okabe–Ito palette).
const COLOURS: [&str; 4] = ["#999999", "#0072B2", "#E69F00", "#009E73"];

/// The chart's SVG text.
fn svg(title: &str, names: &[&str], groups: &[Group]) -> String {
    let (bar, gap, left, top, height) = (18.0, 22.0, 56.0, 48.0, 260.0);
    let group_width = bar * names.len() as f64 + gap;
    // Wide enough for the groups, the legend and the title (about 7 px a character).
    let width = (left + group_width * groups.len() as f64 + 20.0)
        .max(left + 150.0 * names.len() as f64)
        .max(left + 7.0 * title.chars().count() as f64);
    // The table's median, so a bar and the printed figure agree.
    let median =
        |rounds: &[f64]| if rounds.is_empty() { 0.0 } else { super::redis_tools::median(&mut rounds.to_vec()) };
    let ratios: Vec<Vec<(f64, Vec<f64>)>> = groups
        .iter()
        .map(|group| {
            let peer = median(&group.rounds[0]).max(f64::MIN_POSITIVE);
            let of = |rounds: &Vec<f64>| (median(rounds) / peer, rounds.iter().map(|r| r / peer).collect());
            group.rounds.iter().map(of).collect()
        })
        .collect();
    let highest =
        ratios.iter().flatten().flat_map(|(m, rounds)| rounds.iter().chain([m])).fold(1.0f64, |a, &b| a.max(b));
    let top_ratio = (highest * 4.0).ceil() / 4.0;
    let y = |ratio: f64| top + height - ratio / top_ratio * height;
    let mut out = String::new();
    let total_height = top + height + 70.0;
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{total_height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r#"<text x="{left}" y="18" font-size="13">{}</text>"#, escape(title));
    for (i, name) in names.iter().enumerate() {
        let x = left + 150.0 * i as f64;
        let _ = writeln!(out, r#"<rect x="{x}" y="28" width="10" height="10" fill="{}"/>"#, COLOURS[i % COLOURS.len()]);
        let _ = writeln!(out, r#"<text x="{}" y="37">{}</text>"#, x + 14.0, escape(name));
    }
    let mut tick = 0.0;
    while tick <= top_ratio + 1e-9 {
        let (line, colour) = if (tick - 1.0f64).abs() < 1e-9 { (1.5, "#333333") } else { (0.5, "#cccccc") };
        let _ = writeln!(
            out,
            r#"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="{line}"/>"#,
            width - 20.0,
            y(tick),
            y(tick)
        );
        let _ =
            writeln!(out, r#"<text x="{}" y="{:.1}" text-anchor="end">{tick:.2}×</text>"#, left - 6.0, y(tick) + 4.0);
        tick += 0.25;
    }
    for (g, (group, systems)) in groups.iter().zip(&ratios).enumerate() {
        let x0 = left + gap / 2.0 + group_width * g as f64;
        for (s, (median, rounds)) in systems.iter().enumerate() {
            let x = x0 + bar * s as f64;
            let colour = COLOURS[s % COLOURS.len()];
            let _ = writeln!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}" fill-opacity="0.55"><title>{} {}: {median:.2}× median</title></rect>"#,
                y(*median),
                bar - 2.0,
                y(0.0) - y(*median),
                escape(&group.label),
                escape(names[s])
            );
            for ratio in rounds {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{colour}" stroke="black" stroke-width="0.4"/>"#,
                    x + (bar - 2.0) / 2.0,
                    y(*ratio)
                );
            }
        }
        let label_x = x0 + (bar * systems.len() as f64) / 2.0;
        let label_y = top + height + 14.0;
        let _ = writeln!(
            out,
            r#"<text x="{label_x:.1}" y="{label_y:.1}" text-anchor="end" transform="rotate(-35 {label_x:.1} {label_y:.1})">{}</text>"#,
            escape(&group.label)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_bar_per_system_and_a_dot_per_round() {
        let groups = [
            Group { label: "SET -P 1".into(), rounds: vec![vec![100.0, 110.0, 90.0], vec![120.0, 125.0, 118.0]] },
            Group { label: "GET <&>".into(), rounds: vec![vec![200.0; 3], vec![150.0, 160.0, 170.0]] },
        ];
        let chart = svg("t", &["redis-server", "kvs"], &groups);
        assert_eq!(chart.matches("<circle").count(), 12);
        assert_eq!(chart.matches("fill-opacity").count(), 4);
        assert!(chart.contains("GET &lt;&amp;&gt;"), "labels are escaped");
        // kvs's SET median over redis's median: 120 / 100.
        assert!(chart.contains("SET -P 1 kvs: 1.20× median"));
        assert_eq!(numbered(Path::new("/tmp/a.svg"), 2), Path::new("/tmp/a-2.svg"));
    }
}
