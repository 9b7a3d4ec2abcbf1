//! Provider wire formats and failure handling against a fake server: exact requests, each
//! failure class, retries, fallbacks and the degraded-provider record.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use stepwise::engine::error::ErrorClass;
use stepwise::engine::record::{StepAttempt, StepStatus};
use stepwise::engine::{RunEvent, RunTarget};
use stepwise::model::health::Health;
use support::fake_provider::{
    FakeProvider, Reply, StreamEnd, anthropic_stream, google_stream, ollama_stream, openai_stream, sequence,
};
use support::{KEY, Project, config_for, fast_engine, one_step, run, tree_contains};

async fn run_one(project: &Project, retries: u32) -> StepAttempt {
    let (record, _) = run(&fast_engine(retries), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    record.step("only").unwrap().last().unwrap().clone()
}

fn classes(step: &StepAttempt) -> Vec<Option<ErrorClass>> {
    step.calls.iter().map(|a| a.error.as_ref().map(|e| e.class)).collect()
}

#[tokio::test]
async fn anthropic_request_is_exact_and_stream_is_decoded() {
    let server = FakeProvider::start(|_| anthropic_stream(&["Hi ", "Ada"], 11, 5)).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &one_step("anthropic", "claude-haiku-4-5", ""),
    );
    let step = run_one(&project, 0).await;
    let got = &server.received()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/v1/messages");
    assert_eq!(got.header("x-api-key"), Some(KEY));
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        got.json(),
        json!({
            "model": "claude-haiku-4-5",
            "max_tokens": 300,
            "system": "You are terse.",
            "messages": [{"role": "user", "content": "Say hi to Ada."}],
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "stream": true
        })
    );
    assert_eq!(step.status, StepStatus::Completed);
    assert_eq!(step.output.as_deref(), Some("Hi Ada"));
    assert_eq!((step.usage.input_tokens, step.usage.output_tokens), (11, 5));
}

#[tokio::test]
async fn openai_request_sends_persona_as_system_message_and_asks_for_usage() {
    let server = FakeProvider::start(|_| openai_stream(&["Hel", "lo"], 7, 2)).await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("openai", "gpt-4o", ""));
    let step = run_one(&project, 0).await;
    let got = &server.received()[0];
    assert_eq!(got.path, "/v1/chat/completions");
    assert_eq!(got.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(
        got.json(),
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Say hi to Ada."}
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_completion_tokens": 300,
            "stop": ["END"],
            "stream": true,
            "stream_options": {"include_usage": true}
        })
    );
    assert_eq!(step.output.as_deref(), Some("Hello"));
    assert_eq!((step.usage.input_tokens, step.usage.output_tokens), (7, 2));
}

#[tokio::test]
async fn openai_compatible_provider_uses_its_base_url_key_and_max_tokens() {
    let server = FakeProvider::start(|_| openai_stream(&["ok"], 1, 1)).await;
    let extra = format!(
        "[providers.groq]\nkind = \"openai\"\nbase_url = \"{}/openai/v1\"\napi_key_env = \"GROQ_API_KEY\"\nmodels = [\"llama-3.3-70b-versatile\"]\n",
        server.url
    );
    let project = Project::new(&extra, &one_step("groq", "llama-3.3-70b-versatile", ""));
    let step = run_one(&project, 0).await;
    let got = &server.received()[0];
    assert_eq!(got.path, "/openai/v1/chat/completions");
    assert_eq!(got.json()["max_tokens"], json!(300));
    assert_eq!(step.answered_by.unwrap().provider, "groq");
}

#[tokio::test]
async fn google_request_uses_system_instruction_and_generation_config() {
    let server = FakeProvider::start(|_| google_stream(&["Bon", "jour"], 4, 3)).await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &one_step("google", "gemini-2.5-flash", ""),
    );
    let step = run_one(&project, 0).await;
    let got = &server.received()[0];
    assert_eq!(
        got.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(got.header("x-goog-api-key"), Some(KEY));
    assert_eq!(
        got.json(),
        json!({
            "contents": [{"role": "user", "parts": [{"text": "Say hi to Ada."}]}],
            "systemInstruction": {"parts": [{"text": "You are terse."}]},
            "generationConfig": {
                "temperature": 0.2,
                "topP": 0.9,
                "maxOutputTokens": 300,
                "stopSequences": ["END"]
            }
        })
    );
    assert_eq!(step.output.as_deref(), Some("Bonjour"));
    assert_eq!((step.usage.input_tokens, step.usage.output_tokens), (4, 3));
}

