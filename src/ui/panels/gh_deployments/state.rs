//! The GitHub Deployments panel's state: the last good list, and folding a fetch into it.

use crate::sources::github::DeploymentView;
use chrono::{DateTime, Utc};

/// The environment's recent GitHub Deployments (the panel draws them).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentsList {
    pub environment: String,
    /// The last good list (kept through an error).
    pub items: Vec<DeploymentView>,
    pub loaded_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// Fold a fetch's result in: an error keeps the last good list.
pub fn update(
    slot: &mut Option<DeploymentsList>,
    environment: &str,
    result: Result<Vec<DeploymentView>, String>,
    now: DateTime<Utc>,
) {
    let list = slot.get_or_insert_with(|| DeploymentsList {
        environment: environment.to_string(),
        items: Vec::new(),
        loaded_at: None,
        error: None,
    });
    match result {
        Ok(items) => {
            list.items = items;
            list.loaded_at = Some(now);
            list.error = None;
        }
        Err(e) => list.error = Some(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_keeps_the_last_good_list() {
        let now = Utc::now();
        let mut slot = None;
        let d = DeploymentView {
            id: 1,
            sha: "a".repeat(40),
            environment: "production".into(),
            description: None,
            creator: None,
            created_at: now,
            state: Some("success".into()),
            state_at: None,
        };
        update(&mut slot, "production", Ok(vec![d.clone()]), now);
        update(
            &mut slot,
            "production",
            Err("GitHub server error".into()),
            now,
        );
        let list = slot.unwrap();
        assert_eq!(list.items, vec![d]);
        assert_eq!(list.error.as_deref(), Some("GitHub server error"));
        assert_eq!(list.loaded_at, Some(now));
    }
}
