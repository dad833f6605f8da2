//! A workflow's `workflow_dispatch` trigger: its declared inputs (read from the workflow file
//! with yaml-rust2), and the checks a ref and input values pass before they reach a URL or a
//! request body.

use serde::Serialize;
use std::collections::BTreeMap;
use yaml_rust2::{Yaml, YamlLoader};

/// What kind of value an input takes, as the workflow declares it (`type:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "options", rename_all = "lowercase")]
pub enum InputKind {
    String,
    Boolean,
    Number,
    Choice(Vec<String>),
    Environment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchInput {
    pub name: String,
    pub description: String,
    pub kind: InputKind,
    pub required: bool,
    pub default: Option<String>,
}

/// The dispatch trigger of one workflow file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchSpec {
    /// False when the workflow has no `workflow_dispatch` trigger (GitHub would answer 422).
    pub dispatchable: bool,
    pub inputs: Vec<DispatchInput>,
}

/// GitHub accepts at most this many inputs in one dispatch.
pub const MAX_INPUTS: usize = 25;
/// Longest input value we send; GitHub's own limit on the whole payload is 65 535 characters.
pub const MAX_VALUE_LEN: usize = 1000;

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn get<'a>(map: &'a yaml_rust2::yaml::Hash, key: &str) -> Option<&'a Yaml> {
    map.get(&Yaml::String(key.to_string()))
}

/// Why a workflow file, a ref or a dispatch input is refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("{what}: not YAML: {source}")]
    NotYaml {
        what: String,
        source: yaml_rust2::ScanError,
    },
    #[error("{0}: not a workflow (no top-level mapping)")]
    NotAWorkflow(String),
    #[error("{0}: no `on:` triggers")]
    NoTriggers(String),
    #[error("{0}: an input name is not a string")]
    InputNameNotString(String),
    #[error("{what}: {source}")]
    InFile {
        what: String,
        source: Box<WorkflowError>,
    },
    #[error("{what}: input {name:?} has unknown type {kind:?}")]
    UnknownType {
        what: String,
        name: String,
        kind: String,
    },
    #[error("invalid input name {0:?}: expected a letter or '_' then letters, digits, '_' or '-'")]
    InputName(String),
    #[error("invalid ref {git_ref:?}: {why}")]
    Ref { git_ref: String, why: String },
    #[error("the workflow has no workflow_dispatch trigger")]
    NotDispatchable,
    #[error("at most {MAX_INPUTS} inputs can be sent")]
    TooManyInputs,
    #[error("unknown input {name:?}; the workflow declares: {known}")]
    UnknownInput { name: String, known: String },
    #[error("input {0:?} given twice")]
    GivenTwice(String),
    #[error("input {0:?} is required (no default): pass --input {0}=VALUE")]
    Required(String),
    #[error("input {0:?}: value longer than {MAX_VALUE_LEN} characters")]
    TooLong(String),
    #[error("input {0:?}: control characters are not allowed")]
    ControlCharacters(String),
    #[error("input {name:?} is a boolean: use true or false, not {value:?}")]
    NotBoolean { name: String, value: String },
    #[error("input {name:?} is a number, not {value:?}")]
    NotNumber { name: String, value: String },
    #[error("input {name:?} must be one of {options}, not {value:?}")]
    NotAChoice {
        name: String,
        options: String,
        value: String,
    },
    #[error("--input {0:?}: expected NAME=VALUE")]
    Assignment(String),
}

