//! The run graph and run records: concurrency, fan-out, paused dependents, running one
//! step, re-running with stale downstream steps, resume and cancellation.

mod support;

use std::time::{Duration, Instant};

use stepwise::engine::error::ErrorClass;
use stepwise::engine::record::{StepStatus, latest};
use stepwise::engine::{EngineError, RunEvent, RunTarget};
use stepwise::model::resolve::Source;
use support::fake_provider::{FakeProvider, Received, Reply, anthropic_stream, prompt_of};
use support::{Project, config_for, fast_engine, run, run_with};
use tokio_util::sync::CancellationToken;

/// Answers every prompt with `R(prompt)` after `latency`, except prompts starting with
/// `FAIL`, which get a 400.
fn echo(latency: Duration) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |r| {
        let prompt = prompt_of(r);
        if prompt.starts_with("FAIL") {
            return Reply::error(400, r#"{"error":{"message":"prompt rejected"}}"#, &[]);
        }
        anthropic_stream(&[&format!("R({prompt})")], 1, 1)
            .merged()
            .delayed(latency)
    }
}

fn flow(steps: &str) -> String {
    format!("version: 1\nname: Flow\nprovider: anthropic\nmodel: m\nsteps:\n{steps}")
}

fn prompts(server: &FakeProvider) -> Vec<String> {
    let mut p: Vec<String> = server.received().iter().map(prompt_of).collect();
    p.sort();
    p
}

const CHAIN: &str = "  - id: a\n    prompt: A\n  - id: b\n    prompt: \"B {{ steps.a.output }}\"\n  - id: c\n    prompt: \"C {{ steps.b.output }}\"\n";

#[tokio::test]
async fn independent_steps_run_concurrently() {
    let server = FakeProvider::start(echo(Duration::from_millis(150))).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow("  - id: a\n    prompt: A\n  - id: b\n    prompt: B\n"),
    );
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    assert!(record.succeeded());
    assert_eq!(server.max_in_flight(), 2);
}

#[tokio::test]
async fn global_concurrency_limits_requests_in_flight() {
    let server = FakeProvider::start(echo(Duration::from_millis(50))).await;
    let project = Project::new(
        &config_for(&server.url, "concurrency = 1"),
        &flow("  - id: a\n    prompt: A\n  - id: b\n    prompt: B\n  - id: c\n    prompt: C\n"),
    );
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    assert!(record.succeeded());
    assert_eq!(server.max_in_flight(), 1);
}

#[tokio::test]
async fn dependent_step_sees_upstream_output() {
    let server = FakeProvider::start(echo(Duration::ZERO)).await;
    let project = Project::new(&config_for(&server.url, ""), &flow(CHAIN));
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    assert_eq!(record.step("c").unwrap().output(), Some("R(C R(B R(A)))"));
}

#[tokio::test]
async fn fan_out_sends_one_request_per_line_with_item_and_index() {
    let server = FakeProvider::start(move |r| {
        if prompt_of(r) == "list" {
            anthropic_stream(&["x\ny\n\n  z  \n"], 1, 1)
        } else {
            echo(Duration::from_millis(60))(r)
        }
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow(
            "  - id: a\n    prompt: list\n  - id: b\n    for_each: steps.a.output | lines\n    concurrency: 2\n    prompt: \"{{ index }}:{{ item }}\"\n  - id: c\n    prompt: \"{{ steps.b.outputs | length }} {{ steps.b.output }}\"\n",
        ),
    );
    let (record, events) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let b = record.step("b").unwrap();
    assert_eq!(
        b.result().unwrap().outputs.as_deref(),
        Some(&["R(0:x)".to_string(), "R(1:y)".to_string(), "R(2:z)".to_string()][..])
    );
    assert_eq!(b.output(), Some("R(0:x)\n\nR(1:y)\n\nR(2:z)"));
    assert_eq!(b.result().unwrap().usage.output_tokens, 3);
    assert_eq!(server.max_in_flight(), 2);
    assert_eq!(
        record.step("c").unwrap().output(),
        Some("R(3 R(0:x)\n\nR(1:y)\n\nR(2:z))")
    );
    let progress: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::ItemsProgress { done, total, .. } => Some((*done, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec![(1, 3), (2, 3), (3, 3)]);
}

#[tokio::test]
async fn fan_out_over_a_string_fails_with_a_hint() {
    let server = FakeProvider::start(echo(Duration::ZERO)).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow("  - id: a\n    prompt: A\n  - id: b\n    for_each: steps.a.output\n    prompt: \"{{ item }}\"\n"),
    );
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let error = record.step("b").unwrap().failure().cloned().unwrap();
    assert_eq!(error.failure.class, ErrorClass::Prompt);
    assert!(error.failure.message.contains("| lines"), "{}", error.failure.message);
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn failed_step_pauses_its_dependents_while_others_go_on() {
    let server = FakeProvider::start(echo(Duration::ZERO)).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow("  - id: a\n    prompt: FAIL\n  - id: b\n    needs: [a]\n    prompt: B\n  - id: c\n    prompt: C\n"),
    );
    let (record, _) = run(&fast_engine(2), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let status = |id| record.step(id).unwrap().status;
    assert_eq!(
        (status("a"), status("b"), status("c")),
        (StepStatus::Failed, StepStatus::Pending, StepStatus::Completed)
    );
    assert_eq!(prompts(&server), vec!["C", "FAIL"]);
}

#[tokio::test]
async fn running_one_step_first_runs_upstream_steps_without_output() {
    let server = FakeProvider::start(echo(Duration::ZERO)).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow(&format!("{CHAIN}  - id: d\n    prompt: D\n")),
    );
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Step("b".into())))
        .await
        .unwrap();
    assert_eq!(prompts(&server), vec!["A", "B R(A)"]);
    assert_eq!(record.step("c").unwrap().status, StepStatus::Pending);
    assert_eq!(record.step("d").unwrap().status, StepStatus::Pending);
}

