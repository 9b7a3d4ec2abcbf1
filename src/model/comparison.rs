//! Comparisons: one step sent to several provider/model/persona targets from the same
//! upstream outputs, to see where it runs best. A comparison is its own record kind, kept
//! beside the run records; it never changes a step's output or status.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::runs::{Failure, Usage};

/// Where one comparison target sends the step: `provider[/model][@persona]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompareTarget {
    /// Provider ID.
    pub provider: String,
    /// Model ID (absent: the step's model when the provider is the step's own, else the
    /// provider's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Persona ID (absent: the step's own persona).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
}

/// Why a target's text is not `provider[/model][@persona]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetSyntaxError {
    /// Nothing between two commas, or no target at all.
    #[error("an empty target: write `provider[/model][@persona]`, several separated by commas")]
    Empty,
    /// `/model` or `@persona` without a provider.
    #[error("target `{0}` has no provider: write `provider[/model][@persona]`")]
    NoProvider(String),
    /// `provider/` or `provider@`.
    #[error("target `{0}` has an empty {1}: write `provider[/model][@persona]`")]
    EmptyPart(String, &'static str),
}

impl FromStr for CompareTarget {
    type Err = TargetSyntaxError;

    fn from_str(text: &str) -> Result<CompareTarget, TargetSyntaxError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TargetSyntaxError::Empty);
        }
        let (rest, persona) = match text.split_once('@') {
            Some((rest, persona)) => (rest, Some(persona.trim())),
            None => (text, None),
        };
        let (provider, model) = match rest.split_once('/') {
            Some((provider, model)) => (provider.trim(), Some(model.trim())),
            None => (rest.trim(), None),
        };
        if provider.is_empty() {
            return Err(TargetSyntaxError::NoProvider(text.to_string()));
        }
        let part = |value: Option<&str>, what| match value {
            Some("") => Err(TargetSyntaxError::EmptyPart(text.to_string(), what)),
            other => Ok(other.map(str::to_string)),
        };
        Ok(CompareTarget {
            provider: provider.to_string(),
            model: part(model, "model")?,
            persona: part(persona, "persona")?,
        })
    }
}

impl fmt::Display for CompareTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.provider)?;
        if let Some(model) = &self.model {
            write!(f, "/{model}")?;
        }
        if let Some(persona) = &self.persona {
            write!(f, "@{persona}")?;
        }
        Ok(())
    }
}

/// Targets separated by commas: `openai/gpt-4o,anthropic@critic`.
pub fn parse_targets(list: &str) -> Result<Vec<CompareTarget>, TargetSyntaxError> {
    list.split(',').map(str::parse).collect()
}

/// One comparison, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// UUID v7: comparisons sort by time.
    pub id: Uuid,
    /// The workflow file (canonical path).
    pub workflow: PathBuf,
    /// The step compared.
    pub step: String,
    /// The input values the prompt was rendered with.
    pub inputs: BTreeMap<String, String>,
    /// The run record whose outputs the upstream steps gave (`None`: no record was needed).
    pub upstream_run: Option<Uuid>,
    /// The rendered user prompt each target got: one, or one per fan-out item.
    pub prompts: Vec<String>,
    /// How many times each target was sent the step.
    pub repeat: u32,
    /// Unix milliseconds when the requests were sent.
    pub started_at: u64,
    /// Unix milliseconds when the last one ended.
    pub finished_at: u64,
    /// One result per target, in the order they were given.
    pub targets: Vec<TargetResult>,
}

/// What one target did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetResult {
    /// The target as given.
    pub target: CompareTarget,
    /// The provider it resolved to.
    pub provider: String,
    /// The model it resolved to.
    pub model: String,
    /// The persona it resolved to.
    pub persona: Option<String>,
    /// One sample per repetition.
    pub samples: Vec<Sample>,
}

/// One sending of the step to a target (all its fan-out items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Completed, failed or cancelled.
    pub status: SampleStatus,
    /// From the first request to the last answer.
    pub duration_ms: u64,
    /// Tokens used.
    pub usage: Usage,
    /// USD its requests cost (failed ones too, where tokens were billed); `None` when a
    /// request billed tokens at an unknown price.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// The whole answer (fan-out answers joined by a blank line).
    pub output: Option<String>,
    /// Why it failed.
    pub error: Option<Failure>,
}

/// How a sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleStatus {
    /// Answered.
    Completed,
    /// The provider refused or failed; no retry, no fallback: the target is measured.
    Failed,
    /// The comparison was cancelled.
    Cancelled,
}

