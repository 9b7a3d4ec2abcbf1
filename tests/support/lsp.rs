//! A small LSP client that drives the real `stepwise lsp` binary over stdio.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any single wait may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A running server and the client half of the conversation.
pub struct TestServer {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// What `workspace/configuration` requests are answered with (per requested item).
    pub configuration: Value,
    /// Whether `configuration` maps sections to values, each requested item getting its
    /// section's (as yaml-language-server needs; otherwise every item gets all of it).
    pub configuration_by_section: bool,
    /// Messages received but not yet consumed (notifications, server requests, replies).
    pub notifications: VecDeque<Value>,
    /// The title of the action to pick when the server sends `window/showMessageRequest`
    /// (`None`: dismiss it).
    pub message_choice: Option<String>,
    /// Methods of server requests left for the test to answer with [`TestServer::reply`], as a
    /// busy editor would answer them late.
    pub held: Vec<&'static str>,
    next_id: i64,
}

/// Reads one `Content-Length` framed message.
pub fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            length = v.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Writes one framed message.
pub fn write_message(writer: &mut impl Write, value: &Value) {
    let body = serde_json::to_string(value).unwrap();
    write!(writer, "Content-Length: {}\r\n\r\n{}", body.len(), body).unwrap();
    writer.flush().unwrap();
}

/// A config folder that does not exist: no user config, no trust store.
pub fn no_config_home() -> std::path::PathBuf {
    std::env::temp_dir().join("stepwise-tests-no-config-home")
}

/// The `file://` URI of a path.
pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A URL where nothing listens (port 9, discard, is closed on test machines).
pub const CLOSED_PORT_URL: &str = "http://127.0.0.1:9";

impl TestServer {
    /// Starts `stepwise lsp` with extra environment variables; the API key variables of the
    /// test's own environment are cleared so availability is deterministic.
    pub fn start(env: &[(&str, &str)]) -> TestServer {
        TestServer::spawn(TestServer::command(env))
    }

