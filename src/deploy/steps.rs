//! The steps that change things before and after the switch: pull, backup, migrate, keeping
//! the rollback image, retention.

use super::compose::Runtime;
use super::error::{BackupError, ImageError, PullError};
use super::seams::Clock;
use super::seams::{Host, Seams};
use super::types::*;
use super::util::*;
use super::{Engine, compose};
use crate::domain::{CommitSha, ImageRepo, Tag};
use crate::format::duration_ms as fmt_ms;
use crate::sources::docker::LocalImage;
use crate::sources::registry::{self};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

impl<S: Seams> Engine<S> {
    /// Make the target image local (pulling by digest with progress and retries) and make
    /// `to_ref` name it. Returns the step summary.
    pub(super) async fn ensure_local(&self, plan: &mut PlanService) -> Result<String, Failure> {
        let repo = plan
            .repo
            .clone()
            .ok_or_else(|| fail("pull", "no repository"))?;
        let docker_name = repo.docker_name();
        let by_digest = plan
            .to
            .digest
            .as_ref()
            // Through a mirror (`registry.mirrors`) the image is pulled, and known to the
            // engine, by the mirror's name; it is tagged under its own name below.
            .map(|d| format!("{}@{d}", self.settings.registry.pull_name(&repo)));
        let mut local = match &plan.to.image_id {
            Some(id) => self
                .host
                .local_image(id)
                .await
                .map_err(|e| fail("pull", e.to_string()))?,
            None => None,
        };
        if local.is_none()
            && let Some(r) = &by_digest
        {
            local = self
                .host
                .local_image(r)
                .await
                .map_err(|e| fail("pull", e.to_string()))?;
        }
        let mut summary = format!("{}: already local", plan.service);
        if local.is_none() {
            let reference = by_digest
                .clone()
                .ok_or_else(|| fail("pull", format!("{}: no digest to pull", plan.service)))?;
            summary = self
                .pull_with_retries(&reference, &repo, &plan.service)
                .await?;
            local = self
                .host
                .local_image(&reference)
                .await
                .map_err(|e| fail("pull", e.to_string()))?;
        }
        let img = local.ok_or_else(|| {
            fail(
                "pull",
                format!(
                    "{}: the engine has no image for {} after the pull",
                    plan.service, plan.to_ref
                ),
            )
        })?;
        if let Some(tag) = plan
            .pin_tag
            .as_ref()
            .map(Tag::as_str)
            .filter(|_| !plan.to_ref.contains('@'))
        {
            self.host
                .tag_image(&img.id, &docker_name, tag)
                .await
                .map_err(|e| fail("pull", format!("tagging {}: {e}", plan.to_ref)))?;
        }
        if plan.to.digest.is_none() {
            plan.to.digest = digest_for(&img.repo_digests, &repo);
        }
        if plan.to.sha.is_none() {
            plan.to.sha = img
                .labels
                .get("org.opencontainers.image.revision")
                .and_then(|r| CommitSha::parse(r).ok());
        }
        plan.to.image_id = Some(img.id);
        Ok(summary)
    }

    pub(super) async fn pull_with_retries(
        &self,
        reference: &str,
        repo: &ImageRepo,
        service: &str,
    ) -> Result<String, Failure> {
        let attempts = self.settings.pull_attempts;
        let credentials = registry::pull_credentials(
            &self.settings.registry,
            self.settings.registry.host_for(repo),
        );
        let mut pauses = crate::retry::doubling(
            self.settings.pull_retry_delay,
            self.settings.pull_retry_max_delay,
            Some(attempts.saturating_sub(1) as usize),
        );
        let mut last = String::new();
        for attempt in 1..=attempts {
            let started = self.clock.now();
            let pull = self.pull_once(reference, credentials.clone());
            let limit = self.settings.pull_timeout;
            let result = tokio::select! {
                _ = self.interrupt.cancelled() => {
                    return Err(Failure { step: "pull", message: "cancelled by the operator during the pull".into(), cancelled: true });
                }
                r = tokio::time::timeout(limit, pull) => r.unwrap_or(Err(PullError::NoProgress { secs: limit.as_secs() })),
            };
            match result {
                Ok((layers, bytes)) => {
                    return Ok(format!(
                        "{service}: pulled {reference} ({layers} layers, {}) in {}{}",
                        crate::format::bytes(bytes),
                        fmt_ms(
                            self.clock
                                .now()
                                .saturating_duration_since(started)
                                .as_millis() as u64
                        ),
                        if attempt > 1 {
                            format!(", attempt {attempt}")
                        } else {
                            String::new()
                        }
                    ));
                }
                Err(e) => {
                    last = e.to_string();
                    let delay = match pauses.next() {
                        Some(d) if is_transient_pull_error(&last) => d,
                        _ => break,
                    };
                    self.progress(
                        "pull",
                        format!(
                            "attempt {attempt} failed: {last}; retrying in {} s",
                            delay.as_secs()
                        ),
                        0,
                        0,
                    );
                    tokio::select! {
                        _ = self.interrupt.cancelled() => {
                            return Err(Failure { step: "pull", message: "cancelled by the operator during the pull".into(), cancelled: true });
                        }
                        _ = self.clock.sleep(delay) => {}
                    }
                }
            }
        }
        Err(fail(
            "pull",
            format!("{service}: pulling {reference} failed after {attempts} attempt(s): {last}"),
        ))
    }