/// The dispatch form and `dispatch` still report these as text; they take the message.
/// Read the `workflow_dispatch` inputs of a workflow file. `what` names the file in errors.
pub fn parse_dispatch_spec(text: &str, what: &str) -> Result<DispatchSpec, WorkflowError> {
    let docs = YamlLoader::load_from_str(text).map_err(|source| WorkflowError::NotYaml {
        what: what.to_string(),
        source,
    })?;
    let root = docs
        .first()
        .and_then(|d| d.as_hash())
        .ok_or_else(|| WorkflowError::NotAWorkflow(what.to_string()))?;
    // YAML 1.1 readers turn a bare `on` into `true`; accept both spellings of the key.
    let on = get(root, "on").or_else(|| root.get(&Yaml::Boolean(true)));
    let Some(on) = on else {
        return Err(WorkflowError::NoTriggers(what.to_string()));
    };
    // Some(None): the trigger is there without settings (`on: workflow_dispatch`).
    let dispatch: Option<Option<&Yaml>> = match on {
        Yaml::String(s) => (s == "workflow_dispatch").then_some(None),
        Yaml::Array(list) => list
            .iter()
            .any(|t| t.as_str() == Some("workflow_dispatch"))
            .then_some(None),
        Yaml::Hash(h) => get(h, "workflow_dispatch").map(Some),
        _ => None,
    };
    let Some(dispatch) = dispatch else {
        return Ok(DispatchSpec {
            dispatchable: false,
            inputs: Vec::new(),
        });
    };
    let mut inputs = Vec::new();
    if let Some(map) = dispatch
        .and_then(|d| d.as_hash())
        .and_then(|d| get(d, "inputs"))
        .and_then(|i| i.as_hash())
    {
        for (name, decl) in map {
            let name =
                scalar(name).ok_or_else(|| WorkflowError::InputNameNotString(what.to_string()))?;
            check_input_name(&name).map_err(|e| WorkflowError::InFile {
                what: what.to_string(),
                source: Box::new(e),
            })?;
            let decl = decl.as_hash();
            let field = |k: &str| decl.and_then(|d| get(d, k));
            let kind = match field("type").and_then(scalar).as_deref() {
                None | Some("string") => InputKind::String,
                Some("boolean") => InputKind::Boolean,
                Some("number") => InputKind::Number,
                Some("environment") => InputKind::Environment,
                Some("choice") => InputKind::Choice(
                    field("options")
                        .and_then(|o| o.as_vec())
                        .map(|v| v.iter().filter_map(scalar).collect())
                        .unwrap_or_default(),
                ),
                Some(other) => {
                    return Err(WorkflowError::UnknownType {
                        what: what.to_string(),
                        name,
                        kind: other.to_string(),
                    });
                }
            };
            inputs.push(DispatchInput {
                description: field("description").and_then(scalar).unwrap_or_default(),
                required: field("required").and_then(|r| r.as_bool()).unwrap_or(false),
                default: field("default").and_then(scalar),
                kind,
                name,
            });
        }
    }
    Ok(DispatchSpec {
        dispatchable: true,
        inputs,
    })
}

fn check_input_name(name: &str) -> Result<(), WorkflowError> {
    let ok = name.len() <= 100
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(WorkflowError::InputName(name.to_string()))
    }
}

/// A branch or tag name as git allows it (`git check-ref-format`), or `refs/heads/...`.
/// Everything else is refused before it can reach a URL or a body.
pub fn validate_ref(r: &str) -> Result<String, WorkflowError> {
    let bad = |why: &str| {
        Err(WorkflowError::Ref {
            git_ref: r.to_string(),
            why: why.to_string(),
        })
    };
    if r.is_empty() {
        return bad("empty");
    }
    if r.len() > 255 {
        return bad("longer than 255 characters");
    }
    if r.starts_with('-') || r.starts_with('/') || r.ends_with('/') || r.ends_with('.') {
        return bad("must not start with '-' or '/', nor end with '/' or '.'");
    }
    if r.ends_with(".lock") || r.contains("..") || r.contains("@{") || r.contains("//") {
        return bad("must not contain '..', '@{' or '//', nor end with '.lock'");
    }
    if r == "@" {
        return bad("'@' alone is not a ref");
    }
    if let Some(c) = r
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "~^:?*[\\".contains(*c))
    {
        return bad(&format!("character {c:?} is not allowed"));
    }
    if r.split('/').any(|part| part.starts_with('.')) {
        return bad("no path component may start with '.'");
    }
    Ok(r.to_string())
}