impl SampleStatus {
    /// The label used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            SampleStatus::Completed => "completed",
            SampleStatus::Failed => "failed",
            SampleStatus::Cancelled => "cancelled",
        }
    }
}

/// Minimum, median and maximum latency of a target's completed samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Fastest.
    pub min_ms: u64,
    /// Middle (the lower of the two middles for an even count).
    pub median_ms: u64,
    /// Slowest.
    pub max_ms: u64,
}

impl TargetResult {
    /// The target as `provider/model[@persona]`, as resolved.
    pub fn label(&self) -> String {
        let persona = self.persona.as_ref().map(|p| format!("@{p}")).unwrap_or_default();
        format!("{}/{}{persona}", self.provider, self.model)
    }

    /// Latency over the completed samples (`None`: none completed).
    pub fn latency(&self) -> Option<Latency> {
        let mut times: Vec<u64> = self
            .samples
            .iter()
            .filter(|s| s.status == SampleStatus::Completed)
            .map(|s| s.duration_ms)
            .collect();
        times.sort_unstable();
        Some(Latency {
            min_ms: *times.first()?,
            median_ms: times[(times.len() - 1) / 2],
            max_ms: *times.last()?,
        })
    }

    /// USD over all samples (`None` when one has no known cost).
    pub fn cost_usd(&self) -> Option<f64> {
        self.samples.iter().map(|s| s.cost_usd).sum()
    }

    /// Tokens used over all samples.
    pub fn usage(&self) -> Usage {
        let mut total = Usage::default();
        for s in &self.samples {
            total.add(s.usage);
        }
        total
    }

    /// The status over all samples: completed when every one completed, else the first
    /// failure's (or cancellation's).
    pub fn status(&self) -> SampleStatus {
        self.samples
            .iter()
            .map(|s| s.status)
            .find(|s| *s != SampleStatus::Completed)
            .unwrap_or(SampleStatus::Completed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(provider: &str, model: Option<&str>, persona: Option<&str>) -> CompareTarget {
        CompareTarget {
            provider: provider.to_string(),
            model: model.map(str::to_string),
            persona: persona.map(str::to_string),
        }
    }

    #[test]
    fn a_target_is_provider_then_optional_model_and_persona() {
        assert_eq!(parse_targets("openai").unwrap(), [target("openai", None, None)]);
        assert_eq!(
            parse_targets("openai/gpt-4o, anthropic@critic,google/gemini-2.5-flash@terse").unwrap(),
            [
                target("openai", Some("gpt-4o"), None),
                target("anthropic", None, Some("critic")),
                target("google", Some("gemini-2.5-flash"), Some("terse")),
            ]
        );
        let t = target("ollama", Some("llama3.2:3b"), Some("a"));
        assert_eq!(t.to_string().parse::<CompareTarget>().unwrap(), t);
    }

    #[test]
    fn malformed_targets_say_what_is_missing() {
        assert_eq!(parse_targets("openai,,anthropic"), Err(TargetSyntaxError::Empty));
        assert_eq!(
            parse_targets("/gpt-4o"),
            Err(TargetSyntaxError::NoProvider("/gpt-4o".to_string()))
        );
        let err = parse_targets("openai/").unwrap_err();
        assert_eq!(
            err.to_string(),
            "target `openai/` has an empty model: write `provider[/model][@persona]`"
        );
        assert!(matches!(
            parse_targets("openai@"),
            Err(TargetSyntaxError::EmptyPart(_, "persona"))
        ));
    }

    #[test]
    fn latency_is_over_completed_samples() {
        let sample = |status, duration_ms| Sample {
            status,
            duration_ms,
            usage: Usage::default(),
            cost_usd: Some(0.001),
            output: None,
            error: None,
        };
        let mut result = TargetResult {
            target: target("openai", None, None),
            provider: "openai".to_string(),
            model: "gpt-4o".to_string(),
            persona: None,
            samples: vec![
                sample(SampleStatus::Completed, 300),
                sample(SampleStatus::Failed, 5),
                sample(SampleStatus::Completed, 100),
                sample(SampleStatus::Completed, 200),
            ],
        };
        assert_eq!(
            result.latency(),
            Some(Latency {
                min_ms: 100,
                median_ms: 200,
                max_ms: 300
            })
        );
        assert_eq!(result.status(), SampleStatus::Failed);
        assert!((result.cost_usd().unwrap() - 0.004).abs() < 1e-12);
        result.samples[0].cost_usd = None;
        assert_eq!(result.cost_usd(), None);
        result.samples.retain(|s| s.status == SampleStatus::Failed);
        assert_eq!(result.latency(), None);
    }
}