#[tokio::test]
async fn ollama_request_streams_ndjson_without_a_key() {
    let server = FakeProvider::start(|_| ollama_stream(&["a", "b"], 9, 2)).await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("ollama", "llama3.2", ""));
    let step = run_one(&project, 0).await;
    let got = &server.received()[0];
    assert_eq!(got.path, "/api/chat");
    assert_eq!(got.header("authorization"), None);
    assert_eq!(
        got.json(),
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Say hi to Ada."}
            ],
            "stream": true,
            "options": {"temperature": 0.2, "top_p": 0.9, "num_predict": 300, "stop": ["END"]}
        })
    );
    assert_eq!(step.output.as_deref(), Some("ab"));
    assert_eq!((step.usage.input_tokens, step.usage.output_tokens), (9, 2));
}

#[tokio::test]
async fn rate_limit_429_waits_retry_after_then_succeeds() {
    let server = FakeProvider::start(sequence(vec![
        Reply::error(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
            &[("retry-after-ms", "150"), ("retry-after", "100")],
        ),
        anthropic_stream(&["fine"], 1, 1),
    ]))
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let started = Instant::now();
    let step = run_one(&project, 2).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(classes(&step), vec![Some(ErrorClass::RateLimit), None]);
    assert_eq!(step.calls[0].error.as_ref().unwrap().message, "slow down");
    assert_eq!(step.output.as_deref(), Some("fine"));
}

