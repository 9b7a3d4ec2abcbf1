//! `stepwise compare` through the real binary against fake providers on 127.0.0.1: one request
//! per target with the same rendered user prompt, upstream steps run first, the run records
//! and `check` left as they were, target errors with did-you-mean before anything is sent.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use stepwise::engine::record::{StepStatus, latest, records_dir};
use stepwise::model::catalog::ProviderKind;
use stepwise::model::prices::builtin_price;
use stepwise::model::runs::Usage;
use support::fake_provider::{
    FakeProvider, Received, Reply, anthropic_stream, google_stream, openai_stream, prompt_of,
};
use support::{KEY, Project, config_for, stepwise};

const FLOW: &str = "version: 1\nname: Compare\nprovider: anthropic\nmodel: claude-sonnet-4-5\npersonas:\n  critic:\n    name: Critic\n    system: You are critical.\nsteps:\n  - id: a\n    prompt: A {{ inputs.topic }}\n  - id: b\n    fallback: [openai]\n    prompt: \"B {{ steps.a.output }}\"\ninputs:\n  topic:\n    default: tea\n";

/// Answers `R(<prompt>)` in the wire format of the endpoint asked.
fn echo(r: &Received) -> Reply {
    let answer = format!("R({})", prompt_of(r));
    if r.path.contains("/v1/messages") {
        anthropic_stream(&[&answer], 10, 4)
    } else if r.path.contains("/chat/completions") {
        openai_stream(&[&answer], 11, 5)
    } else {
        google_stream(&[&answer], 12, 6)
    }
}

