//! What `stepwise run` prints during and after a failure, against the fake provider: attempt
//! n/N with the class and the wait, fan-out items named, each fallback announced, errors under
//! the table (wrapped), the record's path and the command that re-runs a failed step.
//! Durations and run IDs are normalised; everything else is the real output.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::fake_provider::{FakeProvider, Received, Reply, anthropic_stream, prompt_of};
use support::{Project, stepwise};

fn is_openai(r: &Received) -> bool {
    r.path.ends_with("/chat/completions")
}

fn unavailable(message: &str) -> Reply {
    Reply::error(
        503,
        &format!(r#"{{"error":{{"message":"{message}"}}}}"#),
        &[("retry-after-ms", "10")],
    )
}

/// Every provider at `url`, with `max_retries`.
fn config(url: &str, max_retries: u32) -> String {
    format!(
        "max_retries = {max_retries}\n[providers.anthropic]\nbase_url = \"{url}\"\n[providers.openai]\nbase_url = \"{url}/v1\"\n[providers.google]\nbase_url = \"{url}\"\n"
    )
}

/// The run's stderr with `COLUMNS=60`, durations as `#.#s` and UUIDs as `<uuid>`; the record
/// line is checked to be a path under `.stepwise/runs` relative to the workspace.
fn run(project: &Project, args: &[&str]) -> String {
    let mut all = vec!["run", "test.flow.yaml"];
    all.extend_from_slice(args);
    let output = stepwise(project, &all)
        .env("OPENAI_API_KEY", support::KEY)
        .env("COLUMNS", "60")
        .env_remove("GEMINI_API_KEY")
        .env_remove("GOOGLE_API_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let record = stderr.lines().find(|l| l.starts_with("record: ")).unwrap_or_default();
    assert!(
        record.starts_with("record: .stepwise/runs/") && record.ends_with(".json"),
        "{stderr}"
    );
    let normalised = normalise(&stderr);
    let shape = "record: .stepwise/runs/<workflow>/<uuid>.json";
    normalised
        .lines()
        .map(|l| if l.starts_with("record: ") { shape } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn normalise(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if let Some(len) = uuid_at(&chars[i..]) {
            out.push_str("<uuid>");
            i += len;
            continue;
        }
        if let Some(len) = seconds_at(&chars[i..])
            && (i == 0 || !chars[i - 1].is_ascii_alphanumeric())
        {
            out.push_str("#.#s");
            i += len;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The length of a UUID at the start of `c`.
fn uuid_at(c: &[char]) -> Option<usize> {
    let groups = [8, 4, 4, 4, 12];
    let mut i = 0;
    for (n, len) in groups.iter().enumerate() {
        if c.len() < i + len || !c[i..i + len].iter().all(|ch| ch.is_ascii_hexdigit()) {
            return None;
        }
        i += len;
        if n < 4 {
            if c.get(i) != Some(&'-') {
                return None;
            }
            i += 1;
        }
    }
    Some(i)
}

/// The length of `12.3s` at the start of `c`.
fn seconds_at(c: &[char]) -> Option<usize> {
    let digits = c.iter().take_while(|ch| ch.is_ascii_digit()).count();
    let ok = digits > 0
        && c.get(digits) == Some(&'.')
        && c.get(digits + 1).is_some_and(char::is_ascii_digit)
        && c.get(digits + 2) == Some(&'s');
    ok.then_some(digits + 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_show_attempt_class_and_wait_and_the_fallback_is_announced() {
    let server = FakeProvider::start(|r| {
        if is_openai(r) {
            unavailable("The server is temporarily unavailable")
        } else {
            anthropic_stream(&["ok"], 1, 1)
        }
    })
    .await;
    let flow = "version: 1\nname: Review\nprovider: openai\nmodel: gpt-5\nsteps:\n  - id: diff\n    provider: anthropic\n    model: claude-haiku-4-5\n    prompt: D\n  - id: findings\n    fallback: [anthropic/claude-haiku-4-5]\n    prompt: \"F {{ steps.diff.output }}\"\n";
    let project = Project::new(&config(&server.url, 2), flow);
    insta::assert_snapshot!(run(&project, &[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_puts_its_error_under_the_table_and_ends_with_the_rerun_command() {
    let long = "The upstream inference cluster in region eu-west-4 is not accepting new requests at the moment because of scheduled maintenance; please retry later";
    let server = FakeProvider::start(move |r| {
        if is_openai(r) {
            unavailable(long)
        } else {
            anthropic_stream(&["ok"], 1, 1)
        }
    })
    .await;
    let flow = "version: 1\nname: Review\nprovider: openai\nmodel: gpt-5\nsteps:\n  - id: diff\n    provider: anthropic\n    model: claude-haiku-4-5\n    prompt: D\n  - id: findings\n    prompt: \"F {{ steps.diff.output }}\"\n";
    let project = Project::new(&config(&server.url, 0), flow);
    let out = run(&project, &[]);
    let table: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("STEP")).take(3).collect();
    assert!(
        table.iter().all(|l| !l.contains("maintenance") && !l.contains("503")),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_items_failure_names_the_item() {
    let failed_once = Arc::new(AtomicUsize::new(0));
    let server = FakeProvider::start(move |r| {
        let prompt = prompt_of(r);
        if prompt == "E b" && failed_once.fetch_add(1, Ordering::SeqCst) == 0 {
            return unavailable("busy");
        }
        anthropic_stream(&[if prompt == "D" { "a\nb" } else { "ok" }], 1, 1)
    })
    .await;
    let flow = "version: 1\nname: Review\nprovider: anthropic\nmodel: claude-haiku-4-5\nsteps:\n  - id: diff\n    prompt: D\n  - id: each\n    for_each: \"steps.diff.output | lines\"\n    concurrency: 1\n    prompt: \"E {{ item }}\"\n";
    let project = Project::new(&config(&server.url, 1), flow);
    insta::assert_snapshot!(run(&project, &[]));
}
