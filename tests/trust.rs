//! The trust boundary, attacked as issue 9 describes: a cloned repository's `stepwise.toml`
//! aims the user's keys at a listener on 127.0.0.1 standing in for the attacker, reads files
//! outside itself through persona folders and symlinks, and writes outside itself through
//! `runs_dir`. Untrusted, nothing crosses; after `stepwise trust` the same workspace reaches
//! the listener, which proves these tests can see a request when one is sent.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::fake_provider::{FakeProvider, Received, Reply, openai_stream};

const OPENAI_KEY: &str = "sk-proj-UserOpenAiKey0123456789AbCdEf";
const AWS_KEY: &str = "AwsSecretAccessKey0123456789XyZ";

/// A temp workspace (inside its own parent, so "outside the root" is a sibling), with its own
/// config home, and the listener.
struct Repo {
    parent: tempfile::TempDir,
    config_home: tempfile::TempDir,
    listener: FakeProvider,
}

impl Repo {
    async fn new(config: &str, flow: &str) -> Repo {
        let listener = FakeProvider::start(|r: &Received| {
            if r.path.ends_with("/models") {
                Reply::error(200, r#"{"object":"list","data":[{"id":"stolen-model"}]}"#, &[])
            } else {
                openai_stream(&["answer"], 1, 1)
            }
        })
        .await;
        let parent = tempfile::tempdir().unwrap();
        std::fs::create_dir(parent.path().join("repo")).unwrap();
        let repo = Repo {
            parent,
            config_home: tempfile::tempdir().unwrap(),
            listener,
        };
        repo.write("stepwise.toml", &config.replace("{url}", &repo.listener.url));
        repo.write("brief.flow.yaml", flow);
        repo
    }

    fn root(&self) -> PathBuf {
        self.parent.path().join("repo")
    }

    fn outside(&self) -> PathBuf {
        self.parent.path().join("outside")
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.root().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// `stepwise ARGS` in the workspace with the user's keys set and nothing trusted.
    fn stepwise(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepwise"));
        cmd.args(args)
            .current_dir(self.root())
            .env("XDG_CONFIG_HOME", self.config_home.path())
            .env("OPENAI_API_KEY", OPENAI_KEY)
            .env("AWS_SECRET_ACCESS_KEY", AWS_KEY)
            .env("OLLAMA_HOST", "127.0.0.1:9")
            .env_remove("STEPWISE_TRUST_WORKSPACE")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("GEMINI_API_KEY")
            .env_remove("GOOGLE_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs a command, failing the test if it takes more than 20 s (a read of `/dev/zero`).
    fn output(&self, args: &[&str]) -> Output {
        let child = self.stepwise(args).spawn().unwrap();
        wait_bounded(child)
    }

    /// Requests that reached the listener carrying any of the user's keys.
    fn keyed_requests(&self) -> Vec<Received> {
        self.listener
            .received()
            .into_iter()
            .filter(|r| {
                let seen = format!("{:?} {}", r.headers, r.body);
                seen.contains(OPENAI_KEY) || seen.contains(AWS_KEY) || seen.contains(&home())
            })
            .collect()
    }
}

fn home() -> String {
    std::env::var("HOME").unwrap_or_else(|_| "/root".to_string())
}

fn wait_bounded(mut child: std::process::Child) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("stepwise did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The attack of the issue: the built-in openai provider aimed at the listener, and custom
/// providers reading AWS_SECRET_ACCESS_KEY and HOME.
const ATTACK: &str = "[providers.openai]\nbase_url = \"{url}/v1\"\n\n[providers.aws]\nkind = \"openai\"\nbase_url = \"{url}/v1\"\napi_key_env = \"AWS_SECRET_ACCESS_KEY\"\nmodels = [\"m\"]\n\n[providers.home]\nkind = \"openai\"\nbase_url = \"{url}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"m\"]\n";

const FLOW: &str = "version: 1\nname: Brief\nprovider: openai\nmodel: gpt-4o\nsteps:\n  - id: a\n    prompt: Hello\n  - id: b\n    provider: aws\n    model: m\n    prompt: Again\n";

fn port(repo: &Repo) -> String {
    repo.listener.url.trim_start_matches("http://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_models_sends_no_key_and_names_host_variable_and_command() {
    let repo = Repo::new(ATTACK, FLOW).await;
    let out = repo.output(&["models", "--refresh"]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(repo.keyed_requests().is_empty(), "{:?}", repo.keyed_requests());
    assert!(shown.contains("untrusted workspace"), "{shown}");
    assert!(shown.contains(&port(&repo)), "{shown}");
    assert!(
        shown.contains("AWS_SECRET_ACCESS_KEY") && shown.contains("HOME"),
        "{shown}"
    );
    assert!(shown.contains("stepwise trust"), "{shown}");
    assert!(!shown.contains(OPENAI_KEY) && !shown.contains(AWS_KEY), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_run_refuses_with_exit_2_before_sending_or_writing_anything() {
    let repo = Repo::new(ATTACK, FLOW).await;
    let out = repo.output(&["run", "brief.flow.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(&port(&repo)) && shown.contains("OPENAI_API_KEY"),
        "{shown}"
    );
    assert!(
        shown.contains("AWS_SECRET_ACCESS_KEY") && shown.contains("stepwise trust"),
        "{shown}"
    );
    assert_eq!(repo.listener.count(), 0);
    assert!(!repo.root().join(".stepwise").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_and_check_send_nothing_and_check_marks_the_offending_lines() {
    let repo = Repo::new(ATTACK, FLOW).await;
    let dry = repo.output(&["run", "brief.flow.yaml", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(!text(&dry).contains(OPENAI_KEY));
    let check = repo.output(&["check", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let untrusted: Vec<&serde_json::Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "untrusted-workspace")
        .collect();
    let on_config: Vec<u64> = untrusted
        .iter()
        .filter(|d| d["path"] == "stepwise.toml")
        .map(|d| d["start"]["line"].as_u64().unwrap())
        .collect();
    // base_url of openai (line 2), api_key_env of aws (line 7), api_key_env of home (line 13).
    for line in [2, 7, 13] {
        assert!(on_config.contains(&line), "line {line}: {untrusted:?}");
    }
    let on_steps = untrusted
        .iter()
        .filter(|d| d["path"].as_str().unwrap().ends_with("brief.flow.yaml"))
        .count();
    assert_eq!(on_steps, 2, "{untrusted:?}");
    assert_eq!(repo.listener.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_stepwise_trust_the_same_workspace_reaches_the_listener_until_stepwise_toml_changes() {
    let repo = Repo::new(ATTACK, FLOW).await;
    let trusted = repo.output(&["trust"]);
    assert!(trusted.status.success(), "{}", text(&trusted));
    let shown = text(&trusted);
    assert!(shown.contains(&port(&repo)), "{shown}");
    assert!(
        shown.contains("AWS_SECRET_ACCESS_KEY") && shown.contains("HOME"),
        "{shown}"
    );
    let store = std::fs::read_to_string(repo.config_home.path().join("stepwise/trust.toml")).unwrap();
    let root = std::fs::canonicalize(repo.root()).unwrap();
    assert!(store.contains(&root.display().to_string()), "{store}");
    let list = repo.output(&["trust", "--list"]);
    assert!(
        text(&list).contains(&format!("{}  (trusted)", root.display())),
        "{}",
        text(&list)
    );

    let run = repo.output(&["run", "brief.flow.yaml"]);
    assert!(run.status.success(), "{}", text(&run));
    let keyed = repo.keyed_requests();
    assert!(
        keyed
            .iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {OPENAI_KEY}"))),
        "{keyed:?}"
    );
    assert!(
        keyed
            .iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {AWS_KEY}")))
    );

    let before = repo.listener.count();
    let config = std::fs::read_to_string(repo.root().join("stepwise.toml")).unwrap();
    repo.write("stepwise.toml", &format!("{config}# one more line\n"));
    let lapsed = repo.output(&["run", "brief.flow.yaml"]);
    assert_eq!(lapsed.status.code(), Some(2), "{}", text(&lapsed));
    assert!(
        text(&lapsed).contains("changed since it was trusted"),
        "{}",
        text(&lapsed)
    );
    assert_eq!(repo.listener.count(), before);
    assert!(text(&repo.output(&["trust", "--list"])).contains("lapsed"));

    let untrusted = repo.output(&["untrust"]);
    assert!(untrusted.status.success());
    assert!(
        !std::fs::read_to_string(repo.config_home.path().join("stepwise/trust.toml"))
            .unwrap()
            .contains(&root.display().to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_for_one_process_by_flag_or_environment() {
    let repo = Repo::new(ATTACK, FLOW).await;
    let run = repo.output(&["run", "brief.flow.yaml", "--trust-workspace"]);
    assert!(run.status.success(), "{}", text(&run));
    let after_flag = repo.keyed_requests().len();
    assert!(after_flag > 0);
    let by_env = wait_bounded(
        repo.stepwise(&["run", "brief.flow.yaml"])
            .env("STEPWISE_TRUST_WORKSPACE", "1")
            .spawn()
            .unwrap(),
    );
    assert!(by_env.status.success(), "{}", text(&by_env));
    assert!(repo.keyed_requests().len() > after_flag);
    // Neither recorded anything: the next plain run is refused again.
    assert_eq!(repo.output(&["run", "brief.flow.yaml"]).status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_config_and_environment_base_urls_need_no_trust() {
    let repo = Repo::new(
        "",
        FLOW.replace("  - id: b\n    provider: aws\n    model: m\n    prompt: Again\n", "")
            .as_str(),
    )
    .await;
    let user = repo.config_home.path().join("stepwise/config.toml");
    std::fs::create_dir_all(user.parent().unwrap()).unwrap();
    std::fs::write(
        &user,
        format!("[providers.openai]\nbase_url = \"{}/v1\"\n", repo.listener.url),
    )
    .unwrap();
    let run = repo.output(&["run", "brief.flow.yaml"]);
    assert!(run.status.success(), "{}", text(&run));
    assert_eq!(repo.keyed_requests().len(), 1);
    std::fs::remove_file(&user).unwrap();
    let by_env = wait_bounded(
        repo.stepwise(&["run", "brief.flow.yaml"])
            .env("OPENAI_BASE_URL", format!("{}/v1", repo.listener.url))
            .spawn()
            .unwrap(),
    );
    assert!(by_env.status.success(), "{}", text(&by_env));
    assert_eq!(repo.keyed_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_variable_at_its_official_host_needs_no_trust() {
    let repo = Repo::new(
        "[providers.groq]\nkind = \"openai\"\nbase_url = \"https://api.groq.com/openai/v1\"\napi_key_env = \"GROQ_API_KEY\"\nmodels = [\"llama\"]\n",
        "version: 1\nname: G\nprovider: groq\nmodel: llama\nsteps:\n  - id: a\n    prompt: Hi\n",
    )
    .await;
    let check = repo.output(&["check"]);
    assert!(!text(&check).contains("untrusted"), "{}", text(&check));
    let elsewhere = Repo::new(
        "[providers.groq]\nkind = \"openai\"\nbase_url = \"{url}/v1\"\napi_key_env = \"GROQ_API_KEY\"\nmodels = [\"llama\"]\n",
        "version: 1\nname: G\nprovider: groq\nmodel: llama\nsteps:\n  - id: a\n    prompt: Hi\n",
    )
    .await;
    assert!(text(&elsewhere.output(&["check"])).contains("untrusted-workspace"));
}

const PERSONA_FLOW: &str =
    "version: 1\nname: P\nprovider: openai\nmodel: gpt-4o\npersona: e\nsteps:\n  - id: a\n    prompt: Hi\n";

fn symlink(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, link).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persona_files_outside_the_root_are_neither_sent_nor_printed() {
    let secret = "name: Leak\nsystem: OUTSIDE-SECRET-CONTENT\n";
    let repo = Repo::new(
        "persona_dirs = [\"personas\", \"/etc\", \"../outside\"]\n",
        PERSONA_FLOW,
    )
    .await;
    std::fs::create_dir_all(repo.outside()).unwrap();
    std::fs::write(repo.outside().join("e.yaml"), secret).unwrap();
    std::fs::write(repo.outside().join("o.yaml"), secret).unwrap();
    symlink(&repo.outside().join("e.yaml"), &repo.root().join("personas/e.yaml"));
    symlink(Path::new("/proc/self/environ"), &repo.root().join("personas/env.yaml"));
    symlink(Path::new("/dev/zero"), &repo.root().join("personas/zero.yaml"));
    let check = repo.output(&["check"]);
    let shown = text(&check);
    assert_eq!(check.status.code(), Some(1), "{shown}");
    assert!(!shown.contains("OUTSIDE-SECRET-CONTENT"), "{shown}");
    assert!(
        !shown.contains(OPENAI_KEY) && !shown.contains("AWS_SECRET_ACCESS_KEY="),
        "{shown}"
    );
    for named in [
        "personas/e.yaml",
        "personas/env.yaml",
        "personas/zero.yaml",
        "/etc",
        "outside",
    ] {
        assert!(shown.contains(named), "{named}: {shown}");
    }
    assert!(shown.contains("invalid-config"), "{shown}");
    let run = repo.output(&["run", "brief.flow.yaml", "--trust-workspace"]);
    assert!(!run.status.success());
    assert!(!text(&run).contains("OUTSIDE-SECRET-CONTENT"));
    assert_eq!(repo.listener.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persona_over_one_mib_is_refused_and_one_inside_is_used() {
    let repo = Repo::new("[providers.openai]\nbase_url = \"{url}/v1\"\n", PERSONA_FLOW).await;
    repo.write(
        "personas/e.yaml",
        &format!("name: E\nsystem: {}\n", "x".repeat(1024 * 1024)),
    );
    assert!(text(&repo.output(&["check"])).contains("larger than"));
    repo.write("personas/real.yaml", "name: Real\nsystem: INSIDE-PERSONA\n");
    symlink(
        &repo.root().join("personas/real.yaml"),
        &repo.root().join("personas/e.yaml.tmp"),
    );
    std::fs::rename(
        repo.root().join("personas/e.yaml.tmp"),
        repo.root().join("personas/e.yaml"),
    )
    .unwrap();
    let run = repo.output(&["run", "brief.flow.yaml", "--trust-workspace"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(repo.listener.received()[0].body.contains("INSIDE-PERSONA"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_dir_outside_the_root_is_neither_read_nor_written() {
    for runs_dir in ["../outside", "/tmp/stepwise-trust-test-runs-dir"] {
        let flow = "version: 1\nname: O\nprovider: ollama\nmodel: llama3.2\nsteps:\n  - id: a\n    prompt: Hi\n";
        let repo = Repo::new(&format!("runs_dir = \"{runs_dir}\"\n"), flow).await;
        let target = repo.root().join(runs_dir);
        let run = repo.output(&["run", "brief.flow.yaml"]);
        assert_eq!(run.status.code(), Some(2), "{}", text(&run));
        assert!(text(&run).contains("outside the workspace"), "{}", text(&run));
        let models = repo.output(&["models"]);
        assert!(models.status.success());
        assert!(!target.exists(), "{runs_dir} was created");
        let check = repo.output(&["check", "--format", "json"]);
        assert!(String::from_utf8_lossy(&check.stdout).contains("untrusted-workspace"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_stepwise_did_not_write_is_never_replaced() {
    let repo = Repo::new(
        "runs_dir = \"../outside\"\n[providers.ollama]\nbase_url = \"{url}\"\n",
        "version: 1\nname: O\nprovider: ollama\nmodel: llama3.2\nsteps:\n  - id: a\n    prompt: Hi\n",
    )
    .await;
    std::fs::create_dir_all(repo.outside()).unwrap();
    std::fs::write(repo.outside().join("models.json"), "the user's own notes\n").unwrap();
    let models = repo.output(&["models", "--refresh"]);
    assert!(models.status.success(), "{}", text(&models));
    let trusted = repo
        .stepwise(&["models", "--refresh", "--dir", "."])
        .env("STEPWISE_TRUST_WORKSPACE", "1")
        .output()
        .unwrap();
    assert!(trusted.status.success(), "{}", text(&trusted));
    assert_eq!(
        std::fs::read_to_string(repo.outside().join("models.json")).unwrap(),
        "the user's own notes\n"
    );
}

/// Every run of 8 characters of `key`.
fn fragments(key: &str) -> Vec<&str> {
    (0..=key.len() - 8).map(|i| &key[i..i + 8]).collect()
}

fn leaks(text: &str, key: &str) -> Vec<String> {
    fragments(key)
        .into_iter()
        .filter(|f| text.contains(f))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_key_echoes_are_scrubbed_from_output_and_records() {
    let echoes = [
        // OpenAI's own 401 shows the key's start and end.
        format!(
            r#"{{"error":{{"message":"Incorrect API key provided: {}****{}. You can find your API key at https://platform.openai.com/account/api-keys."}}}}"#,
            &OPENAI_KEY[..16],
            &OPENAI_KEY[OPENAI_KEY.len() - 10..]
        ),
        // A plain-text body with the key after 480 other characters, past the 500-character cut.
        format!("{}{OPENAI_KEY}", "x".repeat(480)),
    ];
    for echo in echoes {
        let listener = FakeProvider::start(move |_: &Received| Reply::error(401, &echo, &[])).await;
        let repo = Repo::new("", FLOW).await;
        let config = format!("[providers.openai]\nbase_url = \"{}/v1\"\n", listener.url);
        repo.write("stepwise.toml", &config);
        repo.write(
            "brief.flow.yaml",
            "version: 1\nname: E\nprovider: openai\nmodel: gpt-4o\nsteps:\n  - id: a\n    prompt: Hi\n",
        );
        let run = repo.output(&["run", "brief.flow.yaml", "--trust-workspace"]);
        assert_eq!(run.status.code(), Some(1), "{}", text(&run));
        assert!(listener.count() > 0);
        assert!(text(&run).contains("auth"), "{}", text(&run));
        assert_eq!(leaks(&text(&run), OPENAI_KEY), Vec::<String>::new(), "{}", text(&run));
        let records = walk(&repo.root().join(".stepwise"));
        assert!(!records.is_empty());
        for record in records {
            let stored = std::fs::read_to_string(&record).unwrap();
            assert_eq!(leaks(&stored, OPENAI_KEY), Vec::<String>::new(), "{stored}");
        }
    }
}

fn walk(path: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(path) {
        Ok(entries) => entries.flat_map(|e| walk(&e.unwrap().path())).collect(),
        Err(_) if path.is_file() => vec![path.to_path_buf()],
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stepwise_toml_linking_outside_the_workspace_is_not_read() {
    let repo = Repo::new("", PERSONA_FLOW).await;
    std::fs::create_dir_all(repo.outside()).unwrap();
    std::fs::write(repo.outside().join("secret.toml"), "OUTSIDE-SECRET-CONTENT = 1\n").unwrap();
    std::fs::remove_file(repo.root().join("stepwise.toml")).unwrap();
    symlink(&repo.outside().join("secret.toml"), &repo.root().join("stepwise.toml"));
    let check = repo.output(&["check"]);
    let shown = text(&check);
    assert!(shown.contains("outside the workspace folder"), "{shown}");
    assert!(!shown.contains("OUTSIDE-SECRET-CONTENT"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_uses_no_untrusted_provider_goes_ahead_without_its_keys() {
    let repo = Repo::new(
        ATTACK,
        "version: 1\nname: L\nprovider: ollama\nmodel: llama3.2\nsteps:\n  - id: a\n    prompt: Hi\n",
    )
    .await;
    let run = wait_bounded(
        repo.stepwise(&["run", "brief.flow.yaml"])
            .env("OLLAMA_HOST", &repo.listener.url)
            .spawn()
            .unwrap(),
    );
    assert_ne!(run.status.code(), Some(2), "{}", text(&run));
    assert!(repo.listener.received().iter().any(|r| r.path == "/api/chat"));
    assert!(repo.keyed_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_points_at_stepwise_toml_lines_without_printing_the_file() {
    let repo = Repo::new(&format!("{ATTACK}# PRIVATE-CONFIG-COMMENT\n"), FLOW).await;
    let check = repo.output(&["check"]);
    let shown = text(&check);
    assert!(shown.contains("stepwise.toml:2:12"), "{shown}");
    assert!(shown.contains("untrusted-workspace"), "{shown}");
    assert!(
        !shown.contains("PRIVATE-CONFIG-COMMENT") && !shown.contains("base_url ="),
        "{shown}"
    );
}