/// Echoes like [`echo`], but numbers its answers to prompts starting with `prefix`, so that
/// a re-run of that step changes its output.
fn echo_counting(prefix: &'static str) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    let count = std::sync::atomic::AtomicUsize::new(0);
    move |r| {
        let prompt = prompt_of(r);
        if prompt.starts_with("FAIL") {
            return Reply::error(400, r#"{"error":{"message":"prompt rejected"}}"#, &[]);
        }
        let text = if prompt.starts_with(prefix) {
            let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            format!("R({prompt}) #{n}")
        } else {
            format!("R({prompt})")
        };
        anthropic_stream(&[&text], 1, 1)
    }
}

#[tokio::test]
async fn rerunning_a_step_reuses_other_outputs_and_marks_downstream_stale_when_its_output_changed() {
    let server = FakeProvider::start(echo_counting("B")).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow(&format!("{CHAIN}  - id: d\n    prompt: D\n")),
    );
    let engine = fast_engine(0);
    let (first, _) = run(&engine, project.request(RunTarget::Workflow)).await.unwrap();
    let before = server.count();
    let (second, events) = run(&engine, project.request(RunTarget::Step("b".into())))
        .await
        .unwrap();
    assert_eq!(server.count(), before + 1);
    assert_ne!(first.id, second.id);
    let step = |id| second.step(id).unwrap();
    assert_eq!(step("a").status, StepStatus::Completed);
    assert_eq!(step("a").reused_from, Some(first.id));
    assert_eq!(step("b").status, StepStatus::Completed);
    assert_eq!(step("b").reused_from, None);
    assert_eq!(step("b").attempts.len(), 2);
    assert_eq!(step("c").status, StepStatus::Stale);
    assert_eq!(step("c").output(), first.step("c").unwrap().output());
    assert_eq!(step("d").status, StepStatus::Completed);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::StepFinished { step, stale } if step.id == "b" && stale == &["c"]))
    );
    let on_disk = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(on_disk, second);
}

#[tokio::test]
async fn rerunning_a_step_to_the_same_output_leaves_downstream_fresh() {
    let server = FakeProvider::start(echo(Duration::ZERO)).await;
    let project = Project::new(&config_for(&server.url, ""), &flow(CHAIN));
    let engine = fast_engine(0);
    run(&engine, project.request(RunTarget::Workflow)).await.unwrap();
    let (second, _) = run(&engine, project.request(RunTarget::Step("b".into())))
        .await
        .unwrap();
    assert_eq!(second.step("c").unwrap().status, StepStatus::Completed);
}

