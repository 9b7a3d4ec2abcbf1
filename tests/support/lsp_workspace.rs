//! A workspace for driving runs from the editor: a temp folder whose `stepwise.toml` points the
//! providers at one fake server on 127.0.0.1, and the real `stepwise lsp` with the workflow open.

use serde_json::Value;

use super::fake_provider::{FakeProvider, Received, Reply};
use super::lsp::{TestServer, uri};

/// Anthropic and OpenAI at the fake server (`{url}`), Ollama at a closed port (unavailable).
pub const LOCAL_PROVIDERS: &str = "[providers.anthropic]\nbase_url = \"{url}\"\n[providers.openai]\nbase_url = \"{url}/v1\"\n[providers.ollama]\nbase_url = \"http://127.0.0.1:9\"\n";

/// The keys of the providers at the fake server, and the workspace trusted.
pub const LOCAL_KEYS: [(&str, &str); 3] = [
    ("ANTHROPIC_API_KEY", "sk-test-anthropic"),
    ("OPENAI_API_KEY", "sk-test-openai"),
    ("STEPWISE_TRUST_WORKSPACE", "1"),
];

/// The open workspace; dropping it stops the server and removes the folder.
pub struct LspWorkspace {
    pub server: TestServer,
    /// The workflow's URI.
    pub uri: String,
    pub provider: FakeProvider,
    /// Keeps the fake provider's tasks running.
    pub runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

/// What the workspace holds besides the workflow.
pub struct WorkspaceSpec<'a> {
    /// `stepwise.toml`, with `{url}` for the fake server's address.
    pub config: &'a str,
    /// The workflow's file name.
    pub file: &'a str,
    /// The server's environment.
    pub env: &'a [(&'a str, &'a str)],
    /// The client capabilities the server is initialized with.
    pub capabilities: Value,
}

impl LspWorkspace {
    /// Starts the fake provider answering with `handler`, writes the workspace, starts and
    /// initializes the server and opens `flow`, waiting for its first diagnostics.
    pub fn open(
        spec: WorkspaceSpec,
        flow: &str,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> LspWorkspace {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let provider = runtime.block_on(FakeProvider::start(handler));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("stepwise.toml"),
            spec.config.replace("{url}", &provider.url),
        )
        .unwrap();
        let path = dir.path().join(spec.file);
        std::fs::write(&path, flow).unwrap();
        let uri = uri(&path);
        let (mut server, _) = TestServer::initialized(spec.env, spec.capabilities);
        server.open(&uri, flow);
        server.diagnostics(&uri, 1);
        LspWorkspace {
            server,
            uri,
            provider,
            runtime,
            dir,
        }
    }
}
