use super::*;

#[test]
fn backoff_doubles_then_caps() {
    let i = Duration::from_secs(60);
    let cap = Duration::from_secs(900);
    let seq: Vec<u64> = (0..7).map(|f| backoff_delay(i, cap, f).as_secs()).collect();
    assert_eq!(seq, [60, 120, 240, 480, 900, 900, 900]);
    assert_eq!(backoff_delay(i, cap, u32::MAX), cap);
}

fn container(service: &str, digests: &[&str]) -> ContainerView {
    ContainerView {
        id: "c".into(),
        name: format!("p-{service}-1"),
        service: service.into(),
        oneoff: false,
        state: ContainerState::Running,
        health: crate::domain::HealthState::Healthy,
        exit_code: None,
        restarts: 0,
        started_at: None,
        image: "r/app:t1".into(),
        image_id: "sha256:1".into(),
        repo_digests: digests.iter().map(|s| s.to_string()).collect(),
        revision: None,
        image_created: None,
        image_version: None,
        pid: None,
    }
}

#[test]
fn running_digest_is_matched_in_the_services_own_repository() {
    let a = "sha256:".to_string() + &"a".repeat(64);
    let b = "sha256:".to_string() + &"b".repeat(64);
    let c = container("app", &[&format!("other/app@{a}"), &format!("reg/app@{b}")]);
    let list = vec![c];
    let running = running_of(&list, "app");
    assert!(runs_digest(&running, "reg/app", &b));
    // The same digest under another repository is not what `reg/app:latest` names.
    assert!(!runs_digest(&running, "reg/app", &a));
    assert_eq!(digest_in(&list[0], "reg/app"), Some(b.clone()));
    // No running container: nothing runs the digest.
    assert!(!runs_digest(&running_of(&list, "worker"), "reg/app", &b));
    let mut stopped = list[0].clone();
    stopped.state = ContainerState::Exited;
    assert!(running_of(&[stopped], "app").is_empty());
}

#[test]
fn one_service_per_check_skipping_those_already_tried() {
    // Only the worker differs: the worker.
    assert_eq!(to_deploy(&[false, true], &[false, false]), Some(1));
    // Both differ: the first; the other on the next check.
    assert_eq!(to_deploy(&[true, true], &[false, false]), Some(0));
    // The API's image failed before: the worker's new image is not held back by it.
    assert_eq!(to_deploy(&[true, true], &[true, false]), Some(1));
    // Only tried ones differ: the first, so the check says it waits.
    assert_eq!(to_deploy(&[true, true], &[true, true]), Some(0));
    assert_eq!(to_deploy(&[false, false], &[false, false]), None);
}

#[test]
fn target_names_every_service() {
    let s = |n: &str, d: &str| ServiceState {
        service: n.into(),
        latest: Some(d.into()),
        running: None,
    };
    assert_eq!(
        target_of(&[s("api", "sha256:1"), s("worker", "sha256:2")]),
        "api@sha256:1,worker@sha256:2"
    );
}

#[test]
fn follow_rules_choose_the_engine_target() {
    let svc = |name: &str, follow: &str| crate::config::ServiceConfig {
        name: name.into(),
        image: crate::domain::ImageRepo::parse("ghcr.io/acme/pm").unwrap(),
        image_var: "IMAGE_TAG".into(),
        commit_tags: vec![],
        migrate_service: None,
        follow: FollowRule::parse(follow).unwrap(),
        ready: None,
        strategy: None,
        expected_vram_mib: None,
    };
    let d = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
    let t = |s: &str| Tag::parse(s).unwrap();
    let picked = |tags: &[(&str, &str)]| {
        tags.iter()
            .map(|(s, tag)| (s.to_string(), t(tag), d.clone()))
            .collect::<Vec<_>>()
    };
    assert!(matches!(
        deploy_target(&[svc("app", "latest")], &picked(&[("app", "latest")])),
        Ok(Target::Latest)
    ));
    match deploy_target(&[svc("app", "semver")], &picked(&[("app", "v1.4.0")])) {
        Ok(Target::Tag(tag)) => assert_eq!(tag.as_str(), "v1.4.0"),
        other => panic!("{other:?}"),
    }
    let two = [svc("app", "semver"), svc("worker", "newest:sha-{sha}")];
    let err = deploy_target(
        &two,
        &picked(&[("app", "v1.4.0"), ("worker", "sha-abc1234")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("app: v1.4.0, worker: sha-abc1234"),
        "{err}"
    );
}
