//! A remote host's GPUs, read with the host's own `nvidia-smi` over the same ssh the engine is
//! reached by: NVML only reads the machine the console runs on. One round trip prints the
//! devices, the compute processes and those processes' cgroup lines, so each process is put on
//! its container like the local GPU panel does (status.rs `correlate`).

use super::ssh::SshOptions;
use crate::domain::{GpuDevice, GpuProcess, GpuStatus};
use chrono::Utc;
use std::collections::HashMap;
use std::time::Duration;

/// What runs when `gpu_command` is not set: nvidia-smi on the remote user's PATH.
pub const DEFAULT_NVIDIA_SMI: &str = "nvidia-smi";

const GPU_FIELDS: &str = "index,uuid,name,driver_version,utilization.gpu,utilization.memory,memory.used,memory.total,temperature.gpu,power.draw,power.limit";
const APPS_MARK: &str = "#elt-apps";
const CGROUPS_MARK: &str = "#elt-cgroups";

/// A command the script may name: a path or program name of plain characters, since it is
/// written into a remote shell's command line.
pub fn is_gpu_command(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-'))
}

/// The remote shell text (run as `sh -c '…'`, so it holds no single quote). Pids are checked
/// to be numbers before they name a /proc path.
fn script(smi: &str) -> String {
    format!(
        "smi={smi}; \
         $smi --query-gpu={GPU_FIELDS} --format=csv,noheader,nounits || exit $?; \
         echo \"{APPS_MARK}\"; \
         apps=$($smi --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits) || exit $?; \
         echo \"$apps\"; \
         echo \"{CGROUPS_MARK}\"; \
         echo \"$apps\" | while IFS=, read -r _ pid _; do \
           pid=$(echo $pid); \
           case \"$pid\" in \"\"|*[!0-9]*) continue;; esac; \
           sed \"s|^|$pid |\" /proc/$pid/cgroup 2>/dev/null; \
         done; exit 0"
    )
}

/// nvidia-smi's "[N/A]" / "[Not Supported]" are absent values.
fn number<T: std::str::FromStr>(field: &str) -> Option<T> {
    field.trim().parse().ok()
}

fn watts_to_mw(field: &str) -> Option<u32> {
    number::<f64>(field).map(|w| (w * 1000.0).round() as u32)
}

const MIB: u64 = 1024 * 1024;

/// One `--query-gpu` line; a name holding commas keeps them (the fields around it are fixed).
fn parse_device(line: &str) -> Option<(GpuDevice, Option<String>)> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() < 11 {
        return None;
    }
    let tail = &fields[fields.len() - 8..];
    let name = fields[2..fields.len() - 8].join(",");
    let device = GpuDevice {
        index: number(fields[0])?,
        name,
        uuid: Some(fields[1].to_string()).filter(|u| u.starts_with("GPU-")),
        utilization_pct: number(tail[1]),
        memory_utilization_pct: number(tail[2]),
        memory_used_bytes: number::<u64>(tail[3]).map(|m| m * MIB),
        memory_total_bytes: number::<u64>(tail[4]).map(|m| m * MIB),
        temperature_c: number(tail[5]),
        power_mw: watts_to_mw(tail[6]),
        power_limit_mw: watts_to_mw(tail[7]),
        processes: Vec::new(),
    };
    Some((device, Some(tail[0].to_string()).filter(|d| !d.is_empty())))
}

/// The script's output as the GPU panel's model; `Err` says what did not parse.
pub fn parse(output: &str) -> Result<GpuStatus, String> {
    let (gpus, rest) = output
        .split_once(APPS_MARK)
        .ok_or("nvidia-smi's output ended before the process list")?;
    let (apps, cgroups) = rest.split_once(CGROUPS_MARK).unwrap_or((rest, ""));
    let mut driver_version = None;
    let mut devices = Vec::new();
    for line in gpus.lines().filter(|l| !l.trim().is_empty()) {
        let (device, driver) =
            parse_device(line).ok_or_else(|| format!("unexpected nvidia-smi line {line:?}"))?;
        driver_version = driver_version.or(driver);
        devices.push(device);
    }
    let mut container_of: HashMap<u32, String> = HashMap::new();
    for line in cgroups.lines() {
        let Some((pid, cgroup)) = line.trim().split_once(' ') else {
            continue;
        };
        if let (Ok(pid), Some(id)) = (
            pid.parse::<u32>(),
            crate::sources::gpu::container_id_in_cgroup_line(cgroup),
        ) {
            container_of.entry(pid).or_insert(id);
        }
    }
    for line in apps.lines() {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [uuid, pid, used] = fields[..] else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if let Some(device) = devices.iter_mut().find(|d| d.uuid.as_deref() == Some(uuid)) {
            device.processes.push(GpuProcess {
                pid,
                used_bytes: number::<u64>(used).map(|m| m * MIB),
                container_id: container_of.get(&pid).cloned(),
                container: None,
            });
        }
    }
    Ok(GpuStatus::Available {
        driver_version,
        devices,
        sampled_at: Utc::now(),
    })
}

