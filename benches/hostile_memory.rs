//! The real binary on each hostile document of `generate::hostile_documents`: wall time and
//! peak resident memory (`VmHWM`) of `check --format json` and of `lsp` (open → diagnostics published),
//! against issue 10's bound — under 2 s and under ten times the document's size plus 100 MiB —
//! and whether the server still answers (`shutdown`) afterwards. One run each;
//! `cargo bench --bench hostile_memory`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stepwise::analysis::generate::hostile_documents;

const BINARY: &str = env!("CARGO_BIN_EXE_stepwise");

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    println!("| hostile document | KiB | bound | check --format json | lsp open → published | server alive |");
    println!("|---|---|---|---|---|---|");
    for (name, text) in hostile_documents() {
        let path = dir.path().join("hostile.flow.yaml");
        std::fs::write(&path, &text).expect("the document is written");
        let bound = 10.0 * text.len() as f64 / MIB + 100.0;
        let (check_s, check_mib) = check(&path);
        let (lsp_s, lsp_mib, published, alive) = lsp(&path, &text);
        println!(
            "| {name} | {} | {bound:.0} MiB | {check_s:.2} s · {check_mib:.0} MiB | {lsp_s:.2} s · {lsp_mib:.0} MiB ({published} diagnostics) | {} |",
            text.len() / 1024,
            if alive { "yes" } else { "no" }
        );
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Seconds and peak RSS (MiB) of `check --format json` on `path`, its output discarded.
fn check(path: &std::path::Path) -> (f64, f64) {
    let start = Instant::now();
    let child = Command::new(BINARY)
        .args(["check", "--format", "json"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("stepwise starts");
    let peak = wait_peak(child);
    (start.elapsed().as_secs_f64(), peak)
}

/// Waits for `child`, returning its peak RSS in MiB: the largest `VmHWM` read while it runs,
/// every millisecond. Not `wait4`'s `ru_maxrss`: a child spawned by vfork inherits the
/// high-water mark of its parent's memory at exec, so after the bench had read a publication of
/// 50,000 diagnostics every `check` after it "peaked" at the bench's own 160 MiB.
fn wait_peak(mut child: Child) -> f64 {
    let mut peak_kib = 0.0_f64;
    loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().expect("check is waited for") {
            assert!(status.code().is_some_and(|c| c <= 1), "check ended with {status}");
            return peak_kib / 1024.0;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The process's peak resident memory so far (`VmHWM`, KiB), while it has any.
fn peak_rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Seconds from `didOpen` to the document's first publication, the server's peak RSS (MiB)
/// then, how many diagnostics it published, and whether it then answers `shutdown`.
fn lsp(path: &std::path::Path, text: &str) -> (f64, f64, usize, bool) {
    let mut child = Command::new(BINARY)
        .arg("lsp")
        .env("OLLAMA_HOST", "http://127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("stepwise lsp starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |message: Value| {
        let body = message.to_string();
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("the server reads");
        stdin.flush().expect("the server reads");
    };
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}, "processId": null}}));
    while read(&mut stdout)["id"] != 1 {}
    send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    let uri = format!("file://{}", path.display());
    let start = Instant::now();
    send(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "yaml", "version": 1, "text": text}}}),
    );
    let published = loop {
        let message = read(&mut stdout);
        assert!(!message.is_null(), "the server ended before publishing");
        if message["method"] == "textDocument/publishDiagnostics" && message["params"]["uri"] == uri.as_str() {
            break message["params"]["diagnostics"].as_array().map_or(0, Vec::len);
        }
        if let (Some(id), Some(_)) = (message.get("id"), message.get("method")) {
            send(json!({"jsonrpc": "2.0", "id": id, "result": null}));
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let peak_kib = peak_rss_kib(child.id()).expect("the server's VmHWM");
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
    let alive = loop {
        let message = read(&mut stdout);
        if message.is_null() {
            break false;
        }
        match (message.get("id"), message.get("method")) {
            (Some(id), None) if *id == 2 => break message.get("result").is_some(),
            (Some(id), Some(_)) => send(json!({"jsonrpc": "2.0", "id": id, "result": null})),
            _ => {}
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    (seconds, peak_kib / 1024.0, published, alive)
}

/// The next message from the server; null once it has closed its output.
fn read(stdout: &mut BufReader<ChildStdout>) -> Value {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).expect("a header") == 0 {
            return Value::Null;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length:") {
            length = n.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0; length];
    stdout.read_exact(&mut body).expect("a body");
    serde_json::from_slice(&body).expect("JSON")
}
