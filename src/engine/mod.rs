//! The engine: runs a workflow's steps against the providers, with retries, fallbacks,
//! fan-out, run records and cancellation. The CLI and the language server both call
//! [`Engine::run`] on their own tokio runtime and follow it through [`RunEvent`]s.
//!
//! ```no_run
//! # async fn example(request: stepwise::engine::RunRequest) {
//! use stepwise::engine::{Engine, RunEvent};
//! let engine = Engine::default();
//! let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
//! let cancel = tokio_util::sync::CancellationToken::new(); // keep a clone for "cancel"
//! let run = tokio::spawn(async move { engine.run(request, events, cancel).await });
//! while let Some(event) = received.recv().await {
//!     if let RunEvent::StepFinished { step, stale } = event {
//!         // show `step` (its status and attempts) and mark the `stale` steps
//!         let _ = (step, stale);
//!     }
//! }
//! let record = run.await.expect("run task").expect("run started");
//! # let _ = record;
//! # }
//! ```
//!
//! Between runs, [`latest`] gives the last record of a workflow file (per-step status, error,
//! output, who answered) and [`models::ModelCache::load`] the cached model listings; neither
//! touches the network.

mod budget;
mod compact_record;
pub mod compare;
mod dry_run;
pub mod error;
pub mod estimate;
mod failover;
mod gathered;
pub mod graph;
pub mod health;
pub mod journal;
pub mod lock;
pub mod models;
pub mod own_file;
pub mod planner;
pub mod preflight;
pub mod preview;
pub mod probe;
pub mod providers;
pub mod record;
pub mod render;
pub mod requests;
pub mod retry;
mod scheduler;
pub mod secret;
mod step;
mod trust_gate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::model::catalog::EnvLookup;
use crate::model::diagnostic::{Unknown, choice_list};
use crate::model::resolve::Overrides;
use crate::model::runs::{Call, RunRecord, StepAttempt, StepRecord};
use crate::model::workflow::Workflow;
use crate::model::workspace::Workspace;
use providers::HttpRequest;
pub use record::{RunTarget, latest};
use retry::RetryPolicy;

/// What to run.
#[derive(Clone)]
pub struct RunRequest {
    /// The workflow file (run records are kept per file).
    pub path: PathBuf,
    /// The workflow as lowered from the editor's buffer (possibly unsaved) or the file; the
    /// caller refuses to run one with error diagnostics.
    pub workflow: Arc<Workflow>,
    /// The workspace it belongs to.
    pub workspace: Arc<Workspace>,
    /// Where API keys are read from (the process environment outside tests).
    pub env: Arc<dyn EnvLookup + Send + Sync>,
    /// Whole workflow, one step, or resume.
    pub target: RunTarget,
    /// One-time provider/model/persona overrides.
    pub overrides: Overrides,
    /// Input values; the rest come from the last record (step runs, resume) or defaults.
    pub inputs: BTreeMap<String, String>,
    /// The run's budget in USD (`run --budget`); wins over the workflow's `budget_usd`.
    pub budget_usd: Option<f64>,
}

