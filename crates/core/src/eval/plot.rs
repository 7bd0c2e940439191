//! PNG plots of a run: the training-loss curve and accuracy against labels per class.

use anyhow::{Context, bail};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

const WIDTH: u32 = 900;
const HEIGHT: u32 = 600;

/// DejaVu Sans, bundled so that text renders on machines without system fonts (license in
/// `crates/core/fonts/LICENSE`).
static FONT: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

/// Colours of successive series and labels (Tableau 10).
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// plotters' `ab_glyph` backend knows only fonts registered at run time.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        if plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_err() {
            panic!("the bundled DejaVuSans.ttf is a valid TrueType font");
        }
    });
}

/// Plots `(step, loss)` points as a line; non-finite losses are left out.
pub fn plot_loss_curve(path: &Path, points: &[(f64, f64)], title: &str) -> anyhow::Result<()> {
    plot_curves(path, &[(String::new(), points.to_vec())], title, "loss")
}

/// Plots named `(step, value)` series as lines against the step, `y_desc` on the value axis (a
/// legend when there are several); non-finite points are left out.
pub fn plot_curves(
    path: &Path,
    series: &[(String, Vec<(f64, f64)>)],
    title: &str,
    y_desc: &str,
) -> anyhow::Result<()> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, pts)| {
            let pts = pts
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            (name.as_str(), pts)
        })
        .collect();
    let all = || series.iter().flat_map(|(_, pts)| pts.iter().copied());
    if all().next().is_none() {
        bail!(
            "{}: no finite (step, {y_desc}) points to plot",
            path.display()
        );
    }
    let (x_range, y_range) = (
        padded_range(all().map(|p| p.0)),
        padded_range(all().map(|p| p.1)),
    );
    render(path, |area| {
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 26))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc(y_desc)
            .label_style(("sans-serif", 16))
            .x_label_formatter(&|x| format!("{x}"))
            .draw()?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            if points.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(points[0], 4, color.filled())))?;
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 16))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    })
}

/// Plots accuracy (0..1, shown in %) against labels per class on a log axis, one line with
/// markers per named series.
pub fn plot_accuracy_vs_labels(
    path: &Path,
    series: &[(String, Vec<(f64, f64)>)],
    title: &str,
) -> anyhow::Result<()> {
    if series.iter().all(|(_, pts)| pts.is_empty()) {
        bail!("{}: no (labels, accuracy) points to plot", path.display());
    }
    for (name, pts) in series {
        if let Some(&(x, y)) = pts
            .iter()
            .find(|(x, y)| !(x.is_finite() && *x > 0.0 && y.is_finite()))
        {
            bail!(
                "{}: series {name:?} has point ({x}, {y}); labels per class must be positive \
                 (log axis) and accuracy finite",
                path.display()
            );
        }
    }
    let all = || series.iter().flat_map(|(_, pts)| pts.iter().copied());
    let (lo, hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (x, _)| {
        (lo.min(x), hi.max(x))
    });
    // Half a decade of room on each side keeps end markers off the frame.
    let x_range = (lo / 1.5)..(hi * 1.5);
    let y_max = all().map(|p| p.1).fold(1.0, f64::max) * 100.0;
    let y_min = all().map(|p| p.1).fold(0.0, f64::min) * 100.0;
    render(path, |area| {
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 26))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(x_range.log_scale(), y_min..y_max)?;
        chart
            .configure_mesh()
            .x_desc("labels per class")
            .y_desc("accuracy (%)")
            .label_style(("sans-serif", 16))
            .x_label_formatter(&|x| format!("{x}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| (x, y * 100.0)).collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// `min..max` of `values` with 5 % margin (a unit margin around a single value).
pub(crate) fn padded_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.5
    };
    (lo - pad)..(hi + pad)
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draws into an RGB buffer with `draw`, then writes it as PNG to `path` via a temporary file.
pub(crate) fn render<F>(path: &Path, draw: F) -> anyhow::Result<()>
where
    F: FnOnce(Area<'_>) -> Result<(), Box<dyn std::error::Error + '_>>,
{
    register_font();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        area.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("{}: drawing failed: {e}", path.display()))?;
        draw(area.clone())
            .map_err(|e| anyhow::anyhow!("{}: drawing failed: {e}", path.display()))?;
        area.present()
            .map_err(|e| anyhow::anyhow!("{}: drawing failed: {e}", path.display()))?;
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&buf, WIDTH, HEIGHT, image::ExtendedColorType::Rgb8)
        .with_context(|| format!("{}: PNG encoding failed", path.display()))?;
    let tmp = tmp_path(path);
    std::fs::write(&tmp, &png).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_png(path: &Path) {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 1000, "{} bytes", bytes.len());
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
        assert_eq!((img.width(), img.height()), (WIDTH, HEIGHT));
        // Something besides the white background was drawn.
        let rgb = img.to_rgb8();
        let dark = rgb
            .pixels()
            .filter(|p| p.0.iter().all(|&c| c < 100))
            .count();
        assert!(dark > 500, "only {dark} dark pixels");
        assert!(!tmp_path(path).exists());
    }

    #[test]
    fn loss_curve_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let points: Vec<(f64, f64)> = (0..200)
            .map(|s| (s as f64, 5.0 * (-(s as f64) / 50.0).exp() + 0.3))
            .chain([(200.0, f64::NAN)])
            .collect();
        plot_loss_curve(&path, &points, "SimCLR loss").unwrap();
        assert_png(&path);
        // One point, and a constant curve.
        plot_loss_curve(&path, &[(3.0, 1.5)], "one point").unwrap();
        assert_png(&path);
        plot_loss_curve(&path, &[(0.0, 2.0), (10.0, 2.0)], "flat").unwrap();
        assert_png(&path);
    }

    #[test]
    fn loss_curve_without_points_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let err = plot_loss_curve(&path, &[], "t").unwrap_err().to_string();
        assert!(
            err.contains("loss.png") && err.contains("no finite"),
            "{err}"
        );
        assert!(plot_loss_curve(&path, &[(1.0, f64::INFINITY)], "t").is_err());
        assert!(!path.exists());
    }

    #[test]
    fn accuracy_vs_labels_png() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acc.png");
        let series = vec![
            (
                "SSL + k-NN".to_string(),
                vec![(1.0, 0.41), (10.0, 0.72), (100.0, 0.88), (6000.0, 0.95)],
            ),
            (
                "supervised".to_string(),
                vec![(1.0, 0.2), (10.0, 0.55), (100.0, 0.85), (6000.0, 0.98)],
            ),
        ];
        plot_accuracy_vs_labels(&path, &series, "accuracy vs labels").unwrap();
        assert_png(&path);
        let single = vec![("linear".to_string(), vec![(10.0, 0.5)])];
        plot_accuracy_vs_labels(&path, &single, "one point").unwrap();
        assert_png(&path);
    }

    #[test]
    fn accuracy_vs_labels_rejects_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acc.png");
        assert!(plot_accuracy_vs_labels(&path, &[], "t").is_err());
        let empty = vec![("a".to_string(), vec![])];
        assert!(plot_accuracy_vs_labels(&path, &empty, "t").is_err());
        let zero = vec![("a".to_string(), vec![(0.0, 0.5)])];
        let err = plot_accuracy_vs_labels(&path, &zero, "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be positive"), "{err}");
        assert!(!path.exists());
    }
}
