//! The binary in a real terminal (tmux), as an operator drives it: against a real compose
//! project, the registry and the GitHub stand-in. Waits for real data in every panel, selects a
//! container, searches its logs, quits, and checks the terminal was restored.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/tmux.rs"]
mod tmux;
use common::*;
use std::process::Command;
use std::time::Duration;
use tmux::Tmux;

#[test]
fn operator_watches_selects_searches_and_quits() {
    let env = testenv();
    let Stack {
        github: _github,
        project: _project,
        dir,
        config,
    } = Stack::up(
        "elt-test-tui",
        2,
        &[1, 2, 3, 4],
        "/nonexistent/libnvidia-ml.so.1",
    );
    let binary = env!("CARGO_BIN_EXE_elt-console");
    let tmux = Tmux::start(
        "elt-ui-e2e",
        160,
        45,
        &format!(
            "env -u GH_TOKEN -u GITHUB_TOKEN XDG_CONFIG_HOME=/nonexistent XDG_STATE_HOME={} {binary} --config {}; echo EXIT=$?; sleep 60",
            dir.path().display(),
            config.display()
        ),
    );
    wait_for(
        "the dashboard on the alternate screen",
        Duration::from_secs(10),
        || (tmux.display("#{alternate_on}") == "1").then_some(()),
    );

    // Every panel shows real data from its source.
    let screen = tmux.wait_screen("all panels loaded", Duration::from_secs(30), |s| {
        s.contains("● healthy")
            && s.contains("version v2")
            && s.contains("#104")
            && s.contains(&format!("▶ main-{}", &env.sha(2)[..7]))
            && s.contains("GPU unavailable")
            && s.contains("following")
            && s.contains("tick n=")
    });
    assert!(screen.contains("project elt-test-tui"), "{screen}");
    assert!(
        screen.contains("failure"),
        "the failed run of v3 is shown: {screen}"
    );

    // Select the app container and open its details.
    tmux.keys(&["1", "Enter"]);
    tmux.wait_screen("container details", Duration::from_secs(5), |s| {
        s.contains("container elt-test-tui") && s.contains(env.sha(2))
    });
    tmux.keys(&["Escape"]);
    tmux.wait_screen("details closed", Duration::from_secs(5), |s| {
        !s.contains("(esc closes)")
    });

    // Search its logs and filter to the matches.
    tmux.keys(&["6", "/"]);
    tmux.literal("tick n=");
    tmux.keys(&["Enter", "f"]);
    let screen = tmux.wait_screen("search and filter", Duration::from_secs(5), |s| {
        s.contains("/tick n= (") && s.contains("FILTER")
    });
    assert!(!screen.contains("no match"), "{screen}");

    // Pause: new lines are counted, not shown.
    tmux.keys(&["f", "space"]);
    tmux.wait_screen(
        "paused with new lines counted",
        Duration::from_secs(10),
        |s| s.contains("PAUSED (+") && !s.contains("PAUSED (+0 new)"),
    );

    // Quit: the program exits 0 and the terminal leaves the alternate screen.
    tmux.keys(&["q"]);
    tmux.wait_screen("exit", Duration::from_secs(5), |s| s.contains("EXIT=0"));
    assert_eq!(tmux.display("#{alternate_on}"), "0", "terminal restored");
}

#[test]
fn dashboard_refuses_to_start_without_a_terminal() {
    let out = run(bin().args(["--config", "/dev/null"]));
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}

/// The logs panel follows the service, not one container: a `docker restart` and a compose
/// recreate (a new container id, as a deploy gives) are both followed on their own, with a
/// marker line in the log, and the new container's lines come after it.
#[test]
fn logs_follow_the_service_across_a_restart_and_a_recreate() {
    let Stack {
        github: _github,
        project,
        dir,
        config,
    } = Stack::up(
        "elt-test-tui-logs",
        2,
        &[2],
        "/nonexistent/libnvidia-ml.so.1",
    );
    let binary = env!("CARGO_BIN_EXE_elt-console");
    let tmux = Tmux::start(
        "elt-ui-logs-follow",
        160,
        45,
        &format!(
            "env -u GH_TOKEN -u GITHUB_TOKEN XDG_CONFIG_HOME=/nonexistent XDG_STATE_HOME={} {binary} --config {}; echo EXIT=$?; sleep 60",
            dir.path().display(),
            config.display()
        ),
    );
    tmux.wait_screen("logs followed", Duration::from_secs(30), |s| {
        s.contains("following") && s.contains("tick n=")
    });
    // Lines below the marker: what the logs panel shows after it.
    let after_marker = |s: &str, marker: &str| -> Option<String> {
        let at = s.find(marker)?;
        Some(s[at..].to_string())
    };

    let first = project.container_id("app");
    run_ok(Command::new("docker").args(["restart", "-t", "1", &first]));
    let screen = tmux.wait_screen(
        "the restarted container followed again",
        Duration::from_secs(30),
        |s| {
            after_marker(s, "container restarted at")
                .is_some_and(|rest| rest.contains("tick n=1 ") && rest.contains("tick n=2 "))
                && s.contains("following")
        },
    );
    assert!(!screen.contains("ended:"), "{screen}");

    let out = project.compose(&["up", "-d", "--force-recreate", "app"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = project.container_id("app");
    assert_ne!(first, second, "compose recreated the container");
    let screen = tmux.wait_screen(
        "the replacement container followed",
        Duration::from_secs(30),
        |s| {
            after_marker(s, "container replaced at").is_some_and(|rest| rest.contains("tick n=2 "))
                && s.contains("following")
        },
    );
    assert!(!screen.contains("ended:"), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_screen("exit", Duration::from_secs(5), |s| s.contains("EXIT=0"));
}
