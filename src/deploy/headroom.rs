//! Whether the GPU has room for a second copy of the app, for the `auto` deploy strategy
//! (issue 12): a start-first deploy runs the new version beside the old one, and two copies
//! of a GPU app need two copies of its VRAM.
//!
//! The rule: on every GPU the app's container uses now, its VRAM there plus a margin must fit
//! in that GPU's free memory. The app's VRAM is what NVML reports for the processes of its
//! container (mapped through their cgroups, as the GPU panel does). When none of them is seen
//! on a GPU (the model not loaded yet, a driver that hides per-process figures) the service's
//! `expected_vram_mib` stands in for it, on every GPU. Without NVML free memory is unknown, so
//! the answer is stop-first unless the service says it uses no GPU (`expected_vram_mib = 0`).
//! Every answer says why, in the words the plan and the history show.

use crate::domain::{GpuDevice, GpuStatus};
use crate::format::bytes;

const MIB: u64 = 1024 * 1024;

/// The verdict and its reason, e.g. `stop-first: GPU 0 has 3.1G free, the app uses 9.8G
/// (+10 % margin: 10.8G)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headroom {
    pub start_first: bool,
    pub why: String,
}

impl Headroom {
    fn start_first(why: String) -> Self {
        Self {
            start_first: true,
            why: format!("start-first: {why}"),
        }
    }
    fn stop_first(why: String) -> Self {
        Self {
            start_first: false,
            why: format!("stop-first: {why}"),
        }
    }
}

/// The app's VRAM on one device: the sum over its container's processes there, or None when
/// none of them is on it (or none reports a figure).
fn app_use_on(device: &GpuDevice, app_containers: &[String]) -> Option<u64> {
    let ours = |id: &str| {
        !id.is_empty()
            && app_containers
                .iter()
                .any(|c| !c.is_empty() && (c.starts_with(id) || id.starts_with(c.as_str())))
    };
    device
        .processes
        .iter()
        .filter(|p| p.container_id.as_deref().is_some_and(ours))
        .filter_map(|p| p.used_bytes)
        .reduce(|a, b| a.saturating_add(b))
}

fn with_margin(used: u64, margin_pct: u32) -> u64 {
    used.saturating_add(used.saturating_mul(u64::from(margin_pct)) / 100)
}

