//! The comparison as a picture: CPU µs per request, per client, per server and C, as SVG.
//!
//! One horizontal bar per client, grouped under a heading per (server, C), each bar
//! labelled with its value; onethread in green, the others in red. Written by hand, as
//! the census's chart is: a few rectangles and text elements need no plotting crate.

use std::fmt::Write;

use crate::report::{Cell, Context};

const WIDTH: f64 = 900.0;
const LABEL_RIGHT: f64 = 300.0;
const BARS_X: f64 = 315.0;
const PANEL: f64 = 480.0;
const TOP: f64 = 70.0;
const HEADING: f64 = 30.0;
const ROW: f64 = 26.0;
const BAR: f64 = 18.0;

pub fn svg(cx: &Context, cells: &[Cell]) -> String {
    let mut groups: Vec<(String, Vec<&Cell>)> = Vec::new();
    for cell in cells {
        let title = format!("server {}, {}, C = {}", cell.server.name(), cell.mode.describe(), cell.c);
        match groups.iter_mut().find(|(t, _)| *t == title) {
            Some((_, members)) => members.push(cell),
            None => groups.push((title, vec![cell])),
        }
    }
    let height = TOP + groups.iter().map(|(_, m)| HEADING + ROW * m.len() as f64).sum::<f64>() + 12.0;
    let most = cells.iter().filter_map(Cell::summary).map(|s| s.cpu_us_per_request).fold(1e-9, f64::max);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let runs = if cx.runs == 1 { "one run".to_owned() } else { format!("median of {} runs", cx.runs) };
    let title = format!("Client CPU µs per request ({runs}; shorter is better), {} GETs per run", cx.n);
    let _ = writeln!(s, r#"<text x="16" y="26" font-size="17" font-weight="bold">{}</text>"#, escape(&title));
    let _ =
        writeln!(s, r##"<text x="16" y="46" fill="#555">{}</text>"##, escape(&format!("{}, {}", cx.date, cx.machine)));

    let mut y = TOP;
    for (title, members) in &groups {
        let _ = writeln!(s, r#"<text x="16" y="{}" font-weight="bold">{}</text>"#, y + 18.0, escape(title));
        y += HEADING;
        for cell in members {
            let text_y = y + BAR / 2.0 + 5.0;
            let _ =
                writeln!(s, r#"<text x="{LABEL_RIGHT}" y="{text_y}" text-anchor="end">{}</text>"#, escape(cell.label));
            match cell.summary() {
                Some(sum) => {
                    let colour = if cell.client == "onethread" { "#2a9d5c" } else { "#c8553d" };
                    let length = (PANEL * sum.cpu_us_per_request / most).max(2.0);
                    let _ = writeln!(
                        s,
                        r#"<rect x="{BARS_X}" y="{y}" width="{length:.1}" height="{BAR}" fill="{colour}"/>"#
                    );
                    let _ = writeln!(
                        s,
                        r#"<text x="{:.1}" y="{text_y}">{:.2} µs</text>"#,
                        BARS_X + length + 6.0,
                        sum.cpu_us_per_request
                    );
                }
                None => {
                    let why: String = cell.error().unwrap_or("no runs").chars().take(70).collect();
                    let _ = writeln!(
                        s,
                        r##"<text x="{BARS_X}" y="{text_y}" fill="#888" font-style="italic">{}</text>"##,
                        escape(&why)
                    );
                }
            }
            y += ROW;
        }
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
