//! The GitHub loop against the stand-in (published payloads) and the real registry: runs and
//! jobs, dispatch (exact body, 200 and 204 paths, 422, refusals), following a run to its
//! image, tag history, conditional requests, rate limits and the hourly request budget.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use elt_console::collect::pipeline::{self, PipelineError, RunsPoller};
use elt_console::config::{self, Config};
use elt_console::domain::{ImageRepo, Tag};
use elt_console::sources::github::{GithubSource, TokenSource, parse_jobs};
use elt_console::sources::registry::RegistrySource;
use std::path::PathBuf;
use std::time::Duration;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn shas() -> Vec<&'static str> {
    let env = testenv();
    (1..=4).map(|n| env.sha(n)).collect()
}

fn test_config(api: &str) -> Config {
    let env = testenv();
    let mut c = config::defaults();
    c.github.api_url = api.to_string();
    c.registry.plain_http = vec![env.get("ELT_TEST_REGISTRY").to_string()];
    c.deployment.services[0].image = ImageRepo::parse(env.image()).unwrap();
    c
}

fn source(api: &str, token: Option<&str>) -> GithubSource {
    let c = test_config(api);
    let ts = if token.is_some() {
        TokenSource::Env("GH_TOKEN")
    } else {
        TokenSource::None
    };
    GithubSource::with_token(&c.github, token.map(str::to_string), ts).unwrap()
}

/// A config file for the binary: the stand-in, the test registry, a project with no containers.
fn config_file(dir: &std::path::Path, api: &str) -> PathBuf {
    let env = testenv();
    write_file(
        dir,
        "config.toml",
        &format!(
            "[deployment]\nproject = \"elt-gh-loop-test\"\n\n[[deployment.services]]\nname = \"app\"\nimage = \"{}\"\nimage_var = \"IMAGE_TAG\"\ncommit_tags = [\"main-{{sha}}\"]\n\n[registry]\nplain_http = [\"{}\"]\n\n[github]\napi_url = \"{api}\"\n",
            env.image(),
            env.get("ELT_TEST_REGISTRY")
        ),
    )
}

fn cli(cfg: &std::path::Path, args: &[&str]) -> std::process::Output {
    run(bin().arg("--config").arg(cfg).args(args))
}

fn posts(standin: &GithubStandin) -> Vec<serde_json::Value> {
    standin.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST")
        .cloned()
        .collect()
}

// ---------- runs and jobs ----------

#[test]
fn published_jobs_payload_maps_to_jobs_and_steps() {
    let body =
        std::fs::read(repo_root().join("tests/fixtures/github/actions-jobs-list.json")).unwrap();
    let jobs = parse_jobs(&body).unwrap();
    assert_eq!(jobs.len(), 1);
    let j = &jobs[0];
    assert_eq!(
        (j.id, j.name.as_str(), j.status.as_str()),
        (399444496, "build", "completed")
    );
    assert_eq!(j.steps.len(), 10);
    // 17:42:40Z .. 17:44:39Z; steps carry -08:00 offsets and must land on the same instants.
    assert_eq!(j.duration_secs(chrono::Utc::now()), Some(119));
    assert_eq!(j.steps[0].started_at, j.started_at);
    assert_eq!(j.steps[7].duration_secs(chrono::Utc::now()), Some(100));
    assert_eq!(j.steps.last().unwrap().number, 17);
}

#[test]
fn jobs_follow_a_run_in_progress_and_use_etags() {
    let runtime = rt();
    let _enter = runtime.enter();
    let standin = GithubStandin::start(&shas());
    let gh = source(&standin.url(), None);
    runtime.block_on(async {
        let runs = gh.runs().await.unwrap().runs;
        let newest = runs[0].id;
        standin.control(
            "POST",
            &format!("/_standin/runs/{newest}/in_progress"),
            "{}",
        );
        let run = gh.run(newest).await.unwrap();
        assert_eq!(run.status, "in_progress");
        let jobs = gh.jobs(newest).await.unwrap();
        let states: Vec<&str> = jobs[0].steps.iter().map(|s| s.status.as_str()).collect();
        assert!(
            states.contains(&"completed") && states.contains(&"in_progress"),
            "{states:?}"
        );
        assert!(states.contains(&"queued"), "{states:?}");
        // Unchanged: a conditional request answered 304 from the cache.
        let again = gh.jobs(newest).await.unwrap();
        assert_eq!(again, jobs);
        standin.control(
            "POST",
            &format!("/_standin/runs/{newest}/complete"),
            r#"{"conclusion":"success"}"#,
        );
        let done = gh.jobs(newest).await.unwrap();
        assert!(done[0].steps.iter().all(|s| s.status == "completed"));
        assert_eq!(done[0].conclusion.as_deref(), Some("success"));
    });
    let reqs = standin.requests();
    let jobs_reqs: Vec<&serde_json::Value> = reqs["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/jobs"))
        .collect();
    assert_eq!(jobs_reqs.len(), 3);
    assert!(jobs_reqs[0]["if_none_match"].is_null());
    assert_eq!(jobs_reqs[1]["status"], 304);
    assert_eq!(jobs_reqs[2]["status"], 200);
}