/// Read the host's GPUs; every failure is a reason shown where the figures would be.
pub async fn sample(options: &SshOptions, gpu_command: &str) -> GpuStatus {
    let smi = if gpu_command.is_empty() {
        DEFAULT_NVIDIA_SMI
    } else {
        gpu_command
    };
    let unavailable = |reason: String| GpuStatus::Unavailable { reason };
    if !is_gpu_command(smi) {
        return unavailable(format!("gpu_command {smi:?} is not a usable command"));
    }
    let limit = options.connect_timeout + Duration::from_secs(10);
    let run = options
        .command(&["sh", "-c", &format!("'{}'", script(smi))])
        .output();
    let out = match tokio::time::timeout(limit, run).await {
        Err(_) => {
            return unavailable(format!(
                "{smi} over ssh gave no answer within {} s",
                limit.as_secs()
            ));
        }
        Ok(Err(e)) => return unavailable(format!("cannot run ssh: {e}")),
        Ok(Ok(out)) => out,
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("no message");
        return unavailable(format!("{smi} on the host failed ({}): {last}", out.status));
    }
    parse(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| unavailable(format!("{smi} on the host: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4e5d6c7b8a9f0e1d2c3b4a59687766554433221100ffeeddccbbaa99887766";

    #[test]
    fn the_script_never_holds_a_single_quote() {
        assert!(!script(DEFAULT_NVIDIA_SMI).contains('\''));
    }

    #[test]
    fn gpu_commands_that_could_break_out_of_the_shell_line_are_refused() {
        assert!(is_gpu_command("/usr/bin/nvidia-smi"));
        assert!(is_gpu_command("nvidia-smi"));
        for bad in [
            "",
            "-x",
            "nvidia-smi; rm -rf /",
            "a b",
            "$(id)",
            "a'b",
            "a`b`",
        ] {
            assert!(!is_gpu_command(bad), "{bad:?}");
        }
    }

    #[test]
    fn devices_processes_and_their_containers_are_read() {
        let out = format!(
            "0, GPU-aaaa, Tesla P40, 535.104.05, 37, 12, 9011, 24576, 41, 51.23, 250.00\n\
             1, GPU-bbbb, NVIDIA A10, 535.104.05, [N/A], [N/A], 0, 23028, 30, [Not Supported], 150.00\n\
             {APPS_MARK}\n\
             GPU-aaaa, 4242, 8950\n\
             GPU-aaaa, 77, 61\n\
             {CGROUPS_MARK}\n\
             4242 0::/system.slice/docker-{ID}.scope\n\
             77 0::/user.slice/user-0.slice/session-1.scope\n"
        );
        let GpuStatus::Available {
            driver_version,
            devices,
            ..
        } = parse(&out).unwrap()
        else {
            panic!("not available");
        };
        assert_eq!(driver_version.as_deref(), Some("535.104.05"));
        assert_eq!(devices.len(), 2);
        let p40 = &devices[0];
        assert_eq!(p40.name, "Tesla P40");
        assert_eq!(p40.utilization_pct, Some(37));
        assert_eq!(p40.memory_used_bytes, Some(9011 * MIB));
        assert_eq!(p40.memory_total_bytes, Some(24576 * MIB));
        assert_eq!(p40.power_mw, Some(51_230));
        assert_eq!(p40.processes.len(), 2);
        assert_eq!(p40.processes[0].container_id.as_deref(), Some(ID));
        assert_eq!(p40.processes[0].used_bytes, Some(8950 * MIB));
        assert_eq!(p40.processes[1].container_id, None);
        let a10 = &devices[1];
        assert_eq!(a10.utilization_pct, None);
        assert_eq!(a10.power_mw, None);
        assert!(a10.processes.is_empty());
    }

    #[test]
    fn output_that_is_not_nvidia_smi_s_is_a_reason_not_a_panic() {
        assert!(parse("").is_err());
        assert!(parse(&format!("garbage\n{APPS_MARK}\n")).is_err());
        let GpuStatus::Available { devices, .. } = parse(&format!("{APPS_MARK}\n")).unwrap() else {
            panic!()
        };
        assert!(devices.is_empty());
    }
}