    /// One pull; returns (layers, bytes downloaded).
    pub(super) async fn pull_once(
        &self,
        reference: &str,
        credentials: Option<(String, String)>,
    ) -> Result<(usize, u64), PullError> {
        let mut stream = self.host.pull(reference, credentials);
        let mut layers: HashMap<String, (u64, u64, bool)> = HashMap::new();
        let mut last_report = self.clock.now() - Duration::from_secs(1);
        while let Some(item) = stream.next().await {
            let ev = item?;
            let is_layer = !ev.layer.is_empty()
                && !ev.status.starts_with("Pulling from")
                && !ev.status.starts_with("Digest")
                && !ev.status.starts_with("Status");
            if is_layer {
                let entry = layers.entry(ev.layer.clone()).or_insert((0, 0, false));
                if let (Some(c), Some(t)) = (ev.current, ev.total)
                    && ev.status.starts_with("Downloading")
                {
                    entry.0 = c;
                    entry.1 = t;
                }
                if ev.status.starts_with("Pull complete") || ev.status.starts_with("Already exists")
                {
                    entry.2 = true;
                    if entry.1 > 0 {
                        entry.0 = entry.1;
                    }
                }
            }
            if self.clock.now().saturating_duration_since(last_report)
                >= self.settings.progress_every
            {
                last_report = self.clock.now();
                self.report_layers(&layers);
            }
        }
        Ok((layers.len(), self.report_layers(&layers)))
    }

    /// Send the pull's progress over all layers; returns the bytes downloaded so far.
    pub(super) fn report_layers(&self, layers: &HashMap<String, (u64, u64, bool)>) -> u64 {
        let (cur, tot, done) = totals(layers);
        self.progress(
            "pull",
            format!(
                "layers {done}/{} · {} of {}",
                layers.len(),
                crate::format::bytes(cur),
                crate::format::bytes(tot)
            ),
            cur,
            tot.max(cur),
        );
        cur
    }

    pub(super) async fn backup(&self, plans: &[PlanService]) -> Result<(), Failure> {
        let command = self.settings.backup_command.as_str().to_string();
        if command.is_empty() {
            self.skip("backup", "no deploy.backup_command configured");
            return Ok(());
        }
        let t = self.step_begin("backup");
        let limit = self.settings.backup_timeout;
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(&command)
            .env("ELT_DEPLOY_TARGET", &plans[0].to_ref)
            .env("ELT_DEPLOY_PROJECT", &self.settings.project)
            .env("ELT_DEPLOY_STACK", &self.settings.stack)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        super::child::own_process_group(&mut cmd);
        let result: Result<String, BackupError> = match cmd.spawn() {
            Err(source) => Err(BackupError::Spawn {
                command: command.clone(),
                source,
            }),
            Ok(child) => {
                let mut group = super::child::GroupKill::new(&child);
                tokio::select! {
                _ = self.interrupt.cancelled() => {
                    return Err(Failure { step: "backup", message: "cancelled by the operator during the backup".into(), cancelled: true });
                }
                r = tokio::time::timeout(limit, child.wait_with_output()) => match r {
                    Err(_) => Err(BackupError::Timeout { command: command.clone(), secs: limit.as_secs() }),
                    Ok(Err(source)) => Err(BackupError::Wait { command: command.clone(), source }),
                    Ok(Ok(out)) => {
                        group.exited(&out.status);
                        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                        text.push_str(&String::from_utf8_lossy(&out.stderr));
                        if out.status.success() {
                            Ok(text)
                        } else {
                            Err(BackupError::Failed { command: command.clone(), code: out.status.code().unwrap_or(-1), output: compose::tail_lines(&text, 5) })
                        }
                    }
                },
                }
            }
        };
        match result {
            Ok(text) => {
                let path = backup_path_in(&text);
                if let Some(p) = &path {
                    self.emit(DeployEvent::Backup { path: p.clone() });
                }
                self.step_end(
                    "backup",
                    t,
                    ok(match path {
                        Some(p) => format!("backup written to {p}"),
                        None => format!("`{command}` succeeded (it named no backup file)"),
                    }),
                );
                Ok(())
            }
            Err(e) if self.settings.backup_optional => {
                self.step_end(
                    "backup",
                    t,
                    StepEnd {
                        state: StepState::Warning,
                        summary: format!("{e}; continuing (deploy.backup_optional = true)"),
                    },
                );
                Ok(())
            }
            Err(e) => Err(self.failed_step("backup", t, format!("backup failed: {e}"))),
        }
    }

