//! Parse + lower + resolve + diagnose generated workflows of 500, 2,000, 8,000 and 32,000
//! steps: from scratch (a file opened, next to a plain saphyr scan of the same text, the
//! parse floor), per keystroke in one step's prompt and per edit of the workflow's
//! `description` and `provider` (each reusing the previous analysis); then every hostile
//! document of `generate::hostile_documents` from scratch, with its time and peak heap.
//! Run with `cargo bench --bench analysis`; prints the figures of one run. Arguments after
//! `--` pick what runs: sizes (`-- 500 32000`), `hostile`, `tokens` (all of it without any).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use stepwise::analysis::Analysis;
use stepwise::analysis::generate::{hostile_documents, large_workflow};
use stepwise::analysis::semantic_tokens::semantic_tokens;
use stepwise::model::workspace::Workspace;
use stepwise::syntax::text::{Change, TextDelta};

/// The system allocator, counting live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`, returning its result, milliseconds, and the peak heap above what was live before.
fn measured<T>(f: impl FnOnce() -> T) -> (T, f64, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let start = Instant::now();
    let out = f();
    let ms = ms(start);
    (out, ms, PEAK.load(Ordering::Relaxed) - before)
}

fn main() {
    let env: BTreeMap<String, String> = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"]
        .into_iter()
        .map(|k| (k.to_string(), "bench".to_string()))
        .collect();
    let ws = Arc::new(Workspace::detached(&env));
    let picked: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let runs = |what: &str| picked.is_empty() || picked.iter().any(|p| p == what);
    println!(
        "| steps | KiB | saphyr scan | open p50 | keystroke p50 / p99 | description edit p50 | provider edit p50 | peak heap, open |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for steps in [500, 2_000, 8_000, 32_000] {
        if runs(&steps.to_string()) {
            sizes(steps, &ws);
        }
    }
    if runs("hostile") {
        hostile(&ws);
    }
    if runs("tokens") {
        tokens(&ws);
    }
}

/// The table of hostile documents.
fn hostile(ws: &Arc<Workspace>) {
    println!();
    println!("| hostile document | KiB | analysis + diagnostics | peak heap | diagnostics |");
    println!("|---|---|---|---|---|");
    for (name, text) in hostile_documents() {
        let full: Arc<str> = Arc::from(text.as_str());
        let (diagnostics, ms, peak) = measured(|| Analysis::new(full.clone(), ws.clone()).diagnostics().len());
        println!(
            "| {name} | {} | {ms:.0} ms | {:.1} MiB | {diagnostics} |",
            text.len() / 1024,
            mib(peak)
        );
    }
}

/// What `semanticTokens/full` computes on the analysis the editor already has.
fn tokens(ws: &Arc<Workspace>) {
    println!();
    let text: Arc<str> = Arc::from(large_workflow(2_000).as_str());
    let analysis = Analysis::new(text, ws.clone());
    let mut tokens: Vec<f64> = (0..50)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(semantic_tokens(&analysis, None));
            ms(start)
        })
        .collect();
    tokens.sort_by(f64::total_cmp);
    println!(
        "semantic tokens, whole 2,000-step document ({} tokens): p50 {:.2} ms, p99 {:.2} ms",
        semantic_tokens(&analysis, None).len(),
        tokens[tokens.len() / 2],
        tokens[tokens.len() * 99 / 100]
    );
}

/// One row of the size table.
fn sizes(steps: usize, ws: &Arc<Workspace>) {
    let text = large_workflow(steps);
    let full: Arc<str> = Arc::from(text.as_str());
    let runs = (400_000 / steps).clamp(10, 200);
    let mut scan: Vec<f64> = (0..runs.min(50))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(saphyr_parser::Parser::new_from_str(&text).count());
            ms(start)
        })
        .collect();
    let mut open: Vec<f64> = Vec::new();
    let mut peak_open = 0;
    for _ in 0..runs.min(50) {
        let (diagnostics, ms, peak) = measured(|| Analysis::new(full.clone(), ws.clone()).diagnostics());
        assert!(diagnostics.is_empty(), "the generated workflow must be valid");
        open.push(ms);
        peak_open = peak_open.max(peak);
    }
    // Type "x" after "Continue from" in the prompt of the middle step, one char at a time.
    let anchor = text
        .find(&format!("  - id: step_{}\n", steps / 2))
        .expect("middle step");
    let at = anchor + text[anchor..].find("Continue from").expect("prompt") + "Continue from".len();
    let mut keystroke = edits(&text, ws, runs, |current, i| insert(current, at + i, "x"));
    let description = text.find("A large generated workflow").expect("description") + 1;
    let mut header = edits(&text, ws, runs, |current, i| insert(current, description + i, "x"));
    let provider = text.find("provider: anthropic\n").expect("provider") + "provider: ".len();
    let mut switch = edits(&text, ws, runs.min(50), |current, i| {
        let next = if i % 2 == 0 { "openai   " } else { "anthropic" };
        current.replace_range(provider..provider + 9, next);
        Change {
            start: provider,
            old_end: provider + 9,
            new_end: provider + 9,
        }
    });
    println!(
        "| {steps} | {} | {:.2} ms | {:.2} ms | {:.3} / {:.3} ms | {:.3} ms | {:.2} ms | {:.1} MiB |",
        text.len() / 1024,
        pct(&mut scan, 0.5),
        pct(&mut open, 0.5),
        pct(&mut keystroke, 0.5),
        pct(&mut keystroke, 0.99),
        pct(&mut header, 0.5),
        pct(&mut switch, 0.5),
        mib(peak_open)
    );
}

/// Inserts `s` at `at`, saying where.
fn insert(text: &mut String, at: usize, s: &str) -> Change {
    text.insert_str(at, s);
    Change {
        start: at,
        old_end: at,
        new_end: at + s.len(),
    }
}

/// Milliseconds from an edit's text to its diagnostics, for `runs` edits made by `edit`,
/// each analysis taking the previous one over and told where the edit landed, as the
/// server's does.
fn edits(text: &str, ws: &Arc<Workspace>, runs: usize, edit: impl Fn(&mut String, usize) -> Change) -> Vec<f64> {
    let mut previous = Analysis::new(Arc::from(text), ws.clone());
    let mut current = text.to_string();
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let change = edit(&mut current, i);
        let snapshot: Arc<str> = Arc::from(current.as_str());
        let start = Instant::now();
        let next = Analysis::edited_owned(snapshot, ws.clone(), previous, TextDelta::Within(change));
        let diagnostics = next.diagnostics();
        samples.push(ms(start));
        std::hint::black_box(diagnostics);
        previous = next;
    }
    samples
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn pct(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * p) as usize]
}
