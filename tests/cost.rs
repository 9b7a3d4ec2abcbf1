//! What runs cost, against fake providers on 127.0.0.1: records hold usage × the configured
//! price (catalog, `stepwise.toml`, or the provider's own figure), failed streams that billed
//! tokens included; the dry run prints estimates; a budget stops a run before the request
//! that would exceed it.

mod support;

use stepwise::engine::RunTarget;
use stepwise::engine::error::ErrorClass;
use stepwise::engine::record::{StepStatus, latest};
use stepwise::model::prices::PriceSource;
use support::fake_provider::{FakeProvider, Reply, StreamEnd, anthropic_stream, prompt_of};
use support::{Project, config_for, fast_engine, run, stepwise};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn flow(model: &str, steps: &str) -> String {
    format!("version: 1\nname: Cost\nprovider: anthropic\nmodel: {model}\nsteps:\n{steps}")
}

const ONE: &str = "  - id: a\n    prompt: A\n";

#[tokio::test]
async fn a_record_costs_usage_times_the_catalog_price() {
    let server = FakeProvider::start(|_| anthropic_stream(&["hi"], 1_000, 200)).await;
    let project = Project::new(&config_for(&server.url, ""), &flow("claude-haiku-4-5", ONE));
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let attempt = record.step("a").unwrap().result().unwrap();
    // claude-haiku-4-5: $1 / $5 per million tokens.
    let expected = (1_000.0 * 1.0 + 200.0 * 5.0) / 1e6;
    assert!(close(attempt.cost_usd.unwrap(), expected), "{:?}", attempt.cost_usd);
    let cost = attempt.calls[0].cost.unwrap();
    assert_eq!(cost.source, PriceSource::Catalog);
    let saved = latest(&project.runs_dir(), &project.flow).unwrap();
    assert!(close(
        saved.step("a").unwrap().result().unwrap().cost_usd.unwrap(),
        expected
    ));
}

#[tokio::test]
async fn a_price_in_stepwise_toml_wins_over_the_catalog() {
    let server = FakeProvider::start(|_| anthropic_stream(&["hi"], 1_000, 200)).await;
    let config = format!(
        "{}[providers.anthropic.prices]\n\"claude-haiku-4-5\" = {{ input = 3.0, output = 15.0 }}\n",
        config_for(&server.url, "")
    );
    let project = Project::new(&config, &flow("claude-haiku-4-5", ONE));
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let attempt = record.step("a").unwrap().result().unwrap();
    let expected = (1_000.0 * 3.0 + 200.0 * 15.0) / 1e6;
    assert!(close(attempt.cost_usd.unwrap(), expected), "{:?}", attempt.cost_usd);
    assert_eq!(attempt.calls[0].cost.unwrap().source, PriceSource::Config);
}

/// An OpenRouter-style stream: usage with its own `cost`.
fn reporting_cost(cost: f64) -> Reply {
    Reply::sse(vec![
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n".to_string(),
        format!(
            "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":1000,\"completion_tokens\":200,\"cost\":{cost}}}}}\n\n"
        ),
        "data: [DONE]\n\n".to_string(),
    ])
}

#[tokio::test]
async fn a_cost_the_provider_reports_wins_over_the_configured_price() {
    let server = FakeProvider::start(|_| reporting_cost(0.0123)).await;
    let config = format!(
        "{}[providers.groq]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodels = [\"r\"]\n[providers.groq.prices]\nr = {{ input = 3.0, output = 15.0 }}\n",
        config_for(&server.url, ""),
        server.url
    );
    let project = Project::new(
        &config,
        "version: 1\nname: R\nprovider: groq\nmodel: r\nsteps:\n  - id: a\n    prompt: A\n",
    );
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let attempt = record.step("a").unwrap().result().unwrap();
    assert_eq!(attempt.cost_usd, Some(0.0123));
    assert_eq!(attempt.calls[0].cost.unwrap().source, PriceSource::Provider);
}