/// Progress of a run, sent as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The run has a record; `steps` are the ones it will try to run, in order.
    RunStarted {
        /// The run ID.
        run_id: uuid::Uuid,
        /// The record file, written when the run ends (its journal beside it meanwhile).
        record_path: PathBuf,
        /// Steps to run.
        steps: Vec<String>,
    },
    /// A step started an attempt.
    StepStarted {
        /// Step ID.
        step: String,
        /// The attempt, running: its provider, model and persona with their sources, and
        /// whether one-time overrides apply.
        attempt: Box<StepAttempt>,
        /// Number of fan-out items (`None` without fan-out).
        items: Option<usize>,
    },
    /// Fan-out progress.
    ItemsProgress {
        /// Step ID.
        step: String,
        /// Items finished.
        done: usize,
        /// Items in all.
        total: usize,
    },
    /// Streamed text of a step (of one of its items, for fan-out). A failed request's text
    /// is thrown away: its `CallFailed` says how many characters.
    Text {
        /// Step ID.
        step: String,
        /// The fan-out item (0-based), for fan-out steps.
        item: Option<usize>,
        /// The new text.
        text: String,
    },
    /// A request failed and will be retried or passed on to a fallback, or was the last.
    CallFailed {
        /// Step ID.
        step: String,
        /// The request: provider, model, item, failure (class, status, message), streamed
        /// characters discarded, and the wait before a retry.
        call: Call,
        /// Which attempt at this provider it was (1-based).
        attempt: u32,
        /// The most attempts one provider gets (the first and its retries).
        of: u32,
    },
    /// The step (or fan-out item) moves on to its next fallback provider.
    FallingBack {
        /// Step ID.
        step: String,
        /// The fan-out item, for fan-out steps.
        item: Option<usize>,
        /// The provider and model asked next.
        to: crate::model::runs::ProviderModel,
    },
    /// A step's attempt ended.
    StepFinished {
        /// The step's record: its status, its output's attempt and the attempt that ended
        /// (the last).
        step: StepRecord,
        /// Steps that read its output, which changed: now `stale`.
        stale: Vec<String>,
    },
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Required inputs have no value (all of them, in declaration order).
    #[error("{}", missing_inputs(.0))]
    MissingInputs(Vec<String>),
    /// A value was given for an input the workflow does not declare.
    #[error("the workflow has no input `{0}`")]
    UnknownInput(String),
    /// The step to run does not exist.
    #[error("the workflow has no step {0}")]
    UnknownStep(Unknown),
    /// A one-time override names a provider or persona the workspace does not have.
    #[error("unknown {0} in the override: {1}")]
    UnknownOverride(&'static str, Unknown),
    /// A one-time model override is another provider's model, not the one the step would use.
    #[error(
        "model `{model}` in the override is `{owner}`'s, not `{provider}`'s: override the provider \
         with `{owner}` too, or pick one of `{provider}`'s models{}",
        choice_list(.provider_models)
    )]
    ModelOfOtherProvider {
        /// The model override.
        model: String,
        /// The provider the step would send it to.
        provider: String,
        /// The provider whose catalog has the model.
        owner: String,
        /// The models `provider` does have.
        provider_models: Vec<String>,
    },
    /// Resume without an earlier run.
    #[error("nothing to resume: this workflow has no run record yet")]
    NothingToResume,
    /// The record could not be written.
    #[error("cannot write the run record: {0}")]
    Io(#[from] std::io::Error),
    /// Another run of the workflow is in progress, or its lock could not be taken.
    #[error(transparent)]
    Locked(#[from] lock::LockError),
    /// The workspace is untrusted and its `stepwise.toml` asks what only trust allows.
    #[error("{0}")]
    Untrusted(String),
    /// Steps the run would send cannot run as they are (every problem, found before sending).
    #[error(transparent)]
    Preflight(#[from] preflight::PreflightError),
}

/// The message for required inputs without a value: names each, with the flag that gives it.
fn missing_inputs(names: &[String]) -> String {
    let flags: Vec<String> = names.iter().map(|n| format!("--input {n}=VALUE")).collect();
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let (noun, verb) = if names.len() == 1 {
        ("input", "is")
    } else {
        ("inputs", "are")
    };
    format!("{noun} {} {verb} required: pass {}", names.join(", "), flags.join(" "))
}

/// Engine settings that are not in `stepwise.toml`; `None` fields come from it.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Retry policy (default: the SDKs', with the config's `max_retries`).
    pub retry: Option<RetryPolicy>,
    /// Request timeout: for the response headers and each gap in the stream (default: the
    /// config's `timeout_secs`).
    pub timeout: Option<Duration>,
}

/// One request a dry run would send.
#[derive(Debug, Clone)]
pub struct PlannedRequest {
    /// Step ID.
    pub step: String,
    /// Fan-out item index.
    pub item: Option<usize>,
    /// The request, key not set.
    pub request: HttpRequest,
    /// What it may cost.
    pub estimate: estimate::RequestEstimate,
}

/// The `user-agent` every request carries.
pub const USER_AGENT: &str = concat!("stepwise/", env!("CARGO_PKG_VERSION"));

/// Runs workflows. Cheap to clone; keep one per process to reuse connections.
#[derive(Debug, Clone)]
pub struct Engine {
    client: reqwest::Client,
    options: EngineOptions,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(EngineOptions::default())
    }
}

impl Engine {
    /// An engine with its own HTTP client.
    pub fn new(options: EngineOptions) -> Engine {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .user_agent(USER_AGENT)
            .build()
            .unwrap_or_default();
        Engine { client, options }
    }

    /// The HTTP client, for model listings.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Runs `request` to the end (or until `cancel`), sending progress to `events`, and
    /// returns the final record (also written under the workspace's `runs_dir`). Refused
    /// while another run of the same workflow file holds its [`lock::RunLock`].
    pub async fn run(
        &self,
        request: RunRequest,
        events: UnboundedSender<RunEvent>,
        cancel: CancellationToken,
    ) -> Result<RunRecord, EngineError> {
        if let Some(why) = self.refusal(&request) {
            return Err(EngineError::Untrusted(why));
        }
        let _lock = lock::RunLock::acquire(&request.workspace.config.runs_dir(), &request.path)?;
        scheduler::run(self, request, events, cancel).await
    }

    /// Why `request` may not run in its untrusted workspace (a provider it would call or its
    /// runs folder needs trust), if it may not. Sends and writes nothing.
    pub fn refusal(&self, request: &RunRequest) -> Option<String> {
        trust_gate::refusal(request, &request.workflow)
    }

    /// The warnings of a run of `request` (models a provider does not list, fallbacks that will
    /// be skipped), or every problem that stops it: the check [`Engine::run`] makes before its
    /// first request. Sends and writes nothing.
    pub fn preflight(&self, request: &RunRequest) -> Result<Vec<crate::model::diagnostic::Diagnostic>, EngineError> {
        preflight::preflight(request)
    }

    /// The requests a run would send, without sending any or reading any key. Outputs of
    /// steps that would run first appear as `<output of step ID>`.
    pub fn dry_run(&self, request: &RunRequest) -> Result<Vec<PlannedRequest>, EngineError> {
        dry_run::dry_run(request)
    }
}
