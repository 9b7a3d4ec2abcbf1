//! `stepwise run` as a process: surviving kill -9 with `--resume`, Ctrl-C, and `--dry-run`.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stepwise::engine::record::{StepStatus, latest};
use support::fake_provider::{FakeProvider, Reply, anthropic_stream, prompt_of};
use support::{Project, config_for, stepwise};

const FLOW: &str = "version: 1\nname: Crash\nprovider: anthropic\nmodel: m\nsteps:\n  - id: a\n    prompt: A\n  - id: b\n    prompt: \"B {{ steps.a.output }}\"\n  - id: c\n    prompt: \"C {{ steps.b.output }}\"\n";

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answers everything, except that step `b`'s first request hangs while `stall` is set.
fn server_stalling_b(stall: Arc<AtomicBool>) -> impl Fn(&support::fake_provider::Received) -> Reply + Send + Sync {
    move |r| {
        let prompt = prompt_of(r);
        if prompt.starts_with('B') && stall.load(Ordering::SeqCst) {
            return Reply::Stall;
        }
        anthropic_stream(&[&format!("R({prompt})")], 1, 1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_kill_9_resends_no_finished_step() {
    let stall = Arc::new(AtomicBool::new(true));
    let server = FakeProvider::start(server_stalling_b(stall.clone())).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let mut child = stepwise(&project, &["run", "test.flow.yaml"]).spawn().unwrap();
    wait_until("step b's request", || {
        server.received().iter().any(|r| prompt_of(r).starts_with('B'))
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let crashed = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(crashed.step("a").unwrap().status, StepStatus::Completed);
    assert_eq!(crashed.step("b").unwrap().status, StepStatus::Running);

    stall.store(false, Ordering::SeqCst);
    let resumed = stepwise(&project, &["run", "test.flow.yaml", "--resume"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let sent: Vec<String> = server.received().iter().map(prompt_of).collect();
    assert_eq!(sent.iter().filter(|p| *p == "A").count(), 1);
    assert_eq!(sent.iter().filter(|p| p.starts_with('C')).count(), 1);
    let done = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(done.id, crashed.id);
    assert!(done.succeeded());
    assert_eq!(String::from_utf8_lossy(&resumed.stdout).trim(), "R(C R(B R(A)))");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_run_and_records_cancelled() {
    let server = FakeProvider::start(server_stalling_b(Arc::new(AtomicBool::new(true)))).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let child = stepwise(&project, &["run", "test.flow.yaml"]).spawn().unwrap();
    wait_until("step b's request", || {
        server.received().iter().any(|r| prompt_of(r).starts_with('B'))
    })
    .await;
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let record = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(record.step("b").unwrap().status, StepStatus::Cancelled);
    assert_eq!(record.step("c").unwrap().status, StepStatus::Pending);
    assert!(record.finished_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_one_time_rerun_keeps_the_output_and_resume_has_nothing_to_do() {
    let server = FakeProvider::start(|r| anthropic_stream(&[&format!("R({})", prompt_of(r))], 1, 1)).await;
    // Ollama is not running: its port is closed.
    let config = config_for(&server.url, "max_retries = 0").replace(
        &format!("[providers.ollama]\nbase_url = \"{}\"", server.url),
        "[providers.ollama]\nbase_url = \"http://127.0.0.1:9\"",
    );
    let project = Project::new(&config, FLOW);
    let first = stepwise(&project, &["run", "test.flow.yaml"]).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let good = latest(&project.runs_dir(), &project.flow).unwrap();

    let rerun = stepwise(
        &project,
        &["run", "test.flow.yaml", "--step", "a", "--provider", "ollama"],
    )
    .output()
    .unwrap();
    assert!(!rerun.status.success());
    let stderr = String::from_utf8_lossy(&rerun.stderr);
    assert!(stderr.contains("— last attempt ✗ ollama connection"), "{stderr}");
    let after = latest(&project.runs_dir(), &project.flow).unwrap();
    let a = after.step("a").unwrap();
    assert_eq!(a.status, StepStatus::Completed);
    assert_eq!(a.output(), good.step("a").unwrap().output());
    assert_eq!(a.last().unwrap().status, StepStatus::Failed);
    assert!(a.last().unwrap().one_time);
    assert_eq!(after.step("b").unwrap().status, StepStatus::Completed);
    assert_eq!(after.step("c").unwrap().status, StepStatus::Completed);

    let planned = stepwise(&project, &["run", "test.flow.yaml", "--resume", "--dry-run"])
        .output()
        .unwrap();
    assert!(planned.status.success(), "{}", String::from_utf8_lossy(&planned.stderr));
    assert_eq!(String::from_utf8_lossy(&planned.stdout), "", "nothing to plan");
    let sent = server.count();
    let resumed = stepwise(&project, &["run", "test.flow.yaml", "--resume"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert_eq!(server.count(), sent, "nothing sent again");
}

#[test]
fn dry_run_prints_exact_requests_with_keys_redacted_and_sends_nothing() {
    let project = Project::new(
        "[providers.anthropic]\nbase_url = \"http://127.0.0.1:9\"\n",
        "version: 1\nname: Dry\nprovider: anthropic\nmodel: claude-haiku-4-5\nsteps:\n  - id: a\n    prompt: \"Hello {{ inputs.who }}\"\n  - id: b\n    for_each: steps.a.output | lines\n    prompt: \"{{ index }} {{ item }}\"\ninputs:\n  who:\n    default: Ada\n",
    );
    let output = stepwise(&project, &["run", "test.flow.yaml", "--dry-run", "--input", "who=Bob"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains(support::KEY));
    let expected_a = "# step a\nPOST http://127.0.0.1:9/v1/messages\nanthropic-version: 2023-06-01\ncontent-type: application/json\nx-api-key: ***\n\n";
    assert!(stdout.starts_with(expected_a), "{stdout}");
    assert!(stdout.contains("\"content\": \"Hello Bob\""), "{stdout}");
    assert!(stdout.contains("# step b item 0\n"), "{stdout}");
    assert!(stdout.contains("\"content\": \"0 <output of step a>\""), "{stdout}");
    assert!(!project.runs_dir().exists());
}

#[test]
fn an_input_without_a_key_is_a_usage_error_for_run_and_compare() {
    let project = Project::new("", &support::one_step("anthropic", "claude-haiku-4-5", ""));
    for args in [
        &["run", "test.flow.yaml", "--dry-run", "--input", "Bob"][..],
        &[
            "compare",
            "test.flow.yaml",
            "--step",
            "only",
            "--with",
            "openai",
            "--input",
            "=Bob",
        ],
    ] {
        let output = stepwise(&project, args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("expected KEY=VALUE"), "{args:?}: {stderr}");
    }
}

#[test]
fn dry_run_of_the_example_works_without_keys() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/launch-brief.flow.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .args(["run", example, "--dry-run"])
        .env("XDG_CONFIG_HOME", support::lsp::no_config_home())
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("# step ").count(), 4);
    assert!(stdout.contains("POST https://api.openai.com/v1/chat/completions"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_providers_with_availability_and_fetched_models() {
    let server = FakeProvider::start(|r| {
        if r.path.starts_with("/v1/models") {
            Reply::error(200, r#"{"data":[{"id":"claude-fresh-9"}]}"#, &[])
        } else {
            Reply::error(404, r#"{"error":{"message":"no listing"}}"#, &[])
        }
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let output = stepwise(&project, &["models"])
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!("anthropic (anthropic, {}): available\n", server.url)),
        "{stdout}"
    );
    assert!(stdout.contains("claude-fresh-9"), "{stdout}");
    assert!(stdout.contains("google (google, "), "{stdout}");
    assert!(
        stdout.contains("unavailable: GEMINI_API_KEY or GOOGLE_API_KEY not set"),
        "{stdout}"
    );
    assert!(!stdout.contains(support::KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_says_ollama_is_not_answering_instead_of_available() {
    let project = Project::new("", FLOW);
    let output = stepwise(&project, &["models"])
        .env("OLLAMA_HOST", "127.0.0.1:9")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("ollama (ollama, http://127.0.0.1:9): unavailable: not answering at http://127.0.0.1:9\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("model listing failed"), "{stdout}");
}

/// Runs `args` against a fake provider that answers everything; returns stderr, after
/// checking the run failed and sent nothing.
async fn refused_before_sending(args: &[&str]) -> String {
    let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1, 1)).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let mut all = vec!["run", "test.flow.yaml"];
    all.extend_from_slice(args);
    let output = stepwise(&project, &all)
        .env("OPENAI_API_KEY", support::KEY)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    assert!(server.received().is_empty(), "{stderr}");
    stderr
}

#[tokio::test]
async fn an_unknown_step_says_did_you_mean_and_lists_the_steps() {
    let stderr = refused_before_sending(&["--step", "bb"]).await;
    assert!(
        stderr.contains("error: the workflow has no step `bb`; did you mean `b`? (choices: `a`, `b`, `c`)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn an_unknown_override_provider_says_did_you_mean_and_lists_the_providers() {
    let stderr = refused_before_sending(&["--provider", "anthropc"]).await;
    assert!(
        stderr.contains("error: unknown provider in the override: `anthropc`; did you mean `anthropic`? (choices: `anthropic`, `openai`, `google`, `ollama`)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_model_override_of_another_provider_is_refused_with_the_providers_models() {
    let stderr = refused_before_sending(&["--provider", "openai", "--model", "claude-haiku-4-5"]).await;
    assert!(
        stderr.contains(
            "error: model `claude-haiku-4-5` in the override is `anthropic`'s, not `openai`'s: override the provider with `anthropic` too, or pick one of `openai`'s models (choices: `gpt-5`, `gpt-5-mini`"
        ),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_model_override_alone_is_checked_against_each_steps_provider() {
    let stderr = refused_before_sending(&["--model", "gpt-4o"]).await;
    assert!(
        stderr.contains("error: model `gpt-4o` in the override is `openai`'s, not `anthropic`'s"),
        "{stderr}"
    );
}
