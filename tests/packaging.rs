//! What the release packages ship besides the binary: shell completions, the man page, and the
//! example configs for other deployments. Each test runs the built binary, as a packager or an
//! operator would.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::CommandFactory;
use elt_console::cli::Cli;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_elt-console");

/// The binary with a clean environment: no user or system config besides what a test passes
/// (XDG_CONFIG_HOME points at an empty folder; /etc/elt-console is absent on test machines),
/// and no `ELT_*` variables from the caller.
fn elt(args: &[&str]) -> Output {
    let empty = tempfile::tempdir().unwrap();
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", empty.path())
        .env("XDG_CONFIG_HOME", empty.path())
        .env("XDG_STATE_HOME", empty.path())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Top-level subcommands as clap defines them, so a new command is covered without editing here.
fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_string())
        .collect()
}

#[test]
fn completions_for_bash_zsh_and_fish_name_every_subcommand() {
    let markers = [
        ("bash", "complete -F _elt__console"),
        ("zsh", "#compdef elt-console"),
        ("fish", "complete -c elt-console"),
    ];
    for (shell, marker) in markers {
        let out = elt(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in subcommands() {
            assert!(script.contains(&sub), "{shell} completion lacks {sub}");
        }
    }
}

#[test]
fn bash_completion_is_valid_bash() {
    let script = stdout(&elt(&["completions", "bash"]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("elt-console.bash");
    std::fs::write(&path, &script).unwrap();
    // -n parses without running; then source it and ask for the function it registers.
    let check = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "bash -n '{p}' && source '{p}' && complete -p elt-console",
            p = path.display()
        ))
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    assert!(
        stdout(&check).contains("-F _elt__console elt-console"),
        "{check:?}"
    );
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = elt(&["completions", "cmd.exe"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn man_page_is_roff_and_lists_every_subcommand() {
    let out = elt(&["man"]);
    assert!(out.status.success(), "{out:?}");
    let page = stdout(&out);
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(page.contains(".TH elt-console 1"), "{page}");
    assert!(page.contains("SUBCOMMANDS"), "{page}");
    for sub in subcommands() {
        // clap_mangen lists each as `elt\-console\-NAME(1)` (roff escapes the dashes).
        let entry = format!("elt\\-console\\-{}(1)", sub.replace('-', "\\-"));
        assert!(page.contains(&entry), "man page lacks {entry}");
    }
    // The global options are documented too.
    assert!(page.contains("\\-\\-config"), "{page}");
    assert!(page.contains("\\-\\-read\\-only"), "{page}");
}

#[test]
fn man_dir_gets_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = elt(&["man", "--dir", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let mut want = vec!["elt-console.1".to_string()];
    for sub in Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
    {
        want.push(format!("elt-console-{}.1", sub.get_name()));
        for nested in sub.get_subcommands() {
            want.push(format!(
                "elt-console-{}-{}.1",
                sub.get_name(),
                nested.get_name()
            ));
        }
    }
    want.retain(|name| !name.contains("-help"));
    for name in &want {
        let page =
            std::fs::read_to_string(out_dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let title = name.trim_end_matches(".1");
        assert!(page.contains(&format!(".TH {title} 1")), "{name}: {page}");
    }
    // Every page the top page points at exists.
    let top = stdout(&elt(&["man"]));
    let pointers: Vec<&str> = top.lines().filter(|l| l.ends_with("(1)")).collect();
    assert!(pointers.len() >= 2, "{top}");
    for line in pointers {
        // `elt\-console\-status(1)` (roff escapes the dashes).
        let file = format!("{}.1", line.trim_end_matches("(1)").replace("\\-", "-"));
        assert!(
            out_dir.join(&file).is_file(),
            "top page names {line:?}, no {file}"
        );
    }
}

// ------------------------------------------------------------------------------ example configs

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples")
}

fn example(name: &str) -> PathBuf {
    examples_dir().join(name).join("elt-console.toml")
}

/// Every `assets/examples/*/elt-console.toml`, so a new example is checked without editing here.
fn all_examples() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path().join("elt-console.toml"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found
}

#[test]
fn every_example_config_passes_config_check() {
    let examples = all_examples();
    assert!(examples.len() >= 3, "{examples:?}");
    for file in examples {
        let out = elt(&["config", "check", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(
            text.starts_with("config ok (built-in defaults + ")
                && text.contains("elt-console.toml"),
            "{text}"
        );
    }
}

#[test]
fn config_check_fails_on_a_broken_copy_of_an_example() {
    // The check above would pass trivially if `config check` ignored its file.
    let text = std::fs::read_to_string(example("ghcr-app-postgres-redis")).unwrap();
    let broken = text.replacen(
        "commit_tags = [\"sha-{sha}\"]",
        "commit_tags = [\"sha-\"]",
        1,
    );
    assert_ne!(broken, text, "the example changed; update this test");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, broken).unwrap();
    let out = elt(&["config", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml:") && err.contains("deployment.services[0].commit_tags"),
        "{err}"
    );
}

fn load_example(name: &str) -> elt_console::config::Config {
    let sources = elt_console::config::Sources {
        files: vec![(example(name), true)],
        env: vec![],
    };
    elt_console::config::load(&sources)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .config
}

fn tag(s: &str) -> elt_console::domain::Tag {
    elt_console::domain::Tag::parse(s).unwrap()
}

#[test]
fn docker_hub_bot_example_means_what_it_says() {
    let c = load_example("dockerhub-bot");
    assert_eq!(c.deployment.services.len(), 1);
    let bot = &c.deployment.services[0];
    assert_eq!(bot.image.registry(), "docker.io");
    assert_eq!(bot.image.path(), "acme/chat-bot");
    assert_eq!(bot.image.docker_name(), "acme/chat-bot");
    // Bare `<sha>` tags: short and full SHAs name a commit, `latest` and words do not.
    let sha = |t: &str| bot.commit_tags.iter().find_map(|p| p.sha_of(&tag(t)));
    assert_eq!(sha("3f2a9c1").unwrap().as_str(), "3f2a9c1");
    assert!(sha(&"ab".repeat(20)).is_some());
    assert!(sha("latest").is_none());
    assert!(bot.migrate_service.is_none());
    // No HTTP endpoint: the container's own healthcheck is all there is.
    assert!(c.health.is_empty());
    // ...or, where the image has none, running 30 s without a restart.
    assert_eq!(
        bot.ready,
        Some(elt_console::config::ReadyRule::Running { secs: 30 })
    );
    assert_eq!(bot.follow, elt_console::domain::FollowRule::Latest);
}

#[test]
fn ghcr_app_postgres_redis_example_means_what_it_says() {
    let c = load_example("ghcr-app-postgres-redis");
    // Only the app is redeployed; postgres and redis are not in the set.
    let names: Vec<&str> = c.service_names().collect();
    assert_eq!(names, ["app"]);
    let app = &c.deployment.services[0];
    assert_eq!(app.image.registry(), "ghcr.io");
    assert_eq!(app.migrate_service.as_deref(), Some("migrate"));
    let sha = |t: &str| app.commit_tags.iter().find_map(|p| p.sha_of(&tag(t)));
    assert_eq!(sha("sha-0a1b2c3").unwrap().as_str(), "0a1b2c3");
    // Release tags are deployable but name no commit by themselves (the image's revision
    // label does).
    assert!(sha("v1.4.2").is_none());
    // No `latest` is published: watch and a tag-less deploy follow the newest release.
    assert_eq!(
        app.follow,
        elt_console::domain::FollowRule::Semver { prereleases: false }
    );
}

#[test]
fn multi_service_traefik_example_means_what_it_says() {
    let c = load_example("multi-service-traefik");
    let names: Vec<&str> = c.service_names().collect();
    assert_eq!(names, ["api", "worker"]);
    let (api, worker) = (&c.deployment.services[0], &c.deployment.services[1]);
    assert_ne!(api.image, worker.image, "two built images");
    assert_ne!(api.image_var, worker.image_var, "each pinned on its own");
    assert!(!names.contains(&"traefik"), "the proxy is never redeployed");
    assert!(c.health.len() >= 2, "{:?}", c.health);
}

/// Each example's compose file declares every service its config deploys, with the image
/// variable the config pins. (scripts/validate-files.sh runs `docker-compose config` on them.)
#[test]
fn example_compose_files_declare_the_configured_services() {
    for file in all_examples() {
        let dir = file.parent().unwrap();
        let name = dir.file_name().unwrap().to_str().unwrap();
        let c = load_example(name);
        let compose = dir.join(&c.deployment.compose_file);
        let text = std::fs::read_to_string(&compose)
            .unwrap_or_else(|e| panic!("{}: {e}", compose.display()));
        for s in &c.deployment.services {
            assert!(
                text.contains(&format!("\n  {}:\n", s.name)),
                "{name}: service {} not in {}",
                s.name,
                compose.display()
            );
            // `${VAR:-repo:tag}` or `${VAR:?message}`: pinned by the console, never hard-coded.
            let pinned = format!("image: ${{{}:", s.image_var);
            assert!(text.contains(&pinned), "{name}: no `{pinned}...}}`");
            assert!(
                text.contains(&s.image.docker_name()),
                "{name}: {} not mentioned in {}",
                s.image,
                compose.display()
            );
            if let Some(m) = &s.migrate_service {
                assert!(text.contains(&format!("\n  {m}:\n")), "{name}: no {m}");
            }
        }
    }
}
