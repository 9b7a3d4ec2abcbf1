//! `stepwise runs` and `stepwise show` on the records of real runs against a fake provider.

mod support;

use serde_json::Value;
use stepwise::engine::record::history;
use support::fake_provider::FakeProvider;
use support::{KEY, Project, config_for, run_history, stepwise};

struct Ran {
    project: Project,
    _server: FakeProvider,
    ids: Vec<String>,
}

fn out(project: &Project, args: &[&str]) -> (bool, String, String) {
    let o = stepwise(project, args).env("OPENAI_API_KEY", KEY).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// The fixture run (a retry, a fan-out, a fallback), then a one-step re-run of `a`.
async fn two_runs() -> Ran {
    let server = FakeProvider::start(run_history::handler()).await;
    let project = Project::new(&config_for(&server.url, run_history::CONFIG), run_history::FLOW);
    let (ok, _, err) = out(&project, &["run", "test.flow.yaml"]);
    assert!(ok, "{err}");
    let (ok, _, err) = out(&project, &["run", "test.flow.yaml", "--step", "a"]);
    assert!(ok, "{err}");
    let ids = history(&project.runs_dir(), &project.flow, 10)
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    Ran {
        project,
        _server: server,
        ids,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_lists_the_runs_newest_first_with_status_step_counts_and_time() {
    let ran = two_runs().await;
    let (ok, stdout, stderr) = out(&ran.project, &["runs", "test.flow.yaml"]);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("RUN  ") && lines[0].contains("STATUS"), "{stdout}");
    assert!(lines[1].starts_with(&ran.ids[0][..13]), "{stdout}");
    assert!(lines[2].starts_with(&ran.ids[1][..13]), "{stdout}");
    assert!(
        lines[1].contains("✓ completed") && lines[1].contains("3 done"),
        "{stdout}"
    );
    // The first run used 5+2 (a) + 2×(4+3) (b) + 7+3 (c) tokens, at the catalog's prices.
    assert!(lines[2].contains(" 31 "), "{stdout}");
    assert!(lines[0].contains("COST") && lines[2].contains(" $0.0"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_a_workflow_never_run_says_so() {
    let project = Project::new("", run_history::FLOW);
    let (ok, stdout, stderr) = out(&project, &["runs", "test.flow.yaml"]);
    assert!(ok);
    assert_eq!(stdout, "");
    assert!(stderr.contains("no runs of test.flow.yaml yet"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_lists_each_steps_attempts_with_the_retry_and_the_fallback() {
    let ran = two_runs().await;
    let first = &ran.ids[1];
    let (ok, stdout, stderr) = out(&ran.project, &["show", "test.flow.yaml", "--run", &first[..13]]);
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with(&format!("run {first}  ✓ completed")), "{stdout}");
    assert!(
        stdout.contains("! anthropic/claude-sonnet-4-5 overloaded (529): Overloaded · retried after 30 ms"),
        "{stdout}"
    );
    assert!(stdout.contains("answered by openai/gpt-4o-mini"), "{stdout}");
    assert!(stdout.contains("2 items"), "{stdout}");
    let (_, latest, _) = out(&ran.project, &["show", "test.flow.yaml"]);
    assert!(latest.starts_with(&format!("run {}", ran.ids[0])), "{latest}");
    assert!(
        latest.contains("(output of run "),
        "b and c were carried over: {latest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_step_prints_only_its_output_to_pipe() {
    let ran = two_runs().await;
    let (ok, stdout, stderr) = out(&ran.project, &["show", "test.flow.yaml", "--step", "b"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "About one\n\nAbout two\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_json_is_the_record_with_its_status_and_counts() {
    let ran = two_runs().await;
    let (ok, stdout, _) = out(
        &ran.project,
        &["show", "test.flow.yaml", "--run", &ran.ids[1], "--format", "json"],
    );
    assert!(ok);
    let run: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(run["id"], ran.ids[1].as_str());
    assert_eq!(run["status"], "completed");
    assert_eq!(run["counts"]["done"], 3);
    let a = &run["steps"][0]["attempts"][0];
    assert_eq!(a["calls"][0]["error"]["class"], "overloaded");
    assert_eq!(a["calls"][0]["retry_after_ms"], 30);
    let (ok, stdout, _) = out(
        &ran.project,
        &["show", "test.flow.yaml", "--step", "c", "--format", "json"],
    );
    assert!(ok);
    let c: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(c["attempts"][0]["answered_by"]["provider"], "openai");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_refuses_an_unknown_or_ambiguous_run_and_an_unknown_step() {
    let ran = two_runs().await;
    let (ok, _, stderr) = out(&ran.project, &["show", "test.flow.yaml", "--run", "0"]);
    assert!(!ok);
    assert!(stderr.contains("is the start of 2 run IDs"), "{stderr}");
    let (ok, _, stderr) = out(&ran.project, &["show", "test.flow.yaml", "--run", "zz"]);
    assert!(!ok);
    assert!(
        stderr.contains("no run of this workflow has an ID starting with `zz`"),
        "{stderr}"
    );
    let (ok, _, stderr) = out(&ran.project, &["show", "test.flow.yaml", "--step", "x"]);
    assert!(!ok);
    assert!(stderr.contains("has no step `x` (steps: a, b, c)"), "{stderr}");
}
