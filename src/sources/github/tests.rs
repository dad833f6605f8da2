use super::*;

/// The published runs-list payload, with `keys` removed from its run.
fn runs_payload_without(keys: &[&str]) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/github/actions-runs-list.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    for run in v["workflow_runs"].as_array_mut().unwrap() {
        for k in keys {
            run.as_object_mut().unwrap().remove(*k);
        }
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn a_run_title_falls_back_to_the_name_then_the_head_commits_first_line() {
    let runs = parse_runs(&runs_payload_without(&[])).unwrap();
    assert_eq!(runs[0].title.as_deref(), Some("Update README.md"));
    let runs = parse_runs(&runs_payload_without(&["display_title"])).unwrap();
    assert_eq!(runs[0].title.as_deref(), Some("Build"));
    // An older payload: neither field; the head commit says "Create linter.yaml".
    let runs = parse_runs(&runs_payload_without(&["display_title", "name"])).unwrap();
    assert_eq!(runs[0].title.as_deref(), Some("Create linter.yaml"));
    let runs = parse_runs(&runs_payload_without(&[
        "display_title",
        "name",
        "head_commit",
    ]))
    .unwrap();
    assert_eq!(runs[0].title, None);
}

#[test]
fn only_the_first_line_of_a_multi_line_commit_message_is_a_title() {
    let mut v: serde_json::Value =
        serde_json::from_slice(&runs_payload_without(&["display_title", "name"])).unwrap();
    v["workflow_runs"][0]["head_commit"]["message"] =
        "Fix the tag column\n\nLonger explanation.".into();
    let runs = parse_runs(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(runs[0].title.as_deref(), Some("Fix the tag column"));
}
