//! GPUs through NVML (nvml-wrapper loads libnvidia-ml at run time).
//!
//! No library, no driver or no permission is a normal state on many machines, so it becomes
//! `GpuStatus::Unavailable(reason)`, never an error that stops the console. NVML calls block,
//! so callers run `sample` on a blocking thread.

use crate::domain::{GpuDevice, GpuProcess, GpuStatus};
use chrono::Utc;
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use std::ffi::OsStr;
use std::path::Path;

/// NVML could not be loaded or initialised: why, in the operator's terms.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct GpuUnavailable {
    pub reason: String,
}

pub struct GpuSource {
    nvml: Nvml,
}

impl GpuSource {
    /// Load NVML from `library` (empty: the loader's default search for libnvidia-ml.so.1).
    pub fn open(library: &str) -> Result<Self, GpuUnavailable> {
        let mut builder = Nvml::builder();
        if !library.is_empty() {
            builder.lib_path(OsStr::new(library));
        }
        builder
            .init()
            .map(|nvml| Self { nvml })
            .map_err(|e| GpuUnavailable {
                reason: unavailable_reason(&e, library),
            })
    }

    /// One reading of every device. Per-metric failures (a field the card does not support)
    /// leave that field empty instead of failing the device.
    pub fn sample(&self) -> GpuStatus {
        let count = match self.nvml.device_count() {
            Ok(c) => c,
            Err(e) => {
                return GpuStatus::Unavailable {
                    reason: format!("NVML could not count devices: {e}"),
                };
            }
        };
        let mut devices = Vec::with_capacity(count as usize);
        for index in 0..count {
            let device = match self.nvml.device_by_index(index) {
                Ok(d) => d,
                Err(e) => {
                    return GpuStatus::Unavailable {
                        reason: format!("NVML could not open device {index}: {e}"),
                    };
                }
            };
            let utilization = device.utilization_rates().ok();
            let memory = device.memory_info().ok();
            let processes = device
                .running_compute_processes()
                .unwrap_or_default()
                .into_iter()
                .map(|p| GpuProcess {
                    pid: p.pid,
                    used_bytes: match p.used_gpu_memory {
                        UsedGpuMemory::Used(b) => Some(b),
                        UsedGpuMemory::Unavailable => None,
                    },
                    container_id: container_of_pid(p.pid, Path::new("/proc")),
                    container: None,
                })
                .collect();
            devices.push(GpuDevice {
                index,
                name: device.name().unwrap_or_else(|_| format!("GPU {index}")),
                uuid: device.uuid().ok(),
                utilization_pct: utilization.as_ref().map(|u| u.gpu),
                memory_utilization_pct: utilization.as_ref().map(|u| u.memory),
                memory_used_bytes: memory.as_ref().map(|m| m.used),
                memory_total_bytes: memory.as_ref().map(|m| m.total),
                temperature_c: device.temperature(TemperatureSensor::Gpu).ok(),
                power_mw: device.power_usage().ok(),
                power_limit_mw: device.enforced_power_limit().ok(),
                processes,
            });
        }
        GpuStatus::Available {
            driver_version: self.nvml.sys_driver_version().ok(),
            devices,
            sampled_at: Utc::now(),
        }
    }
}

/// Open and sample once: what `status` needs.
pub fn sample_once(library: &str) -> GpuStatus {
    match GpuSource::open(library) {
        Ok(source) => source.sample(),
        Err(GpuUnavailable { reason }) => GpuStatus::Unavailable { reason },
    }
}

fn unavailable_reason(e: &NvmlError, library: &str) -> String {
    let lib = if library.is_empty() {
        "libnvidia-ml.so.1"
    } else {
        library
    };
    match e {
        NvmlError::LibloadingError(inner) => format!(
            "NVML library {lib} could not be loaded ({inner}); no NVIDIA driver here, or set gpu.nvml_library"
        ),
        NvmlError::DriverNotLoaded => "NVIDIA driver is not loaded".to_string(),
        NvmlError::NoPermission => "no permission to talk to the NVIDIA driver".to_string(),
        NvmlError::LibraryNotFound => format!("NVML library {lib} not found"),
        other => format!("NVML initialisation failed: {other}"),
    }
}

/// The container that holds a process, from the container id in its cgroup path.
/// Handles cgroup v1 (`/docker/<id>`) and v2 with systemd (`docker-<id>.scope`) or cgroupfs.
pub fn container_of_pid(pid: u32, proc_root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    text.lines().find_map(container_id_in_cgroup_line)
}

pub fn container_id_in_cgroup_line(line: &str) -> Option<String> {
    let path = line.splitn(3, ':').nth(2)?;
    path.split('/').rev().find_map(|segment| {
        let segment = segment
            .strip_prefix("docker-")
            .or_else(|| segment.strip_prefix("cri-containerd-"))
            .map(|s| s.strip_suffix(".scope").unwrap_or(s))
            .unwrap_or(segment);
        (segment.len() == 64 && segment.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| segment.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_lines_yield_container_ids() {
        let id = "3f2a".repeat(16);
        assert_eq!(
            container_id_in_cgroup_line(&format!("0::/system.slice/docker-{id}.scope")),
            Some(id.clone())
        );
        assert_eq!(
            container_id_in_cgroup_line(&format!("12:memory:/docker/{id}")),
            Some(id.clone())
        );
        assert_eq!(
            container_id_in_cgroup_line("0::/user.slice/user-0.slice/session-1.scope"),
            None
        );
    }

    #[test]
    fn missing_library_is_unavailable_not_a_crash() {
        match sample_once("/nonexistent/libnvidia-ml.so.1") {
            GpuStatus::Unavailable { reason } => {
                assert!(
                    reason.contains("/nonexistent/libnvidia-ml.so.1"),
                    "{reason}"
                )
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
    }
}
