//! `--plot FILE.png|FILE.svg`: loss and metric curves of a training history with plotters.
//!
//! Text (titles, tick labels, legends) needs a TrueType font: `NEUROXIDE_FONT=/path/font.ttf`,
//! else the first of a few common system fonts (DejaVu Sans, Liberation Sans, Arial). Without
//! one, the curves are drawn without text and a note says so.

use neuroxide::train::History;
use neuroxide::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a font for "sans-serif" once; returns whether text can be drawn.
fn font_available() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let mut paths: Vec<String> = std::env::var("NEUROXIDE_FONT").into_iter().collect();
        paths.extend(FONT_CANDIDATES.iter().map(|s| s.to_string()));
        for p in paths {
            if let Ok(bytes) = std::fs::read(&p) {
                // Registered fonts must live for the whole program.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// The panels: losses, then one per metric family (`accuracy`, `mae`, …) with its `val_` twin.
fn panels(history: &History) -> Vec<(String, Vec<(String, Vec<f64>)>)> {
    let names = history.names();
    let mut out: Vec<(String, Vec<(String, Vec<f64>)>)> = Vec::new();
    for n in &names {
        if n.starts_with("val_") || n == "lr" {
            continue;
        }
        let mut series = vec![(n.clone(), history.metric(n))];
        let v = format!("val_{n}");
        if names.contains(&v) {
            series.push((v.clone(), history.metric(&v)));
        }
        out.push((n.clone(), series));
    }
    // Validation-only entries (no training twin).
    for n in &names {
        if let Some(base) = n.strip_prefix("val_") {
            if !names.iter().any(|m| m == base) {
                out.push((n.clone(), vec![(n.clone(), history.metric(n))]));
            }
        }
    }
    out
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    history: &History,
    text: bool,
) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let panels = panels(history);
    if panels.is_empty() {
        return Err("the history is empty".into());
    }
    let first_epoch = history.epochs.first().map_or(0, |e| e.epoch) + 1;
    let areas = root.split_evenly((1, panels.len()));
    let colors = [BLUE, RED, GREEN, MAGENTA];
    for ((title, series), area) in panels.iter().zip(areas) {
        let values = series.iter().flat_map(|(_, v)| v.iter().copied());
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
        let (lo, hi) = if lo.is_finite() {
            let pad = ((hi - lo) * 0.05).max(1e-9);
            (lo - pad, hi + pad)
        } else {
            (0.0, 1.0)
        };
        let n = series.iter().map(|(_, v)| v.len()).max().unwrap_or(1);
        let x_range = first_epoch as f64..(first_epoch + n.max(2) - 1) as f64;
        let mut builder = ChartBuilder::on(&area);
        builder.margin(15);
        if text {
            builder
                .caption(title, ("sans-serif", 22))
                .x_label_area_size(35)
                .y_label_area_size(60);
        }
        let mut chart = builder.build_cartesian_2d(x_range, lo..hi).map_err(err)?;
        if text {
            chart.configure_mesh().x_desc("epoch").draw().map_err(err)?;
        } else {
            chart
                .configure_mesh()
                .x_labels(0)
                .y_labels(0)
                .draw()
                .map_err(err)?;
        }
        for (i, (name, v)) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            let points = v
                .iter()
                .enumerate()
                .filter(|(_, y)| y.is_finite())
                .map(|(e, &y)| ((first_epoch + e) as f64, y));
            let drawn = chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(err)?;
            if text {
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            }
        }
        if text {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// Writes the curves of `history` to `path` (PNG or SVG by extension).
pub fn write(history: &History, path: &Path) -> Result<()> {
    write_with(history, path, font_available())
}

/// [`write`] with text on or off.
pub fn write_with(history: &History, path: &Path, text: bool) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let size = (560 * panels(history).len().max(1) as u32, 420);
    let res = match ext.as_deref() {
        Some("png") => draw(
            BitMapBackend::new(path, size).into_drawing_area(),
            history,
            text,
        ),
        Some("svg") => draw(
            SVGBackend::new(path, size).into_drawing_area(),
            history,
            text,
        ),
        _ => {
            return Err(Error::invalid(format!(
                "--plot {}: the file name must end in .png or .svg",
                path.display()
            )))
        }
    };
    res.map_err(|e| Error::invalid(format!("--plot {}: {e}", path.display())))?;
    if !text {
        eprintln!(
            "note: no TrueType font found, so {} has no labels; set NEUROXIDE_FONT=/path/to/font.ttf",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuroxide::train::{EpochRecord, Logs};

    fn history() -> History {
        let mut h = History::default();
        for e in 0..5 {
            let mut l = Logs::new();
            l.set("loss", 1.0 / (e + 1) as f64);
            l.set("accuracy", 0.5 + 0.1 * e as f64);
            l.set("val_loss", 1.2 / (e + 1) as f64);
            l.set("val_accuracy", 0.4 + 0.1 * e as f64);
            l.set("lr", 0.01);
            h.epochs.push(EpochRecord {
                epoch: e,
                logs: l,
                seconds: 0.1,
            });
        }
        h
    }

    #[test]
    fn panels_pair_training_and_validation() {
        let p = panels(&history());
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].0, "loss");
        assert_eq!(p[0].1[1].0, "val_loss");
        assert_eq!(p[1].1.len(), 2);
    }

    #[test]
    fn writes_png_and_svg_with_and_without_text() {
        let dir = std::env::temp_dir().join(format!("neuroxide-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h = history();
        for (name, text) in [
            ("a.png", false),
            ("b.svg", false),
            ("c.svg", font_available()),
        ] {
            let p = dir.join(name);
            write_with(&h, &p, text).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            if name.ends_with(".png") {
                assert_eq!(&bytes[..4], b"\x89PNG");
            } else {
                let s = String::from_utf8(bytes).unwrap();
                assert!(s.contains("<svg") && s.contains("polyline"), "{s}");
                if text {
                    assert!(s.contains("val_loss"), "legend missing");
                }
            }
        }
        let e = write_with(&h, &dir.join("x.jpg"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must end in .png or .svg"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