#[tokio::test]
async fn retry_after_beyond_the_cap_moves_to_the_fallback_without_waiting() {
    let server = FakeProvider::start(|r| {
        if r.path == "/v1/messages" {
            Reply::error(429, r#"{"error":{"message":"quota"}}"#, &[("retry-after", "30")])
        } else {
            openai_stream(&["from openai"], 1, 1)
        }
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &one_step("anthropic", "m", "    fallback: [openai/gpt-4o-mini]\n"),
    );
    let started = Instant::now();
    let step = run_one(&project, 2).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(classes(&step), vec![Some(ErrorClass::RateLimit), None]);
    let answered = step.answered_by.unwrap();
    assert_eq!(
        (answered.provider.as_str(), answered.model.as_str()),
        ("openai", "gpt-4o-mini")
    );
}

#[tokio::test]
async fn overloaded_529_is_retried_then_fails_and_marks_the_provider_degraded() {
    let server = FakeProvider::start(|_| {
        Reply::error(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &[],
        )
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let step = run_one(&project, 2).await;
    assert_eq!(server.count(), 3);
    assert_eq!(step.status, StepStatus::Failed);
    let error = step.error.unwrap();
    assert_eq!(
        stepwise::analysis::run_text::error_summary(&error),
        "anthropic overloaded (529) after 3 attempts: Overloaded"
    );
    let health = Health::load(&project.runs_dir());
    assert_eq!(health.degraded_reason("anthropic").as_deref(), Some("overloaded (529)"));
}

#[tokio::test]
async fn server_error_500_is_retried_and_success_clears_degraded_state() {
    let server = FakeProvider::start(sequence(vec![
        Reply::error(500, r#"{"error":{"message":"boom"}}"#, &[]),
        openai_stream(&["ok"], 1, 1),
    ]))
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("openai", "gpt-4o", ""));
    std::fs::create_dir_all(project.runs_dir()).unwrap();
    let stale_health = format!(
        r#"{{"providers":{{"openai":{{"failed_at":{},"reason":"server (500)"}}}}}}"#,
        stepwise::model::health::unix_now()
    );
    std::fs::write(Health::path(&project.runs_dir()), stale_health).unwrap();
    let step = run_one(&project, 2).await;
    assert_eq!(classes(&step), vec![Some(ErrorClass::Server), None]);
    assert_eq!(Health::load(&project.runs_dir()).degraded_reason("openai"), None);
}

#[tokio::test]
async fn service_unavailable_503_is_retried() {
    let server = FakeProvider::start(sequence(vec![
        Reply::error(503, "upstream unavailable", &[]),
        Reply::error(503, "upstream unavailable", &[]),
        google_stream(&["ok"], 1, 1),
    ]))
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &one_step("google", "gemini-2.5-flash", ""),
    );
    let step = run_one(&project, 2).await;
    assert_eq!(
        classes(&step),
        vec![Some(ErrorClass::Server), Some(ErrorClass::Server), None]
    );
    assert_eq!(step.calls[0].error.as_ref().unwrap().message, "upstream unavailable");
}

#[tokio::test]
async fn connection_reset_is_a_connection_error_and_retried() {
    let server = FakeProvider::start(sequence(vec![Reply::Reset, anthropic_stream(&["ok"], 1, 1)])).await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let step = run_one(&project, 1).await;
    assert_eq!(classes(&step), vec![Some(ErrorClass::Connection), None]);
    assert_eq!(step.output.as_deref(), Some("ok"));
}

#[tokio::test]
async fn stall_past_the_timeout_fails_as_timeout() {
    let server = FakeProvider::start(|_| Reply::Stall).await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let started = Instant::now();
    let step = run_one(&project, 0).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(classes(&step), vec![Some(ErrorClass::Timeout)]);
}

#[tokio::test]
async fn stall_mid_stream_fails_as_timeout_with_partial_output_discarded() {
    let server = FakeProvider::start(|_| {
        anthropic_stream(&["part"], 1, 1)
            .end_after(4, StreamEnd::Stall)
            .delayed(Duration::from_millis(50))
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let step = run_one(&project, 0).await;
    assert_eq!(classes(&step), vec![Some(ErrorClass::Timeout)]);
    assert_eq!(step.calls[0].discarded_chars, 4);
}

#[tokio::test]
async fn stream_cut_mid_way_discards_partial_output_and_retries() {
    let server = FakeProvider::start(sequence(vec![
        openai_stream(&["partial ", "answer"], 1, 1).end_after(2, StreamEnd::Cut),
        openai_stream(&["whole answer"], 3, 2),
    ]))
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("openai", "gpt-4o", ""));
    let (record, events) = run(&fast_engine(1), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let step = record.step("only").unwrap().last().unwrap();
    assert_eq!(classes(step), vec![Some(ErrorClass::StreamBroken), None]);
    assert_eq!(step.calls[0].discarded_chars, "partial ".len());
    assert_eq!(step.output.as_deref(), Some("whole answer"));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::CallFailed { call, .. } if call.discarded_chars == 8))
    );
}

#[tokio::test]
async fn malformed_json_in_the_stream_is_stream_broken() {
    let server = FakeProvider::start(|_| Reply::sse(vec!["data: {\"choices\": [oops\n\n".to_string()])).await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("openai", "gpt-4o", ""));
    let step = run_one(&project, 0).await;
    let error = step.error.unwrap();
    assert_eq!(error.failure.class, ErrorClass::StreamBroken);
    assert!(
        error.failure.message.contains("malformed JSON"),
        "{}",
        error.failure.message
    );
}

#[tokio::test]
async fn anthropic_error_event_after_200_is_classed_by_its_type() {
    let server = FakeProvider::start(|_| {
        let Reply::Stream { mut chunks, .. } = anthropic_stream(&["so far"], 1, 1) else {
            unreachable!()
        };
        chunks.truncate(4);
        chunks.push("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".to_string());
        Reply::sse(chunks)
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let step = run_one(&project, 0).await;
    let attempt = &step.calls[0];
    assert_eq!(attempt.error.as_ref().unwrap().class, ErrorClass::Overloaded);
    assert_eq!(attempt.error.as_ref().unwrap().message, "Overloaded");
    assert_eq!(attempt.discarded_chars, "so far".len());
}

#[tokio::test]
async fn ollama_error_line_mid_stream_fails_the_attempt() {
    let server = FakeProvider::start(|_| {
        Reply::ndjson(vec![
            "{\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"done\":false}\n".to_string(),
            "{\"error\":\"model ran out of memory\"}\n".to_string(),
        ])
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("ollama", "llama3.2", ""));
    let step = run_one(&project, 0).await;
    assert_eq!(step.error.unwrap().failure.message, "model ran out of memory");
}

#[tokio::test]
async fn unauthorized_401_fails_at_once_without_retry_or_fallback() {
    let server = FakeProvider::start(|r| {
        if r.path == "/v1/messages" {
            Reply::error(
                401,
                r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                &[],
            )
        } else {
            openai_stream(&["should not be asked"], 1, 1)
        }
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &one_step("anthropic", "m", "    fallback: [openai]\n"),
    );
    let step = run_one(&project, 2).await;
    assert_eq!(server.count(), 1);
    let error = step.error.unwrap();
    assert_eq!(error.failure.class, ErrorClass::Auth);
    assert_eq!(
        stepwise::analysis::run_text::error_summary(&error),
        "anthropic auth (401) after 1 attempt: invalid x-api-key"
    );
    assert_eq!(Health::load(&project.runs_dir()).degraded_reason("anthropic"), None);
}

#[tokio::test]
async fn fallback_chain_skips_two_providers_that_are_down() {
    let server = FakeProvider::start(|r| match r.path.as_str() {
        "/v1/messages" => Reply::error(503, r#"{"error":{"message":"down"}}"#, &[]),
        "/v1/chat/completions" => Reply::Reset,
        _ => google_stream(&["third time lucky"], 2, 3),
    })
    .await;
    let project = Project::new(
        &config_for(&server.url, ""),
        &one_step(
            "anthropic",
            "m",
            "    fallback: [openai/gpt-4o-mini, google/gemini-2.5-pro]\n",
        ),
    );
    let step = run_one(&project, 1).await;
    let tried: Vec<(&str, Option<ErrorClass>)> = step
        .calls
        .iter()
        .map(|a| (a.provider.as_str(), a.error.as_ref().map(|e| e.class)))
        .collect();
    assert_eq!(
        tried,
        vec![
            ("anthropic", Some(ErrorClass::Server)),
            ("anthropic", Some(ErrorClass::Server)),
            ("openai", Some(ErrorClass::Connection)),
            ("openai", Some(ErrorClass::Connection)),
            ("google", None),
        ]
    );
    let answered = step.answered_by.unwrap();
    assert_eq!(
        (answered.provider.as_str(), answered.model.as_str()),
        ("google", "gemini-2.5-pro")
    );
    assert_eq!(step.output.as_deref(), Some("third time lucky"));
    let health = Health::load(&project.runs_dir());
    assert!(health.degraded_reason("anthropic").is_some());
    assert!(health.degraded_reason("openai").is_some());
}

#[tokio::test]
async fn api_key_never_reaches_records_or_events() {
    let server = FakeProvider::start(|r| {
        Reply::error(
            400,
            &format!(
                r#"{{"error":{{"message":"bad key {}"}}}}"#,
                r.header("x-api-key").unwrap_or("")
            ),
            &[],
        )
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let (_, events) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    assert!(!tree_contains(project.dir.path(), KEY));
    assert!(!format!("{events:?}").contains(KEY));
}

#[tokio::test]
async fn model_listing_is_fetched_and_cached_on_disk() {
    use stepwise::engine::models::ModelCache;
    let server = FakeProvider::start(|r| match r.path.as_str() {
        "/v1/models?limit=1000" => Reply::error(
            200,
            r#"{"data":[{"id":"claude-new-1","type":"model"}],"has_more":false}"#,
            &[],
        ),
        "/api/tags" => Reply::error(200, r#"{"models":[{"name":"qwen3:8b"}]}"#, &[]),
        _ => Reply::error(404, "{}", &[]),
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let request = project.request(RunTarget::Workflow);
    let engine = fast_engine(0);
    let mut cache = ModelCache::default();
    let max_age = Duration::from_secs(60);
    cache
        .refresh(
            engine.client(),
            &request.workspace.catalog,
            request.env.as_ref(),
            &project.runs_dir(),
            max_age,
            Duration::from_secs(2),
        )
        .await;
    let asked = server.count();
    let loaded = ModelCache::load(&project.runs_dir());
    assert_eq!(
        loaded.fresh("anthropic", max_age),
        Some(&["claude-new-1".to_string()][..])
    );
    assert_eq!(loaded.fresh("ollama", max_age), Some(&["qwen3:8b".to_string()][..]));
    let models_request = server
        .received()
        .into_iter()
        .find(|r| r.path.starts_with("/v1/models"))
        .unwrap();
    assert_eq!(models_request.header("x-api-key"), Some(KEY));
    let mut again = loaded.clone();
    again
        .refresh(
            engine.client(),
            &request.workspace.catalog,
            request.env.as_ref(),
            &project.runs_dir(),
            max_age,
            Duration::from_secs(2),
        )
        .await;
    let refetched: Vec<_> = server.received()[asked..].iter().map(|r| r.path.clone()).collect();
    assert!(
        !refetched
            .iter()
            .any(|p| p == "/v1/models?limit=1000" || p == "/api/tags")
    );
}

#[tokio::test]
async fn a_one_letter_key_leaves_that_letter_in_the_answer() {
    let server = FakeProvider::start(|_| anthropic_stream(&["Hi ", "Rex"], 11, 5)).await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let mut request = project.request(RunTarget::Workflow);
    let mut env: BTreeMap<String, String> = [("STEPWISE_TRUST_WORKSPACE", "1"), ("ANTHROPIC_API_KEY", "x")]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into();
    env.insert("OPENAI_API_KEY".into(), KEY.into());
    request.env = Arc::new(env);
    let (record, _) = run(&fast_engine(0), request).await.unwrap();
    let step = record.step("only").unwrap().last().unwrap();
    assert_eq!(step.status, StepStatus::Completed);
    assert_eq!(step.output.as_deref(), Some("Hi Rex"));
}

#[tokio::test]
async fn a_key_echoed_a_few_characters_at_a_time_never_reaches_output_or_events() {
    let pieces: Vec<String> = format!("Your key is {KEY}, keep it safe.")
        .as_bytes()
        .chunks(3)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let server = FakeProvider::start(move |_| {
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        anthropic_stream(&pieces, 11, 5)
    })
    .await;
    let project = Project::new(&config_for(&server.url, ""), &one_step("anthropic", "m", ""));
    let (record, events) = run(&fast_engine(0), project.request(RunTarget::Workflow))
        .await
        .unwrap();
    let step = record.step("only").unwrap().last().unwrap();
    assert_eq!(step.output.as_deref(), Some("Your key is ***, keep it safe."));
    let live: String = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(live, "Your key is ***, keep it safe.");
    assert!(!tree_contains(project.dir.path(), &KEY[..8]));
}
