//! The GPU panel's state: the utilisation and memory history behind its sparklines.

use crate::domain::GpuStatus;
use std::collections::{HashMap, VecDeque};

/// GPU history kept for sparklines: one sample a second for five minutes.
pub const GPU_HISTORY: usize = 300;

/// Per device index: (utilisation %, VRAM used %), oldest first, at most `GPU_HISTORY`.
#[derive(Debug, Clone, Default)]
pub struct GpuHistory {
    by_device: HashMap<u32, VecDeque<(u64, u64)>>,
}

impl GpuHistory {
    /// One point per device of a sample.
    pub fn record(&mut self, status: &GpuStatus) {
        if let GpuStatus::Available { devices, .. } = status {
            for d in devices {
                let h = self.by_device.entry(d.index).or_default();
                if h.len() == GPU_HISTORY {
                    h.pop_front();
                }
                let mem_pct = match (d.memory_used_bytes, d.memory_total_bytes) {
                    (Some(u), Some(t)) if t > 0 => u * 100 / t,
                    _ => 0,
                };
                h.push_back((d.utilization_pct.unwrap_or(0) as u64, mem_pct));
            }
        }
    }

    pub fn of(&self, device: u32) -> Option<&VecDeque<(u64, u64)>> {
        self.by_device.get(&device)
    }
}
