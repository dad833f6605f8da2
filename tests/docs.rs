//! Documentation that must not drift from the code.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use elt_console::config::{self, Sources};
use elt_console::keymap::{Action, Scope};

/// docs/operator-guide.md's key table lists every action with its default keys and help text,
/// exactly as the keymap has them.
#[test]
fn operator_guide_key_table_matches_the_keymap() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/operator-guide.md"
    ))
    .unwrap();
    let keymap = config::load(&Sources::default()).unwrap().keymap;
    let rows: Vec<&str> = guide.lines().filter(|l| l.starts_with("| `")).collect();
    assert_eq!(rows.len(), Action::ALL.len(), "one row per action");
    for action in Action::ALL {
        let scope = match action.scope() {
            Scope::Global => "global",
            Scope::List => "list",
            Scope::Logs => "logs",
            Scope::Confirm => "confirm",
            Scope::Form => "form",
        };
        let want = format!(
            "| `{}` | {} | {} | {} |",
            keymap.label(*action),
            action.name(),
            action.help(),
            scope
        );
        assert!(
            rows.contains(&want.as_str()),
            "missing or different in docs/operator-guide.md: {want}"
        );
    }
}

/// One documented key: `(key, default, env override)` as the defaults file implies them.
struct DefaultKey {
    key: String,
    default: String,
    env: Option<String>,
}

fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Array(a) => {
            format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", "))
        }
        other => other.to_string(),
    }
}

/// Every leaf of the built-in defaults. Entries of an array of tables become `a.b[].c`; only
/// `section.key` leaves that are scalars or string lists can be set from the environment.
/// `depth` is how deep `t` is below the root; None inside an array of tables.
fn default_keys(t: &toml::Table, path: &str, depth: Option<usize>, out: &mut Vec<DefaultKey>) {
    for (k, v) in t {
        let key = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        match v {
            toml::Value::Table(sub) => default_keys(sub, &key, depth.map(|d| d + 1), out),
            toml::Value::Array(items) if items.first().is_some_and(toml::Value::is_table) => {
                for item in items {
                    if let toml::Value::Table(sub) = item {
                        default_keys(sub, &format!("{key}[]"), None, out);
                    }
                }
            }
            _ => {
                let settable = depth == Some(1)
                    && match v {
                        toml::Value::Array(a) => a.iter().all(toml::Value::is_str),
                        _ => true,
                    };
                out.push(DefaultKey {
                    env: settable.then(|| format!("ELT_{}", key.replace('.', "_").to_uppercase())),
                    default: inline(v),
                    key,
                });
            }
        }
    }
}

fn value_as_env(v: &str) -> String {
    // The inline form back to what an environment variable holds: bare strings, comma lists.
    let unquote = |s: &str| s.trim().trim_matches('"').to_string();
    match v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        Some(items) => items.split(',').map(unquote).collect::<Vec<_>>().join(","),
        None => unquote(v),
    }
}

/// docs/configuration.md has a row for every key of assets/default-config.toml, with that
/// default and the right environment override, and each override it names really works.
#[test]
fn configuration_reference_lists_every_default_key() {
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    let defaults: toml::Table = toml::from_str(config::DEFAULT_CONFIG_TOML).unwrap();
    let mut keys = Vec::new();
    default_keys(&defaults, "", Some(0), &mut keys);
    assert!(keys.len() > 30, "{}", keys.len());

    let row = |key: &str| -> Option<Vec<String>> {
        let start = format!("| `{key}` |");
        reference.lines().find(|l| l.starts_with(&start)).map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
    };
    let mut missing = Vec::new();
    for k in keys.iter().filter(|k| !k.key.starts_with("keys.")) {
        let Some(cells) = row(&k.key) else {
            missing.push(k.key.clone());
            continue;
        };
        assert_eq!(cells[1], format!("`{}`", k.default), "default of {}", k.key);
        let env_cell = match &k.env {
            Some(var) => format!("`{var}`"),
            None => "—".into(),
        };
        assert_eq!(cells[2], env_cell, "env override of {}", k.key);
        if let Some(var) = &k.env {
            // The loader takes the variable as that key.
            let sources = config::Sources {
                files: vec![],
                env: vec![(var.clone(), value_as_env(&k.default))],
            };
            let loaded = config::load(&sources).unwrap_or_else(|e| panic!("{var}: {e}"));
            assert_eq!(
                loaded.origins.get(&k.key),
                Some(&config::Origin::Env(var.clone())),
                "{var} does not set {}",
                k.key
            );
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks rows for {missing:?}"
    );
    // Keybindings: one row for all, pointing at the operator guide's table, which
    // operator_guide_key_table_matches_the_keymap checks action by action.
    let keys_row = row("keys.<action>").expect("a keys.<action> row");
    assert_eq!(keys_row[2], "`ELT_KEYS_<ACTION>`");
    assert!(keys_row[3].contains("operator-guide.md#keys"));
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/operator-guide.md"
    ))
    .unwrap();
    for k in keys.iter().filter_map(|k| k.key.strip_prefix("keys.")) {
        assert!(guide.contains(&format!(" | {k} | ")), "key table lacks {k}");
    }
    // And the keys' environment override works like the others.
    let sources = config::Sources {
        files: vec![],
        env: vec![("ELT_KEYS_REFRESH".into(), "r,f5".into())],
    };
    let loaded = config::load(&sources).unwrap();
    assert_eq!(loaded.config.keys["refresh"], ["r", "f5"]);
}
