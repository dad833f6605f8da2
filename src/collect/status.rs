//! One snapshot of everything the console watches, gathered concurrently. Each section carries
//! either its data or its error, so one unreachable system never hides the others.

use crate::config::Config;
use crate::domain::{
    CommitSha, ContainerView, GpuStatus, HealthResult, ImageRef, RunView, Tag, TagView,
};
pub use crate::domain::{Overall, RepoTags, RunningService, RunsSection, Section, StatusReport};
use crate::sources::docker::{DockerError, DockerSource};
use crate::sources::github::GithubSource;
use crate::sources::gpu;
use crate::sources::health::HealthChecker;
use crate::sources::registry::{RegistryError, RegistrySource};
use chrono::Utc;
use futures_util::StreamExt;
use std::time::Instant;

/// Why a section of the report has no data.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Every repository's tags failed to list (one failing among others is kept beside them).
    #[error("{}", every_repository(.0))]
    EveryRepository(Vec<(String, String)>),
    #[error(transparent)]
    GithubSetup(#[from] crate::sources::github::GithubSetupError),
    #[error(transparent)]
    Github(#[from] crate::sources::github::GithubError),
}

fn every_repository(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(service, error)| format!("{service}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Version of the `--json` shape (docs/status-json.md). Bumped only on breaking changes.
pub const SCHEMA_VERSION: u32 = 1;
/// Tags whose manifest and config are read per repository (3 requests each).
pub const TAG_DETAIL_LIMIT: usize = 30;

/// The status exit codes: rows of the program's one table (src/exit_code.rs).
pub use crate::exit_code::{
    FAILED as EXIT_APP_DOWN, OK as EXIT_HEALTHY, UNREACHABLE as EXIT_SOURCE_UNREACHABLE,
};

impl<T> Section<T> {
    fn from_result<E: std::fmt::Display>(started: Instant, r: Result<T, E>) -> Self {
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match r {
            Ok(data) => Section::Ok { elapsed_ms, data },
            Err(e) => Section::Error {
                elapsed_ms,
                error: e.to_string(),
            },
        }
    }
}

impl RepoTags {
    /// A repository whose tags could not be listed.
    pub fn failed(service: &crate::config::ServiceConfig, error: String) -> Self {
        Self {
            service: service.name.clone(),
            repository: service.image.to_string(),
            total: 0,
            tags: Vec::new(),
            truncated: false,
            not_inspected: 0,
            error: Some(error),
            note: None,
        }
    }
}

/// Tag lists of every service's repository. One repository's failure is kept beside the
/// others' tags (`RepoTags::error`), never dropped because another succeeded; only when every
/// repository failed is it an error, naming each. With a GitHub source, GHCR images also get
/// dates and aliases from the Packages API (a listing that stopped early says so in `note`).
pub async fn read_repos(
    registry: &RegistrySource,
    services: &[crate::config::ServiceConfig],
    caches: &mut std::collections::HashMap<String, std::collections::HashMap<Tag, TagView>>,
    packages: Option<&GithubSource>,
) -> Result<Vec<RepoTags>, StatusError> {
    let mut repos = Vec::new();
    for service in services {
        let cache = caches.entry(service.name.clone()).or_default();
        let mut repo = match list_repo_tags_cached(registry, service, cache).await {
            Ok(r) => r,
            Err(e) => {
                repos.push(RepoTags::failed(service, e.to_string()));
                continue;
            }
        };
        if let (Some(gh), Some((owner, name))) =
            (packages, crate::domain::ghcr_package(&service.image))
        {
            match gh.package_versions(&owner, &name).await {
                Ok(versions) => {
                    crate::tagorder::merge_package_versions(
                        &mut repo,
                        &versions.versions,
                        &service.commit_tags,
                    );
                    repo.note = versions.note;
                }
                Err(e) => repo.note = Some(format!("GitHub Packages API not used: {e}")),
            }
        }
        repos.push(repo);
    }
    if !repos.is_empty() && repos.iter().all(|r| r.error.is_some()) {
        return Err(StatusError::EveryRepository(
            repos
                .iter()
                .map(|r| (r.service.clone(), r.error.clone().unwrap_or_default()))
                .collect(),
        ));
    }
    Ok(repos)
}

pub async fn collect(config: &Config) -> StatusReport {
    collect_with(config, None).await
}

/// What a status report holds that does not depend on the host: GitHub's runs and the
/// registry's tags. Read once for every host, and reused by the dashboard's hosts overview
/// between reads: GitHub allows 60 requests an hour without a token.
#[derive(Debug, Clone)]
pub struct SharedSources {
    pub runs: Section<RunsSection>,
    pub tags: Section<Vec<RepoTags>>,
}

/// GitHub's runs and the registry's tags, concurrently.
pub async fn read_shared(config: &Config) -> SharedSources {
    let (runs, tags) = tokio::join!(read_runs(config), read_tags(config));
    SharedSources { runs, tags }
}

async fn read_runs(config: &Config) -> Section<RunsSection> {
    let started = Instant::now();
    let r: Result<RunsSection, StatusError> = async {
        let gh = GithubSource::new(&config.github).await?;
        let page = gh.runs().await?;
        Ok(RunsSection {
            repository: config.github.repo.to_string(),
            workflow: config.github.workflow.to_string(),
            token: gh.token_source.to_string(),
            proxy: gh.proxy().map(str::to_string),
            runs: page.runs,
            rate_limit: page.rate,
        })
    }
    .await;
    Section::from_result(started, r)
}

async fn read_tags(config: &Config) -> Section<Vec<RepoTags>> {
    let started = Instant::now();
    let registry = RegistrySource::new(&config.registry);
    let r = read_repos(
        &registry,
        &config.deployment.services,
        &mut Default::default(),
        None,
    )
    .await;
    Section::from_result(started, r)
}

/// The report, with GitHub and the registry from `shared` when given (read here otherwise).
pub async fn collect_with(config: &Config, shared: Option<SharedSources>) -> StatusReport {
    let swarm_runtime = config.deployment.runtime == crate::config::RuntimeKind::Swarm;
    let swarm = async {
        if !swarm_runtime {
            return None;
        }
        let started = Instant::now();
        Some(Section::from_result(
            started,
            super::swarm_status::read_stack(config).await,
        ))
    };
    let containers = async {
        let started = Instant::now();
        if swarm_runtime {
            // A stack's containers are its tasks, on whichever node runs them: the swarm
            // section has them.
            return Section::Ok {
                elapsed_ms: 0,
                data: Vec::new(),
            };
        }
        let r: Result<_, DockerError> = async {
            let docker = DockerSource::connect_config(&config.docker).await?;
            docker.project_containers(&config.deployment.project).await
        }
        .await;
        Section::from_result(started, r)
    };
    let health = async {
        let started = Instant::now();
        let r = match HealthChecker::new() {
            Ok(h) => Ok(h.check_all(&config.health).await),
            Err(e) => Err(e),
        };
        Section::from_result(started, r)
    };
    let gpu = async {
        let started = Instant::now();
        let library = config.gpu.nvml_library.clone();
        let r = tokio::task::spawn_blocking(move || gpu::sample_once(&library)).await;
        Section::from_result(started, r)
    };
    let shared = async {
        match shared {
            Some(s) => s,
            None => read_shared(config).await,
        }
    };

    let (containers, health, gpu, shared, swarm) =
        tokio::join!(containers, health, gpu, shared, swarm);
    let SharedSources { runs, mut tags } = shared;
    let mut gpu = gpu;
    correlate(&containers, &runs, &mut tags, &mut gpu);
    let (services, containers) = match &swarm {
        // The app's state comes from the stack; an unreadable swarm is an unknown app.
        Some(stack) => super::swarm_status::services_and_containers(config, stack),
        None => (running_services(config, &containers), containers),
    };
    let (overall, exit_code, reasons) = judge(&services, &containers, &health, &tags, &runs);
    StatusReport {
        schema: SCHEMA_VERSION,
        generated_at: Utc::now(),
        project: config.deployment.project.clone(),
        overall,
        exit_code,
        reasons,
        services,
        containers,
        health,
        gpu,
        tags,
        runs,
        swarm,
    }
}

/// Like `list_repo_tags`, reusing what `cache` holds for commit and version tags: by
/// convention a `main-<sha>` or `v1.2.3` tag never moves, so re-reading it on every refresh
/// would only spend requests. `latest` and other tags are read again each time.
pub async fn list_repo_tags_cached(
    registry: &RegistrySource,
    service: &crate::config::ServiceConfig,
    cache: &mut std::collections::HashMap<Tag, TagView>,
) -> Result<RepoTags, RegistryError> {
    list_repo_tags_ordered(registry, service, cache, &[]).await
}

/// The repository's tags, details read newest first (`taghistory::plan_details`: commit
/// dates from `runs` where known) up to the registry's detail limit; the others counted.
pub async fn list_repo_tags_ordered(
    registry: &RegistrySource,
    service: &crate::config::ServiceConfig,
    cache: &mut std::collections::HashMap<Tag, TagView>,
    runs: &[RunView],
) -> Result<RepoTags, RegistryError> {
    let all = registry.list_tags(&service.image).await?;
    let plan = crate::tagorder::plan_details(
        &all,
        &service.commit_tags,
        runs,
        cache,
        registry.detail_limit(),
    );
    let truncated = plan.not_inspected > 0;
    let not_inspected = plan.not_inspected;
    let is_cacheable = |t: &Tag| crate::tagorder::is_immutable(t, &service.commit_tags);
    let (cached, to_read) = (plan.cached, plan.read);
    let mut views: Vec<TagView> = futures_util::stream::iter(to_read)
        .map(|tag| async move {
            let sha_from_name = service.commit_tags.iter().find_map(|p| p.sha_of(&tag));
            match registry.describe(&service.image, &tag).await {
                Ok(d) => TagView {
                    revision: d.revision().or(sha_from_name),
                    digest: Some(d.digest),
                    created: d.created,
                    size_bytes: d.size_bytes,
                    ci: None,
                    running: false,
                    // A manifest list with a platform missing: its digest and what could
                    // be read are kept above, and this names what is missing.
                    error: d.problem,
                    aliases: Vec::new(),
                    last_deployed: None,
                    tag,
                },
                Err(e) => TagView {
                    revision: sha_from_name,
                    error: Some(e.to_string()),
                    ..TagView::named(tag)
                },
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for v in &views {
        if is_cacheable(&v.tag) && v.error.is_none() {
            cache.insert(v.tag.clone(), v.clone());
        }
    }
    views.extend(cached.iter().filter_map(|t| cache.get(t).cloned()));
    views.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.tag.cmp(&b.tag)));
    crate::tagorder::alias_by_digest(&mut views);
    Ok(RepoTags {
        service: service.name.clone(),
        repository: service.image.to_string(),
        total: all.len(),
        tags: views,
        truncated,
        not_inspected,
        error: None,
        note: (not_inspected > 0).then(|| {
            format!(
                "{} not inspected (registry.tag_detail_limit = {}; newest known read first)",
                crate::format::count(not_inspected, "tag", "tags"),
                registry.detail_limit()
            )
        }),
    })
}

/// Fill in what one source knows about another's data: CI results of tags, which tag runs,
/// and which container holds each GPU process.
pub fn correlate_tags(containers: &[ContainerView], runs: &[RunView], repos: &mut [RepoTags]) {
    for repo in repos.iter_mut() {
        for tag in repo.tags.iter_mut() {
            if let Some(rev) = &tag.revision {
                tag.ci = ci_result_for(rev, runs);
            }
            tag.running = containers.iter().any(|c| {
                !c.oneoff
                    && c.service == repo.service
                    && c.state == crate::domain::ContainerState::Running
                    && runs_tag(c, &repo.repository, tag)
            });
        }
    }
}

fn correlate(
    containers: &Section<Vec<ContainerView>>,
    runs: &Section<RunsSection>,
    tags: &mut Section<Vec<RepoTags>>,
    gpu: &mut Section<GpuStatus>,
) {
    let containers = containers.data().map(Vec::as_slice).unwrap_or_default();
    if let Section::Ok { data: repos, .. } = tags {
        let runs = runs.data().map(|r| r.runs.as_slice()).unwrap_or_default();
        correlate_tags(containers, runs, repos);
    }
    if let Section::Ok { data, .. } = gpu {
        name_gpu_processes(containers, data);
    }
}

/// Each GPU process's container by the id its cgroup names (a compose service, else the
/// container's name).
pub fn name_gpu_processes(containers: &[ContainerView], gpu: &mut GpuStatus) {
    let GpuStatus::Available { devices, .. } = gpu else {
        return;
    };
    for process in devices.iter_mut().flat_map(|d| d.processes.iter_mut()) {
        if let Some(id) = &process.container_id {
            process.container = containers.iter().find(|c| &c.id == id).map(|c| {
                if c.service.is_empty() {
                    c.name.clone()
                } else {
                    c.service.clone()
                }
            });
        }
    }
}

/// The newest completed run's conclusion for a commit (runs come newest first).
pub fn ci_result_for(sha: &CommitSha, runs: &[RunView]) -> Option<String> {
    let matching: Vec<&RunView> = runs
        .iter()
        .filter(|r| CommitSha::parse(&r.head_sha).is_ok_and(|s| s.matches(sha)))
        .collect();
    matching
        .iter()
        .find_map(|r| r.conclusion.clone())
        .or_else(|| matching.first().map(|r| r.status.clone()))
}

/// A container runs a tag when it was created from `repo:tag`, or when its image is known to
/// the registry by the digest the tag points to.
fn runs_tag(c: &ContainerView, repository: &str, tag: &TagView) -> bool {
    if let Some(digest) = &tag.digest
        && c.repo_digests
            .iter()
            .any(|d| d == &format!("{repository}@{digest}"))
    {
        return true;
    }
    ImageRef::parse(&c.image)
        .is_ok_and(|r| r.repo.to_string() == repository && r.tag.as_ref() == Some(&tag.tag))
}

fn running_services(
    config: &Config,
    containers: &Section<Vec<ContainerView>>,
) -> Vec<RunningService> {
    let list = containers.data().map(Vec::as_slice).unwrap_or_default();
    config
        .deployment
        .services
        .iter()
        .map(|s| {
            // Prefer a running container when a service has several (scale, leftovers).
            let c = list
                .iter()
                .filter(|c| !c.oneoff && c.service == s.name)
                .max_by_key(|c| {
                    (
                        c.state == crate::domain::ContainerState::Running,
                        c.started_at,
                    )
                });
            RunningService {
                service: s.name.clone(),
                container: c.map(|c| c.name.clone()),
                image: c.map(|c| c.image.clone()),
                tag: c
                    .and_then(|c| ImageRef::parse(&c.image).ok())
                    .and_then(|r| r.tag),
                revision: c.and_then(|c| c.revision.clone()),
                up: c.is_some_and(ContainerView::is_up),
            }
        })
        .collect()
}

fn judge(
    services: &[RunningService],
    containers: &Section<Vec<ContainerView>>,
    health: &Section<Vec<HealthResult>>,
    tags: &Section<Vec<RepoTags>>,
    runs: &Section<RunsSection>,
) -> (Overall, i32, Vec<String>) {
    let mut reasons = Vec::new();
    if let Some(e) = containers.error() {
        reasons.push(format!("containers: {e}"));
    } else {
        for s in services {
            match (&s.container, s.up) {
                (None, _) => reasons.push(format!("service {} has no container", s.service)),
                (Some(name), false) => {
                    reasons.push(format!("service {} ({name}) is not up", s.service))
                }
                _ => {}
            }
        }
    }
    match health {
        Section::Ok { data, .. } => {
            for h in data.iter().filter(|h| !h.ok) {
                reasons.push(format!(
                    "health {} failed: {}",
                    h.name,
                    h.error.as_deref().unwrap_or("not ok")
                ));
            }
        }
        Section::Error { error, .. } => reasons.push(format!("health: {error}")),
    }
    let app_down = !reasons.is_empty() && containers.error().is_none();
    let mut source_errors = Vec::new();
    if let Some(e) = tags.error() {
        source_errors.push(format!("registry: {e}"));
    }
    for repo in tags.data().map(Vec::as_slice).unwrap_or_default() {
        if let Some(e) = &repo.error {
            source_errors.push(format!("registry: {}: {e}", repo.service));
        }
    }
    if let Some(e) = runs.error() {
        source_errors.push(format!("github: {e}"));
    }
    reasons.extend(source_errors.iter().cloned());
    let (overall, code) = if containers.error().is_some() {
        (Overall::Unknown, EXIT_SOURCE_UNREACHABLE)
    } else if app_down {
        (Overall::AppDown, EXIT_APP_DOWN)
    } else if !source_errors.is_empty() {
        (Overall::Degraded, EXIT_SOURCE_UNREACHABLE)
    } else {
        (Overall::Healthy, EXIT_HEALTHY)
    };
    (overall, code, reasons)
}
