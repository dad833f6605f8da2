//! "What am I deploying?": `deploy --dry-run` and `rollback --dry-run` list the commits between
//! what runs and the target from the GitHub stand-in's compare endpoint (GitHub's published
//! payload over the stub history), and say why when GitHub cannot be asked.
//!
//! Needs the real test environment (scripts/testenv.sh up); run under the shared Docker lock.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::Value;

fn compare_requests(github: &GithubStandin) -> Vec<Value> {
    github.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").contains("/compare/"))
        .cloned()
        .collect()
}

#[test]
fn dry_runs_list_the_commits_a_deploy_brings_and_a_rollback_undoes() {
    let env = testenv();
    // v2 runs; the stand-in knows commits 1..4 (one per stub version, oldest first).
    let stack = Stack::up(
        "elt-test-compare",
        2,
        &[1, 2, 3, 4],
        "/nonexistent/libnvml.so",
    );
    let console = || {
        let mut c = bin();
        c.arg("--config").arg(&stack.config);
        c
    };

    // Forward: v2 -> v4 brings commits 3 and 4, newest first.
    let out = run(console().args(["deploy", "--dry-run", env.tag(4)]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let head = format!(
        "     commits app: deploys 2 commits; running {} (built ",
        &env.sha(2)[..7]
    );
    assert!(text.contains(&head), "{text}");
    assert!(
        text.contains(&format!("-> target {} (built ", &env.sha(4)[..7])),
        "{text}"
    );
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("       ") && l.contains("Stub commit"))
        .collect();
    assert_eq!(listed.len(), 2, "{text}");
    assert!(
        listed[0].starts_with(&format!(
            "       {} Stub commit 4 ({})  (Monalisa Octocat, ",
            &env.sha(4)[..7],
            &env.sha(4)[..7]
        )),
        "{text}"
    );
    assert!(listed[1].contains("Stub commit 3"), "{text}");
    let reqs = compare_requests(&stack.github);
    assert_eq!(reqs.len(), 1, "one request: {reqs:#?}");
    assert_eq!(
        reqs[0]["path"],
        format!(
            "/repos/arthurlee116/english-listening-trainer/compare/{}...{}",
            env.sha(2),
            env.sha(4)
        )
    );
    assert_eq!(reqs[0]["method"], "GET");

    // A rollback to v1 undoes commit 2: asked target...running.
    let out = run(console().args(["rollback", "--dry-run", "--json", env.tag(1)]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let commits: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "commits")
        .unwrap_or_else(|| panic!("no commits event: {text}"));
    assert_eq!(commits["service"], "app");
    assert_eq!(commits["direction"], "undoes");
    assert_eq!(commits["running"]["sha"], env.sha(2));
    assert_eq!(commits["target"]["sha"], env.sha(1));
    assert!(commits["running"]["created"].is_string(), "{commits:#}");
    assert_eq!(commits["comparison"]["status"], "ahead");
    assert_eq!(commits["comparison"]["total_commits"], 1);
    assert_eq!(commits["comparison"]["commits"][0]["sha"], env.sha(2));
    assert!(commits["unavailable"].is_null());
    let reqs = compare_requests(&stack.github);
    assert_eq!(
        reqs.last().unwrap()["path"],
        format!(
            "/repos/arthurlee116/english-listening-trainer/compare/{}...{}",
            env.sha(1),
            env.sha(2)
        )
    );

    // GitHub unreachable: it says so, and still shows both commits and their images' ages.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out =
        run(console()
            .env("ELT_GITHUB_API_URL", &closed)
            .args(["deploy", "--dry-run", env.tag(3)]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("     commits app: not listed: GitHub: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("(no GitHub token)"), "{line}");
    assert!(
        line.contains(&format!("running {} (built ", &env.sha(2)[..7]))
            && line.contains(&format!("-> target {} (built ", &env.sha(3)[..7])),
        "{line}"
    );
    assert!(line.contains(" ago)"), "ages shown: {line}");
}