/// Check `given` (name, value) pairs against the declared inputs: names must be declared,
/// values must fit their type, and required inputs without a default must be given.
/// Returns the inputs to send, sorted by name.
pub fn validate_inputs(
    spec: &DispatchSpec,
    given: &[(String, String)],
) -> Result<BTreeMap<String, String>, WorkflowError> {
    if !spec.dispatchable {
        return Err(WorkflowError::NotDispatchable);
    }
    if given.len() > MAX_INPUTS {
        return Err(WorkflowError::TooManyInputs);
    }
    let mut out = BTreeMap::new();
    for (name, value) in given {
        check_input_name(name)?;
        let Some(decl) = spec.inputs.iter().find(|i| &i.name == name) else {
            let known: Vec<&str> = spec.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(WorkflowError::UnknownInput {
                name: name.clone(),
                known: if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                },
            });
        };
        if out.contains_key(name) {
            return Err(WorkflowError::GivenTwice(name.clone()));
        }
        out.insert(name.clone(), check_value(decl, value)?);
    }
    for decl in &spec.inputs {
        if decl.required && decl.default.is_none() && !out.contains_key(&decl.name) {
            return Err(WorkflowError::Required(decl.name.clone()));
        }
    }
    Ok(out)
}

fn check_value(decl: &DispatchInput, value: &str) -> Result<String, WorkflowError> {
    let name = &decl.name;
    if value.chars().count() > MAX_VALUE_LEN {
        return Err(WorkflowError::TooLong(name.clone()));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(WorkflowError::ControlCharacters(name.clone()));
    }
    match &decl.kind {
        InputKind::Boolean => match value {
            "true" | "false" => Ok(value.to_string()),
            _ => Err(WorkflowError::NotBoolean {
                name: name.clone(),
                value: value.to_string(),
            }),
        },
        InputKind::Number => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|_| value.trim().to_string())
            .ok_or_else(|| WorkflowError::NotNumber {
                name: name.clone(),
                value: value.to_string(),
            }),
        InputKind::Choice(options) => {
            if options.iter().any(|o| o == value) {
                Ok(value.to_string())
            } else {
                Err(WorkflowError::NotAChoice {
                    name: name.clone(),
                    options: options.join(", "),
                    value: value.to_string(),
                })
            }
        }
        InputKind::String | InputKind::Environment => Ok(value.to_string()),
    }
}

/// Parse `k=v` as given on the command line.
pub fn parse_assignment(s: &str) -> Result<(String, String), WorkflowError> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(WorkflowError::Assignment(s.to_string())),
    }
}

