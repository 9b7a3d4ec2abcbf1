//! `stepwise run --step ID --dry-run` as a process: it prints the step's request preview (the
//! editors' text), and the curl line in it carries the body a run of the step then sends.

mod support;

use support::fake_provider::{FakeProvider, Received, Reply, anthropic_stream};
use support::{KEY, Project, config_for, stepwise};

const FLOW: &str = "version: 1\nname: Cli\nprovider: anthropic\nmodel: claude-haiku-4-5\nparams:\n  max_tokens: 200\nsteps:\n  - id: a\n    prompt: \"Facts on {{ inputs.who }}\"\n  - id: b\n    prompt: \"It's about: {{ steps.a.output }}\"\ninputs:\n  who:\n    default: Ada\n";

fn answer(_: &Received) -> Reply {
    anthropic_stream(&["she wrote the first program"], 3, 4)
}

fn stdout_of(project: &Project, args: &[&str]) -> String {
    let output = stepwise(project, args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The `--data-raw` argument of the preview's curl line, unquoted.
fn curl_body(preview: &str) -> String {
    let curl = preview.lines().find(|l| l.starts_with("curl ")).expect("a curl line");
    let quoted = &curl[curl.find("--data-raw '").unwrap() + "--data-raw ".len()..];
    quoted[1..quoted.len() - 1].replace(r"'\''", "'")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_dry_run_prints_the_preview_whose_curl_body_is_what_the_run_sends() {
    let server = FakeProvider::start(answer).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    let before = stdout_of(&project, &["run", "test.flow.yaml", "--step", "b", "--dry-run"]);
    assert!(before.starts_with("# Request preview: step `b`\n"), "{before}");
    assert!(before.contains("⟨steps.a.output: not run yet⟩"), "{before}");
    assert!(before.contains("a run of this step runs them first): a\n"), "{before}");
    assert_eq!(server.count(), 0, "a dry run sends nothing");
    assert!(!project.runs_dir().exists(), "a dry run records nothing");

    stdout_of(&project, &["run", "test.flow.yaml", "--step", "a"]);
    let preview = stdout_of(&project, &["run", "test.flow.yaml", "--step", "b", "--dry-run"]);
    assert!(!preview.contains(KEY), "{preview}");
    assert!(preview.contains("x-api-key: ***\n"), "{preview}");
    assert!(preview.contains("max_tokens: 200 (workflow)\n"), "{preview}");
    assert!(preview.contains("\"x-api-key: $ANTHROPIC_API_KEY\""), "{preview}");
    assert!(preview.contains(&format!("'{}/v1/messages'", server.url)), "{preview}");
    let body = curl_body(&preview);
    assert!(body.contains("It's about: she wrote the first program"), "{body}");

    stdout_of(&project, &["run", "test.flow.yaml", "--step", "b"]);
    let sent = server.received();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body, body, "the body sent is the preview's, byte for byte");
}

#[test]
fn a_step_dry_run_of_an_unknown_step_fails_with_did_you_mean() {
    let project = Project::new("", FLOW);
    let output = stepwise(&project, &["run", "test.flow.yaml", "--step", "bb", "--dry-run"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("did you mean `b`?"), "{stderr}");
}

#[test]
fn an_input_without_a_value_is_a_visible_placeholder() {
    let project = Project::new(
        "",
        "version: 1\nname: Cli\nprovider: anthropic\nmodel: claude-haiku-4-5\nsteps:\n  - id: a\n    prompt: \"Facts on {{ inputs.who }}\"\ninputs:\n  who:\n    description: Whom\n",
    );
    let preview = stdout_of(&project, &["run", "test.flow.yaml", "--step", "a", "--dry-run"]);
    assert!(
        preview.contains("\"content\": \"Facts on ⟨inputs.who: no value⟩\""),
        "{preview}"
    );
    assert!(
        preview.contains("# inputs without a value (shown as placeholders): who\n"),
        "{preview}"
    );
}
