//! Reading the layers in order, then checking the merged result.

use super::layers::{apply_env, deserialize, merge_layer, origin_of, parse_layer};
use super::types::{Config, ConfigError, DEFAULT_CONFIG_TOML, LoadedConfig, Origin, Sources};
use super::validate::validate;
use std::collections::BTreeMap;
use toml::Table;

pub fn load(sources: &Sources) -> Result<LoadedConfig, ConfigError> {
    let schema = parse_layer(DEFAULT_CONFIG_TOML, &Origin::Defaults, None)?;
    let mut merged = Table::new();
    let mut origins = BTreeMap::new();
    merge_layer(
        &mut merged,
        &mut origins,
        schema.table.clone(),
        &schema.origins,
    );
    let mut files = Vec::new();

    for (path, required) in &sources.files {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => continue,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.clone(),
                    source,
                });
            }
        };
        let origin = Origin::File {
            path: path.clone(),
            line: 1,
            column: 1,
        };
        let layer = parse_layer(&text, &origin, Some(&schema.table))?;
        merge_layer(&mut merged, &mut origins, layer.table, &layer.origins);
        files.push(path.clone());
    }

    apply_env(&mut merged, &mut origins, &schema.table, &sources.env)?;

    let config = deserialize(merged, &origins)?;
    validate(&config, &origins)?;
    let keymap = crate::keymap::Keymap::from_table(&config.keys).map_err(|e| {
        let key = format!("keys.{}", e.action);
        ConfigError::Key {
            origin: origin_of(&origins, &key),
            key,
            message: e.message,
        }
    })?;
    Ok(LoadedConfig {
        config,
        keymap,
        origins,
        files,
    })
}

/// Only the embedded defaults (tests, and a fallback description of the ELT deployment).
pub fn defaults() -> Config {
    load(&Sources::default())
        .map(|l| l.config)
        .unwrap_or_else(|e| unreachable!("embedded default config is invalid: {e}"))
}
