//! `config show`: the effective config as TOML, each value with where it came from.

use super::layers::{join, origin_of};
use super::types::{LoadedConfig, Origin};
use std::collections::BTreeMap;
use toml::{Table, Value};

impl LoadedConfig {
    /// The effective config as TOML, each value followed by where it came from.
    pub fn show(&self) -> String {
        let value = Value::try_from(&self.config).unwrap_or(Value::Table(Table::new()));
        let mut out = String::new();
        if let Value::Table(t) = value {
            render_table(&t, "", &self.origins, &mut out);
        }
        out
    }
}

fn render_table(t: &Table, path: &str, origins: &BTreeMap<String, Origin>, out: &mut String) {
    use std::fmt::Write;
    for (k, v) in t {
        if !matches!(v, Value::Table(_)) && !is_table_array(v) {
            let full = join(path, k);
            let _ = writeln!(out, "{k} = {}  # {}", inline(v), origin_of(origins, &full));
        }
    }
    for (k, v) in t {
        let full = join(path, k);
        match v {
            Value::Table(sub) => {
                let _ = writeln!(out, "\n[{full}]");
                render_table(sub, &full, origins, out);
            }
            Value::Array(items) if is_table_array(v) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Table(sub) = item {
                        let _ = writeln!(out, "\n[[{full}]]");
                        render_table(sub, &format!("{full}[{i}]"), origins, out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_table))
}

fn inline(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}
