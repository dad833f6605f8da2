use super::*;
use crate::domain::ImageRepo;
use std::io::Write;
use std::path::PathBuf;

fn with_file(text: &str) -> (tempfile::NamedTempFile, Sources) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let sources = Sources {
        files: vec![(f.path().to_path_buf(), true)],
        env: vec![],
    };
    (f, sources)
}

#[test]
fn embedded_defaults_describe_elt() {
    let c = defaults();
    assert_eq!(c.deployment.project, "elt");
    assert_eq!(
        c.deployment.compose_file,
        PathBuf::from("docker-compose.gpu.yml")
    );
    let app = &c.deployment.services[0];
    assert_eq!(app.name, "app");
    assert_eq!(
        app.image.docker_name(),
        "ghcr.io/arthurlee116/english-listening-trainer"
    );
    assert_eq!(app.image_var, "IMAGE_TAG");
    assert_eq!(app.migrate_service.as_deref(), Some("migrate"));
    assert_eq!(String::from(app.commit_tags[0].clone()), "main-{sha}");
    assert_eq!(c.health[0].url, "http://localhost:3000/api/health");
    assert_eq!(
        c.github.repo.to_string(),
        "arthurlee116/english-listening-trainer"
    );
    assert_eq!(c.github.workflow.as_str(), "build-and-push.yml");
    assert_eq!(c.github.api_url, "https://api.github.com");
}

#[test]
fn unknown_key_names_file_line_column_and_key() {
    let (f, s) =
        with_file("[github]\nrepo = \"a/b\"\n\n[gpu]\nsample_interval_ms = 500\nbogus = 1\n");
    let err = load(&s).unwrap_err().to_string();
    let want = format!("{}:6:1: key `gpu.bogus`: unknown key", f.path().display());
    assert!(err.starts_with(&want), "{err}");
}

#[test]
fn wrong_type_is_reported_at_its_line() {
    let (_f, s) = with_file("[github]\nruns_per_page = \"many\"\n");
    let err = load(&s).unwrap_err().to_string();
    assert!(
        err.contains(":2:1: key `github.runs_per_page`: expected integer, found string"),
        "{err}"
    );
}

#[test]
fn ready_rules_and_mirrors_parse_and_bad_ones_point_at_their_key() {
    let svc = |ready: &str| {
        format!(
            "[[deployment.services]]\nname = \"bot\"\nimage = \"acme/bot\"\nimage_var = \"BOT_IMAGE\"\n{ready}"
        )
    };
    for (line, want) in [
        ("", None),
        ("ready = \"\"\n", None),
        (
            "ready = \"running:10s\"\n",
            Some(ReadyRule::Running { secs: 10 }),
        ),
    ] {
        let (_f, s) = with_file(&svc(line));
        let c = load(&s).unwrap().config;
        assert_eq!(c.deployment.services[0].ready, want, "{line}");
    }
    for bad in [
        "running",
        "running:0s",
        "running:10",
        "healthy",
        "running:9999s",
    ] {
        let (_f, s) = with_file(&svc(&format!("ready = \"{bad}\"\n")));
        let err = load(&s).unwrap_err().to_string();
        assert!(
            err.contains("deployment.services") && err.contains("running:Ns"),
            "{bad}: {err}"
        );
    }
    let (_f, s) = with_file("[registry]\nmirrors = [\"docker.io=127.0.0.1:5000\"]\n");
    let r = load(&s).unwrap().config.registry;
    let official = ImageRepo::parse("redis").unwrap();
    let user = ImageRepo::parse("docker.io/acme/chat-bot").unwrap();
    let ghcr = ImageRepo::parse("ghcr.io/acme/notes").unwrap();
    assert_eq!(r.pull_name(&official), "127.0.0.1:5000/library/redis");
    assert_eq!(r.pull_name(&user), "127.0.0.1:5000/acme/chat-bot");
    assert_eq!(r.host_for(&user), "127.0.0.1:5000");
    assert_eq!(r.pull_name(&ghcr), "ghcr.io/acme/notes");
    assert_eq!(r.host_for(&ghcr), "ghcr.io");
    for bad in [
        "docker.io",
        "docker.io=",
        "docker.io=a b",
        "=127.0.0.1:5000",
    ] {
        let (_f, s) = with_file(&format!("[registry]\nmirrors = [\"{bad}\"]\n"));
        let err = load(&s).unwrap_err().to_string();
        assert!(err.contains("registry.mirrors[0]"), "{bad}: {err}");
    }
}