/// Judge whether a second copy of the app fits. `app_containers` are the ids of the service's
/// running containers.
pub fn judge(
    gpu: &GpuStatus,
    app_containers: &[String],
    expected_vram_mib: Option<u64>,
    margin_pct: u32,
) -> Headroom {
    let devices = match gpu {
        GpuStatus::Unavailable { reason } => {
            return if expected_vram_mib == Some(0) {
                Headroom::start_first("the app uses no GPU (expected_vram_mib = 0)".into())
            } else {
                Headroom::stop_first(format!("no NVML ({reason}), so free VRAM is unknown"))
            };
        }
        GpuStatus::Available { devices, .. } => devices,
    };
    let measured: Vec<(&GpuDevice, u64)> = devices
        .iter()
        .filter_map(|d| app_use_on(d, app_containers).map(|u| (d, u)))
        .collect();
    let (needs, source): (Vec<(&GpuDevice, u64)>, &str) = if !measured.is_empty() {
        (measured, "the app uses")
    } else if let Some(mib) = expected_vram_mib {
        if mib == 0 {
            return Headroom::start_first("the app uses no GPU (expected_vram_mib = 0)".into());
        }
        (
            devices
                .iter()
                .map(|d| (d, mib.saturating_mul(MIB)))
                .collect(),
            "none of the app's processes is on a GPU now; expected_vram_mib says",
        )
    } else if devices.is_empty() {
        return Headroom::start_first("no GPU on this host".into());
    } else {
        return Headroom::stop_first(
            "the app's VRAM is unknown: none of its processes is on a GPU now and the service sets no expected_vram_mib".into(),
        );
    };
    let mut said = Vec::new();
    for (device, used) in needs {
        let (Some(total), Some(in_use)) = (device.memory_total_bytes, device.memory_used_bytes)
        else {
            return Headroom::stop_first(format!("GPU {} reports no memory figures", device.index));
        };
        let free = total.saturating_sub(in_use);
        let need = with_margin(used, margin_pct);
        let line = format!(
            "GPU {} has {} free, {source} {} (+{margin_pct} % margin: {})",
            device.index,
            bytes(free),
            bytes(used),
            bytes(need)
        );
        if free < need {
            return Headroom::stop_first(line);
        }
        said.push(line);
    }
    Headroom::start_first(said.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::GpuProcess;
    use chrono::Utc;

    const GIB: u64 = 1024 * MIB;

    fn device(index: u32, total_gib: u64, used_gib: f64, procs: &[(&str, u64)]) -> GpuDevice {
        GpuDevice {
            index,
            name: "Tesla P40".into(),
            uuid: None,
            utilization_pct: Some(10),
            memory_utilization_pct: Some(5),
            memory_used_bytes: Some((used_gib * GIB as f64) as u64),
            memory_total_bytes: Some(total_gib * GIB),
            temperature_c: None,
            power_mw: None,
            power_limit_mw: None,
            processes: procs
                .iter()
                .enumerate()
                .map(|(i, (cid, mib))| GpuProcess {
                    pid: 100 + i as u32,
                    used_bytes: Some(mib * MIB),
                    container_id: Some((*cid).to_string()),
                    container: None,
                })
                .collect(),
        }
    }

    fn gpus(devices: Vec<GpuDevice>) -> GpuStatus {
        GpuStatus::Available {
            driver_version: Some("550.54".into()),
            devices,
            sampled_at: Utc::now(),
        }
    }

    const APP: &str = "4f1c0ffee0000000000000000000000000000000000000000000000000000000";

    #[test]
    fn room_for_a_second_copy_plus_the_margin_is_start_first() {
        // 24 GiB card, 10 GiB in use of which the app holds 9.8 GiB (its container's id is
        // known in full, the process's cgroup gives the full id too).
        let g = gpus(vec![device(0, 24, 10.0, &[(APP, 10035)])]);
        let h = judge(&g, &[APP[..12].to_string()], None, 10);
        assert!(h.start_first, "{h:?}");
        assert_eq!(
            h.why,
            "start-first: GPU 0 has 14.0G free, the app uses 9.8G (+10 % margin: 10.8G)"
        );
    }

    #[test]
    fn no_room_is_stop_first_with_the_figures() {
        let g = gpus(vec![device(0, 24, 20.9, &[(APP, 10035), ("other", 1024)])]);
        let h = judge(&g, &[APP.to_string()], Some(4096), 10);
        assert!(!h.start_first);
        assert_eq!(
            h.why,
            "stop-first: GPU 0 has 3.1G free, the app uses 9.8G (+10 % margin: 10.8G)"
        );
        // Just enough without the margin is not enough.
        let g = gpus(vec![device(0, 20, 10.2, &[(APP, 10035)])]);
        assert!(!judge(&g, &[APP.to_string()], None, 10).start_first);
        assert!(judge(&g, &[APP.to_string()], None, 0).start_first);
    }

    #[test]
    fn every_gpu_the_app_uses_must_have_room() {
        let g = gpus(vec![
            device(0, 24, 5.0, &[(APP, 4096)]),
            device(1, 24, 22.0, &[(APP, 4096)]),
            device(2, 24, 23.5, &[]),
        ]);
        let h = judge(&g, &[APP.to_string()], None, 10);
        assert!(!h.start_first);
        assert!(
            h.why.starts_with("stop-first: GPU 1 has 2.0G free"),
            "{}",
            h.why
        );
        // A full GPU the app does not use does not matter.
        let g = gpus(vec![
            device(0, 24, 5.0, &[(APP, 4096)]),
            device(2, 24, 23.5, &[]),
        ]);
        assert!(judge(&g, &[APP.to_string()], None, 10).start_first);
    }

    #[test]
    fn unseen_processes_fall_back_to_expected_vram_then_to_stop_first() {
        let g = gpus(vec![device(0, 24, 1.0, &[("someone-else", 1024)])]);
        let h = judge(&g, &[APP.to_string()], Some(8192), 10);
        assert!(h.start_first, "{h:?}");
        assert!(h.why.contains("expected_vram_mib says 8.0G"), "{}", h.why);
        let h = judge(&g, &[APP.to_string()], Some(30_000), 10);
        assert!(!h.start_first, "{h:?}");
        let h = judge(&g, &[APP.to_string()], None, 10);
        assert!(!h.start_first);
        assert!(h.why.contains("sets no expected_vram_mib"), "{}", h.why);
        let h = judge(&g, &[APP.to_string()], Some(0), 10);
        assert!(h.start_first, "{h:?}");
    }

    #[test]
    fn without_nvml_it_is_stop_first_unless_the_app_uses_no_gpu() {
        let g = GpuStatus::Unavailable {
            reason: "NVIDIA driver is not loaded".into(),
        };
        let h = judge(&g, &[APP.to_string()], Some(8192), 10);
        assert_eq!(
            h.why,
            "stop-first: no NVML (NVIDIA driver is not loaded), so free VRAM is unknown"
        );
        assert!(judge(&g, &[APP.to_string()], Some(0), 10).start_first);
    }

    #[test]
    fn a_gpu_without_memory_figures_is_not_guessed() {
        let mut d = device(0, 24, 1.0, &[(APP, 1024)]);
        d.memory_total_bytes = None;
        let h = judge(&gpus(vec![d]), &[APP.to_string()], None, 10);
        assert!(!h.start_first);
        assert_eq!(h.why, "stop-first: GPU 0 reports no memory figures");
    }
}