#[test]
fn runs_command_lists_runs_as_json_and_text() {
    let standin = GithubStandin::start(&shas());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    let out = cli(&cfg, &["runs", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(runs[0]["head_sha"], shas()[3]);
    assert_eq!(runs[1]["conclusion"], "failure");
    assert_eq!(v["rate_limit"]["limit"], 60);
    let text = cli(&cfg, &["runs"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("#104") && text.contains("failure"), "{text}");
}

// ---------- dispatch ----------

#[test]
fn dispatch_sends_exactly_ref_and_inputs_and_gets_run_details() {
    let standin = GithubStandin::start(&shas());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    let out = cli(
        &cfg,
        &[
            "dispatch",
            "--ref",
            "main",
            "--input",
            "push=false",
            "--input",
            "branch=main",
            "--yes",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let p = posts(&standin);
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0]["path"],
        "/repos/arthurlee116/english-listening-trainer/actions/workflows/build-and-push.yml/dispatches"
    );
    assert_eq!(
        p[0]["raw_body"],
        r#"{"inputs":{"branch":"main","push":"false"},"ref":"main","return_run_details":true}"#
    );
    // The 200 answer names run 105: read by id, not searched for.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run #105 19000000105"), "{stdout}");
    let reqs = standin.requests();
    assert!(reqs["requests"].as_array().unwrap().iter().any(|r| {
        r["path"]
            .as_str()
            .unwrap()
            .ends_with("/actions/runs/19000000105")
    }));
    // The inputs were checked against the workflow file read through the contents API.
    assert!(reqs["requests"].as_array().unwrap().iter().any(|r| {
        r["path"]
            .as_str()
            .unwrap()
            .ends_with("/contents/.github/workflows/build-and-push.yml")
    }));
}

#[test]
fn dispatch_without_run_details_finds_the_new_run_by_polling() {
    let standin = GithubStandin::start(&shas());
    standin.control("POST", "/_standin/mode", r#"{"dispatch_204":true}"#);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    let out = cli(&cfg, &["dispatch", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run #105 19000000105"), "{stdout}");
    let p = posts(&standin);
    // No --ref: the repository's default branch.
    assert_eq!(p[0]["body"]["ref"], "main");
    let reqs = standin.requests();
    let searches: Vec<&serde_json::Value> = reqs["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["query"]["event"] == "workflow_dispatch")
        .collect();
    assert!(
        searches.len() >= 2,
        "one listing before the dispatch, one after"
    );
    assert!(
        searches[0]["query"]["created"]
            .as_str()
            .unwrap()
            .starts_with(">=")
    );
}

#[test]
fn an_accepted_dispatch_whose_run_cannot_be_read_says_so_and_names_the_run() {
    let standin = GithubStandin::start(&shas());
    // The dispatch answers 200 with run 105's details; reading that run answers 404.
    standin.control(
        "POST",
        "/_standin/fail",
        r#"{"status":404,"method":"GET","path_prefix":"/repos/arthurlee116/english-listening-trainer/actions/runs/"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    let out = cli(&cfg, &["dispatch", "--yes"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    // The run exists: a script must not dispatch again, so this is not a failure.
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "dispatch accepted: run 19000000105 (https://github.com/arthurlee116/english-listening-trainer/actions/runs/19000000105)"
        ),
        "{stdout}"
    );
    assert!(
        stderr.contains("GitHub accepted the dispatch") && stderr.contains("could not be read"),
        "{stderr}"
    );
    assert_eq!(posts(&standin).len(), 1);
    // Following it is what cannot go on.
    let out = cli(&cfg, &["dispatch", "--watch", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dispatch accepted: run 19000000106"));
}

#[test]
fn dispatch_422_shows_githubs_message() {
    let standin = GithubStandin::start(&shas());
    standin.control(
        "POST",
        "/_standin/mode",
        r#"{"required_inputs":["branch"]}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    let out = cli(&cfg, &["dispatch", "--input", "push=true", "--yes"]);
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("(422): Required input 'branch' not provided"),
        "{stderr}"
    );
}

#[test]
fn dispatch_refuses_bad_input_read_only_and_unconfirmed_before_sending() {
    let standin = GithubStandin::start(&shas());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    let case = |args: &[&str], code: i32, says: &str| {
        let out = cli(&cfg, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    case(
        &["dispatch", "--ref", "main..x", "--yes"],
        64,
        "invalid ref \"main..x\"",
    );
    case(
        &["dispatch", "--input", "nonsense", "--yes"],
        64,
        "expected NAME=VALUE",
    );
    case(
        &["dispatch", "--input", "tag=v1", "--yes"],
        64,
        "declares: branch, push",
    );
    case(
        &["dispatch", "--input", "push=maybe", "--yes"],
        64,
        "boolean",
    );
    // Refused: 4, as for every command (src/exit_code.rs; was 77 before one table).
    case(&["--read-only", "dispatch", "--yes"], 4, "read-only");
    // Not a terminal and no --yes: refused after showing what would be sent.
    case(&["dispatch"], 4, "pass --yes");
    assert!(posts(&standin).is_empty(), "nothing was dispatched");
}

#[test]
fn dispatch_watch_follows_the_run_to_its_end() {
    let standin = GithubStandin::start(&shas());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    standin.control(
        "POST",
        "/_standin/mode",
        r#"{"dispatch_conclusion":"success"}"#,
    );
    let out = cli(&cfg, &["dispatch", "--watch", "--yes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("run #105: success"), "{stdout}");
    assert!(stdout.contains("job build: success"), "{stdout}");
    standin.control(
        "POST",
        "/_standin/mode",
        r#"{"dispatch_conclusion":"failure"}"#,
    );
    let out = cli(&cfg, &["dispatch", "--watch", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("run #106 ended failure"));
}

// ---------- a run's image ----------

#[test]
fn a_finished_run_leads_to_its_image_in_the_real_registry() {
    let runtime = rt();
    let _enter = runtime.enter();
    let env = testenv();
    let standin = GithubStandin::start(&shas());
    let c = test_config(&standin.url());
    let gh = source(&standin.url(), None);
    let registry = RegistrySource::new(&c.registry);
    let service = &c.deployment.services[0];
    runtime.block_on(async {
        let runs = gh.runs().await.unwrap().runs;
        let newest = &runs[0];
        // The newest run (commit v4) is in progress, then completes: its tag is pushed.
        standin.control(
            "POST",
            &format!("/_standin/runs/{}/in_progress", newest.id),
            "{}",
        );
        let id = newest.id;
        // The run completes once the pipeline has seen it in progress: its first update is
        // the signal, not a timer.
        let mut seen = Vec::new();
        let built = pipeline::wait_for_run_image(
            &gh,
            &registry,
            service,
            id,
            Duration::from_millis(200),
            tokio::time::Instant::now() + Duration::from_secs(30),
            |run, _| {
                seen.push(run.status.clone());
                if run.status == "in_progress" {
                    standin.control(
                        "POST",
                        &format!("/_standin/runs/{id}/complete"),
                        r#"{"conclusion":"success"}"#,
                    );
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(
            seen,
            ["in_progress", "completed"],
            "saw in_progress and completed"
        );
        assert_eq!(built.tag.as_str(), env.tag(4));
        assert_eq!(built.digest.as_str(), env.get("ELT_TEST_DIGEST_V4"));

        // A run that failed gives no image to deploy.
        let failed = runs
            .iter()
            .find(|r| r.conclusion.as_deref() == Some("failure"))
            .unwrap();
        let err = pipeline::wait_for_run_image(
            &gh,
            &registry,
            service,
            failed.id,
            Duration::from_millis(200),
            tokio::time::Instant::now() + Duration::from_secs(10),
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, PipelineError::RunFailed { .. }), "{err}");

        // A tag that never appears: the wait ends at its deadline with the image named.
        let missing = Tag::parse(&format!("main-{}", "ab".repeat(20))).unwrap();
        let started = std::time::Instant::now();
        let err = pipeline::wait_for_image(
            &registry,
            &service.image,
            &missing,
            tokio::time::Instant::now() + Duration::from_secs(3),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(err.to_string().contains(missing.as_str()), "{err}");
    });
}

// ---------- tags ----------

#[test]
fn tags_command_newest_first_with_ci_results() {
    let env = testenv();
    let standin = GithubStandin::start(&shas());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &standin.url());
    let out = cli(&cfg, &["tags", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tags = v["repositories"][0]["tags"].as_array().unwrap();
    let names: Vec<&str> = tags.iter().map(|t| t["tag"].as_str().unwrap()).collect();
    let pos = |n: u32| names.iter().position(|t| *t == env.tag(n)).unwrap();
    // Alphabetical in the registry; newest first here (dates from the image labels).
    assert!(
        pos(4) < pos(3) && pos(3) < pos(2) && pos(2) < pos(1),
        "{names:?}"
    );
    let ci = |n: u32| tags[pos(n)]["ci"].as_str().unwrap_or("").to_string();
    assert_eq!(ci(3), "failure");
    assert_eq!(ci(2), "success");
    assert!(tags.iter().all(|t| t["last_deployed"].is_null()));
    let text = cli(&cfg, &["tags"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("DEPLOYED") && text.contains('—'), "{text}");
}

#[test]
fn packages_api_pages_are_followed_with_a_token() {
    let runtime = rt();
    let _enter = runtime.enter();
    // 130 commits: more versions than one page of 100.
    let many: Vec<String> = (0..130).map(|i| format!("{i:040x}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let standin = GithubStandin::start(&refs);
    let gh = source(&standin.url(), Some("test-token"));
    let listed = rt()
        .block_on(gh.package_versions("arthurlee116", "english-listening-trainer"))
        .unwrap();
    assert_eq!(listed.note, None, "every page read");
    let versions = listed.versions;
    assert_eq!(versions.len(), 131, "130 tagged and one untagged");
    let newest = &versions[0];
    assert!(newest.tags.contains(&"latest".to_string()));
    assert!(newest.tags.contains(&format!("main-{}", many[129])));
    let pages: Vec<serde_json::Value> = standin.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().contains("/packages/"))
        .cloned()
        .collect();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[1]["query"]["page"], "2");
    assert_eq!(pages[0]["authorized"], true);
}

/// 130 commits (two pages of versions) of an organisation's package, the stand-in serving the
/// API under `/api/v3` as GitHub Enterprise does, and GHCR's links to the next page on
/// `/organizations/<id>/…` at the host's root.
fn org_package_standin() -> (GithubStandin, Vec<String>) {
    let many: Vec<String> = (0..130).map(|i| format!("{i:040x}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let standin = GithubStandin::start_with(&refs, &["--api-prefix", "/api/v3"]);
    standin.control("POST", "/_standin/mode", r#"{"ghcr_org":true}"#);
    (standin, many)
}

#[test]
fn packages_api_follows_ghcr_org_links_on_another_path_of_the_same_host() {
    let runtime = rt();
    let _enter = runtime.enter();
    let (standin, many) = org_package_standin();
    let gh = source(&format!("{}/api/v3", standin.url()), Some("test-token"));
    let listed = rt()
        .block_on(gh.package_versions("arthurlee116", "english-listening-trainer"))
        .unwrap();
    assert_eq!(listed.note, None);
    assert_eq!(listed.versions.len(), 131, "both pages");
    assert!(
        listed.versions[0]
            .tags
            .contains(&format!("main-{}", many[129]))
    );
    let paths: Vec<String> = standin.requests()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .filter(|p| p.contains("/packages/"))
        .collect();
    assert_eq!(
        paths,
        [
            "/users/arthurlee116/packages/container/english-listening-trainer/versions",
            "/orgs/arthurlee116/packages/container/english-listening-trainer/versions",
            "/organizations/9919/packages/container/english-listening-trainer/versions",
        ]
    );
}

#[test]
fn packages_api_links_to_another_host_are_not_followed_and_a_note_says_so() {
    let runtime = rt();
    let _enter = runtime.enter();
    let (standin, _) = org_package_standin();
    // The same stand-in by another name: another host as far as the token is concerned.
    let other = standin.url().replace("127.0.0.1", "localhost");
    standin.control(
        "POST",
        "/_standin/mode",
        &format!(r#"{{"packages_link_base":"{other}"}}"#),
    );
    let gh = source(&format!("{}/api/v3", standin.url()), Some("test-token"));
    let listed = rt()
        .block_on(gh.package_versions("arthurlee116", "english-listening-trainer"))
        .unwrap();
    assert_eq!(listed.versions.len(), 100, "the first page only");
    let note = listed.note.unwrap();
    assert!(
        note.contains("page 2 not read") && note.contains(&other) && note.contains("100 versions"),
        "{note}"
    );
}

// ---------- budget ----------

#[test]
fn default_unauthenticated_refresh_stays_under_60_requests_in_a_simulated_hour() {
    let runtime = rt();
    let _enter = runtime.enter();
    let standin = GithubStandin::start(&shas());
    let c = test_config(&standin.url());
    assert_eq!(
        c.ui.github_interval_unauthenticated_s, 90,
        "the shipped default"
    );
    let poller = RunsPoller {
        gh: source(&standin.url(), None),
        base: Duration::from_secs(c.ui.github_interval_unauthenticated_s),
    };
    // Real requests, simulated clock: each poll says when the next is due, and the clock
    // jumps there instead of sleeping.
    let start = chrono::Utc::now();
    let mut t = start;
    let mut polls = 0;
    runtime.block_on(async {
        while t < start + chrono::Duration::hours(1) {
            let p = poller.poll(t).await;
            assert!(p.result.is_ok());
            t += chrono::Duration::from_std(p.next_in).unwrap();
            polls += 1;
        }
    });
    let reqs = standin.requests();
    let count = reqs["count"].as_u64().unwrap();
    eprintln!("simulated hour: {polls} polls, {count} requests at the stand-in");
    assert_eq!(count, polls);
    assert!(count < 60, "{count} requests in an hour");
    assert!(count >= 30, "the poller did run ({count})");
    // Conditional: only the first answer had a body; the rest were 304s.
    let not_modified = reqs["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == 304)
        .count() as u64;
    assert_eq!(not_modified, count - 1);
}

#[test]
fn spent_budget_backs_off_until_reset_and_says_so() {
    let runtime = rt();
    let _enter = runtime.enter();
    let standin = GithubStandin::start(&shas());
    standin.control("POST", "/_standin/mode", r#"{"rate_limit_unauth":3}"#);
    let poller = RunsPoller {
        gh: source(&standin.url(), None),
        base: Duration::from_secs(90),
    };
    let now = chrono::Utc::now();
    runtime.block_on(async {
        // Changing answers each time, so each request counts against the budget.
        for i in 0..3 {
            let p = poller.poll(now).await;
            assert!(p.result.is_ok(), "poll {i}: {:?}", p.result.err());
            let conclusion = ["cancelled", "success", "cancelled"][i];
            standin.control(
                "POST",
                "/_standin/runs/newest/complete",
                &format!(r#"{{"conclusion":"{conclusion}"}}"#),
            );
        }
        let p = poller.poll(now).await;
        let err = p.result.unwrap_err().to_string();
        assert!(err.contains("rate limited until"), "{err}");
        let until = p.blocked_until.expect("blocked");
        assert!(until > now + chrono::Duration::minutes(50));
        assert!(p.next_in >= Duration::from_secs(50 * 60), "{:?}", p.next_in);
        // While blocked, nothing is sent at all.
        let before = standin.requests()["count"].as_u64().unwrap();
        let again = poller.poll(chrono::Utc::now()).await;
        assert!(again.result.is_err());
        assert_eq!(standin.requests()["count"].as_u64().unwrap(), before);
    });
}

#[test]
fn a_429_holds_requests_back_until_the_reset() {
    let runtime = rt();
    let _enter = runtime.enter();
    let standin = GithubStandin::start(&shas());
    let gh = source(&standin.url(), None);
    runtime.block_on(async {
        gh.runs().await.unwrap();
        // The stand-in's 429 with the budget at 0: held back until the reset.
        standin.fail(429, Some(1));
        let err = gh.runs().await.unwrap_err().to_string();
        assert!(err.contains("rate limited until"), "{err}");
        assert!(gh.blocked_until(chrono::Utc::now()).is_some());
    });
}
