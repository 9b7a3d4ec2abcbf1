//! One run of a workflow at a time, across processes: `stepwise run` from two terminals, and
//! the command line while the editor runs the same workflow.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use stepwise::engine::record::{StepStatus, latest};
use support::fake_provider::{FakeProvider, Received, Reply, anthropic_stream, prompt_of};
use support::lsp::{TestServer, uri};
use support::{Project, config_for, stepwise};

const FLOW: &str = "version: 1\nname: Locked\nprovider: anthropic\nmodel: m\nsteps:\n  - id: a\n    prompt: A\n  - id: b\n    prompt: \"B {{ steps.a.output }}\"\n  - id: c\n    prompt: \"C {{ steps.b.output }}\"\n";

/// Answers every step, step `b` only after `delay`, so a run holds its lock that long.
fn slow_b(delay: Duration) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |r| {
        let prompt = prompt_of(r);
        let reply = anthropic_stream(&[&format!("R({prompt})")], 1, 1);
        if prompt.starts_with('B') {
            reply.delayed(delay)
        } else {
            reply
        }
    }
}

fn sent(server: &FakeProvider, prefix: char) -> usize {
    server
        .received()
        .iter()
        .filter(|r| prompt_of(r).starts_with(prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_resumes_at_once_send_each_pending_step_once() {
    let server = FakeProvider::start(slow_b(Duration::from_millis(1500))).await;
    let project = Project::new(&config_for(&server.url, ""), FLOW);
    // A run killed while step b waits leaves b and c to resume.
    let mut crashed = stepwise(&project, &["run", "test.flow.yaml"]).spawn().unwrap();
    let started = Instant::now();
    while sent(&server, 'B') == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "step b was never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crashed.kill().unwrap();
    crashed.wait().unwrap();

    // The killed run's lock is free: one of the two resumes takes it, the other is refused.
    let first = stepwise(&project, &["run", "test.flow.yaml", "--resume"])
        .spawn()
        .unwrap();
    let second = stepwise(&project, &["run", "test.flow.yaml", "--resume"])
        .spawn()
        .unwrap();
    let pids = [first.id(), second.id()];
    let outputs = [first.wait_with_output().unwrap(), second.wait_with_output().unwrap()];
    let succeeded: Vec<usize> = (0..2).filter(|&i| outputs[i].status.success()).collect();
    assert_eq!(succeeded.len(), 1, "exactly one resume runs: {outputs:?}");
    let (winner, loser) = (succeeded[0], 1 - succeeded[0]);
    let refusal = String::from_utf8_lossy(&outputs[loser].stderr);
    assert!(
        refusal.contains(&format!(
            "another run of this workflow is in progress (process {})",
            pids[winner]
        )),
        "{refusal}"
    );
    assert_eq!((sent(&server, 'A'), sent(&server, 'B'), sent(&server, 'C')), (1, 2, 1));
    let record = latest(&project.runs_dir(), &project.flow).unwrap();
    assert!(record.succeeded(), "{record:?}");
}

#[test]
fn a_command_line_run_while_the_editor_runs_the_workflow_is_refused_and_loses_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let provider = runtime.block_on(FakeProvider::start(slow_b(Duration::from_millis(1500))));
    let project = Project::new(&config_for(&provider.url, ""), FLOW);
    let (mut server, _) = TestServer::initialized(
        &[("ANTHROPIC_API_KEY", support::KEY), ("STEPWISE_TRUST_WORKSPACE", "1")],
        json!({}),
    );
    let doc = uri(&project.flow);
    server.open(&doc, FLOW);
    server.diagnostics(&doc, 1);
    let run = server.send_request(
        "workspace/executeCommand",
        json!({ "command": "stepwise.runWorkflow", "arguments": [{ "uri": doc }] }),
    );
    let started = Instant::now();
    while sent(&provider, 'B') == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "step b was never sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    let cli = stepwise(&project, &["run", "test.flow.yaml", "--step", "c"])
        .output()
        .unwrap();
    assert!(!cli.status.success());
    let refusal = String::from_utf8_lossy(&cli.stderr);
    assert!(refusal.contains(&format!("(process {})", server.pid())), "{refusal}");

    server.response(run).expect("the editor's run finishes");
    let record = latest(&project.runs_dir(), &project.flow).unwrap();
    let statuses: Vec<StepStatus> = ["a", "b", "c"].iter().map(|s| record.step(s).unwrap().status).collect();
    assert_eq!(statuses, vec![StepStatus::Completed; 3]);
    assert_eq!(
        (sent(&provider, 'A'), sent(&provider, 'B'), sent(&provider, 'C')),
        (1, 1, 1)
    );
}
