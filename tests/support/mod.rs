//! Shared test setup: a workspace in a temp folder whose providers point at fake servers,
//! and an engine with millisecond backoffs and timeouts so failure tests stay fast.

#![allow(dead_code)]

pub mod fake_provider;
pub mod lsp;
pub mod lsp_workspace;
pub mod run_history;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stepwise::analysis::Analysis;
use stepwise::analysis::actions::runnable;
use stepwise::engine::record::RunRecord;
use stepwise::engine::retry::RetryPolicy;
use stepwise::engine::{Engine, EngineError, EngineOptions, RunEvent, RunRequest, RunTarget};
use stepwise::model::resolve::Overrides;
use stepwise::model::workspace::Workspace;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The key every test provider gets.
pub const KEY: &str = "sk-test-Abc123SECRETkey";

/// A temp workspace with a `stepwise.toml` and one workflow file.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub flow: PathBuf,
}

impl Project {
    /// Writes `config` and `flow` into a new temp folder.
    pub fn new(config: &str, flow: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stepwise.toml"), config).unwrap();
        let path = dir.path().join("test.flow.yaml");
        std::fs::write(&path, flow).unwrap();
        Project { dir, flow: path }
    }

    /// The runs folder.
    pub fn runs_dir(&self) -> PathBuf {
        self.dir.path().join(".stepwise/runs")
    }

    /// A run request with every provider key set, the workspace trusted for this process
    /// (its `stepwise.toml` points the providers at local fake servers).
    pub fn request(&self, target: RunTarget) -> RunRequest {
        let mut env: BTreeMap<String, String> =
            ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GROQ_API_KEY"]
                .iter()
                .map(|k| (k.to_string(), KEY.to_string()))
                .collect();
        env.insert("STEPWISE_TRUST_WORKSPACE".to_string(), "1".to_string());
        let workspace = Arc::new(Workspace::load(self.dir.path(), &env));
        let text: Arc<str> = std::fs::read_to_string(&self.flow).unwrap().into();
        let workflow = runnable(&Analysis::new(text, workspace.clone())).expect("a workflow without errors");
        RunRequest {
            path: self.flow.clone(),
            workflow: Arc::new(workflow),
            workspace,
            env: Arc::new(env),
            target,
            overrides: Overrides::default(),
            inputs: BTreeMap::new(),
            budget_usd: None,
        }
    }

    /// Rewrites the workflow file.
    pub fn write_flow(&self, flow: &str) {
        std::fs::write(&self.flow, flow).unwrap();
    }
}

/// `stepwise.toml` pointing every built-in provider at `url` (and a `groq` OpenAI-compatible
/// one), with `extra` appended.
pub fn config_for(url: &str, extra: &str) -> String {
    format!(
        "{extra}\n[providers.anthropic]\nbase_url = \"{url}\"\n[providers.openai]\nbase_url = \"{url}/v1\"\n[providers.google]\nbase_url = \"{url}\"\n[providers.ollama]\nbase_url = \"{url}\"\n"
    )
}

/// An engine with 1-4 ms backoffs, a 200 ms cap on `retry-after` and a 400 ms timeout.
pub fn fast_engine(max_retries: u32) -> Engine {
    Engine::new(EngineOptions {
        retry: Some(RetryPolicy {
            max_retries,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            retry_after_cap: Duration::from_millis(200),
        }),
        timeout: Some(Duration::from_millis(400)),
    })
}

/// Runs `request` to the end, collecting its events.
pub async fn run(engine: &Engine, request: RunRequest) -> Result<(RunRecord, Vec<RunEvent>), EngineError> {
    run_with(engine, request, CancellationToken::new()).await
}

/// Runs `request` with a cancellation token, collecting its events. The run is spawned as
/// its own task, as the language server will do.
pub async fn run_with(
    engine: &Engine,
    request: RunRequest,
    cancel: CancellationToken,
) -> Result<(RunRecord, Vec<RunEvent>), EngineError> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let engine = engine.clone();
    let record = tokio::spawn(async move { engine.run(request, tx, cancel).await })
        .await
        .expect("the run task panicked")?;
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    Ok((record, events))
}

/// A one-step workflow on `provider`/`model` with an inline persona and params.
pub fn one_step(provider: &str, model: &str, step_extra: &str) -> String {
    format!(
        "version: 1\nname: One\nprovider: {provider}\nmodel: {model}\npersona: analyst\nparams:\n  temperature: 0.2\n  max_tokens: 300\n  top_p: 0.9\n  stop: [\"END\"]\npersonas:\n  analyst:\n    name: Analyst\n    system: You are terse.\nsteps:\n  - id: only\n    prompt: Say hi to {{{{ inputs.who }}}}.\n{step_extra}inputs:\n  who:\n    default: Ada\n"
    )
}

/// Whether `path` or anything under it contains `needle`.
pub fn tree_contains(path: &Path, needle: &str) -> bool {
    walk(path).iter().any(|f| {
        std::fs::read(f)
            .map(|b| String::from_utf8_lossy(&b).contains(needle))
            .unwrap_or(false)
    })
}

fn walk(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .flat_map(|e| walk(&e.unwrap().path()))
            .collect()
    } else {
        vec![path.to_path_buf()]
    }
}

/// `stepwise ARGS` in the project's folder with the test key, no user config, the temporary
/// workspace trusted (its stepwise.toml aims the keys at the fake provider) and output captured.
pub fn stepwise(project: &Project, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_stepwise"));
    cmd.args(args)
        .current_dir(project.dir.path())
        .env("ANTHROPIC_API_KEY", KEY)
        .env("XDG_CONFIG_HOME", lsp::no_config_home())
        .env("STEPWISE_TRUST_WORKSPACE", "1")
        .env_remove("OPENAI_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}
