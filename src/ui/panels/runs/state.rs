//! The runs panel's state: the workflow's recent runs as last read.

use crate::domain::RunView;

#[derive(Debug, Clone)]
pub struct RunsData {
    pub runs: Vec<RunView>,
    pub token: String,
}
