//! Latency benchmark of `stepwise lsp` over stdio on generated workflows of 500, 2,000, 8,000
//! and 32,000 steps: `cargo bench --bench lsp_latency` (or `-- 2000` for some sizes). Measures
//! initialize, didOpen → publishDiagnostics, one-character didChange → publishDiagnostics,
//! completion, inlay hints for the whole file and one screen (also right after each edit's
//! diagnostics, as an editor asks for them), and the server's peak RSS
//! (VmHWM) after all of it, with a plain saphyr scan of the same text (the parse floor) and
//! didOpen's ratio to it (didOpen is the median of five servers, each opening the text once,
//! so the scan and the open come from one run). When `yaml-language-server` is on PATH (or `STEPWISE_YLS` names
//! it), drives it the same way with the workflow JSON Schema (answering its
//! `workspace/configuration` by section, or it drops the schema) and prints both side by side.
//! For the whole file's hints it also times this client parsing such a reply into a
//! `serde_json::Value` on its own, the part of the round trip that is not the server's.
//! `STEPWISE_BIN=path` drives another build of the server, to compare two versions on one
//! machine with one client.

#[allow(dead_code)] // The benchmark uses part of the tests' client.
#[path = "../tests/support/lsp.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{TestServer, uri};

/// Servers started per size to time didOpen → diagnostics (each opens the text once).
const OPENS: usize = 5;

/// Edits measured per size for stepwise (yaml-language-server gets fewer on large documents,
/// where one takes seconds).
const EDITS: usize = 200;

/// Requests measured per kind: 200, fewer on large documents.
fn requests(steps: usize) -> usize {
    (400_000 / steps).clamp(10, 200)
}

fn workflow(steps: usize) -> String {
    let mut text = String::from(
        "version: 1\nname: Benchmark\nprovider: anthropic\nmodel: claude-sonnet-4-5\npersona: analyst\ninputs:\n  topic:\n    description: What to write about\n    default: rocket skates\npersonas:\n  analyst:\n    name: Analyst\n    description: Numbers first\n    system: You are a concise analyst.\nsteps:\n",
    );
    for i in 0..steps {
        text.push_str(&format!("  - id: step{i}\n"));
        if i % 3 == 1 {
            text.push_str("    provider: openai\n    model: gpt-4o\n");
        }
        if i % 5 == 2 {
            text.push_str("    persona: null\n");
        }
        let upstream = if i == 0 {
            "{{ inputs.topic }}".to_string()
        } else {
            format!("{{{{ steps.step{}.output }}}}", i - 1)
        };
        text.push_str(&format!(
            "    prompt: |\n      Write five bullet points about {upstream}.\n      Keep it short.\n"
        ));
    }
    text
}

/// p50 and p99 of a set of durations, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

/// A field of `/proc/<pid>/status` in MiB (`VmHWM`: the peak RSS so far; `VmRSS`: now).
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmHWM:")
}

/// The server's peak RSS after each phase of the session and its RSS at that point, so the
/// phase that makes the peak shows (the peak is that of the whole session so far).
#[derive(Default)]
struct Phases(Vec<(&'static str, Option<f64>, Option<f64>)>);

impl Phases {
    fn after(&mut self, phase: &'static str, pid: u32) {
        self.0.push((phase, peak_rss_mib(pid), status_mib(pid, "VmRSS:")));
    }
}

/// Results of one server's run.
struct Figures {
    initialize: Duration,
    open_to_diagnostics: Duration,
    edit: (f64, f64),
    completion: (f64, f64),
    hints: Option<(f64, f64)>,
    /// p50 of parsing one whole-file reply, in milliseconds.
    hints_parse: Option<f64>,
    visible_hints: Option<(f64, f64)>,
    /// One screen of hints asked right after each edit's diagnostics, as an editor asks: the
    /// first request to read that version's steps.
    hints_after_edit: Option<(f64, f64)>,
    rss: Option<f64>,
    phases: Phases,
}

/// How to reach a server and what it needs beyond the protocol.
struct Subject {
    name: &'static str,
    command: fn() -> Command,
    configuration: Value,
    hints: bool,
}

fn diagnostics_after(server: &mut TestServer, doc: &str, version: i64) {
    server.wait_for("textDocument/publishDiagnostics", |p| {
        p["uri"] == doc && (p["version"] == version || p["version"].is_null())
    });
}

/// p50 of a plain saphyr scan of `text` (its events, no tree), in milliseconds.
fn scan_p50(text: &str, steps: usize) -> f64 {
    let samples = (0..requests(steps).min(50))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(saphyr_parser::Parser::new_from_str(text).count());
            start.elapsed()
        })
        .collect();
    percentiles(samples).0
}

