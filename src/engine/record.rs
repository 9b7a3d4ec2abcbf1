//! Run records: one JSON file per run under `runs_dir/<workflow>-<hash>/<uuid v7>.json`,
//! rewritten atomically each time a step ends so a crash loses no finished step. The editor
//! reads the latest record of a workflow for hints, lenses and diagnostics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::ErrorClass;
use super::providers::Usage;
use crate::model::resolve::{Overrides, Source};

pub use crate::model::runs::StepStatus;

/// An effective setting and where it came from, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSetting {
    /// The value (`None` for "no persona").
    pub value: Option<String>,
    /// Its source.
    pub source: Source,
}

/// A provider/model pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderModel {
    /// Provider ID.
    pub provider: String,
    /// Model ID.
    pub model: String,
}

/// Why a step or an attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The error class.
    pub class: ErrorClass,
    /// HTTP status, if there was a response.
    pub status: Option<u16>,
    /// The provider's message (redacted), or what went wrong.
    pub message: String,
}

/// One request attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Who was asked.
    pub provider: String,
    /// Which model.
    pub model: String,
    /// The fan-out item, for fan-out steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Milliseconds the attempt took.
    pub duration_ms: u64,
    /// The failure; `None` for the attempt that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Characters that had streamed before a failure and were thrown away.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub discarded_chars: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The final failure of a step, as the editor shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    /// The last failure.
    pub failure: Failure,
    /// The provider that failed last.
    pub provider: String,
    /// Attempts made in all.
    pub attempts: usize,
}

impl StepError {
    /// E.g. `anthropic overloaded (529) after 3 attempts: Overloaded`.
    pub fn summary(&self) -> String {
        let status = self.failure.status.map(|s| format!(" ({s})")).unwrap_or_default();
        let attempts = match self.attempts {
            0 => String::new(),
            1 => " after 1 attempt".to_string(),
            n => format!(" after {n} attempts"),
        };
        format!(
            "{} {}{status}{attempts}: {}",
            self.provider, self.failure.class, self.failure.message
        )
    }
}

/// A fan-out item that finished while its step did not (yet): kept so that a resume does
/// not send it again when its rendered request is unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The item's index.
    pub index: usize,
    /// SHA-256 of its rendered request to the first provider.
    pub request_hash: String,
    /// Its output.
    pub output: String,
    /// Its token usage.
    pub usage: Usage,
    /// Who answered.
    pub answered_by: ProviderModel,
}

/// One step in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step ID.
    pub id: String,
    /// Its state.
    pub status: StepStatus,
    /// Effective provider and its source.
    pub provider: Option<RecordedSetting>,
    /// Effective model and its source.
    pub model: Option<RecordedSetting>,
    /// Effective persona and its source (`None`: none anywhere).
    pub persona: Option<RecordedSetting>,
    /// The provider/model that answered (the last, for fan-out).
    pub answered_by: Option<ProviderModel>,
    /// Every attempt, failures included.
    pub attempts: Vec<Attempt>,
    /// The output (fan-out: items joined by a blank line).
    pub output: Option<String>,
    /// Item outputs of a fan-out step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
    /// Token usage, summed over items.
    pub usage: Usage,
    /// Unix milliseconds when it started.
    pub started_at: Option<u64>,
    /// Milliseconds it took.
    pub duration_ms: Option<u64>,
    /// SHA-256 of the rendered request(s) sent to the first provider.
    pub request_hash: Option<String>,
    /// The step's definition when it ran (`model::resolve::step_fingerprint`), so an edit
    /// made since shows the output as stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The final failure of a failed step.
    pub error: Option<StepError>,
    /// Finished items of a fan-out step that has not completed (running, failed, cancelled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ItemRecord>,
    /// The run that produced this output, when it was carried over from an earlier run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<Uuid>,
}

impl StepRecord {
    /// A step not yet run.
    pub fn pending(id: &str) -> StepRecord {
        StepRecord {
            id: id.to_string(),
            status: StepStatus::Pending,
            provider: None,
            model: None,
            persona: None,
            answered_by: None,
            attempts: Vec::new(),
            output: None,
            outputs: None,
            usage: Usage::default(),
            started_at: None,
            duration_ms: None,
            request_hash: None,
            fingerprint: None,
            error: None,
            items: Vec::new(),
            reused_from: None,
        }
    }

    /// Whether its output can feed other steps.
    pub fn has_output(&self) -> bool {
        self.output.is_some() && matches!(self.status, StepStatus::Completed | StepStatus::Stale)
    }

    /// The short status shown in inlay hints: `✓ 2.1s`, `✗ overloaded (529)`, `stale`.
    pub fn label(&self) -> String {
        match self.status {
            StepStatus::Completed => {
                format!("✓ {:.1}s", self.duration_ms.unwrap_or(0) as f64 / 1000.0)
            }
            StepStatus::Failed => match &self.error {
                Some(e) => match e.failure.status {
                    Some(s) => format!("✗ {s} {}", e.failure.class),
                    None => format!("✗ {}", e.failure.class),
                },
                None => "✗ failed".to_string(),
            },
            other => other.as_str().to_string(),
        }
    }
}

