//! The GPU panel: utilisation, memory, temperature and power with sparklines, and which
//! container holds how much memory.

mod state;
pub use state::{GPU_HISTORY, GpuHistory};

use super::panel_block;
use crate::domain::GpuStatus;
use crate::ui::model::{App, Panel};
use crate::ui::text::*;
use crate::ui::theme::Theme;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline, Wrap};

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    if let Some(stack) = &app.swarm {
        // The swarm's GPUs are on its nodes: which node has which, and who holds them.
        return super::swarm::draw_nodes(frame, app, stack, area);
    }
    let theme = Theme { color: app.color };
    let block = panel_block(app, Panel::Gpu, Some(&app.gpu), vec![], area.width);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let devices = match &app.gpu.data {
        None => return,
        Some(GpuStatus::Unavailable { reason }) => {
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled("GPU unavailable", theme.warn()),
                    Line::styled(reason.clone(), theme.dim()),
                ])
                .wrap(Wrap { trim: true }),
                inner,
            );
            return;
        }
        Some(GpuStatus::Available { devices, .. }) => devices,
    };
    let mut y = inner.y;
    let bottom = inner.y + inner.height;
    for d in devices {
        if y >= bottom {
            break;
        }
        let util = d.utilization_pct.unwrap_or(0);
        let (used, total) = (
            d.memory_used_bytes.unwrap_or(0),
            d.memory_total_bytes.unwrap_or(0),
        );
        let mem_pct = (used * 100).checked_div(total).unwrap_or(0);
        let temp = d.temperature_c.map_or("-".into(), |t| format!("{t}°C"));
        let power = match (d.power_mw, d.power_limit_mw) {
            (Some(p), Some(l)) => format!("{}/{}W", p / 1000, l / 1000),
            (Some(p), None) => format!("{}W", p / 1000),
            _ => "-".into(),
        };
        let hot = d.temperature_c.is_some_and(|t| t >= 85);
        let head = Line::from(vec![
            Span::styled(
                format!("{} {} ", d.index, shorten(&d.name, 22)),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled(temp, if hot { theme.bad() } else { Style::default() }),
            Span::raw(format!(" {power}")),
        ]);
        frame.render_widget(Paragraph::new(head), Rect::new(inner.x, y, inner.width, 1));
        y += 1;
        let history = app.gpu_history.of(d.index);
        let label_w = 16u16;
        for (label, value, series) in [
            (
                "util",
                format!("{util:>3}%"),
                history.map(|h| h.iter().map(|(u, _)| *u).collect::<Vec<_>>()),
            ),
            (
                "vram",
                format!("{}/{}", bytes(used), bytes(total)),
                history.map(|h| h.iter().map(|(_, m)| *m).collect::<Vec<_>>()),
            ),
        ] {
            if y >= bottom {
                break;
            }
            let pct = if label == "util" {
                util as u64
            } else {
                mem_pct
            };
            let style = if pct >= 95 {
                theme.bad()
            } else if pct >= 80 {
                theme.warn()
            } else {
                theme.good()
            };
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::raw(format!("{label} ")),
                    Span::styled(value, style),
                ])),
                Rect::new(inner.x, y, label_w.min(inner.width), 1),
            );
            // A gauge of the current value, then the last minutes as a sparkline.
            let gauge_w = 10u16.min(inner.width.saturating_sub(label_w));
            let filled = (pct.min(100) as usize * gauge_w as usize).div_ceil(100);
            let bar = format!(
                "{}{}",
                "█".repeat(filled),
                "░".repeat(gauge_w as usize - filled)
            );
            frame.render_widget(
                Paragraph::new(Span::styled(bar, style)),
                Rect::new(inner.x + label_w, y, gauge_w, 1),
            );
            let spark_x = label_w + gauge_w + 1;
            let spark_area =
                Rect::new(inner.x + spark_x, y, inner.width.saturating_sub(spark_x), 1);
            let data = series.unwrap_or_default();
            let visible = &data[data.len().saturating_sub(spark_area.width as usize)..];
            frame.render_widget(
                Sparkline::default().data(visible).max(100).style(style),
                spark_area,
            );
            y += 1;
        }
        for p in &d.processes {
            if y >= bottom {
                break;
            }
            let who = p
                .container
                .clone()
                .unwrap_or_else(|| format!("pid {} (not a project container)", p.pid));
            frame.render_widget(
                Paragraph::new(format!(
                    "  {} {}",
                    p.used_bytes.map_or("?".into(), bytes),
                    who
                )),
                Rect::new(inner.x, y, inner.width, 1),
            );
            y += 1;
        }
    }
}

/// A GPU sample: the history behind the sparklines gets one point per device.
pub fn on_sample(app: &mut App, status: GpuStatus, now: DateTime<Utc>) {
    app.gpu_history.record(&status);
    app.gpu.set(status, now);
}
