//! `config check` and `config show`: which files were read, every key with its origin, and
//! where the GitHub token comes from (never its value).

use super::common::{load_config, print_json};
use crate::config::{self, LoadedConfig};
use crate::exit_code;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the effective config and where each value came from (no secrets).
    Show {
        /// Every key with its value and origin as JSON (docs/status-json.md).
        #[arg(long)]
        json: bool,
    },
    /// Validate the layered config, with FILE as the explicit layer if given.
    Check { file: Option<PathBuf> },
}

pub async fn config_command(explicit: Option<&std::path::Path>, action: ConfigAction) -> i32 {
    match action {
        ConfigAction::Check { file } => {
            let explicit = file.as_deref().or(explicit);
            match load_config(explicit) {
                Ok(loaded) => {
                    let files: Vec<String> = loaded
                        .files
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    println!(
                        "config ok ({})",
                        if files.is_empty() {
                            "built-in defaults only".to_string()
                        } else {
                            format!("built-in defaults + {}", files.join(" + "))
                        }
                    );
                    // The notification secrets are only read here and at a deploy's start.
                    let mut code = exit_code::OK;
                    let env = |v: &str| std::env::var(v).ok();
                    for r in crate::notify::check_targets(&loaded.config.notify, &env) {
                        match r {
                            Ok(shown) => println!("notify {shown}: ok"),
                            Err(e) => {
                                eprintln!("elt-console: notify: {e}");
                                code = exit_code::CONFIG;
                            }
                        }
                    }
                    code
                }
                Err(code) => code,
            }
        }
        ConfigAction::Show { json: true } => match load_config(explicit) {
            Ok(loaded) => {
                let token = crate::sources::github::resolve_token(&loaded.config.github).await;
                print_json(&config_json(
                    &loaded,
                    token.map(|(_, s)| s.to_string()).map_err(|e| e.to_string()),
                ))
            }
            Err(code) => code,
        },
        ConfigAction::Show { json: false } => match load_config(explicit) {
            Ok(loaded) => {
                print!("{}", loaded.show());
                let token = match crate::sources::github::resolve_token(&loaded.config.github).await
                {
                    Ok((_, source)) => source.to_string(),
                    Err(e) => format!("error: {e}"),
                };
                println!("\n# GitHub token: {token} (value never shown)");
                println!(
                    "# {}",
                    crate::sources::github::route_note(&loaded.config.github)
                );
                0
            }
            Err(code) => code,
        },
    }
}

/// `config show --json`: every leaf key (dotted, `[i]` for array tables) with its value and
/// origin. The config holds no secret values, only where to find them (an env var name, a
/// file path; config validation refuses credentials in URLs), and the token shows its source.
pub fn config_json(loaded: &LoadedConfig, token: Result<String, String>) -> serde_json::Value {
    let value = toml::Value::try_from(&loaded.config)
        .unwrap_or_else(|_| toml::Value::Table(toml::Table::new()));
    let mut keys = Vec::new();
    flatten_config(&value, "", loaded, &mut keys);
    serde_json::json!({
        "files": loaded.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "keys": keys,
        "github_token": match token {
            Ok(source) => serde_json::json!({ "source": source, "error": null }),
            Err(e) => serde_json::json!({ "source": null, "error": e }),
        },
        "github_route": crate::sources::github::route_note(&loaded.config.github),
    })
}

fn flatten_config(
    v: &toml::Value,
    path: &str,
    loaded: &LoadedConfig,
    out: &mut Vec<serde_json::Value>,
) {
    let table_array = |v: &toml::Value| matches!(v, toml::Value::Array(a) if !a.is_empty() && a.iter().all(toml::Value::is_table));
    match v {
        toml::Value::Table(t) => {
            for (k, sub) in t {
                let full = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten_config(sub, &full, loaded, out);
            }
        }
        toml::Value::Array(items) if table_array(v) => {
            for (i, item) in items.iter().enumerate() {
                flatten_config(item, &format!("{path}[{i}]"), loaded, out);
            }
        }
        leaf => out.push(serde_json::json!({
            "key": path,
            "value": serde_json::to_value(leaf).unwrap_or_default(),
            "origin": config::origin_of(&loaded.origins, path).to_string(),
        })),
    }
}