fn compare(project: &Project, args: &[&str]) -> Output {
    let mut all = vec!["compare", "test.flow.yaml"];
    all.extend_from_slice(args);
    stepwise(project, &all)
        .env("OPENAI_API_KEY", KEY)
        .env("GEMINI_API_KEY", KEY)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Every run record file of the workflow with its bytes (comparisons left out).
fn run_records(project: &Project) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = records_dir(&project.runs_dir(), &project.flow);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn check_json(project: &Project) -> String {
    let out = stepwise(project, &["check", "--format", "json", "test.flow.yaml"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn system_of(r: &Received) -> String {
    let body = r.json();
    body.get("system")
        .and_then(Value::as_str)
        .or_else(|| body.pointer("/messages/0/content").and_then(Value::as_str))
        .unwrap_or_default()
        .to_string()
}

fn record_at(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_targets_get_one_request_each_with_the_same_user_prompt_and_the_step_keeps_its_output() {
    let server = FakeProvider::start(echo).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let ran = stepwise(&project, &["run", "test.flow.yaml"]).output().unwrap();
    assert!(ran.status.success(), "{}", stderr(&ran));
    let records_before = run_records(&project);
    let check_before = check_json(&project);
    let sent_before = server.count();

    let out = compare(
        &project,
        &[
            "--step",
            "b",
            "--with",
            "anthropic/claude-haiku-4-5,openai/gpt-4o@critic",
            "--with",
            "google",
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sent: Vec<Received> = server.received().split_off(sent_before);
    assert_eq!(sent.len(), 3, "one request per target");
    assert!(sent.iter().all(|r| prompt_of(r) == "B R(A tea)"), "{sent:?}");
    let paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
    assert!(paths.iter().any(|p| p.contains("/v1/messages")));
    assert!(paths.iter().any(|p| p.contains("/chat/completions")));
    assert!(
        paths
            .iter()
            .any(|p| p.contains("gemini-2.5-flash:streamGenerateContent"))
    );
    let openai = sent.iter().find(|r| r.path.contains("/chat/completions")).unwrap();
    assert_eq!(system_of(openai), "You are critical.");
    assert_eq!(openai.json()["model"], "gpt-4o");

    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let labels: Vec<&str> = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["provider"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["anthropic", "openai", "google"]);
    assert_eq!(json["targets"][1]["persona"], "critic");
    assert_eq!(json["targets"][2]["model"], "gemini-2.5-flash");
    let sample = &json["targets"][1]["samples"][0];
    assert_eq!(sample["status"], "completed");
    assert_eq!(sample["output"], "R(B R(A tea))");
    assert_eq!(sample["usage"]["input_tokens"], 11);
    assert_eq!(json["prompts"], serde_json::json!(["B R(A tea)"]));
    let haiku = builtin_price(ProviderKind::Anthropic, "claude-haiku-4-5").unwrap();
    let expected = haiku.cost(Usage {
        input_tokens: 10,
        output_tokens: 4,
    });
    let cost = json["targets"][0]["samples"][0]["cost_usd"].as_f64().unwrap();
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    let record_path = PathBuf::from(json["record"].as_str().unwrap());
    assert!(
        record_path.is_absolute() && record_path.starts_with(project.runs_dir().canonicalize().unwrap()),
        "{record_path:?}"
    );
    assert_eq!(record_at(&record_path)["targets"], json["targets"]);

    assert_eq!(run_records(&project), records_before, "the run records are untouched");
    assert_eq!(check_json(&project), check_before);
    let latest = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(latest.step("b").unwrap().output(), Some("R(B R(A tea))"));
    assert_eq!(latest.step("b").unwrap().status, StepStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_steps_without_an_output_run_first_and_the_compared_step_gets_none() {
    let server = FakeProvider::start(echo).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let out = compare(
        &project,
        &["--step", "b", "--with", "anthropic,openai", "--input", "topic=jam"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let prompts: Vec<String> = server.received().iter().map(prompt_of).collect();
    assert_eq!(prompts, ["A jam", "B R(A jam)", "B R(A jam)"]);
    let record = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(record.step("a").unwrap().output(), Some("R(A jam)"));
    assert!(!record.step("b").unwrap().has_output());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("anthropic/claude-sonnet-4-5"), "{table}");
    assert!(table.contains("openai/gpt-4o"), "{table}");
    assert!(table.contains("R(B R(A jam))"), "{table}");
    assert!(table.contains("tokens in/out"), "{table}");
    assert!(table.contains("cost") && table.contains("$0.0"), "{table}");
    assert!(table.contains("record: "), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_sends_each_target_n_times_and_shows_latency_spread() {
    let server = FakeProvider::start(echo).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let out = compare(
        &project,
        &[
            "--step",
            "a",
            "--with",
            "anthropic/claude-haiku-4-5,google",
            "--repeat",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.count(), 6);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("latency min/med/max"), "{table}");
    assert!(table.contains("3/3 completed"), "{table}");
    assert_eq!(table.matches("── #3").count(), 2, "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_is_measured_without_retry_or_fallback() {
    let server = FakeProvider::start(|r| {
        if r.path.contains("/v1/messages") {
            Reply::error(
                529,
                "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
                &[],
            )
        } else {
            echo(r)
        }
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let out = compare(
        &project,
        &["--step", "a", "--with", "anthropic,google", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let paths: Vec<String> = server.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths.iter().filter(|p| p.contains("/v1/messages")).count(),
        1,
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains("/chat/completions")),
        "no fallback: {paths:?}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["targets"][0]["samples"][0]["status"], "failed");
    assert_eq!(json["targets"][0]["samples"][0]["error"]["status"], 529);
    assert_eq!(json["targets"][1]["samples"][0]["status"], "completed");
    assert!(
        latest(&project.runs_dir(), &project.flow).is_none(),
        "no run record was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_targets_are_refused_with_did_you_mean_before_anything_is_sent() {
    let server = FakeProvider::start(echo).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let cases: [(&str, &str); 6] = [
        ("anthropc", "unknown provider `anthropc`; did you mean `anthropic`?"),
        (
            "openai/claude-haiku-4-5",
            "model `claude-haiku-4-5` is `anthropic`'s, not `openai`'s",
        ),
        (
            "anthropic/claude-haiku-4",
            "`anthropic` has no model `claude-haiku-4`; did you mean `claude-haiku-4-5`?",
        ),
        ("google@critc", "unknown persona `critc`; did you mean `critic`?"),
        ("openai/", "target `openai/` has an empty model"),
        ("anthropic,,google", "an empty target"),
    ];
    for (target, expected) in cases {
        let out = compare(&project, &["--step", "a", "--with", target]);
        assert_eq!(out.status.code(), Some(2), "{target}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{target}: {}", stderr(&out));
    }
    let out = compare(&project, &["--step", "bb", "--with", "anthropic"]);
    assert!(
        stderr(&out).contains("no step `bb`; did you mean `b`?"),
        "{}",
        stderr(&out)
    );
    assert_eq!(server.count(), 0);
    assert!(!project.runs_dir().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_step_sends_every_item_to_each_target() {
    let server = FakeProvider::start(|r| {
        if prompt_of(r) == "L" {
            anthropic_stream(&["one\ntwo"], 1, 1)
        } else {
            echo(r)
        }
    })
    .await;
    let flow = "version: 1\nname: Fan\nprovider: anthropic\nmodel: claude-sonnet-4-5\nsteps:\n  - id: list\n    prompt: L\n  - id: each\n    for_each: steps.list.output | lines\n    prompt: \"E {{ item }}\"\n";
    let project = Project::new(&config_for(&server.url, ""), flow);
    let out = compare(
        &project,
        &["--step", "each", "--with", "anthropic,openai", "--format", "json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut prompts: Vec<String> = server.received().iter().map(prompt_of).collect();
    assert_eq!(prompts.remove(0), "L", "the upstream step ran first");
    prompts.sort();
    assert_eq!(prompts, ["E one", "E one", "E two", "E two"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["prompts"], serde_json::json!(["E one", "E two"]));
    assert_eq!(json["targets"][1]["samples"][0]["output"], "R(E one)\n\nR(E two)");
}

/// One step on anthropic with a `max_tokens`, so every request has a worst-case estimate.
fn budget_flow(budget: &str) -> String {
    format!(
        "version: 1\nname: Budget\nprovider: anthropic\nmodel: claude-haiku-4-5\n{budget}params:\n  max_tokens: 1000\nsteps:\n  - id: a\n    prompt: A\n  - id: b\n    prompt: \"B {{{{ steps.a.output }}}}\"\n"
    )
}

/// openai/gpt-4o at $100 per million tokens: its worst case (1,000 output tokens) is $0.10.
fn pricey_gpt_4o(url: &str) -> String {
    format!(
        "{}[providers.openai.prices]\n\"gpt-4o\" = {{ input = 100.0, output = 100.0 }}\n",
        config_for(url, "")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_whose_estimate_exceeds_the_workflows_budget_is_not_sent_and_the_others_are() {
    let server = FakeProvider::start(echo).await;
    // Worst cases: claude-haiku-4-5 $0.005, gemini-2.5-flash $0.0025, gpt-4o here $0.10.
    let project = Project::new(&pricey_gpt_4o(&server.url), &budget_flow("budget_usd: 0.05\n"));
    let out = compare(
        &project,
        &[
            "--step",
            "a",
            "--with",
            "anthropic/claude-haiku-4-5,openai/gpt-4o,google/gemini-2.5-flash",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let paths: Vec<String> = server.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("/chat/completions")),
        "no request for the over-budget target: {paths:?}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let refused = &json["targets"][1]["samples"][0];
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["error"]["class"], "budget");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("would take the comparison over its budget of $0.0500"),
        "{message}"
    );
    assert_eq!(refused["usage"]["input_tokens"], 0);
    assert_eq!(json["targets"][0]["samples"][0]["status"], "completed");
    assert_eq!(json["targets"][2]["samples"][0]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_flag_wins_over_the_workflows_for_a_comparison() {
    let server = FakeProvider::start(echo).await;
    let project = Project::new(&pricey_gpt_4o(&server.url), &budget_flow("budget_usd: 0.05\n"));
    let args = ["--step", "a", "--with", "openai/gpt-4o", "--budget"];
    let out = compare(&project, &[&args[..], &["1"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(server.count(), 1);
    let out = compare(&project, &[&args[..], &["0.001"]].concat());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(server.count(), 1, "the second comparison sent nothing");
    let words = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(words.contains("failed: budget: not sent"), "{words}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_upstream_run_spent_counts_against_the_comparisons_budget() {
    // The upstream step bills a million input tokens at $1/M: $1.00 of the $1.50 budget.
    let server = FakeProvider::start(|r| {
        if prompt_of(r) == "A" {
            anthropic_stream(&["up"], 1_000_000, 0)
        } else {
            echo(r)
        }
    })
    .await;
    let config = format!(
        "{}[providers.openai.prices]\n\"gpt-4o\" = {{ input = 600.0, output = 600.0 }}\n",
        config_for(&server.url, "")
    );
    let project = Project::new(&config, &budget_flow("budget_usd: 1.5\n"));
    let out = compare(
        &project,
        &["--step", "b", "--with", "openai/gpt-4o,anthropic", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let prompts: Vec<String> = server.received().iter().map(prompt_of).collect();
    assert_eq!(prompts, ["A", "B up"], "gpt-4o's $0.60 worst case no longer fits");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = json["targets"][0]["samples"][0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("($1.00 spent"), "{message}");
    assert_eq!(json["targets"][1]["samples"][0]["status"], "completed");
}
