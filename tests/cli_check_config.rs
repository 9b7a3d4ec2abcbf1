//! `stepwise check` on a workspace whose `stepwise.toml` has mistakes: each is reported at its
//! place in `stepwise.toml`, all of them, in every format, and the workflows still see the
//! providers the file declares.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BROKEN_CONFIG: &str = r#"default_provider = "localai"
concurency = 4
max_retries = "two"

[providers.localai]
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
models = ["local-model"]
"#;

const REVIEW: &str =
    "version: 1\nname: Review\nmodel: local-model\nsteps:\n  - id: findings\n    prompt: Review this.\n";

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("stepwise.toml"), BROKEN_CONFIG).unwrap();
    std::fs::write(dir.path().join("review.flow.yaml"), REVIEW).unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    (dir, root)
}

fn check(root: &Path, format: &str) -> (Option<i32>, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_stepwise"))
        .current_dir(root)
        .args(["check", "--format", format])
        .env("XDG_CONFIG_HOME", root.join("no-config-home"))
        .env("LOCALAI_API_KEY", "k")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn human_format_names_each_config_mistake_at_its_line_with_did_you_mean() {
    let (_dir, root) = workspace();
    let (code, out) = check(&root, "human");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("error[unknown-key]: unknown key `concurency` in stepwise.toml; did you mean `concurrency`?"),
        "{out}"
    );
    assert!(out.contains("stepwise.toml:2:1"), "{out}");
    assert!(
        out.contains("error[wrong-type]: `max_retries` must be a whole number, found string"),
        "{out}"
    );
    assert!(out.contains("stepwise.toml:3:15"), "{out}");
    assert!(
        !out.contains("unknown-provider") && !out.contains("review.flow.yaml:1:1"),
        "{out}"
    );
    assert!(out.contains("checked 1 workflow: 2 errors"), "{out}");
}

#[test]
fn json_format_places_config_mistakes_in_stepwise_toml() {
    let (_dir, root) = workspace();
    let (code, out) = check(&root, "json");
    assert_eq!(code, Some(1), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let errors: Vec<_> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            (
                d["path"].as_str().unwrap(),
                d["code"].as_str().unwrap(),
                d["start"]["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [("stepwise.toml", "unknown-key", 2), ("stepwise.toml", "wrong-type", 3)],
        "{out}"
    );
    let unknown = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "unknown-key")
        .unwrap();
    assert_eq!(unknown["suggestions"][0], "concurrency", "{out}");
}

#[test]
fn ci_formats_annotate_stepwise_toml_at_each_mistake() {
    let (_dir, root) = workspace();
    let (_, github) = check(&root, "github");
    assert!(
        github.contains("::error file=stepwise.toml,line=2,col=1,endLine=2,endColumn=11,title=unknown-key::"),
        "{github}"
    );
    assert!(github.contains("::error file=stepwise.toml,line=3,col=15,"), "{github}");
    let (_, sarif) = check(&root, "sarif");
    let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let places: Vec<_> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["level"] == "error")
        .map(|r| {
            let location = &r["locations"][0]["physicalLocation"];
            (
                location["artifactLocation"]["uri"].as_str().unwrap().to_string(),
                location["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(places.len(), 2, "{sarif}");
    assert!(
        places.iter().all(|(uri, _)| uri.ends_with("stepwise.toml")),
        "{places:?}"
    );
    let (_, gitlab) = check(&root, "gitlab");
    let gitlab: serde_json::Value = serde_json::from_str(&gitlab).unwrap();
    let lines: Vec<_> = gitlab
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["location"]["path"] == "stepwise.toml" && i["severity"] != "minor")
        .map(|i| i["location"]["lines"]["begin"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3], "{gitlab}");
}