#[tokio::test]
async fn a_failed_one_time_rerun_keeps_the_output_status_and_downstream_and_resume_has_nothing_to_do() {
    let server = FakeProvider::start(echo_counting("B")).await;
    // `ollama` points at a closed port: the re-run with it fails to connect.
    let config = config_for(&server.url, "").replace(
        &format!("[providers.ollama]\nbase_url = \"{}\"", server.url),
        "[providers.ollama]\nbase_url = \"http://127.0.0.1:9\"",
    );
    let project = Project::new(&config, &flow(CHAIN));
    let engine = fast_engine(0);
    let (first, _) = run(&engine, project.request(RunTarget::Workflow)).await.unwrap();
    let mut rerun = project.request(RunTarget::Step("b".into()));
    rerun.overrides.provider = Some("ollama".into());
    let (second, events) = run(&engine, rerun).await.unwrap();
    let b = second.step("b").unwrap();
    assert_eq!(b.status, StepStatus::Completed);
    assert_eq!(b.output(), first.step("b").unwrap().output());
    let last = b.last().unwrap();
    assert_eq!(last.status, StepStatus::Failed);
    assert!(last.one_time);
    assert_eq!(last.error.as_ref().unwrap().failure.class, ErrorClass::Connection);
    assert_eq!(last.error.as_ref().unwrap().provider, "ollama");
    assert_eq!(b.result().unwrap().answered_by.as_ref().unwrap().provider, "anthropic");
    assert_eq!(second.step("c").unwrap().status, StepStatus::Completed);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::StepFinished { stale, .. } if stale.is_empty()))
    );
    let before = server.count();
    let (resumed, events) = run(&engine, project.request(RunTarget::Resume)).await.unwrap();
    assert_eq!(server.count(), before);
    assert!(resumed.succeeded());
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::RunStarted { steps, .. } if steps.is_empty()))
    );
}

#[tokio::test]
async fn resume_runs_pending_failed_and_stale_steps_only() {
    let server = FakeProvider::start(echo_counting("A")).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow(
            "  - id: a\n    prompt: A\n  - id: b\n    prompt: \"B {{ steps.a.output }}\"\n  - id: c\n    prompt: \"{{ inputs.x }}\"\n  - id: d\n    needs: [c]\n    prompt: D\ninputs:\n  x:\n    default: FAIL\n",
        ),
    );
    let engine = fast_engine(0);
    run(&engine, project.request(RunTarget::Workflow)).await.unwrap();
    run(&engine, project.request(RunTarget::Step("a".into())))
        .await
        .unwrap();
    let before = server.count();
    let mut resume = project.request(RunTarget::Resume);
    resume.inputs.insert("x".into(), "C".into());
    let (record, _) = run(&engine, resume).await.unwrap();
    let mut sent: Vec<String> = server.received()[before..].iter().map(prompt_of).collect();
    sent.sort();
    assert_eq!(sent, vec!["B R(A) #1", "C", "D"]);
    assert!(record.succeeded());
}

#[tokio::test]
async fn resume_without_a_record_is_refused() {
    let project = Project::new("", &flow("  - id: a\n    prompt: A\n"));
    let result = run(&fast_engine(0), project.request(RunTarget::Resume)).await;
    assert!(matches!(result, Err(EngineError::NothingToResume)));
}

#[tokio::test]
async fn cancellation_stops_in_flight_requests_and_records_cancelled() {
    let server = FakeProvider::start(|_| Reply::Stall).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow("  - id: a\n    prompt: A\n  - id: b\n    needs: [a]\n    prompt: B\n"),
    );
    let engine = fast_engine(0);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let (record, _) = run_with(&engine, project.request(RunTarget::Workflow), cancel)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(record.step("a").unwrap().status, StepStatus::Cancelled);
    assert_eq!(record.step("b").unwrap().status, StepStatus::Pending);
    let on_disk = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(on_disk.step("a").unwrap().status, StepStatus::Cancelled);
}

#[tokio::test]
async fn every_required_input_without_value_is_refused_at_once() {
    let project = Project::new(
        "",
        &flow(
            "  - id: a\n    prompt: \"{{ inputs.topic }} {{ inputs.tone }}\"\ninputs:\n  topic:\n    description: what\n  \
             tone:\n    description: how\n  lang:\n    default: en\n",
        ),
    );
    let result = run(&fast_engine(0), project.request(RunTarget::Workflow)).await;
    let Err(err @ EngineError::MissingInputs(_)) = result else {
        panic!("{result:?}")
    };
    assert!(matches!(&err, EngineError::MissingInputs(names) if names == &["topic", "tone"]));
    assert_eq!(
        err.to_string(),
        "inputs `topic`, `tone` are required: pass --input topic=VALUE --input tone=VALUE"
    );
}