    pub(super) async fn migrate(&self, plans: &[PlanService]) -> Result<(), Failure> {
        let steps: Vec<&PlanService> = plans
            .iter()
            .filter(|p| p.migrate_service.is_some())
            .collect();
        if steps.is_empty() {
            self.skip("migrate", "no migrate_service configured");
            return Ok(());
        }
        let t = self.step_begin("migrate");
        let pins: Vec<(String, String)> = plans
            .iter()
            .map(|p| (p.image_var.clone(), p.to_ref.clone()))
            .collect();
        let limit = self.settings.migrate_timeout;
        let mut summaries = Vec::new();
        for p in steps {
            let service = p.migrate_service.as_deref().unwrap_or_default();
            let result = tokio::select! {
                _ = self.interrupt.cancelled() => {
                    return Err(Failure { step: "migrate", message: "cancelled by the operator during the migration".into(), cancelled: true });
                }
                r = self.runtime.run_oneoff(service, &pins, limit) => r,
            };
            match result {
                Ok(out) => summaries.push(format!(
                    "{service} ran with {}{}",
                    p.to_ref,
                    last_line(&out)
                )),
                Err(e) => {
                    return Err(self.failed_step(
                        "migrate",
                        t,
                        format!("migration `{service}` failed: {e}"),
                    ));
                }
            }
        }
        self.step_end("migrate", t, ok(summaries.join("; ")));
        Ok(())
    }

    /// Make sure each old image can be named locally after the recreate, so a rollback never
    /// needs the registry (its tag may have moved, e.g. `latest`).
    pub(super) async fn keep_rollback_images(
        &self,
        plans: &mut [PlanService],
    ) -> Result<(), ImageError> {
        for p in plans.iter_mut() {
            let (Some(image), Some(id)) = (p.from.image.clone(), p.from.image_id.clone()) else {
                continue;
            };
            let named = self.host.local_image(&image).await?;
            if named.as_ref().map(|i| &i.id) == Some(&id) {
                continue;
            }
            let repo = p.repo.clone().ok_or(ImageError::NoRepository)?;
            let hex = id.trim_start_matches("sha256:");
            let tag = format!("elt-rollback-{}", &hex[..hex.len().min(12)]);
            self.host
                .tag_image(&id, &repo.docker_name(), &tag)
                .await
                .map_err(|source| ImageError::Keep {
                    id: id.clone(),
                    source,
                })?;
            p.from.image = Some(format!("{}:{tag}", repo.docker_name()));
        }
        Ok(())
    }

    /// Remove old local images of each deployed repository beyond `keep_images`, never the
    /// running one, the previous one, or any image of the last `keep_images` deployments.
    pub(super) async fn retention(&self, plans: &[PlanService]) -> String {
        let keep = self.settings.keep_images as usize;
        let mut protected: HashSet<String> = HashSet::new();
        for p in plans {
            protected.extend(p.to.image_id.clone());
            protected.extend(p.from.image_id.clone());
        }
        if let Ok(recent) = self.store.deployments(keep as u32) {
            for d in recent {
                protected.extend(d.to.image_id.clone());
                protected.extend(d.from.image_id.clone());
            }
        }
        let mut removed = Vec::new();
        let mut errors = Vec::new();
        let mut kept_total = 0;
        let mut seen_repos = HashSet::new();
        for p in plans {
            let Some(repo) = &p.repo else { continue };
            let name = repo.docker_name();
            if !seen_repos.insert(name.clone()) {
                continue;
            }
            let images = match self.host.repo_images(&name).await {
                Ok(i) => i,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            // Protected images count towards `keep`; the newest others fill the rest.
            let mut kept = images.iter().filter(|i| protected.contains(&i.id)).count();
            for img in &images {
                if protected.contains(&img.id) {
                    continue;
                }
                if kept < keep {
                    kept += 1;
                    continue;
                }
                match self.remove_local(img, &name).await {
                    Ok(refs) => removed.extend(refs),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            kept_total += kept;
        }
        let mut summary = format!(
            "kept {kept_total} image(s) (deploy.keep_images = {keep}), removed {}",
            removed.len()
        );
        if !removed.is_empty() {
            summary.push_str(&format!(": {}", removed.join(", ")));
        }
        if !errors.is_empty() {
            summary.push_str(&format!("; not removed: {}", errors.join("; ")));
        }
        summary
    }

    /// Untag every tag of `repo` on the image (the engine deletes it with its last tag).
    pub(super) async fn remove_local(
        &self,
        img: &LocalImage,
        repo: &str,
    ) -> Result<Vec<String>, ImageError> {
        let mut refs: Vec<String> = img
            .repo_tags
            .iter()
            .filter(|t| t.rsplit_once(':').is_some_and(|(r, _)| r == repo))
            .cloned()
            .collect();
        if refs.is_empty() {
            refs = img
                .repo_digests
                .iter()
                .filter(|d| d.split_once('@').is_some_and(|(r, _)| r == repo))
                .cloned()
                .collect();
        }
        for r in &refs {
            self.host
                .remove_image(r)
                .await
                .map_err(|source| ImageError::Remove {
                    reference: r.clone(),
                    source,
                })?;
        }
        Ok(refs)
    }
}
