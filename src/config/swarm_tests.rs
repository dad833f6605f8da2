//! `deployment.runtime`, `deployment.stack` and `[swarm]`.

use super::*;
use crate::swarm::UpdateSettings;
use std::io::Write;
use std::time::Duration;

fn load_text(text: &str) -> (tempfile::NamedTempFile, Result<LoadedConfig, ConfigError>) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let sources = Sources {
        files: vec![(f.path().to_path_buf(), true)],
        env: vec![],
    };
    let loaded = load(&sources);
    (f, loaded)
}

#[test]
fn compose_is_the_default_runtime_and_swarm_settings_have_defaults() {
    let c = defaults();
    assert_eq!(c.deployment.runtime, RuntimeKind::Compose);
    assert_eq!(c.deployment.stack, "");
    let settings = UpdateSettings::from_config(&c.swarm);
    assert_eq!(settings.parallelism, 1);
    assert_eq!(settings.monitor, Duration::from_secs(10));
    assert_eq!(settings.failure_action, FailureAction::Rollback);
    assert_eq!(settings.order, UpdateOrder::StartFirst);
    assert!(c.swarm.migrate_args.is_empty());
}

#[test]
fn a_swarm_deployment_reads_its_stack_and_update_settings() {
    let (_f, loaded) = load_text(
        "[deployment]\nruntime = \"swarm\"\nstack = \"elt\"\n\n[swarm]\nparallelism = 2\nmonitor_s = 30\nfailure_action = \"pause\"\norder = \"stop-first\"\nmigrate_args = [\"migrate\", \"--to\", \"head\"]\n",
    );
    let c = loaded.unwrap().config;
    assert_eq!(c.deployment.runtime, RuntimeKind::Swarm);
    assert_eq!(c.deployment.stack, "elt");
    let settings = UpdateSettings::from_config(&c.swarm);
    assert_eq!(settings.parallelism, 2);
    assert_eq!(settings.monitor, Duration::from_secs(30));
    assert_eq!(settings.failure_action, FailureAction::Pause);
    assert_eq!(settings.order, UpdateOrder::StopFirst);
    assert_eq!(c.swarm.migrate_args, ["migrate", "--to", "head"]);
}

#[test]
fn bad_swarm_values_point_at_their_file_line_and_key() {
    for (text, line, key) in [
        // A swarm runtime without a stack: the runtime line is where it was asked for.
        ("[deployment]\nruntime = \"swarm\"\n", 2, "deployment.stack"),
        (
            "[deployment]\nruntime = \"swarm\"\nstack = \"my stack\"\n",
            3,
            "deployment.stack",
        ),
        (
            "[deployment]\nruntime = \"kubernetes\"\n",
            2,
            "deployment.runtime",
        ),
        ("[swarm]\norder = \"sideways\"\n", 2, "swarm.order"),
        (
            "[swarm]\nfailure_action = \"retry\"\n",
            2,
            "swarm.failure_action",
        ),
        ("[swarm]\n\nmonitor_s = 0\n", 3, "swarm.monitor_s"),
        (
            "[swarm]\nupdate_timeout_s = 5\n",
            2,
            "swarm.update_timeout_s",
        ),
        ("[swarm]\nparallelism = \"all\"\n", 2, "swarm.parallelism"),
    ] {
        let (f, loaded) = load_text(text);
        let err = loaded.unwrap_err().to_string();
        let at = format!("{}:{line}:", f.path().display());
        assert!(err.starts_with(&at), "{text:?}: {err}");
        assert!(err.contains(key), "{text:?}: {err}");
    }
}