/// didOpen → diagnostics of `text` on a fresh server, started and initialized first.
fn open_once(subject: &Subject, dir: &Path, text: &str) -> Duration {
    let (mut server, _) = started(subject, dir);
    let doc = uri(&dir.join("bench.flow.yaml"));
    let opened = Instant::now();
    server.open(&doc, text);
    diagnostics_after(&mut server, &doc, 1);
    opened.elapsed()
}

/// A server of `subject` after the handshake, and how long `initialize` took.
fn started(subject: &Subject, dir: &Path) -> (TestServer, Duration) {
    let started = Instant::now();
    let mut server = TestServer::spawn((subject.command)());
    server.configuration = subject.configuration.clone();
    server.configuration_by_section = !subject.configuration.is_null();
    let caps = json!({
        "workspace": { "configuration": true, "didChangeConfiguration": { "dynamicRegistration": false } },
        "textDocument": { "inlayHint": {}, "completion": {}, "publishDiagnostics": {} }
    });
    server
        .request(
            "initialize",
            json!({ "capabilities": caps, "processId": null, "rootUri": uri(dir) }),
        )
        .expect("initialize");
    let initialize = started.elapsed();
    server.notify("initialized", json!({}));
    if !subject.configuration.is_null() {
        server.notify(
            "workspace/didChangeConfiguration",
            json!({ "settings": subject.configuration }),
        );
    }
    (server, initialize)
}

fn run(subject: &Subject, dir: &Path, text: &str, steps: usize, edit_count: usize, opens: usize) -> Figures {
    let (mut server, initialize) = started(subject, dir);
    let mut phases = Phases::default();
    phases.after("initialize", server.pid());
    let doc = uri(&dir.join("bench.flow.yaml"));
    let opened = Instant::now();
    server.open(&doc, text);
    diagnostics_after(&mut server, &doc, 1);
    let mut opens: Vec<Duration> = std::iter::once(opened.elapsed())
        .chain((1..opens).map(|_| open_once(subject, dir, text)))
        .collect();
    opens.sort();
    let open_to_diagnostics = opens[opens.len() / 2];
    phases.after("didOpen", server.pid());

    let prompt_line = text
        .lines()
        .position(|l| l.contains(&format!("steps.step{}.output", steps / 2)))
        .unwrap() as u32;
    let mut version = 1;
    let mut edits = Vec::new();
    for i in 0..edit_count {
        version += 1;
        let t = Instant::now();
        if i % 2 == 0 {
            server.edit(&doc, version, (prompt_line, 6), (prompt_line, 6), "x");
        } else {
            server.edit(&doc, version, (prompt_line, 6), (prompt_line, 7), "");
        }
        diagnostics_after(&mut server, &doc, version);
        edits.push(t.elapsed());
    }
    phases.after("edits", server.pid());

    let model_line = text
        .lines()
        .enumerate()
        .skip(text.lines().count() / 2)
        .find(|(_, l)| l.trim() == "model: gpt-4o")
        .unwrap()
        .0 as u32;
    let mut completions = Vec::new();
    for _ in 0..requests(steps).min(edit_count) {
        let t = Instant::now();
        let items = server
            .at("textDocument/completion", &doc, model_line, 14)
            .expect("completion");
        completions.push(t.elapsed());
        assert!(!items.is_null());
    }
    phases.after("completions", server.pid());

    let lines = text.lines().count() as u32;
    let middle = lines / 2;
    let whole = subject
        .hints
        .then(|| hint_latency(&mut server, &doc, 0, lines, Some(steps), requests(steps)));
    phases.after("whole-file hints", server.pid());
    let hints_parse = whole.as_ref().map(|(_, reply)| parse_latency(reply, requests(steps)));
    // What an editor asks for: the hints of one screen.
    let visible_hints = subject
        .hints
        .then(|| hint_latency(&mut server, &doc, middle, middle + 100, None, requests(steps)).0);
    phases.after("one-screen hints", server.pid());
    let hints_after_edit = subject.hints.then(|| {
        let samples = (0..requests(steps).min(edit_count))
            .map(|i| {
                version += 1;
                let (end, insert) = if i % 2 == 0 { (6, "x") } else { (7, "") };
                server.edit(&doc, version, (prompt_line, 6), (prompt_line, end), insert);
                diagnostics_after(&mut server, &doc, version);
                let t = Instant::now();
                let hints = hints_in(&mut server, &doc, middle, middle + 100);
                let elapsed = t.elapsed();
                assert!(
                    hints.as_array().is_some_and(|h| !h.is_empty()),
                    "no hints after an edit"
                );
                elapsed
            })
            .collect();
        percentiles(samples)
    });
    let rss = peak_rss_mib(server.pid());
    drop(server);
    Figures {
        initialize,
        open_to_diagnostics,
        edit: percentiles(edits),
        completion: percentiles(completions),
        hints: whole.map(|(latency, _)| latency),
        hints_parse,
        visible_hints,
        hints_after_edit,
        rss,
        phases,
    }
}

