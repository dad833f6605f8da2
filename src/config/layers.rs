//! One layer (a file or the environment) parsed with each key's position, checked against the
//! embedded defaults' keys and types, and merged over the layers below it.

use super::types::{Config, ConfigError, Origin};
use std::collections::BTreeMap;
use toml::{Table, Value};

pub(super) struct Layer {
    pub(super) table: Table,
    pub(super) origins: BTreeMap<String, Origin>,
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn at(origin: &Origin, text: &str, offset: usize) -> Origin {
    match origin {
        Origin::File { path, .. } => {
            let (line, column) = line_col(text, offset);
            Origin::File {
                path: path.clone(),
                line,
                column,
            }
        }
        other => other.clone(),
    }
}

/// Parse one file, record each leaf key's position, and check keys and types against `schema`.
pub(super) fn parse_layer(
    text: &str,
    origin: &Origin,
    schema: Option<&Table>,
) -> Result<Layer, ConfigError> {
    let doc: toml_edit::Document<String> =
        toml_edit::Document::parse(text.to_string()).map_err(|e| ConfigError::Syntax {
            origin: at(origin, text, e.span().map_or(0, |s| s.start)),
            message: e.message().trim().to_string(),
        })?;
    let mut origins = BTreeMap::new();
    walk_item(
        doc.as_item(),
        "",
        text,
        origin,
        schema.map(|t| t as &Table),
        &mut origins,
    )?;
    let table: Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        origin: at(origin, text, e.span().map_or(0, |s| s.start)),
        message: e.message().trim().to_string(),
    })?;
    Ok(Layer { table, origins })
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(a) if a.iter().all(|v| v.is_table()) && !a.is_empty() => "array of tables",
        Value::Array(_) => "array",
        Value::Table(_) => "table",
    }
}

fn edit_type_name(item: &toml_edit::Item) -> &'static str {
    use toml_edit::{Item, Value as V};
    match item {
        Item::None => "nothing",
        Item::Table(_) => "table",
        Item::ArrayOfTables(_) => "array of tables",
        Item::Value(v) => match v {
            V::String(_) => "string",
            V::Integer(_) => "integer",
            V::Float(_) => "float",
            V::Boolean(_) => "boolean",
            V::Datetime(_) => "datetime",
            V::Array(_) => "array",
            V::InlineTable(_) => "table",
        },
    }
}

fn walk_item(
    item: &toml_edit::Item,
    path: &str,
    text: &str,
    origin: &Origin,
    schema: Option<&Table>,
    origins: &mut BTreeMap<String, Origin>,
) -> Result<(), ConfigError> {
    let entries: Vec<(String, &toml_edit::Item, usize)> = match item {
        toml_edit::Item::Table(t) => t
            .iter()
            .map(|(k, v)| {
                let span = t.key(k).and_then(|key| key.span()).map_or(0, |s| s.start);
                (k.to_string(), v, span)
            })
            .collect(),
        _ => return Ok(()),
    };
    for (key, child, span) in entries {
        let full = join(path, &key);
        let here = at(origin, text, span);
        let expected = schema.map(|s| s.get(&key));
        if let Some(None) = expected {
            let known: Vec<&str> = schema
                .map(|t| t.keys().map(String::as_str).collect())
                .unwrap_or_default();
            return Err(ConfigError::Key {
                origin: here,
                key: full,
                message: format!("unknown key (known keys here: {})", known.join(", ")),
            });
        }
        let expected = expected.flatten();
        if let Some(exp) = expected {
            let got = edit_type_name(child);
            let want = type_name(exp);
            let compatible = got == want
                || (want == "array of tables" && got == "array")
                || (want == "array" && got == "array of tables");
            if !compatible {
                return Err(ConfigError::Key {
                    origin: here,
                    key: full,
                    message: format!("expected {want}, found {got}"),
                });
            }
        }
        match child {
            toml_edit::Item::Table(_)
            | toml_edit::Item::Value(toml_edit::Value::InlineTable(_)) => {
                // An inline table is walked as the table it writes.
                let inline = child
                    .as_inline_table()
                    .map(|t| toml_edit::Item::Table(t.clone().into_table()));
                walk_item(
                    inline.as_ref().unwrap_or(child),
                    &full,
                    text,
                    origin,
                    expected.and_then(Value::as_table),
                    origins,
                )?;
            }
            toml_edit::Item::ArrayOfTables(arr) => {
                let item_schema = expected
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_table);
                origins.insert(full.clone(), here.clone());
                for (i, t) in arr.iter().enumerate() {
                    let as_item = toml_edit::Item::Table(t.clone());
                    walk_item(
                        &as_item,
                        &format!("{full}[{i}]"),
                        text,
                        origin,
                        item_schema,
                        origins,
                    )?;
                }
            }
            _ => {
                origins.insert(full, here);
            }
        }
    }
    Ok(())
}

