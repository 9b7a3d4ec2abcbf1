//! One workflow whose run has a retry, a fallback and a fan-out, and the fake provider that
//! makes it so: the run view's and `stepwise show`'s fixture.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::fake_provider::{Received, Reply, anthropic_stream, openai_stream, prompt_of};

/// `a` is retried once (anthropic 529, then an answer of two lines), `b` fans out over them,
/// `c` falls back to openai after anthropic's two 529s.
pub const FLOW: &str = "version: 1
name: History
provider: anthropic
model: claude-sonnet-4-5
steps:
  - id: a
    prompt: List two things.
  - id: b
    for_each: steps.a.output | lines
    prompt: \"Describe {{ item }}\"
  - id: c
    fallback: [openai/gpt-4o-mini]
    prompt: \"Conclude {{ steps.b.output }}\"
";

/// `stepwise.toml` lines the fixture needs: one retry.
pub const CONFIG: &str = "max_retries = 1";

fn overloaded() -> Reply {
    Reply::error(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        &[("retry-after-ms", "30")],
    )
}

/// The fake provider's answers for [`FLOW`].
pub fn handler() -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    let asked_a = AtomicUsize::new(0);
    move |r| {
        let prompt = prompt_of(r);
        if !r.path.ends_with("/v1/messages") {
            return openai_stream(&["Concluded", " by openai."], 7, 3);
        }
        if prompt.starts_with("List") {
            if asked_a.fetch_add(1, Ordering::SeqCst) == 0 {
                return overloaded();
            }
            return anthropic_stream(&["one\n", "two"], 5, 2);
        }
        if prompt.starts_with("Conclude") {
            return overloaded();
        }
        anthropic_stream(&[&format!("About {}", prompt.trim_start_matches("Describe "))], 4, 3)
    }
}
