//! Fan-out overhead: 1,000 items at concurrency 64 against a fake provider answering each
//! request after 20 ms. The ideal schedule is ceil(1000 / 64) × 20 ms = 0.32 s; the engine's
//! overhead is how much longer the step takes than that. For scale, the same 1,000 requests
//! sent by a bare reqwest loop show what the HTTP stack and the fake server cost on their own.
//! Run with `cargo bench --bench fanout`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;

use stepwise::engine::RunTarget;
use support::fake_provider::{FakeProvider, anthropic_stream};
use support::{Project, config_for, fast_engine, run};

const ITEMS: usize = 1000;
const CONCURRENCY: usize = 64;
const LATENCY: Duration = Duration::from_millis(20);
const ROUNDS: usize = 5;

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = FakeProvider::start(|_| {
            anthropic_stream(&["ok"], 1, 1).merged().delayed(LATENCY)
        })
        .await;
        let flow = format!(
            "version: 1\nname: Fan-out\nprovider: anthropic\nmodel: m\ninputs:\n  n:\n    default: \"{ITEMS}\"\nsteps:\n  - id: fan\n    for_each: range(inputs.n | int)\n    concurrency: {CONCURRENCY}\n    prompt: \"item {{{{ item }}}}\"\n"
        );
        let project = Project::new(
            &config_for(&server.url, &format!("concurrency = {CONCURRENCY}")),
            &flow,
        );
        let engine = fast_engine(0);
        let ideal = LATENCY.as_secs_f64() * ITEMS.div_ceil(CONCURRENCY) as f64;
        let mut best = f64::MAX;
        for round in 0..ROUNDS {
            let (record, _) = run(&engine, project.request(RunTarget::Workflow))
                .await
                .expect("run");
            let step = record.step("fan").and_then(|s| s.last()).expect("step");
            assert!(record.succeeded(), "{:?}", step.error);
            assert_eq!(step.outputs.as_ref().map(Vec::len), Some(ITEMS));
            let took = step.duration_ms.unwrap_or(0) as f64 / 1000.0;
            println!("round {round}: {took:.3} s");
            best = best.min(took);
        }
        let client = reqwest::Client::new();
        let url = format!("{}/v1/messages", server.url);
        let mut bare = f64::MAX;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            futures::stream::iter(0..ITEMS)
                .map(|i| {
                    let request = client
                        .post(&url)
                        .json(&serde_json::json!({"model": "m", "messages": [{"role": "user", "content": format!("item {i}")}]}));
                    async move { request.send().await.expect("send").bytes().await.expect("body") }
                })
                .buffer_unordered(CONCURRENCY)
                .for_each(|_| async {})
                .await;
            bare = bare.min(started.elapsed().as_secs_f64());
        }
        println!(
            "bare reqwest loop, same requests: best {bare:.3} s, overhead {:.1}%",
            (bare / ideal - 1.0) * 100.0
        );
        println!(
            "fan-out of {ITEMS} items at concurrency {CONCURRENCY}, {} ms latency: best {best:.3} s, ideal {ideal:.3} s, overhead {:.1}%",
            LATENCY.as_millis(),
            (best / ideal - 1.0) * 100.0
        );
    });
}
