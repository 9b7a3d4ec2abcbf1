//! Parse + lower + resolve + diagnose a generated 2,000-step workflow, as every keystroke does.
//! Run with `cargo bench --bench analysis`; prints percentiles of one run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use stepwise::analysis::Analysis;
use stepwise::analysis::generate::large_workflow;
use stepwise::model::workspace::Workspace;

fn main() {
    let text: Arc<str> = Arc::from(large_workflow(2_000));
    let env: BTreeMap<String, String> = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"]
        .into_iter()
        .map(|k| (k.to_string(), "bench".to_string()))
        .collect();
    let ws = Arc::new(Workspace::detached(&env));
    let run = || {
        let analysis = Analysis::new(text.clone(), ws.clone());
        analysis.diagnostics().len()
    };
    assert_eq!(run(), 0, "the generated workflow must be valid");
    for _ in 0..5 {
        run();
    }
    let mut samples: Vec<f64> = (0..100)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(run());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "analysis of a 2,000-step workflow ({} KiB): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms (100 runs)",
        text.len() / 1024,
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
}