pub(super) fn merge_layer(
    merged: &mut Table,
    origins: &mut BTreeMap<String, Origin>,
    layer: Table,
    layer_origins: &BTreeMap<String, Origin>,
) {
    fn merge(into: &mut Table, from: Table, path: &str, origins: &mut BTreeMap<String, Origin>) {
        for (k, v) in from {
            let full = join(path, &k);
            match (into.get_mut(&k), v) {
                (Some(Value::Table(dst)), Value::Table(src)) => merge(dst, src, &full, origins),
                (_, v) => {
                    // A replaced subtree's old origins no longer apply.
                    origins.retain(|key, _| {
                        !(key == &full
                            || key.starts_with(&format!("{full}."))
                            || key.starts_with(&format!("{full}[")))
                    });
                    into.insert(k, v);
                }
            }
        }
    }
    merge(merged, layer, "", origins);
    origins.extend(layer_origins.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// `ELT_<SECTION>_<KEY>=value` sets `[section].key`. Only scalar and string-list keys of known
/// sections are settable this way; other `ELT_*` variables (such as the test environment's)
/// are left alone, but an unknown key inside a known section is an error.
pub(super) fn apply_env(
    merged: &mut Table,
    origins: &mut BTreeMap<String, Origin>,
    schema: &Table,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("ELT_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        let section = section.to_ascii_lowercase();
        let key = key.to_ascii_lowercase();
        let Some(Value::Table(section_schema)) = schema.get(&section) else {
            continue;
        };
        let origin = Origin::Env(var.clone());
        let full = join(&section, &key);
        let err = |message: String| ConfigError::Key {
            origin: origin.clone(),
            key: full.clone(),
            message,
        };
        let value = match section_schema.get(&key) {
            None => return Err(err("unknown key".into())),
            Some(Value::String(_)) => Value::String(raw.clone()),
            Some(Value::Integer(_)) => Value::Integer(
                raw.trim()
                    .parse()
                    .map_err(|_| err(format!("expected an integer, found {raw:?}")))?,
            ),
            Some(Value::Boolean(_)) => Value::Boolean(match raw.trim() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => return Err(err(format!("expected true or false, found {raw:?}"))),
            }),
            Some(Value::Array(a)) if a.iter().all(Value::is_str) => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
            Some(_) => return Err(err("cannot be set from the environment".into())),
        };
        if let Some(Value::Table(t)) = merged.get_mut(&section) {
            t.insert(key.clone(), value);
        }
        origins.insert(full, origin);
    }
    Ok(())
}

pub(crate) fn origin_of(origins: &BTreeMap<String, Origin>, key: &str) -> Origin {
    // Walk up from the exact key to its nearest recorded ancestor.
    let mut k = key.to_string();
    loop {
        if let Some(o) = origins.get(&k) {
            return o.clone();
        }
        match k.rfind(['.', '[']) {
            Some(i) => k.truncate(i),
            None => return Origin::Defaults,
        }
    }
}

pub(super) fn deserialize(
    merged: Table,
    origins: &BTreeMap<String, Origin>,
) -> Result<Config, ConfigError> {
    let value = Value::Table(merged);
    serde_path_to_error::deserialize::<_, Config>(value).map_err(|e| {
        let key = e
            .path()
            .to_string()
            .replace(".[", "[")
            .trim_start_matches('.')
            .to_string();
        ConfigError::Key {
            origin: origin_of(origins, &key),
            message: e.into_inner().to_string(),
            key,
        }
    })
}
