//! Latency benchmark of `stepwise lsp` on a generated 2,000-step workflow:
//! `cargo bench --bench lsp_latency`. Measures initialize, one-character didChange →
//! publishDiagnostics, completion, inlay hints for the whole file, and peak RSS. When
//! `yaml-language-server` is on PATH (or `STEPWISE_YLS` names it), drives it the same way
//! with the workflow JSON Schema and prints the ratios.

#[allow(dead_code)] // The benchmark uses part of the tests' client.
#[path = "../tests/support/lsp.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{TestServer, uri};

const STEPS: usize = 2000;
const EDITS: usize = 200;
const REQUESTS: usize = 200;

fn workflow() -> String {
    let mut text = String::from(
        "version: 1\nname: Benchmark\nprovider: anthropic\nmodel: claude-sonnet-4-5\npersona: analyst\ninputs:\n  topic:\n    description: What to write about\n    default: rocket skates\npersonas:\n  analyst:\n    name: Analyst\n    description: Numbers first\n    system: You are a concise analyst.\nsteps:\n",
    );
    for i in 0..STEPS {
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

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Results of one server's run.
struct Figures {
    initialize: Duration,
    open_to_diagnostics: Duration,
    edit: (f64, f64),
    completion: (f64, f64),
    hints: Option<(f64, f64)>,
    visible_hints: Option<(f64, f64)>,
    rss: Option<f64>,
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

fn run(subject: &Subject, dir: &Path, text: &str) -> Figures {
    let started = Instant::now();
    let mut server = TestServer::spawn((subject.command)());
    server.configuration = subject.configuration.clone();
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
            json!({ "settings": { "yaml": subject.configuration } }),
        );
    }
    let doc = uri(&dir.join("bench.flow.yaml"));
    let opened = Instant::now();
    server.open(&doc, text);
    diagnostics_after(&mut server, &doc, 1);
    let open_to_diagnostics = opened.elapsed();

    let prompt_line = text
        .lines()
        .position(|l| l.contains(&format!("steps.step{}.output", STEPS / 2)))
        .unwrap() as u32;
    let mut version = 1;
    let mut edits = Vec::new();
    for i in 0..EDITS {
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

    let model_line = text
        .lines()
        .enumerate()
        .skip(text.lines().count() / 2)
        .find(|(_, l)| l.trim() == "model: gpt-4o")
        .unwrap()
        .0 as u32;
    let mut completions = Vec::new();
    for _ in 0..REQUESTS {
        let t = Instant::now();
        let items = server
            .at("textDocument/completion", &doc, model_line, 14)
            .expect("completion");
        completions.push(t.elapsed());
        assert!(!items.is_null());
    }

    let lines = text.lines().count() as u32;
    let middle = lines / 2;
    let hints = subject
        .hints
        .then(|| hint_latency(&mut server, &doc, 0, lines, Some(STEPS)));
    // What an editor asks for: the hints of one screen.
    let visible_hints = subject
        .hints
        .then(|| hint_latency(&mut server, &doc, middle, middle + 100, None));
    let rss = peak_rss_mib(server.pid());
    drop(server);
    Figures {
        initialize,
        open_to_diagnostics,
        edit: percentiles(edits),
        completion: percentiles(completions),
        hints,
        visible_hints,
        rss,
    }
}

/// p50/p99 of `textDocument/inlayHint` for lines `from..to` (and the hint count, if given).
fn hint_latency(server: &mut TestServer, doc: &str, from: u32, to: u32, expected: Option<usize>) -> (f64, f64) {
    let mut samples = Vec::new();
    for _ in 0..REQUESTS {
        let t = Instant::now();
        let hints = server
            .request(
                "textDocument/inlayHint",
                json!({
                    "textDocument": { "uri": doc },
                    "range": { "start": { "line": from, "character": 0 }, "end": { "line": to, "character": 0 } }
                }),
            )
            .expect("inlay hints");
        samples.push(t.elapsed());
        let count = hints.as_array().map_or(0, Vec::len);
        assert!(count > 0 && expected.is_none_or(|n| n == count), "{count} hints");
    }
    percentiles(samples)
}

fn stepwise_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepwise"));
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
            println!("  inlay hints (screen) p50 {v50:8.2} ms  p99 {v99:8.2} ms");
        }
        _ => println!("  inlay hints          not offered"),
    }
    match f.rss {
        Some(rss) => println!("  peak RSS                  {rss:8.1} MiB"),
        None => println!("  peak RSS                  unknown"),
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let text = workflow();
    std::fs::write(dir.path().join("bench.flow.yaml"), &text).unwrap();
    let schema = dir.path().join("workflow.schema.json");
    std::fs::write(&schema, stepwise::model::schema::workflow_schema_json()).unwrap();
    println!(
        "{STEPS}-step workflow, {} KiB; {EDITS} edits, {REQUESTS} requests each\n",
        text.len() / 1024
    );
    let ours = run(
        &Subject {
            name: "stepwise",
            command: stepwise_command,
            configuration: Value::Null,
            hints: true,
        },
        dir.path(),
        &text,
    );
    print("stepwise lsp", &ours);
    if yls_path().is_none() {
        println!("\nyaml-language-server not found (PATH or STEPWISE_YLS): no comparison");
        return;
    }
    let yls = Subject {
        name: "yaml-language-server",
        command: yls_command,
        configuration: json!({
            "schemas": { uri(&schema): "*.flow.yaml" },
            "validate": true,
            "completion": true,
            "hover": true
        }),
        hints: false,
    };
    let theirs = run(&yls, dir.path(), &text);
    print(yls.name, &theirs);
    let ratio = |a: f64, b: f64| b / a.max(1e-6);
    println!("\nyaml-language-server ÷ stepwise");
    println!(
        "  initialize {:.0}×, edit → diagnostics p50 {:.0}×, completion p50 {:.0}×, RSS {:.1}×",
        ratio(ours.initialize.as_secs_f64(), theirs.initialize.as_secs_f64()),
        ratio(ours.edit.0, theirs.edit.0),
        ratio(ours.completion.0, theirs.completion.0),
        ratio(ours.rss.unwrap_or(0.0), theirs.rss.unwrap_or(0.0)),
    );
}
