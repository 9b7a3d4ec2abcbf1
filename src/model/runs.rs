//! Run data: what a run record holds, what run events carry and what the editor shows of
//! runs. Plain serde types: the engine writes them, the server keeps them, analysis renders
//! them (`analysis::run_text`) without any I/O.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::prices::CallCost;
use crate::model::resolve::{Overrides, Source};

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
    /// Its output predates a change of an output it reads.
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

/// What kind of failure a request ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 401 or 403: the key is missing, wrong or lacks permission.
    Auth,
    /// 400 or 422: the request itself is wrong (bad prompt, bad parameter).
    BadRequest,
    /// 404: unknown model or endpoint.
    NotFound,
    /// 429.
    RateLimit,
    /// Anthropic's 529, or an `overloaded` error event.
    Overloaded,
    /// 5xx, 408-less server trouble, 409, or an error event mid-stream.
    Server,
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made or was reset.
    Connection,
    /// The stream ended early or carried data that is not the wire format.
    StreamBroken,
    /// The request could not be built: the prompt failed to render, or no key is set.
    Prompt,
    /// Not sent: its estimated cost would take the run over its budget.
    Budget,
}

impl ErrorClass {
    /// The label used in records and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Auth => "auth",
            ErrorClass::BadRequest => "bad_request",
            ErrorClass::NotFound => "not_found",
            ErrorClass::RateLimit => "rate_limit",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Server => "server",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connection => "connection",
            ErrorClass::StreamBroken => "stream_broken",
            ErrorClass::Prompt => "prompt",
            ErrorClass::Budget => "budget",
        }
    }

    /// Whether the failure says the provider is down rather than the request wrong: these
    /// are retried, move on to the fallback list and mark the provider degraded.
    pub fn is_outage(self) -> bool {
        !matches!(
            self,
            ErrorClass::Auth | ErrorClass::BadRequest | ErrorClass::NotFound | ErrorClass::Prompt | ErrorClass::Budget
        )
    }

    /// The class of an HTTP error status.
    pub fn from_status(status: u16) -> ErrorClass {
        match status {
            401 | 403 => ErrorClass::Auth,
            404 => ErrorClass::NotFound,
            408 => ErrorClass::Timeout,
            429 => ErrorClass::RateLimit,
            529 => ErrorClass::Overloaded,
            409 | 500..=599 => ErrorClass::Server,
            _ => ErrorClass::BadRequest,
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token usage as the provider reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Adds another call's usage.
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }
}

/// A provider/model pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderModel {
    /// Provider ID.
    pub provider: String,
    /// Model ID.
    pub model: String,
}

/// Why a request or a step failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The error class.
    pub class: ErrorClass,
    /// HTTP status, if there was a response.
    pub status: Option<u16>,
    /// The provider's message (redacted), or what went wrong.
    pub message: String,
}

/// The final failure of a step attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepError {
    /// The last failure.
    pub failure: Failure,
    /// The provider that failed last.
    pub provider: String,
    /// Requests made in all.
    pub attempts: usize,
}

/// An effective setting and where it came from, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSetting {
    /// The value (`None` for "no persona").
    pub value: Option<String>,
    /// Its source.
    pub source: Source,
}