/// p50/p99 of `textDocument/inlayHint` for lines `from..to` (and the hint count, if given),
/// and the last reply.
fn hint_latency(
    server: &mut TestServer,
    doc: &str,
    from: u32,
    to: u32,
    expected: Option<usize>,
    count: usize,
) -> ((f64, f64), Value) {
    let mut samples = Vec::new();
    let mut reply = Value::Null;
    for _ in 0..count {
        let t = Instant::now();
        let hints = hints_in(server, doc, from, to);
        samples.push(t.elapsed());
        let count = hints.as_array().map_or(0, Vec::len);
        assert!(count > 0 && expected.is_none_or(|n| n == count), "{count} hints");
        reply = hints;
    }
    (percentiles(samples), reply)
}

/// The reply to `textDocument/inlayHint` for lines `from..to`.
fn hints_in(server: &mut TestServer, doc: &str, from: u32, to: u32) -> Value {
    server
        .request(
            "textDocument/inlayHint",
            json!({
                "textDocument": { "uri": doc },
                "range": { "start": { "line": from, "character": 0 }, "end": { "line": to, "character": 0 } }
            }),
        )
        .expect("inlay hints")
}

/// p50 of this client parsing a message with `result`, as the test client does every reply.
fn parse_latency(result: &Value, count: usize) -> f64 {
    let body = serde_json::to_vec(&json!({ "jsonrpc": "2.0", "id": 1, "result": result })).unwrap();
    let samples = (0..count)
        .map(|_| {
            let t = Instant::now();
            let parsed: Value = serde_json::from_slice(&body).unwrap();
            let elapsed = t.elapsed();
            drop(parsed);
            elapsed
        })
        .collect();
    percentiles(samples).0
}

fn stepwise_command() -> Command {
    let binary = std::env::var_os("STEPWISE_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_stepwise").into());
    let mut cmd = Command::new(binary);
    // Keys as a configured user has them; otherwise every step warns `provider-unavailable`.
    cmd.arg("lsp")
        .env("STEPWISE_LOG", "error")
        .env("ANTHROPIC_API_KEY", "bench")
        .env("OPENAI_API_KEY", "bench");
    cmd
}

