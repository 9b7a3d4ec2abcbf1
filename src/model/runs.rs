//! What the editor shows of runs: each step's last result, and whether a run is in progress.
//! Filled by the server from the engine's run records; read by analysis (hints, lenses,
//! diagnostics, hover, actions) without any I/O.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// A step's state in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not run yet (or paused behind a failed dependency).
    Pending,
    /// In flight (a record left in this state means the run crashed).
    Running,
    /// Finished with an output.
    Completed,
    /// Failed after retries and fallbacks.
    Failed,
    /// Its output predates a re-run of a step it depends on.
    Stale,
    /// Stopped by a cancellation.
    Cancelled,
}

impl StepStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Completed => "completed",
            StepStatus::Failed => "failed",
            StepStatus::Stale => "stale",
            StepStatus::Cancelled => "cancelled",
        }
    }

    /// Whether `resume` runs a step in this state.
    pub fn needs_run(self) -> bool {
        !matches!(self, StepStatus::Completed)
    }
}

/// The last result of one step, as the editor shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepRun {
    /// Its state in the latest record.
    pub status: Option<StepStatus>,
    /// The short label for inlay hints: `✓ 2.1s`, `✗ 529 overloaded`, `stale`.
    pub label: String,
    /// The code lens text: `✓ 2.1s · openai/gpt-4o · 812 tok` or `✗ overloaded (529) · anthropic`.
    pub lens: String,
    /// `provider/model` that answered.
    pub answered_by: Option<String>,
    /// The failure summary, e.g. `anthropic overloaded (529) after 3 attempts: Overloaded`.
    pub error: Option<String>,
    /// The provider that failed last, for "switch to another provider" fixes.
    pub failed_provider: Option<String>,
    /// The output, for hover and "open output".
    pub output: Option<String>,
    /// Hash of the request the output came from.
    pub request_hash: Option<String>,
    /// The step's definition when it ran, to tell when an edit made its output stale.
    pub fingerprint: Option<String>,
    /// Whether this step is running now.
    pub running: bool,
}

/// Runs of one workflow document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunView {
    /// Last results by step ID.
    pub steps: FxHashMap<String, StepRun>,
    /// Whether a run of this workflow is in progress (run actions are then disabled).
    pub in_progress: bool,
}

impl RunView {
    /// The last result of `step`, if it has one.
    pub fn step(&self, step: &str) -> Option<&StepRun> {
        self.steps.get(step)
    }
}