#[tokio::test]
async fn a_model_without_a_price_has_no_cost() {
    let server = FakeProvider::start(|_| anthropic_stream(&["hi"], 1_000, 200)).await;
    let project = Project::new(&config_for(&server.url, ""), &flow("m", ONE));
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let attempt = record.step("a").unwrap().result().unwrap();
    assert_eq!(attempt.cost_usd, None);
    assert!(attempt.calls[0].unpriced.is_some());
}

#[tokio::test]
async fn a_stream_cut_after_its_prompt_was_counted_is_billed() {
    // message_start (1,000 input tokens, 1 output) arrives, then the connection is reset.
    let server = FakeProvider::start(|_| anthropic_stream(&["hi"], 1_000, 200).end_after(3, StreamEnd::Cut)).await;
    let project = Project::new(&config_for(&server.url, ""), &flow("claude-haiku-4-5", ONE));
    let (record, _) = run(&fast_engine(1), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let attempt = record.step("a").unwrap().last().unwrap();
    assert_eq!(attempt.status, StepStatus::Failed);
    assert_eq!(attempt.calls.len(), 2);
    let per_call = (1_000.0 * 1.0 + 5.0) / 1e6;
    assert!(
        close(attempt.cost_usd.unwrap(), 2.0 * per_call),
        "{:?}",
        attempt.cost_usd
    );
}

#[tokio::test]
async fn fan_out_items_sum_their_costs() {
    let server = FakeProvider::start(|_| anthropic_stream(&["x"], 100, 10)).await;
    let steps = "  - id: a\n    for_each: \"['p', 'q', 'r']\"\n    prompt: \"{{ item }}\"\n";
    let project = Project::new(&config_for(&server.url, ""), &flow("claude-haiku-4-5", steps));
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let attempt = record.step("a").unwrap().result().unwrap();
    let expected = 3.0 * (100.0 * 1.0 + 10.0 * 5.0) / 1e6;
    assert!(close(attempt.cost_usd.unwrap(), expected), "{:?}", attempt.cost_usd);
}

const CHAIN: &str = "  - id: a\n    prompt: A\n  - id: b\n    prompt: \"B {{ steps.a.output }}\"\n";

fn chain(extra: &str) -> String {
    format!(
        "version: 1\nname: Cost\nprovider: anthropic\nmodel: claude-haiku-4-5\n{extra}params:\n  max_tokens: 1000\nsteps:\n{CHAIN}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_of_the_binary_records_usage_times_the_prices_of_stepwise_toml() {
    let server = FakeProvider::start(|r| {
        let input = if prompt_of(r) == "A" { 1_000 } else { 3_000 };
        anthropic_stream(&["ok"], input, 100)
    })
    .await;
    let config = format!(
        "{}[providers.anthropic.prices]\n\"claude-haiku-4-5\" = {{ input = 3.0, output = 15.0 }}\n",
        config_for(&server.url, "")
    );
    let project = Project::new(&config, &chain(""));
    let out = stepwise(&project, &["run", "test.flow.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record = latest(&project.runs_dir(), &project.flow).unwrap();
    for (step, input) in [("a", 1_000.0), ("b", 3_000.0)] {
        let attempt = record.step(step).unwrap().result().unwrap();
        let expected = (input * 3.0 + 100.0 * 15.0) / 1e6;
        assert!(
            close(attempt.cost_usd.unwrap(), expected),
            "{step}: {:?}",
            attempt.cost_usd
        );
        let cost = attempt.calls[0].cost.unwrap();
        assert_eq!(cost.source, PriceSource::Config);
        assert_eq!((cost.usage.input_tokens, cost.usage.output_tokens), (input as u64, 100));
        assert!(close(cost.usd, expected));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_summary_has_a_cost_column_and_a_total() {
    let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1_000, 100)).await;
    let project = Project::new(&config_for(&server.url, ""), &chain(""));
    let out = stepwise(&project, &["run", "test.flow.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let header = stderr.lines().find(|l| l.starts_with("STEP")).unwrap();
    assert!(header.ends_with("COST"), "{header}");
    // Each step: 1,000 × $1/M + 100 × $5/M = $0.0015.
    let row = stderr.lines().find(|l| l.starts_with("a ")).unwrap();
    assert!(row.ends_with("$0.0015"), "{row}");
    assert!(stderr.contains("total cost: $0.0030"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_prints_each_steps_estimate_and_the_total() {
    let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1, 1)).await;
    let project = Project::new(&config_for(&server.url, ""), &chain(""));
    let out = stepwise(&project, &["run", "test.flow.yaml", "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // `A` is 1 token; `B <output of step a>` (20 characters) 5. Up to 1,000 output tokens at $5/M.
    assert!(
        stdout.contains(
            "estimate a: anthropic/claude-haiku-4-5 · ~1 prompt tokens · up to 1000 output tokens · $0.0000–$0.0050"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "estimate b: anthropic/claude-haiku-4-5 · ~5 prompt tokens · up to 1000 output tokens · $0.0000–$0.0050"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("estimate total: $0.0000–$0.0100"), "{stdout}");
    assert_eq!(server.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_stops_the_run_before_the_request_that_would_exceed_it() {
    let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1_000, 100)).await;
    // a may cost up to $0.005 and costs $0.0015; b's worst case then needs $0.0065 > $0.006.
    let project = Project::new(&config_for(&server.url, ""), &chain("budget_usd: 0.006\n"));
    let out = stepwise(&project, &["run", "test.flow.yaml"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let sent: Vec<String> = server.received().iter().map(prompt_of).collect();
    assert_eq!(sent, vec!["A".to_string()], "no request for b");
    // Errors are wrapped to the terminal's width under the table.
    let words = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("would take the run over its budget of $0.0060"),
        "{stderr}"
    );
    let record = latest(&project.runs_dir(), &project.flow).unwrap();
    assert_eq!(record.step("a").unwrap().status, StepStatus::Completed);
    let b = record.step("b").unwrap();
    assert_eq!(b.failure().unwrap().failure.class, ErrorClass::Budget);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_flag_wins_over_the_workflows() {
    let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1_000, 100)).await;
    let project = Project::new(&config_for(&server.url, ""), &chain("budget_usd: 0.006\n"));
    let out = stepwise(&project, &["run", "test.flow.yaml", "--budget", "0.004"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(server.count(), 0, "a's worst case alone exceeds $0.004");
    let out = stepwise(&project, &["run", "test.flow.yaml", "--budget", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn requests_in_flight_count_against_the_budget() {
    // Every item may cost up to 1,000 output tokens at $5/M ≈ $0.005; all five start at once and
    // answers take 300 ms, so nothing is spent yet when the third asks: only two fit $0.012.
    let server = FakeProvider::start(|_| {
        anthropic_stream(&["x"], 1_000, 100)
            .merged()
            .delayed(std::time::Duration::from_millis(300))
    })
    .await;
    let steps = "  - id: a\n    for_each: \"['p', 'q', 'r', 's', 't']\"\n    prompt: \"{{ item }}\"\n";
    let project = Project::new(
        &config_for(&server.url, ""),
        &format!(
            "version: 1\nname: Cost\nprovider: anthropic\nmodel: claude-haiku-4-5\nbudget_usd: 0.012\nparams:\n  max_tokens: 1000\nsteps:\n{steps}"
        ),
    );
    let (record, _) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let failure = &record.step("a").unwrap().failure().unwrap().failure;
    assert_eq!(failure.class, ErrorClass::Budget);
    assert!(
        failure.message.contains("($0.0000 spent and up to $0.0100 in flight)"),
        "{}",
        failure.message
    );
    // The refusal stops the step's other items, so the two admitted may not have gone out.
    assert!(server.count() <= 2, "{} requests", server.count());
}
