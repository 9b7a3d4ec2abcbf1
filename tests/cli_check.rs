//! `stepwise check` as users run it: exit codes, rustc-style output and JSON.

use std::path::Path;
use std::process::{Command, Output};

fn stepwise(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepwise"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(args).env(
        "XDG_CONFIG_HOME",
        std::env::temp_dir().join("stepwise-tests-no-config-home"),
    );
    for var in [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GROQ_API_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

#[test]
fn examples_check_clean_and_exit_zero() {
    let keys = [
        ("ANTHROPIC_API_KEY", "k"),
        ("OPENAI_API_KEY", "k"),
        ("GEMINI_API_KEY", "k"),
        ("GROQ_API_KEY", "k"),
    ];
    let out = stepwise(&["check", "examples/"], &keys);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.trim(), "checked 3 workflows: 0 errors, 0 warnings");
}

#[test]
fn examples_without_keys_only_warn() {
    let out = stepwise(&["check", "examples/"], &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("warning[provider-unavailable]"), "{stdout}");
    assert!(!stdout.contains("error["), "{stdout}");
}

#[test]
fn every_mistake_is_printed_at_its_line_and_column_and_exits_one() {
    let out = stepwise(
        &["check", "tests/data/every-mistake.flow.yaml"],
        &[("OPENAI_API_KEY", "k")],
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let expected = [
        ("unknown-provider", 3, 11),
        ("unknown-persona", 4, 10),
        ("unknown-key", 9, 5),
        ("unknown-reference", 10, 24),
        ("duplicate-step-id", 11, 9),
        ("unknown-model", 15, 12),
        ("secret-in-document", 17, 18),
        ("wrong-type", 19, 18),
        ("dependency-cycle", 20, 23),
        ("template-syntax", 20, 32),
    ];
    for (code, line, column) in expected {
        let header = stdout
            .lines()
            .position(|l| l.contains(&format!("[{code}]")))
            .unwrap_or_else(|| panic!("no {code} in:\n{stdout}"));
        let location = format!("tests/data/every-mistake.flow.yaml:{line}:{column}");
        let found = stdout.lines().skip(header).take(3).any(|l| l.contains(&location));
        assert!(found, "{code} not at {location}:\n{stdout}");
    }
    assert!(!stdout.contains("AbCdEfGh"), "a key was echoed:\n{stdout}");
}

#[test]
fn json_format_gives_codes_and_positions() {
    let out = stepwise(
        &["check", "--format", "json", "tests/data/every-mistake.flow.yaml"],
        &[("OPENAI_API_KEY", "k")],
    );
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnostics = json["diagnostics"].as_array().unwrap();
    let provider = diagnostics.iter().find(|d| d["code"] == "unknown-provider").unwrap();
    assert_eq!(provider["start"]["line"], 3);
    assert_eq!(provider["start"]["column"], 11);
    assert_eq!(provider["severity"], "error");
    assert_eq!(provider["suggestions"][0], "anthropic");
    assert!(json["summary"]["errors"].as_u64().unwrap() >= 9);
}

#[test]
fn check_without_paths_walks_the_current_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("nested")).unwrap();
    std::fs::write(
        dir.path().join("nested/ok.flow.yaml"),
        "version: 1\nname: ok\nprovider: ollama\nsteps:\n  - id: a\n    prompt: hi\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ignored.yaml"), "not: a workflow\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .arg("check")
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("no-config-home"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout).unwrap().contains("checked 1 workflow:"));
}

#[test]
fn a_missing_path_is_a_usage_error() {
    let out = stepwise(&["check", "no/such/file.flow.yaml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").is_dir());
}