/// One request of an attempt: a first try, a retry, or a fallback provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Who was asked.
    pub provider: String,
    /// Which model.
    pub model: String,
    /// The fan-out item, for fan-out steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Milliseconds the request took.
    pub duration_ms: u64,
    /// The failure; `None` for the request that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Characters that had streamed before a failure and were thrown away.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub discarded_chars: usize,
    /// Milliseconds waited before retrying the same provider after this failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// What the request cost, when it billed tokens and a price (or the provider's own
    /// figure) is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CallCost>,
    /// Tokens a request billed without a known price (no cost can be given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<Usage>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One run of a step (its first, or a re-run): what it asked, how it ended, what it gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepAttempt {
    /// Running, completed, failed or cancelled.
    pub status: StepStatus,
    /// Effective provider and its source.
    pub provider: Option<RecordedSetting>,
    /// Effective model and its source.
    pub model: Option<RecordedSetting>,
    /// Effective persona and its source (`None`: none anywhere).
    pub persona: Option<RecordedSetting>,
    /// Whether one-time overrides (`--provider`, "run with … this run only") applied.
    #[serde(default)]
    pub one_time: bool,
    /// The final failure of a failed attempt.
    pub error: Option<StepError>,
    /// Every request, with retries, waits and fallbacks. A fan-out attempt as a run returns
    /// and announces it holds them merged by provider, model, outcome and price (what cost
    /// and status need); its record on disk lists each.
    pub calls: Vec<Call>,
    /// Token usage, summed over items.
    pub usage: Usage,
    /// USD this attempt's requests cost, failed ones and fan-out items summed (items reused
    /// from an earlier attempt were paid for there); `None` when a request billed tokens at
    /// an unknown price, or nothing was billed.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Unix milliseconds when it started.
    pub started_at: u64,
    /// Milliseconds it took.
    pub duration_ms: Option<u64>,
    /// The provider/model that answered (the last, for fan-out).
    pub answered_by: Option<ProviderModel>,
    /// The output (fan-out: items joined by a blank line).
    pub output: Option<String>,
    /// Item outputs of a fan-out step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
    /// SHA-256 of the rendered request(s) sent to the first provider.
    pub request_hash: Option<String>,
    /// The step's definition when it ran (`model::resolve::step_fingerprint`), so an edit
    /// made since shows the output as stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl StepAttempt {
    /// An attempt in `status` with nothing else known yet.
    pub fn new(status: StepStatus) -> StepAttempt {
        StepAttempt {
            status,
            provider: None,
            model: None,
            persona: None,
            one_time: false,
            error: None,
            calls: Vec::new(),
            usage: Usage::default(),
            cost_usd: None,
            started_at: 0,
            duration_ms: None,
            answered_by: None,
            output: None,
            outputs: None,
            request_hash: None,
            fingerprint: None,
        }
    }

    /// The provider asked first.
    pub fn provider_id(&self) -> Option<&str> {
        self.provider.as_ref().and_then(|p| p.value.as_deref())
    }

    /// Tokens used in all.
    pub fn tokens(&self) -> u64 {
        self.usage.input_tokens + self.usage.output_tokens
    }

    /// The cost of `calls`: their costs summed; `None` when one billed tokens at an unknown
    /// price or none billed anything.
    pub fn cost_of(calls: &[Call]) -> Option<f64> {
        if calls.iter().any(|c| c.unpriced.is_some()) {
            return None;
        }
        calls
            .iter()
            .filter_map(|c| c.cost.map(|c| c.usd))
            .fold(None, |sum, usd| Some(sum.unwrap_or(0.0) + usd))
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

/// One step in a run: the status shown for its output, and every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step ID.
    pub id: String,
    /// The state of its output: a failed or cancelled re-run leaves it as it was.
    pub status: StepStatus,
    /// Every attempt, oldest first (superseded outputs are dropped).
    pub attempts: Vec<StepAttempt>,
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
            attempts: Vec::new(),
            items: Vec::new(),
            reused_from: None,
        }
    }

    /// The latest attempt.
    pub fn last(&self) -> Option<&StepAttempt> {
        self.attempts.last()
    }

    /// The attempt whose output the step has: the latest that completed.
    pub fn result(&self) -> Option<&StepAttempt> {
        self.attempts.iter().rev().find(|a| a.status == StepStatus::Completed)
    }

    /// The latest attempt when it is not the one whose output the step has (a failed or
    /// cancelled re-run after a success).
    pub fn later_attempt(&self) -> Option<&StepAttempt> {
        let last = self.attempts.len().checked_sub(1)?;
        let result = self.attempts.iter().rposition(|a| a.status == StepStatus::Completed)?;
        (result < last).then(|| &self.attempts[last])
    }

    /// The attempt the editor describes first: the output's, else the latest.
    pub fn shown(&self) -> Option<&StepAttempt> {
        self.result().or_else(|| self.last())
    }

    /// Whether its output can feed other steps.
    pub fn has_output(&self) -> bool {
        matches!(self.status, StepStatus::Completed | StepStatus::Stale) && self.output().is_some()
    }

    /// Its output.
    pub fn output(&self) -> Option<&str> {
        self.result().and_then(|a| a.output.as_deref())
    }

    /// The failure of its latest attempt, when that attempt failed.
    pub fn failure(&self) -> Option<&StepError> {
        self.last().filter(|a| a.status == StepStatus::Failed)?.error.as_ref()
    }
}

/// What a run was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "step")]
pub enum RunTarget {
    /// Every step.
    Workflow,
    /// One step (after the upstream steps that have no recorded output); others are reused
    /// from the latest record, and its downstream steps become `stale` if its output changes.
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

    /// Per-step status, for the editor.
    pub fn statuses(&self) -> BTreeMap<String, StepStatus> {
        self.steps.iter().map(|s| (s.id.clone(), s.status)).collect()
    }
}

/// Runs of one workflow document, as the editor shows them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunView {
    /// The latest record of each step that has one.
    pub steps: FxHashMap<String, StepRecord>,
    /// Steps running now.
    pub running: FxHashSet<String>,
    /// Whether a run of this workflow is in progress (run actions are then disabled).
    pub in_progress: bool,
}

impl RunView {
    /// The record of step `id`, if it has been run.
    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps
            .get(id)
            .filter(|s| !s.attempts.is_empty() || s.status != StepStatus::Pending)
    }

    /// Whether step `id` is running now.
    pub fn is_running(&self, id: &str) -> bool {
        self.running.contains(id)
    }

    /// The view of a whole record.
    pub fn of(record: &RunRecord) -> RunView {
        RunView {
            steps: record.steps.iter().map(|s| (s.id.clone(), s.clone())).collect(),
            running: FxHashSet::default(),
            in_progress: false,
        }
    }
}
