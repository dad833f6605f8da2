//! The dashboard with several hosts, in a real terminal (tmux), against real engines: the
//! test environment's main dockerd and its second dockerd each run the stub app (t1 on the
//! first, t2 on the second), and a third host's socket does not exist. The overview shows the
//! two up with what they run and the third DOWN with its reason; `:host second` switches the
//! whole dashboard to the second engine, whose container is then shown, and a deploy from it
//! moves that engine alone. A fourth host reaches the first engine over ssh (the loopback
//! sshd), whose GPUs its own nvidia-smi (a stand-in) reports, in the overview and on its
//! dashboard.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/engine_project.rs"]
mod engine_project;
#[path = "common/tmux.rs"]
mod tmux;
use common::*;
use engine_project::{EngineProject, engine_host_table, hosts_deployment_toml};
use std::process::Command;
use std::time::Duration;
use tmux::Tmux;

fn row<'a>(screen: &'a str, host: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {host} ")) && l.contains('│'))
        .unwrap_or("")
}

#[test]
fn the_overview_shows_both_engines_up_the_dead_one_down_and_host_switches_to_the_second() {
    let env = testenv();
    let repo = format!("{}/elt-t/ui-hosts", registry());
    for n in [1, 2] {
        publish(&repo, n, &format!("t{n}"));
    }
    let project = "elt-ui-hosts";
    let first = EngineProject::up(
        project,
        env.get("ELT_TEST_DOCKER_HOST"),
        &format!("{repo}:t1"),
        "none",
    );
    let second = EngineProject::up(
        project,
        env.get("ELT_TEST_ENGINE2_HOST"),
        &format!("{repo}:t2"),
        "none",
    );
    let dir = tempfile::tempdir().unwrap();
    let dead_socket = dir.path().join("no-engine.sock");
    // The ssh host's nvidia-smi: the stand-in, answering with the first engine's app pid.
    let smi = dir.path().join("nvidia-smi");
    std::fs::copy(repo_root().join("tests/nvml-standin/nvidia-smi"), &smi).unwrap();
    let app_pid = run_ok(Command::new("docker").args([
        "inspect",
        "-f",
        "{{.State.Pid}}",
        first.app().split(' ').next().unwrap(),
    ]));
    let uuid = "GPU-5e1b9d3c-0a7f-4b2e-9c61-2f8d4e6a7b90";
    write_file(
        dir.path(),
        "gpus.csv",
        &format!("0, {uuid}, Tesla P40, 535.104.05, 37, 12, 9011, 24576, 41, 51.23, 250.00\n"),
    );
    write_file(
        dir.path(),
        "apps.csv",
        &format!("{uuid}, {}, 8950\n", app_pid.trim()),
    );
    let config = write_file(
        dir.path(),
        "config.toml",
        &format!(
            r#"{deployment}
[gpu]
nvml_library = "/nonexistent/libnvidia-ml.so.1"

{main}
{second}
[[hosts]]
name = "dead"
endpoint = "unix://{dead}"

[[hosts]]
name = "gpu1"
endpoint = "{ssh}"
folder = "{first_folder}"
ssh_identity = "{identity}"
ssh_known_hosts = "{known}"
gpu_command = "{smi}"
"#,
            deployment = hosts_deployment_toml(project, &repo, ""),
            main = engine_host_table(
                "main",
                &first.docker_host,
                r#"labels = { role = "canary" }"#,
                &first
            ),
            second = engine_host_table("second", &second.docker_host, "", &second),
            dead = dead_socket.display(),
            ssh = env.get("ELT_TEST_SSH_HOST"),
            first_folder = first.dir.path().display(),
            identity = env.get("ELT_TEST_SSH_IDENTITY"),
            known = env.get("ELT_TEST_SSH_KNOWN_HOSTS"),
            smi = smi.display(),
        ),
    );
    let binary = env!("CARGO_BIN_EXE_elt-console");
    let tmux = Tmux::start(
        "elt-ui-hosts-e2e",
        200,
        50,
        &format!(
            // In the temporary folder: a host without a folder of its own (dead) keeps its
            // store under ./state, which must not land in the worktree.
            "cd {dir} && env -u GH_TOKEN -u GITHUB_TOKEN -u DOCKER_HOST XDG_CONFIG_HOME=/nonexistent XDG_STATE_HOME={dir} {binary} --config {}; echo EXIT=$?; sleep 60",
            config.display(),
            dir = dir.path().display(),
        ),
    );

    // The overview: both engines up with what they run, the dead one DOWN and why.
    let screen = tmux.wait_screen("the overview of four hosts", Duration::from_secs(60), |s| {
        row(s, "main").contains("● up")
            && row(s, "main").contains("t1")
            && row(s, "second").contains("● up")
            && row(s, "second").contains("t2")
            && row(s, "dead").contains("✖ DOWN")
            && row(s, "gpu1").contains("● up")
            && row(s, "gpu1").contains("37% 36%mem")
    });
    assert!(
        screen.contains("hosts overview · 4 host(s), 1 down · dashboard: host main"),
        "{screen}"
    );
    assert!(row(&screen, "main").contains("canary"), "{screen}");
    assert!(
        row(&screen, "dead").contains("no-engine.sock"),
        "the reason names the socket: {screen}"
    );

    // An unknown name is refused in the status line; nothing switches.
    tmux.keys(&[":"]);
    tmux.literal("host nope");
    tmux.keys(&["Enter"]);
    tmux.wait_screen("the unknown host's error", Duration::from_secs(5), |s| {
        s.contains("unknown host \"nope\" (hosts: main, second, dead, gpu1)")
    });

    // `:host second` shows the second engine's full dashboard: its container, on t2.
    tmux.keys(&[":"]);
    tmux.literal("host second");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_screen(
        "the second engine's dashboard",
        Duration::from_secs(30),
        |s| {
            let header = s.lines().next().unwrap_or("");
            header.contains("host second · project elt-ui-hosts")
                && s.contains("● healthy")
                && s.lines().any(|l| l.contains(" app ") && l.contains("t2"))
        },
    );
    assert!(!screen.contains("hosts overview"), "{screen}");
    assert!(
        !screen
            .lines()
            .any(|l| l.contains(" app ") && l.contains("t1")),
        "the first engine's container is not shown: {screen}"
    );

    // A deploy from this dashboard goes to the second engine, with its store: the first
    // engine's container is left as it was.
    let first_before = first.app();
    assert!(first_before.ends_with(":t1"), "{first_before}");
    tmux.keys(&["5", "j", "d"]);
    tmux.wait_screen("the confirmation", Duration::from_secs(5), |s| {
        s.contains("Deploy t1 to app on host second?")
    });
    tmux.keys(&["y", "Enter"]);
    tmux.wait_screen(
        "the deploy on the second host",
        Duration::from_secs(60),
        |s| s.contains("Deploy #1 succeeded"),
    );
    assert!(second.app().ends_with(":t1"), "{}", second.app());
    assert_eq!(first.app(), first_before);
    assert!(second.dir.path().join("state").is_dir());
    assert!(!first.dir.path().join("state").exists());

    // The ssh host's dashboard: its GPU is the one its nvidia-smi reports, the app's memory
    // put on its container.
    tmux.keys(&[":"]);
    tmux.literal("host gpu1");
    tmux.keys(&["Enter"]);
    tmux.wait_screen("the ssh host's GPU", Duration::from_secs(30), |s| {
        let header = s.lines().next().unwrap_or("");
        header.contains("host gpu1 · project")
            && s.contains("Tesla P40")
            && s.contains("8.7G app")
            && s.lines().any(|l| l.contains(" app ") && l.contains("t1"))
    });

    // Back to the overview, then quit; the terminal is restored.
    tmux.keys(&["o"]);
    tmux.wait_screen("the overview again", Duration::from_secs(5), |s| {
        s.contains("hosts overview") && s.contains("dashboard: host gpu1")
    });
    tmux.keys(&["q"]);
    tmux.wait_screen("the exit code", Duration::from_secs(10), |s| {
        s.contains("EXIT=0")
    });
    drop(first);
    drop(second);
}
