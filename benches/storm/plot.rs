//! The storm histogram as a PNG: one panel per close code and outage, one stepped line
//! per backoff strategy (dials per 100 ms window against time since the drop).

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::{Drop, Storm, STRATEGIES};

/// Fonts tried, in order (read at run time: ab_glyph draws text from a TTF in memory).
const FONTS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

const COLORS: [RGBColor; 5] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
];

fn load_font() -> Result<(), String> {
    for path in FONTS {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            return register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{path} is not a usable font"));
        }
    }
    Err(format!(
        "no TTF font found (looked for {})",
        FONTS.join(", ")
    ))
}

/// Draw `storms` of `clients` clients each into `path` (PNG, 1400 × 1000).
pub fn draw(storms: &[Storm], clients: u32, path: &Path) -> Result<(), String> {
    load_font()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let mut outages: Vec<Duration> = storms.iter().map(|s| s.outage).collect();
    outages.dedup();
    let root = BitMapBackend::new(path, (1400, 1000)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let title = format!(
        "Reconnect storm: {} simulated clients dropped at once — dials per 100 ms window",
        format_thousands(u64::from(clients))
    );
    let root = root
        .titled(&title, ("sans-serif", 26))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((2, outages.len().max(1)));
    for (row, drop) in [Drop::Restart1012, Drop::Plain1006].into_iter().enumerate() {
        for (col, outage) in outages.iter().enumerate() {
            let group: Vec<&Storm> = storms
                .iter()
                .filter(|s| s.drop == drop && s.outage == *outage)
                .collect();
            let area = &panels[row * outages.len() + col];
            panel(area, drop, *outage, &group).map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

fn format_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Windows holding the first 99.5 % of a storm's dials.
fn bulk(storm: &Storm) -> usize {
    let goal = storm.attempts as f64 * 0.995;
    let mut seen = 0u64;
    for (w, &n) in storm.windows.iter().enumerate() {
        seen += n;
        if seen as f64 >= goal {
            return w + 1;
        }
    }
    storm.windows.len()
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    drop: Drop,
    outage: Duration,
    storms: &[&Storm],
) -> Result<(), Box<dyn std::error::Error>> {
    // Up to where 99.5 % of each strategy's dials are made (the legend gives the end
    // of the longest tails), with room above the peaks for the legend.
    let windows = storms.iter().map(|s| bulk(s)).max().unwrap_or(1) + 2;
    let x_max = (windows as f64 * 0.1).max(0.5);
    let y_max = storms.iter().map(|s| s.peak()).max().unwrap_or(1) as f64 * 1.7;
    let what = match drop {
        Drop::Restart1012 => "close 1012 (service restart)",
        Drop::Plain1006 => "plain 1006 (dropped, no close frame)",
    };
    let server = if outage.is_zero() {
        "server back at once".to_string()
    } else {
        format!("server refuses dials for {} s", outage.as_secs_f64())
    };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{what}; {server}"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("seconds since the drop")
        .y_desc("dials per 100 ms")
        .y_label_formatter(&|y| format_thousands(*y as u64))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    for storm in storms {
        let i = STRATEGIES
            .iter()
            .position(|(_, name)| *name == storm.strategy)
            .unwrap_or(0);
        let color = COLORS[i % COLORS.len()];
        // Wider lines first, so that coinciding lines stay visible.
        let width = 6u32.saturating_sub(i as u32).max(2);
        let steps = storm.windows.iter().enumerate().flat_map(|(w, &count)| {
            let (a, b) = (w as f64 * 0.1, (w + 1) as f64 * 0.1);
            [(a, count as f64), (b, count as f64)]
        });
        let back = storm.all_back.map_or("not back".into(), |d| {
            format!("all back {:.2} s", d.as_secs_f64())
        });
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(width)))?
            .label(format!(
                "{} (peak {}, {back})",
                storm.strategy,
                format_thousands(storm.peak())
            ))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}