#[test]
fn workflow_with_errors_is_not_runnable() {
    let text = flow("  - id: a\n    provider: nowhere\n    prompt: A\n");
    let project = Project::new("", &text);
    let workspace = std::sync::Arc::new(stepwise::model::workspace::Workspace::load(
        project.dir.path(),
        &stepwise::model::catalog::ProcessEnv,
    ));
    let analysis = stepwise::analysis::Analysis::new(text.into(), workspace);
    let errors = stepwise::analysis::actions::runnable(&analysis).unwrap_err();
    assert!(
        errors.iter().any(|d| d.code.as_str() == "unknown-provider"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn record_keeps_effective_settings_with_sources_and_request_hash() {
    let server = FakeProvider::start(echo(Duration::ZERO)).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow("  - id: a\n    model: m2\n    prompt: A\n  - id: b\n    prompt: A\n    model: m2\n"),
    );
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let a = record.step("a").unwrap().last().unwrap();
    let provider = a.provider.as_ref().unwrap();
    assert_eq!(
        (provider.value.as_deref(), provider.source),
        (Some("anthropic"), Source::Workflow)
    );
    let model = a.model.as_ref().unwrap();
    assert_eq!((model.value.as_deref(), model.source), (Some("m2"), Source::Step));
    assert_eq!(a.persona, None);
    let hash = a.request_hash.clone().unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(record.step("b").unwrap().last().unwrap().request_hash, Some(hash));
    assert!(a.duration_ms.is_some() && a.started_at > 0);
}

#[tokio::test]
async fn one_time_override_beats_the_step_and_is_recorded() {
    let server = FakeProvider::start(|r| support::fake_provider::openai_stream(&[&prompt_of(r)], 1, 1)).await;
    let project = Project::new(&config_for(&server.url, ""), &flow("  - id: a\n    prompt: A\n"));
    let mut request = project.request(RunTarget::Step("a".into()));
    request.overrides.provider = Some("openai".into());
    let (record, _) = run(&fast_engine(0), request).await.unwrap();
    let a = record.step("a").unwrap().last().unwrap();
    assert_eq!(a.provider.as_ref().unwrap().source, Source::Override);
    assert_eq!(a.answered_by.as_ref().unwrap().provider, "openai");
    assert_eq!(server.received()[0].json()["model"], "gpt-4o");
}

#[tokio::test]
async fn resume_does_not_resend_fan_out_items_that_finished() {
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    let server = FakeProvider::start(move |r| {
        let prompt = prompt_of(r);
        if prompt == "2:c" && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Reply::error(400, r#"{"error":{"message":"try again later"}}"#, &[]);
        }
        anthropic_stream(&[&format!("R({prompt})")], 1, 1)
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow(
            "  - id: b\n    for_each: \"['a', 'b', 'c', 'd']\"\n    concurrency: 1\n    prompt: \"{{ index }}:{{ item }}\"\n",
        ),
    );
    let engine = fast_engine(0);
    let (failed, _) = run(&engine, project.request(RunTarget::Workflow)).await.unwrap();
    let step = failed.step("b").unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(step.items.len(), 2);
    let before = server.count();
    let (record, _) = run(&engine, project.request(RunTarget::Resume)).await.unwrap();
    let sent: Vec<String> = server.received()[before..].iter().map(prompt_of).collect();
    assert_eq!(sent, vec!["2:c", "3:d"]);
    let step = record.step("b").unwrap();
    assert_eq!(step.output(), Some("R(0:a)\n\nR(1:b)\n\nR(2:c)\n\nR(3:d)"));
    assert!(step.items.is_empty());
}

#[tokio::test]
async fn override_naming_an_unknown_persona_is_refused() {
    let project = Project::new("", &flow("  - id: a\n    prompt: A\n"));
    let mut request = project.request(RunTarget::Workflow);
    request.overrides.persona = Some(Some("nobody".into()));
    let result = run(&fast_engine(0), request).await;
    assert!(matches!(result, Err(EngineError::UnknownOverride("persona", p)) if p.name == "nobody"));
}

#[tokio::test]
async fn cancelled_fan_out_keeps_finished_items_for_resume() {
    let stall = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let stalling = stall.clone();
    let server = FakeProvider::start(move |r| {
        let prompt = prompt_of(r);
        if prompt == "2:c" && stalling.load(std::sync::atomic::Ordering::SeqCst) {
            return Reply::Stall;
        }
        anthropic_stream(&[&format!("R({prompt})")], 1, 1)
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow(
            "  - id: b\n    for_each: \"['a', 'b', 'c', 'd']\"\n    concurrency: 1\n    prompt: \"{{ index }}:{{ item }}\"\n",
        ),
    );
    let engine = fast_engine(0);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let (record, _) = tokio::join!(run_with(&engine, project.request(RunTarget::Workflow), cancel), async {
        while !server.received().iter().any(|r| prompt_of(r) == "2:c") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        trigger.cancel();
    })
    .0
    .unwrap();
    let step = record.step("b").unwrap();
    assert_eq!(step.status, StepStatus::Cancelled);
    assert_eq!(step.items.len(), 2);
    stall.store(false, std::sync::atomic::Ordering::SeqCst);
    let before = server.count();
    let (resumed, _) = run(&engine, project.request(RunTarget::Resume)).await.unwrap();
    let sent: Vec<String> = server.received()[before..].iter().map(prompt_of).collect();
    assert_eq!(sent, vec!["2:c", "3:d"]);
    assert!(resumed.succeeded());
}

#[tokio::test]
async fn finished_fan_out_items_reach_the_record_while_the_step_runs() {
    let server = FakeProvider::start(|r| {
        let prompt = prompt_of(r);
        if prompt == "2:c" {
            return Reply::Stall;
        }
        anthropic_stream(&[&format!("R({prompt})")], 1, 1)
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &flow(
            "  - id: b\n    for_each: \"['a', 'b', 'c']\"\n    concurrency: 1\n    prompt: \"{{ index }}:{{ item }}\"\n",
        ),
    );
    let engine = stepwise::engine::Engine::new(stepwise::engine::EngineOptions {
        timeout: Some(Duration::from_secs(10)),
        ..Default::default()
    });
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let runs_dir = project.runs_dir();
    let flow_path = project.flow.clone();
    let started = Instant::now();
    let watcher = async move {
        loop {
            let items = latest(&runs_dir, &flow_path)
                .and_then(|r| r.step("b").map(|s| s.items.len()))
                .unwrap_or(0);
            if items == 2 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no checkpoint written");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        trigger.cancel();
    };
    let (result, ()) = tokio::join!(run_with(&engine, project.request(RunTarget::Workflow), cancel), watcher);
    assert_eq!(result.unwrap().0.step("b").unwrap().status, StepStatus::Cancelled);
}

#[tokio::test]
async fn a_fan_outs_record_lists_every_request_and_the_run_holds_them_merged() {
    let failed_once = std::sync::atomic::AtomicBool::new(false);
    let server = FakeProvider::start(move |r| {
        let prompt = prompt_of(r);
        if prompt == "2:c" && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Reply::error(503, r#"{"error":{"message":"busy"}}"#, &[]);
        }
        anthropic_stream(&[&format!("R({prompt})")], 10, 2)
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &format!(
            "version: 1\nname: Flow\nprovider: anthropic\nmodel: claude-haiku-4-5\nsteps:\n{}",
            "  - id: b\n    for_each: \"['a', 'b', 'c', 'd']\"\n    concurrency: 2\n    prompt: \"{{ index }}:{{ item }}\"\n"
        ),
    );
    let (returned, _) = run(&fast_engine(1), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let stored = latest(&project.runs_dir(), &project.flow).unwrap();
    let (held, written) = (
        returned.step("b").unwrap().last().unwrap(),
        stored.step("b").unwrap().last().unwrap(),
    );
    let mut items: Vec<(Option<usize>, bool)> = written.calls.iter().map(|c| (c.item, c.error.is_some())).collect();
    items.sort();
    assert_eq!(
        items,
        [
            (Some(0), false),
            (Some(1), false),
            (Some(2), false),
            (Some(2), true),
            (Some(3), false)
        ]
    );
    let merged: Vec<(Option<usize>, bool, Option<u64>)> = held
        .calls
        .iter()
        .map(|c| (c.item, c.error.is_some(), c.cost.map(|c| c.usage.input_tokens)))
        .collect();
    assert_eq!(merged.len(), 2, "{merged:?}");
    assert!(merged.contains(&(None, false, Some(40))), "{merged:?}");
    assert!(merged.contains(&(None, true, None)), "{merged:?}");
    assert_eq!(held.cost_usd, written.cost_usd);
    assert!(held.cost_usd.is_some());
    let mut on_disk = stored.clone();
    on_disk.step_mut("b").unwrap().attempts[0].calls = held.calls.clone();
    assert_eq!(on_disk, returned);
}
