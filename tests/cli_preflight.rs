//! `stepwise run` checks every step it will send before the first request: all problems at
//! once, rendered like `check`'s diagnostics, and the fake provider receives nothing.

mod support;

use support::fake_provider::{FakeProvider, anthropic_stream};
use support::{Project, config_for, stepwise};

/// `diff` and `findings` on Anthropic, `verdict` on Google.
const REVIEW: &str = "version: 1\nname: Review\nprovider: anthropic\nmodel: claude-haiku-4-5\nsteps:\n  - id: diff\n    prompt: D\n  - id: findings\n    prompt: \"F {{ steps.diff.output }}\"\n  - id: verdict\n    provider: google\n    model: gemini-2.5-flash\n    prompt: \"V {{ steps.findings.output }}\"\n";

/// Runs `args` on `flow` with only the Anthropic key set; returns (success, stderr, requests
/// the fake provider received).
async fn run(flow: &str, args: &[&str]) -> (bool, String, usize) {
    let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1, 1)).await;
    let project = Project::new(&config_for(&server.url, ""), flow);
    let mut all = vec!["run", "test.flow.yaml"];
    all.extend_from_slice(args);
    let output = stepwise(&project, &all)
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr, server.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_of_the_step_asked_for_stops_the_run_before_its_upstream_steps_are_sent() {
    let (ok, stderr, sent) = run(REVIEW, &["--step", "verdict"]).await;
    assert!(!ok, "{stderr}");
    assert_eq!(sent, 0, "{stderr}");
    assert!(
        stderr.contains(
            "error[provider-unavailable]: step `verdict` would call `google`, which cannot be called: GEMINI_API_KEY or GOOGLE_API_KEY is not set"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("test.flow.yaml:11:15"), "{stderr}");
    assert!(
        stderr.contains("error: not running: 1 problem found before sending anything (nothing was sent)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_problem_of_the_steps_that_would_run_is_reported_at_once() {
    let flow = "version: 1\nname: Review\nprovider: anthropic\nmodel: claude-haiku-4-5\ninputs:\n  pr:\n    description: the pull request\nsteps:\n  - id: diff\n    provider: openai\n    model: gpt-5\n    prompt: \"D {{ inputs.pr }}\"\n  - id: findings\n    prompt: \"F {{ steps.diff.output }}\"\n  - id: verdict\n    provider: google\n    model: gemini-2.5-flash\n    prompt: \"V {{ steps.findings.output }}\"\n";
    let (ok, stderr, sent) = run(flow, &[]).await;
    assert!(!ok, "{stderr}");
    assert_eq!(sent, 0, "{stderr}");
    for expected in [
        "error[missing-field]: input `pr` is required and has no value",
        "error[provider-unavailable]: step `diff` would call `openai`, which cannot be called: OPENAI_API_KEY is not set",
        "error[provider-unavailable]: step `verdict` would call `google`, which cannot be called: GEMINI_API_KEY or GOOGLE_API_KEY is not set",
        "error: not running: 3 problems found before sending anything (nothing was sent)",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_steps_that_will_run_are_checked() {
    let (ok, stderr, sent) = run(REVIEW, &["--step", "findings"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(sent, 2, "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_override_is_checked_as_the_run_will_use_it() {
    let (ok, stderr, sent) = run(REVIEW, &["--step", "diff", "--provider", "openai"]).await;
    assert!(!ok, "{stderr}");
    assert_eq!(sent, 0, "{stderr}");
    assert!(
        stderr.contains("step `diff` would call `openai`, which cannot be called: OPENAI_API_KEY is not set"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_the_provider_does_not_list_is_warned_and_sent() {
    let (ok, stderr, sent) = run(REVIEW, &["--step", "diff", "--model", "claude-haiku-9"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(sent, 1, "{stderr}");
    assert!(
        stderr.contains("warning[unknown-model]: step `diff`: `anthropic` does not list model `claude-haiku-9` (sent anyway; catalogs lag)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fallback_without_its_key_is_warned_and_the_run_goes_ahead() {
    let flow = REVIEW.replace("  - id: diff\n", "  - id: diff\n    fallback: [openai]\n");
    let (ok, stderr, sent) = run(&flow, &["--step", "diff"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(sent, 1, "{stderr}");
    assert!(
        stderr.contains(
            "warning[provider-unavailable]: step `diff`: fallback `openai` will be skipped: OPENAI_API_KEY is not set"
        ),
        "{stderr}"
    );
}
