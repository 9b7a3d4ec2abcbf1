//! `stepwise check` on every core: the report is the same, byte for byte and in file order,
//! whatever the number of threads and whichever file finished first.

use std::path::Path;
use std::process::{Command, Output};

fn check(dir: &Path, jobs: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .args(["check", "--format", "json", "--jobs", jobs, "."])
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("no-config-home"))
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .unwrap()
}

/// Files of very different sizes, each with its own mistakes, so threads finish out of order.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in 0..40 {
        let steps = if f % 7 == 0 { 400 } else { 1 + f % 5 };
        let mut text = format!("version: 1\nname: f{f}\nprovider: anthropic\nmodel: m\nsteps:\n");
        for s in 0..steps {
            text.push_str(&format!(
                "  - id: s{s}\n    prompt: \"{{{{ steps.missing{f}.output }}}}\"\n"
            ));
        }
        let folder = dir.path().join(format!("d{}", f % 3));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("f{f:02}.flow.yaml")), text).unwrap();
    }
    std::fs::write(dir.path().join("d1/latin1.flow.yaml"), b"name: caf\xe9\n").unwrap();
    dir
}

#[test]
fn check_on_many_threads_reports_exactly_what_one_thread_does_in_file_order() {
    let dir = project();
    let one = check(dir.path(), "1");
    let many = check(dir.path(), "8");
    assert_eq!(one.status.code(), Some(1));
    assert_eq!(many.status.code(), one.status.code());
    assert_eq!(
        String::from_utf8_lossy(&many.stderr),
        String::from_utf8_lossy(&one.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&many.stdout),
        String::from_utf8_lossy(&one.stdout)
    );
    let report: serde_json::Value = serde_json::from_slice(&many.stdout).unwrap();
    let diagnostics = report["diagnostics"].as_array().unwrap();
    let paths: Vec<&str> = diagnostics.iter().map(|d| d["path"].as_str().unwrap()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    let unknown_in_f07 = diagnostics
        .iter()
        .filter(|d| d["path"].as_str().unwrap().ends_with("f07.flow.yaml") && d["code"] == "unknown-reference");
    assert_eq!(unknown_in_f07.count(), 400);
    assert_eq!(report["unreadable"].as_array().unwrap().len(), 1);
}

#[test]
fn zero_jobs_is_a_usage_error() {
    let dir = project();
    let out = check(dir.path(), "0");
    assert_eq!(out.status.code(), Some(2));
}