fn yls_path() -> Option<String> {
    if let Ok(path) = std::env::var("STEPWISE_YLS") {
        return Some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("yaml-language-server"))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

fn yls_command() -> Command {
    let mut cmd = Command::new(yls_path().expect("yaml-language-server"));
    cmd.arg("--stdio");
    cmd
}

/// One row of the side-by-side table: a label and each size's cell.
fn row(label: &str, cells: impl Iterator<Item = String>) {
    println!("| {label} | {} |", cells.collect::<Vec<_>>().join(" | "));
}

fn ms2(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn pair((p50, p99): (f64, f64)) -> String {
    format!("{p50:.2} / {p99:.2} ms")
}

fn main() {
    let picked: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes: Vec<usize> = [500, 2_000, 8_000, 32_000]
        .into_iter()
        .filter(|s| picked.is_empty() || picked.contains(s))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("workflow.schema.json");
    std::fs::write(&schema, stepwise::model::schema::workflow_schema_json()).unwrap();
    let yls = yls_path().map(|_| Subject {
        name: "yaml-language-server",
        command: yls_command,
        configuration: json!({
            "yaml": {
                "schemas": { uri(&schema): "*.flow.yaml" },
                "validate": true,
                "completion": true,
                "hover": true
            }
        }),
        hints: false,
    });
    let ours = Subject {
        name: "stepwise",
        command: stepwise_command,
        configuration: Value::Null,
        hints: true,
    };
    let mut table: Vec<(usize, usize, Figures, Option<Figures>)> = Vec::new();
    let mut scans = Vec::new();
    for &steps in &sizes {
        let text = workflow(steps);
        std::fs::write(dir.path().join("bench.flow.yaml"), &text).unwrap();
        println!("{steps}-step workflow, {} KiB", text.len() / 1024);
        let mine = run(&ours, dir.path(), &text, steps, EDITS, OPENS);
        print(ours.name, &mine);
        let scan = scan_p50(&text, steps);
        println!(
            "  saphyr scan p50           {scan:8.2} ms  (didOpen / scan {:.2}×)",
            mine.open_to_diagnostics.as_secs_f64() * 1000.0 / scan
        );
        scans.push(scan);
        let theirs = yls.as_ref().map(|yls| {
            let figures = run(yls, dir.path(), &text, steps, (40_000 / steps).clamp(5, EDITS), 1);
            print(yls.name, &figures);
            figures
        });
        table.push((steps, text.len() / 1024, mine, theirs));
    }
    if yls.is_none() {
        println!("\nyaml-language-server not found (PATH or STEPWISE_YLS): no comparison");
    }
    println!();
    println!(
        "| stepwise (yaml-language-server) | {} |",
        table
            .iter()
            .map(|(s, kib, ..)| format!("{s} steps, {kib} KiB"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(table.len()));
    let both = |f: &dyn Fn(&Figures) -> String| {
        table
            .iter()
            .map(|(_, _, mine, theirs)| match theirs {
                Some(t) => format!("{} ({})", f(mine), f(t)),
                None => f(mine),
            })
            .collect::<Vec<_>>()
    };
    row(
        "didOpen → diagnostics",
        both(&|f| ms2(f.open_to_diagnostics)).into_iter(),
    );
    row(
        "saphyr scan of the same text (didOpen / scan)",
        table.iter().zip(&scans).map(|((_, _, f, _), scan)| {
            let ratio = f.open_to_diagnostics.as_secs_f64() * 1000.0 / scan;
            format!("{scan:.1} ms ({ratio:.2}×)")
        }),
    );
    row("edit → diagnostics p50 / p99", both(&|f| pair(f.edit)).into_iter());
    row("completion p50 / p99", both(&|f| pair(f.completion)).into_iter());
    row(
        "inlay hints, whole file p50 / p99",
        table.iter().map(|(_, _, f, _)| f.hints.map_or("—".into(), pair)),
    );
    row(
        "of which this client parsing the reply, p50",
        table
            .iter()
            .map(|(_, _, f, _)| f.hints_parse.map_or("—".into(), |p| format!("{p:.2} ms"))),
    );
    row(
        "inlay hints, one screen p50 / p99",
        table
            .iter()
            .map(|(_, _, f, _)| f.visible_hints.map_or("—".into(), pair)),
    );
    row(
        "inlay hints, one screen right after an edit p50 / p99",
        table
            .iter()
            .map(|(_, _, f, _)| f.hints_after_edit.map_or("—".into(), pair)),
    );
    row(
        "peak RSS",
        both(&|f| f.rss.map_or("?".into(), |r| format!("{r:.1} MiB"))).into_iter(),
    );
}

fn print(name: &str, f: &Figures) {
    println!("{name}");
    println!(
        "  initialize reply          {:8.2} ms",
        f.initialize.as_secs_f64() * 1000.0
    );
    println!(
        "  didOpen → diagnostics     {:8.2} ms",
        f.open_to_diagnostics.as_secs_f64() * 1000.0
    );
    println!(
        "  edit → diagnostics   p50 {:8.2} ms  p99 {:8.2} ms",
        f.edit.0, f.edit.1
    );
    println!(
        "  completion           p50 {:8.2} ms  p99 {:8.2} ms",
        f.completion.0, f.completion.1
    );
    match (f.hints, f.visible_hints) {
        (Some((p50, p99)), Some((v50, v99))) => {
            println!("  inlay hints (file)   p50 {p50:8.2} ms  p99 {p99:8.2} ms");
            if let Some(parse) = f.hints_parse {
                println!("    client's parse     p50 {parse:8.2} ms");
            }
            println!("  inlay hints (screen) p50 {v50:8.2} ms  p99 {v99:8.2} ms");
            if let Some((a50, a99)) = f.hints_after_edit {
                println!("    right after edits  p50 {a50:8.2} ms  p99 {a99:8.2} ms");
            }
        }
        _ => println!("  inlay hints          not offered"),
    }
    match f.rss {
        Some(rss) => println!("  peak RSS                  {rss:8.1} MiB"),
        None => println!("  peak RSS                  unknown"),
    }
    let mib = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v:.1}"));
    for (phase, peak, now) in &f.phases.0 {
        println!(
            "    after {phase:<18} peak {:>7} MiB  now {:>7} MiB",
            mib(*peak),
            mib(*now)
        );
    }
}
