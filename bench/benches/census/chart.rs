//! The census as a picture: peak OS threads and requests/s per peer, as SVG.
//!
//! Two bar panels side by side, one row per peer, each bar labelled with its value.
//! Written by hand (a few rectangles and text elements) rather than with a plotting
//! crate: the chart is simple, and the bench stays light to build.

use std::fmt::Write;

use crate::report::{Context, Row};

const WIDTH: f64 = 960.0;
const LABEL_RIGHT: f64 = 300.0;
const THREADS_X: f64 = 315.0;
const RATE_X: f64 = 650.0;
const PANEL: f64 = 250.0;
const TOP: f64 = 92.0;
const ROW: f64 = 34.0;
const BAR: f64 = 22.0;

pub fn svg(cx: &Context, rows: &[Row]) -> String {
    let height = TOP + ROW * rows.len() as f64 + 12.0;
    let summaries: Vec<_> = rows.iter().map(Row::summary).collect();
    let peak = summaries.iter().flatten().map(|sum| sum.most_threads).max().unwrap_or(1).max(1);
    let fastest = summaries.iter().flatten().map(|sum| sum.median_requests_per_second).fold(1.0, f64::max);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let title = format!("Thread census: {} GETs, at most {} in flight, localhost resolved by name", cx.n, cx.c);
    let _ = writeln!(s, r#"<text x="16" y="26" font-size="17" font-weight="bold">{}</text>"#, escape(&title));
    let _ =
        writeln!(s, r##"<text x="16" y="46" fill="#555">{}</text>"##, escape(&format!("{}, {}", cx.date, cx.machine)));
    let _ = writeln!(
        s,
        r#"<text x="{THREADS_X}" y="76" font-weight="bold">peak OS threads (range over {} runs)</text>"#,
        cx.runs
    );
    let _ = writeln!(s, r#"<text x="{RATE_X}" y="76" font-weight="bold">requests/s (median, incl. start-up)</text>"#);

    for (i, (row, summary)) in rows.iter().zip(&summaries).enumerate() {
        let y = TOP + ROW * i as f64;
        let text_y = y + BAR / 2.0 + 5.0;
        let _ = writeln!(s, r#"<text x="{LABEL_RIGHT}" y="{text_y}" text-anchor="end">{}</text>"#, escape(row.label));
        let colour = if row.name.starts_with("onethread") { "#2a9d5c" } else { "#c8553d" };
        match (summary, &row.outcome) {
            (Some(sum), _) => {
                let length = PANEL * sum.most_threads as f64 / peak as f64;
                bar(&mut s, THREADS_X, y, length, colour, &sum.threads());
                let rate = sum.median_requests_per_second;
                bar(&mut s, RATE_X, y, PANEL * rate / fastest, "#4a78b5", &format!("{rate:.0}"));
            }
            (None, Err(why)) => {
                let short: String = why.chars().take(70).collect();
                let _ = writeln!(
                    s,
                    r##"<text x="{THREADS_X}" y="{text_y}" fill="#888" font-style="italic">{}</text>"##,
                    escape(&short)
                );
            }
            (None, Ok(_)) => {} // no runs (`--runs 0` is raised to 1): nothing to draw
        }
    }
    s.push_str("</svg>\n");
    s
}

/// A bar of `length` pixels (at least 2, so that 1 thread stays visible) and its value.
fn bar(s: &mut String, x: f64, y: f64, length: f64, colour: &str, value: &str) {
    let length = length.max(2.0);
    let _ = writeln!(s, r#"<rect x="{x}" y="{y}" width="{length:.1}" height="{BAR}" fill="{colour}"/>"#);
    let _ = writeln!(s, r#"<text x="{:.1}" y="{}">{value}</text>"#, x + length + 6.0, y + BAR / 2.0 + 5.0);
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
