//! Parse + lower + resolve + diagnose a generated 2,000-step workflow: once from scratch (a
//! file opened) and once per keystroke (one character typed into one step's prompt, reusing
//! the previous analysis), then the semantic tokens of the whole document. Run with `cargo bench --bench analysis`; prints percentiles of one run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use stepwise::analysis::Analysis;
use stepwise::analysis::generate::large_workflow;
use stepwise::analysis::semantic_tokens::semantic_tokens;
use stepwise::model::workspace::Workspace;

const RUNS: usize = 200;

fn main() {
    let text = large_workflow(2_000);
    let env: BTreeMap<String, String> = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"]
        .into_iter()
        .map(|k| (k.to_string(), "bench".to_string()))
        .collect();
    let ws = Arc::new(Workspace::detached(&env));
    let full: Arc<str> = Arc::from(text.as_str());
    assert!(
        Analysis::new(full.clone(), ws.clone()).diagnostics().is_empty(),
        "the generated workflow must be valid"
    );

    let mut open: Vec<f64> = (0..RUNS / 4)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(Analysis::new(full.clone(), ws.clone()).diagnostics());
            ms(start)
        })
        .collect();
    println!(
        "open (from scratch) a 2,000-step workflow ({} KiB): {}",
        text.len() / 1024,
        percentiles(&mut open)
    );

    // Type "x" after "Continue from" in the prompt of a step in the middle, one char at a time.
    let anchor = text.find("  - id: step_1000\n").expect("step 1000 exists");
    let at = anchor + text[anchor..].find("Continue from").expect("prompt") + "Continue from".len();
    let mut previous = Analysis::new(full, ws.clone());
    let mut current = text.clone();
    let mut keystroke: Vec<f64> = Vec::with_capacity(RUNS);
    let mut update: Vec<f64> = Vec::with_capacity(RUNS);
    for i in 0..RUNS {
        current.insert(at + i, 'x');
        let snapshot: Arc<str> = Arc::from(current.as_str());
        let start = Instant::now();
        let next = Analysis::update(snapshot, ws.clone(), Some(&previous));
        update.push(ms(start));
        let diagnostics = next.diagnostics();
        keystroke.push(ms(start));
        assert!(diagnostics.is_empty());
        // Freeing the previous analysis is not on the keystroke's path: the server does it
        // after publishing, off the message loop.
        previous = next;
    }
    println!("keystroke → diagnostics (incremental): {}", percentiles(&mut keystroke));
    println!(
        "  of which parse + lower (Analysis::update): {}",
        percentiles(&mut update)
    );

    // What `semanticTokens/full` computes on the analysis the editor already has.
    let mut tokens: Vec<f64> = (0..RUNS / 4)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(semantic_tokens(&previous, None));
            ms(start)
        })
        .collect();
    println!(
        "semantic tokens, whole document ({} tokens): {}",
        semantic_tokens(&previous, None).len(),
        percentiles(&mut tokens)
    );
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn percentiles(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms ({} runs)",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        samples.len()
    )
}