/// What a run was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "step")]
pub enum RunTarget {
    /// Every step.
    Workflow,
    /// One step (after the upstream steps that have no recorded output); others are reused
    /// from the latest record and its downstream steps become `stale`.
    Step(String),
    /// One step and everything downstream of it (after the upstream steps that have no
    /// recorded output); the others are reused from the latest record.
    FromStep(String),
    /// Continue the latest run: what is pending, failed, stale, cancelled or was running.
    Resume,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Run ID (uuid v7: sorts by time).
    pub id: Uuid,
    /// The workflow file.
    pub workflow: PathBuf,
    /// The workflow's `name`.
    pub name: String,
    /// What the run was asked to do.
    pub target: RunTarget,
    /// Input values used.
    pub inputs: BTreeMap<String, String>,
    /// One-time overrides of the run.
    pub overrides: Overrides,
    /// Unix milliseconds at start.
    pub started_at: u64,
    /// Unix milliseconds at the end (`None` while running or after a crash).
    pub finished_at: Option<u64>,
    /// Steps in document order.
    pub steps: Vec<StepRecord>,
}

impl RunRecord {
    /// The record of step `id`.
    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Mutable record of step `id`.
    pub fn step_mut(&mut self, id: &str) -> Option<&mut StepRecord> {
        self.steps.iter_mut().find(|s| s.id == id)
    }

    /// Whether every step completed.
    pub fn succeeded(&self) -> bool {
        self.steps.iter().all(|s| s.status == StepStatus::Completed)
    }

    /// Per-step last status, for the editor.
    pub fn statuses(&self) -> BTreeMap<String, StepStatus> {
        self.steps.iter().map(|s| (s.id.clone(), s.status)).collect()
    }

    /// The file this record is stored in.
    pub fn path(&self, runs_dir: &Path) -> PathBuf {
        records_dir(runs_dir, &self.workflow).join(format!("{}.json", self.id))
    }

    /// Writes the record atomically.
    pub fn save(&self, runs_dir: &Path) -> std::io::Result<PathBuf> {
        let path = self.path(runs_dir);
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(&path, &bytes)?;
        Ok(path)
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The folder holding the records of one workflow file: its stem plus a hash of its path,
/// so the latest record is found without reading any other.
pub fn records_dir(runs_dir: &Path, workflow: &Path) -> PathBuf {
    let absolute = workflow_key(workflow);
    let stem = absolute
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = stem
        .trim_end_matches(".yaml")
        .trim_end_matches(".yml")
        .trim_end_matches(".flow");
    let hash = sha256_hex(absolute.to_string_lossy().as_bytes());
    runs_dir.join(format!("{stem}-{}", &hash[..12]))
}

/// The workflow file as records name it: canonical when it exists, so the editor's URI and
/// the command line's relative path find the same records.
pub fn workflow_key(workflow: &Path) -> PathBuf {
    std::fs::canonicalize(workflow)
        .or_else(|_| std::path::absolute(workflow))
        .unwrap_or_else(|_| workflow.to_path_buf())
}

/// The latest run record of `workflow`, if any (a broken file is skipped).
pub fn latest(runs_dir: &Path, workflow: &Path) -> Option<RunRecord> {
    let dir = records_dir(runs_dir, workflow);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.iter().rev().find_map(|p| {
        let bytes = std::fs::read(p).ok()?;
        serde_json::from_slice(&bytes).ok()
    })
}

/// Writes `bytes` to `path` so a reader sees the old or the new file, never a mix: a temp
/// file in the same folder, fsync, rename, fsync of the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    super::own_file::ensure_replaceable(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", Uuid::now_v7()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all().ok();
        }
        Ok(())
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(workflow: &Path) -> RunRecord {
        RunRecord {
            id: Uuid::now_v7(),
            workflow: workflow.to_path_buf(),
            name: "x".to_string(),
            target: RunTarget::Workflow,
            inputs: BTreeMap::new(),
            overrides: Overrides::default(),
            started_at: now_ms(),
            finished_at: None,
            steps: vec![StepRecord::pending("a")],
        }
    }

    #[test]
    fn latest_record_is_the_newest_of_this_workflow_only() {
        let dir = tempfile::tempdir().unwrap();
        let flow = dir.path().join("a.flow.yaml");
        let other = dir.path().join("b.flow.yaml");
        let first = record(&flow);
        first.save(dir.path()).unwrap();
        let mut second = record(&flow);
        second.steps[0].status = StepStatus::Completed;
        second.save(dir.path()).unwrap();
        record(&other).save(dir.path()).unwrap();
        let found = latest(dir.path(), &flow).unwrap();
        assert_eq!(found.id, second.id);
        assert_eq!(found.statuses()["a"], StepStatus::Completed);
    }

    #[test]
    fn labels_and_summaries_read_as_the_editor_shows_them() {
        let mut step = StepRecord::pending("a");
        assert_eq!(step.label(), "pending");
        step.status = StepStatus::Completed;
        step.duration_ms = Some(2140);
        assert_eq!(step.label(), "✓ 2.1s");
        step.status = StepStatus::Failed;
        step.error = Some(StepError {
            failure: Failure {
                class: ErrorClass::Overloaded,
                status: Some(529),
                message: "Overloaded".to_string(),
            },
            provider: "anthropic".to_string(),
            attempts: 3,
        });
        assert_eq!(step.label(), "✗ 529 overloaded");
        assert_eq!(
            step.error.unwrap().summary(),
            "anthropic overloaded (529) after 3 attempts: Overloaded"
        );
    }

    #[test]
    fn relative_and_absolute_paths_share_records() {
        let dir = tempfile::tempdir().unwrap();
        let flow = dir.path().join("x.flow.yaml");
        std::fs::write(&flow, "").unwrap();
        let dotted = dir.path().join(".").join("x.flow.yaml");
        assert_eq!(records_dir(dir.path(), &flow), records_dir(dir.path(), &dotted));
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/f.json");
        write_atomically(&path, b"1").unwrap();
        write_atomically(&path, b"2").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}