#[test]
fn follow_rules_parse_and_bad_ones_point_at_their_line() {
    let svc = |follow: &str| {
        format!(
            "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/acme/pm\"\nimage_var = \"IMAGE_TAG\"\n{follow}"
        )
    };
    use crate::domain::{CommitTagPattern, FollowRule};
    for (line, want) in [
        ("", FollowRule::Latest),
        ("follow = \"latest\"\n", FollowRule::Latest),
        (
            "follow = \"semver\"\n",
            FollowRule::Semver { prereleases: false },
        ),
        (
            "follow = \"semver-prerelease\"\n",
            FollowRule::Semver { prereleases: true },
        ),
        (
            "follow = \"newest:sha-{sha}\"\n",
            FollowRule::Newest(CommitTagPattern::parse("sha-{sha}").unwrap()),
        ),
    ] {
        let (_f, s) = with_file(&svc(line));
        let c = load(&s).unwrap().config;
        assert_eq!(c.deployment.services[0].follow, want, "{line}");
    }
    for bad in [
        "follow = \"newest\"\n",
        "follow = \"newest:sha-\"\n",
        "follow = 3\n",
    ] {
        let (f, s) = with_file(&svc(bad));
        let err = load(&s).unwrap_err().to_string();
        let want = format!("{}:5:1", f.path().display());
        assert!(err.starts_with(&want), "{bad}: {err}");
        assert!(
            err.contains("deployment.services[0].follow"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn tag_detail_limit_must_be_above_zero() {
    let (_f, s) = with_file("[registry]\ntag_detail_limit = 3\n");
    assert_eq!(load(&s).unwrap().config.registry.tag_detail_limit, 3);
    let (_f, s) = with_file("[registry]\ntag_detail_limit = 0\n");
    let err = load(&s).unwrap_err().to_string();
    assert!(err.contains("registry.tag_detail_limit"), "{err}");
}

#[test]
fn syntax_error_has_line_and_column() {
    let (_f, s) = with_file("[github]\nrepo = \"unterminated\n");
    let err = load(&s).unwrap_err().to_string();
    assert!(err.contains(":2:"), "{err}");
}

#[test]
fn invalid_values_point_at_their_origin() {
    let (_f, s) = with_file(
        "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/Bad/Name\"\nimage_var = \"IMAGE_TAG\"\n",
    );
    let err = load(&s).unwrap_err().to_string();
    assert!(err.contains("key `deployment.services[0].image`"), "{err}");
    assert!(err.contains(":3:1"), "{err}");

    let (_f, s) = with_file("[[health]]\nname = \"x\"\nurl = \"ftp://x\"\n");
    let err = load(&s).unwrap_err().to_string();
    assert!(
        err.contains("health[0].url") && err.contains(":3:1"),
        "{err}"
    );

    let (_f, s) = with_file(
        "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/a/b\"\nimage_var = \"IMAGE_TAG\"\ncommit_tags = [\"x;{sha}\"]\n",
    );
    let err = load(&s).unwrap_err().to_string();
    assert!(err.contains("commit_tags"), "{err}");
}

#[test]
fn layers_override_in_order_and_record_origins() {
    let (_f, mut s) = with_file("[github]\nrepo = \"me/app\"\nworkflow = \"ci.yml\"\n");
    s.env = vec![
        ("ELT_GITHUB_WORKFLOW".into(), "deploy.yml".into()),
        (
            "ELT_REGISTRY_PLAIN_HTTP".into(),
            "127.0.0.1:5000, localhost:5000".into(),
        ),
        ("ELT_TEST_REGISTRY".into(), "ignored".into()),
    ];
    let l = load(&s).unwrap();
    assert_eq!(l.config.github.repo.to_string(), "me/app");
    assert_eq!(l.config.github.workflow.as_str(), "deploy.yml");
    assert_eq!(
        l.config.registry.plain_http,
        vec!["127.0.0.1:5000", "localhost:5000"]
    );
    assert_eq!(
        l.origins["github.workflow"],
        Origin::Env("ELT_GITHUB_WORKFLOW".into())
    );
    assert!(matches!(
        l.origins["github.repo"],
        Origin::File { line: 2, .. }
    ));
    assert_eq!(l.origins["gpu.sample_interval_ms"], Origin::Defaults);
    let shown = l.show();
    assert!(
        shown.contains("workflow = \"deploy.yml\"  # environment variable ELT_GITHUB_WORKFLOW"),
        "{shown}"
    );
}

#[test]
fn bad_env_values_are_errors() {
    let s = Sources {
        files: vec![],
        env: vec![("ELT_GPU_SAMPLE_INTERVAL_MS".into(), "fast".into())],
    };
    let err = load(&s).unwrap_err().to_string();
    assert!(
        err.contains("ELT_GPU_SAMPLE_INTERVAL_MS") && err.contains("integer"),
        "{err}"
    );
    let s = Sources {
        files: vec![],
        env: vec![("ELT_GITHUB_REPOSITORY".into(), "x/y".into())],
    };
    assert!(load(&s).unwrap_err().to_string().contains("unknown key"));
}

#[test]
fn a_later_array_of_tables_replaces_the_default_one() {
    let (_f, s) =
        with_file("[[health]]\nname = \"api\"\nurl = \"http://127.0.0.1:8080/healthz\"\n");
    let c = load(&s).unwrap().config;
    assert_eq!(c.health.len(), 1);
    assert_eq!(c.health[0].name, "api");
    assert_eq!(c.health[0].timeout_ms, 3000);
}

#[test]
fn key_clashes_name_the_line_of_the_offending_binding() {
    let (f, s) = with_file("[keys]\nrefresh = [\"q\"]\n");
    let err = load(&s).unwrap_err().to_string();
    let want = format!(
        "{}:2:1: key `keys.refresh`: key q is also bound to quit",
        f.path().display()
    );
    assert!(err.starts_with(&want), "{err}");
    let (_f, s) = with_file("[keys]\nquit = [\"ctrl-\"]\n");
    assert!(
        load(&s)
            .unwrap_err()
            .to_string()
            .contains("unknown key \"ctrl-\"")
    );
    let (_f, s) = with_file("[keys]\nlaunch_rockets = [\"x\"]\n");
    assert!(
        load(&s)
            .unwrap_err()
            .to_string()
            .contains("keys.launch_rockets`: unknown key")
    );
    let (_f, s) = with_file("[keys]\nquit = [\"x\"]\n");
    let l = load(&s).unwrap();
    assert_eq!(l.keymap.label(crate::keymap::Action::Quit), "x");
}

#[test]
fn missing_explicit_file_is_an_error() {
    let s = Sources {
        files: vec![(PathBuf::from("/nonexistent/elt.toml"), true)],
        env: vec![],
    };
    assert!(
        load(&s)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/elt.toml")
    );
}

#[test]
fn an_inline_table_is_checked_and_located_as_a_table() {
    let (_f, s) = with_file("github = { repo = \"me/app\", workflow = \"ci.yml\" }\n");
    let l = load(&s).unwrap();
    assert_eq!(l.config.github.repo.to_string(), "me/app");
    assert!(matches!(
        l.origins["github.workflow"],
        Origin::File { line: 1, .. }
    ));
    let (_f, s) = with_file("gpu = { bogus = 1 }\n");
    let err = load(&s).unwrap_err().to_string();
    assert!(err.contains("key `gpu.bogus`: unknown key"), "{err}");
}

#[test]
fn strategy_and_proxy_settings_parse_and_bad_ones_point_at_their_key() {
    let (_f, s) = with_file(
        "[deploy]\nstrategy = \"start-first\"\n[proxy]\nkind = \"nginx\"\nupstream_file = \"/etc/nginx/elt/upstream.conf\"\n",
    );
    let c = load(&s).unwrap().config;
    assert_eq!(c.deploy.strategy, StrategyChoice::StartFirst);
    assert_eq!(c.proxy.kind, ProxyKind::Nginx);
    assert_eq!(c.deployment.services[0].strategy, None);
    assert_eq!(c.deployment.services[0].expected_vram_mib, None);

    let (_f, s) = with_file(
        "[[deployment.services]]\nname = \"app\"\nimage = \"ghcr.io/a/b\"\nimage_var = \"IMAGE_TAG\"\nstrategy = \"stop-first\"\nexpected_vram_mib = 9800\n",
    );
    let c = load(&s).unwrap().config;
    assert_eq!(
        c.deployment.services[0].strategy,
        Some(StrategyChoice::StopFirst)
    );
    assert_eq!(c.deployment.services[0].expected_vram_mib, Some(9800));

    for (text, key, line) in [
        (
            "[proxy]\nkind = \"nginx\"\nupstream_file = \"relative.conf\"\n",
            "proxy.upstream_file",
            ":3:1",
        ),
        (
            "[proxy]\nkind = \"nginx\"\nupstream_file = \"/x.conf\"\nupstream_name = \"app; include /etc/passwd\"\n",
            "proxy.upstream_name",
            ":4:1",
        ),
        (
            "[proxy]\nkind = \"caddy\"\ncaddy_admin = \"http://127.0.0.1:2019/config/\"\n",
            "proxy.caddy_admin",
            ":3:1",
        ),
        (
            "[proxy]\nkind = \"labels\"\nservice = \"web\"\n",
            "proxy.service",
            ":3:1",
        ),
    ] {
        let (_f, s) = with_file(text);
        let err = load(&s).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(line), "{text}: {err}");
    }
    let (_f, s) = with_file("[deploy]\nstrategy = \"blue-green\"\n");
    let err = load(&s).unwrap_err().to_string();
    assert!(err.contains("strategy") && err.contains(":2:"), "{err}");
}