    /// The `stepwise lsp` command with `env`, and without the test's own API keys.
    pub fn command(env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepwise"));
        // No user config and no trust store unless a test gives its own config folder.
        cmd.arg("lsp")
            .env("STEPWISE_LOG", "error")
            .env("XDG_CONFIG_HOME", no_config_home());
        for key in [
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "STEPWISE_TRUST_WORKSPACE",
        ] {
            cmd.env_remove(key);
        }
        // Ollama is probed on open: a closed port, so a local Ollama cannot change a test.
        cmd.env("OLLAMA_HOST", CLOSED_PORT_URL);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts any language server command speaking LSP on stdio.
    pub fn spawn(cmd: Command) -> TestServer {
        TestServer::spawn_with_stderr(cmd, Stdio::null())
    }

    /// Starts a server whose stderr (its log) goes to `stderr`.
    pub fn spawn_with_stderr(mut cmd: Command, stderr: Stdio) -> TestServer {
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(stderr);
        let mut child = cmd.spawn().expect("spawn stepwise lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(msg) = read_message(&mut reader) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        TestServer {
            child,
            stdin,
            incoming,
            configuration: Value::Null,
            configuration_by_section: false,
            notifications: VecDeque::new(),
            message_choice: None,
            held: Vec::new(),
            next_id: 1,
        }
    }

    /// Starts a server and completes the handshake with `capabilities`.
    pub fn initialized(env: &[(&str, &str)], capabilities: Value) -> (TestServer, Value) {
        let mut server = TestServer::start(env);
        let result = server
            .request("initialize", json!({ "capabilities": capabilities }))
            .expect("initialize");
        server.notify("initialized", json!({}));
        (server, result)
    }

    /// Capabilities of a typical modern client.
    pub fn default_capabilities() -> Value {
        json!({
            "workspace": {
                "didChangeWatchedFiles": { "dynamicRegistration": true },
                "inlayHint": { "refreshSupport": true }
            }
        })
    }

    /// Capabilities of a client that refreshes inlay hints and code lenses when asked, as the
    /// run tests need to see a finished step.
    pub fn refreshing_capabilities() -> Value {
        json!({
            "workspace": { "inlayHint": { "refreshSupport": true }, "codeLens": { "refreshSupport": true } }
        })
    }

    /// Sends a notification.
    pub fn notify(&mut self, method: &str, params: Value) {
        write_message(
            &mut self.stdin,
            &json!({ "jsonrpc": "2.0", "method": method, "params": params }),
        );
    }

    /// Writes raw bytes to the server's input, framed or not (for malformed-input tests).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request without waiting; returns its ID.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        write_message(
            &mut self.stdin,
            &json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }),
        );
        id
    }

    /// Waits for the next message, answering the server's own requests (`workspace/configuration`
    /// with [`TestServer::configuration`], everything else with `null`).
    fn next(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = match self.incoming.recv_timeout(left) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for the server"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server exited"),
        };
        self.answer(msg)
    }

    /// Answers `msg` when it is a server request that is not held; returns it.
    fn answer(&mut self, msg: Value) -> Value {
        let held = msg["method"].as_str().is_some_and(|m| self.held.contains(&m));
        if msg.get("method").is_some() && msg.get("id").is_some() && !held {
            let result = if msg["method"] == "workspace/configuration" {
                let items = msg["params"]["items"].as_array().cloned().unwrap_or_default();
                Value::Array(
                    items
                        .iter()
                        .map(|item| match item["section"].as_str() {
                            Some(section) if self.configuration_by_section => {
                                self.configuration.get(section).cloned().unwrap_or(Value::Null)
                            }
                            _ => self.configuration.clone(),
                        })
                        .collect(),
                )
            } else if msg["method"] == "window/showMessageRequest"
                && let Some(title) = &self.message_choice
            {
                json!({ "title": title })
            } else {
                Value::Null
            };
            let reply = json!({ "jsonrpc": "2.0", "id": msg["id"], "result": result });
            write_message(&mut self.stdin, &reply);
        }
        msg
    }

    /// The next message within `wait` (server requests answered as [`TestServer::next`] does,
    /// except the held ones), or `None`.
    pub fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let msg = self.incoming.recv_timeout(wait).ok()?;
        Some(self.answer(msg))
    }

    /// Answers a held server request.
    pub fn reply(&mut self, request: &Value, result: Value) {
        let reply = json!({ "jsonrpc": "2.0", "id": request["id"], "result": result });
        write_message(&mut self.stdin, &reply);
    }

    /// Waits for the reply to request `id`: `Ok(result)` or `Err(error)`.
    pub fn response(&mut self, id: i64) -> Result<Value, Value> {
        let is_reply = |m: &Value| m.get("id") == Some(&json!(id)) && m.get("method").is_none();
        // Moved out, not cloned: a whole-file reply is thousands of values.
        let reply = |mut m: Value| match m.get_mut("error") {
            Some(err) => Err(err.take()),
            None => Ok(m["result"].take()),
        };
        // Replies may come in any order: an earlier wait may have queued this one.
        if let Some(i) = self.notifications.iter().position(is_reply) {
            return reply(self.notifications.remove(i).unwrap());
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self.next(deadline);
            if is_reply(&msg) {
                return reply(msg);
            }
            self.notifications.push_back(msg);
        }
    }

    /// Sends a request and waits for its reply.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.send_request(method, params);
        self.response(id)
    }

    /// Waits for a notification (or server request) matching `pred`, consuming it.
    pub fn wait_for(&mut self, method: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self
            .notifications
            .iter()
            .position(|m| m["method"] == method && pred(&m["params"]))
        {
            return self.notifications.remove(i).unwrap()["params"].clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self.next(deadline);
            if msg["method"] == method && pred(&msg["params"]) {
                return msg["params"].clone();
            }
            self.notifications.push_back(msg);
        }
    }

    /// Waits for the diagnostics of `uri` at `version`.
    pub fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let params = self.wait_for("textDocument/publishDiagnostics", |p| {
            p["uri"] == uri && p["version"] == version
        });
        params["diagnostics"].as_array().cloned().unwrap_or_default()
    }

    /// Opens a document.
    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": {
                "uri": uri, "languageId": "yaml", "version": 1, "text": text
            }}),
        );
    }

    /// Replaces `start..end` (line, character) with `text` at `version`.
    pub fn edit(&mut self, uri: &str, version: i64, start: (u32, u32), end: (u32, u32), text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{
                    "range": {
                        "start": { "line": start.0, "character": start.1 },
                        "end": { "line": end.0, "character": end.1 }
                    },
                    "text": text
                }]
            }),
        );
    }

    /// Sends `method` at a position of `uri`.
    pub fn at(&mut self, method: &str, uri: &str, line: u32, character: u32) -> Result<Value, Value> {
        self.request(
            method,
            json!({
                "textDocument": { "uri": uri },
                "position": { "line": line, "character": character }
            }),
        )
    }

    /// The server's process ID (for reading its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Shuts the server down politely and waits for it to exit.
    pub fn shutdown(mut self) -> std::process::ExitStatus {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds the position of the `n`-th occurrence of `needle` in `text` (line, UTF-16 column),
/// plus `delta` characters.
pub fn pos_of(text: &str, needle: &str, delta: usize) -> (u32, u32) {
    let offset = text.find(needle).expect("needle in text") + delta;
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let col = before.rsplit('\n').next().unwrap().encode_utf16().count() as u32;
    (line, col)
}