/// The exact body POSTed to the dispatches endpoint.
pub fn dispatch_body(git_ref: &str, inputs: &BTreeMap<String, String>) -> serde_json::Value {
    let mut body = serde_json::json!({ "ref": git_ref, "return_run_details": true });
    if !inputs.is_empty() {
        body["inputs"] = serde_json::to_value(inputs).unwrap_or_default();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = include_str!("../.github/workflows/build-and-push.yml");

    #[test]
    fn reads_this_repositorys_build_workflow() {
        let spec = parse_dispatch_spec(OWN, "build-and-push.yml").unwrap();
        assert!(spec.dispatchable);
        let names: Vec<&str> = spec.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["branch", "push"]);
        assert_eq!(spec.inputs[0].kind, InputKind::String);
        assert_eq!(spec.inputs[0].default.as_deref(), Some("main"));
        assert_eq!(spec.inputs[1].kind, InputKind::Boolean);
        assert_eq!(spec.inputs[1].default.as_deref(), Some("true"));
        assert!(!spec.inputs[1].required);
    }

    #[test]
    fn choices_required_and_trigger_shapes() {
        let text = "on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n        options: [info, debug]\n        required: true\n      n:\n        type: number\n        required: true\n        default: 3\n";
        let spec = parse_dispatch_spec(text, "x.yml").unwrap();
        assert_eq!(
            spec.inputs[0].kind,
            InputKind::Choice(vec!["info".into(), "debug".into()])
        );
        let err = validate_inputs(&spec, &[]).unwrap_err().to_string();
        assert!(err.contains("\"level\" is required"), "{err}");
        let err = validate_inputs(&spec, &[("level".into(), "trace".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be one of info, debug"), "{err}");
        let ok = validate_inputs(&spec, &[("level".into(), "debug".into())]).unwrap();
        assert_eq!(ok.get("level").map(String::as_str), Some("debug"));
        assert!(
            validate_inputs(
                &spec,
                &[("n".into(), "x".into()), ("level".into(), "info".into())]
            )
            .is_err()
        );
        let push_only = parse_dispatch_spec("on: [push]\njobs: {}\n", "p.yml").unwrap();
        assert!(!push_only.dispatchable);
        assert!(
            parse_dispatch_spec("on: workflow_dispatch\n", "d.yml")
                .unwrap()
                .dispatchable
        );
        assert!(
            parse_dispatch_spec("on: [push\n", "bad.yml")
                .unwrap_err()
                .to_string()
                .contains("bad.yml")
        );
    }

    #[test]
    fn refusals_are_typed_and_say_what() {
        assert!(matches!(
            validate_ref("a..b"),
            Err(WorkflowError::Ref { ref git_ref, .. }) if git_ref == "a..b"
        ));
        assert!(matches!(
            parse_assignment("=x"),
            Err(WorkflowError::Assignment(_))
        ));
        let e = parse_dispatch_spec("on: [push\n", "bad.yml").unwrap_err();
        assert!(matches!(e, WorkflowError::NotYaml { .. }), "{e}");
        assert!(e.to_string().starts_with("bad.yml: not YAML: "), "{e}");
    }

    #[test]
    fn unknown_inputs_and_bad_values_are_refused() {
        let spec = parse_dispatch_spec(OWN, "w").unwrap();
        let err = validate_inputs(&spec, &[("tag".into(), "x".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("declares: branch, push"), "{err}");
        let err = validate_inputs(&spec, &[("push".into(), "yes".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("boolean"), "{err}");
        let err = validate_inputs(&spec, &[("branch".into(), "a\u{1b}[2J".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("control"), "{err}");
        assert!(validate_inputs(&spec, &[("bad name".into(), "x".into())]).is_err());
    }

    #[test]
    fn refs_follow_git_rules() {
        for good in [
            "main",
            "feature/x-1",
            "refs/heads/main",
            "v1.2.3",
            "release_2026",
        ] {
            assert_eq!(validate_ref(good).unwrap(), good);
        }
        for bad in [
            "",
            "-x",
            "a..b",
            "a b",
            "a~1",
            "x^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "x.lock",
            "a//b",
            "/a",
            "a/",
            "a@{1}",
            ".hidden",
            "a/.b",
            "a\u{0}",
            "main&x=1#",
        ] {
            // '&', '=' and '#' are legal in git refs; they reach URLs only percent-encoded.
            if bad == "main&x=1#" {
                assert!(validate_ref(bad).is_ok());
                continue;
            }
            assert!(validate_ref(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn body_is_exactly_ref_inputs_and_details_flag() {
        let mut inputs = BTreeMap::new();
        inputs.insert("branch".to_string(), "main".to_string());
        inputs.insert("push".to_string(), "false".to_string());
        assert_eq!(
            dispatch_body("main", &inputs),
            serde_json::json!({"ref": "main", "inputs": {"branch": "main", "push": "false"}, "return_run_details": true})
        );
        assert_eq!(
            dispatch_body("main", &BTreeMap::new()),
            serde_json::json!({"ref": "main", "return_run_details": true})
        );
    }
}
