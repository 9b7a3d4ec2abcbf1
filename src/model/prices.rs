//! What requests cost: the built-in price table (USD per million tokens, per model), the
//! prices `stepwise.toml` sets per provider, and the arithmetic from token usage and from the
//! estimated size of a prompt. Where a provider reports the cost itself, that figure wins.

use serde::{Deserialize, Serialize};

use super::catalog::{ProviderInfo, ProviderKind};
use super::runs::Usage;

/// A model's price in USD per million tokens, per side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// USD per million prompt (input) tokens.
    pub input: f64,
    /// USD per million generated (output) tokens.
    pub output: f64,
}

impl Price {
    /// The cost of `usage` at this price.
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input + usage.output_tokens as f64 * self.output) / 1_000_000.0
    }
}

/// Where a cost's price came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// stepwise's built-in table.
    Catalog,
    /// `[providers.NAME.prices]` in `stepwise.toml`.
    Config,
    /// The provider reported the cost in its answer (e.g. OpenRouter's `usage.cost`).
    Provider,
}

impl PriceSource {
    /// How hover names it.
    pub fn label(self) -> &'static str {
        match self {
            PriceSource::Catalog => "built-in catalog",
            PriceSource::Config => "stepwise.toml",
            PriceSource::Provider => "reported by the provider",
        }
    }
}

/// A price and where it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced {
    /// The price.
    pub price: Price,
    /// Its source (catalog or stepwise.toml).
    pub source: PriceSource,
}

/// What one request cost: its billed tokens, the sum and how it was found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CallCost {
    /// Tokens billed (a failed stream may have billed its prompt).
    pub usage: Usage,
    /// USD.
    pub usd: f64,
    /// Catalog, stepwise.toml or the provider's own figure.
    pub source: PriceSource,
    /// The price applied (`None` when the provider reported the sum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
}

impl CallCost {
    /// The cost of `usage`: the provider's own figure when it reported one, else `usage` at
    /// `priced`; `None` when neither is known.
    pub fn of(usage: Usage, reported: Option<f64>, priced: Option<Priced>) -> Option<CallCost> {
        if let Some(usd) = reported {
            return Some(CallCost {
                usage,
                usd,
                source: PriceSource::Provider,
                price: None,
            });
        }
        let priced = priced?;
        Some(CallCost {
            usage,
            usd: priced.price.cost(usage),
            source: priced.source,
            price: Some(priced.price),
        })
    }
}

/// Published list prices (standard tier, prompts up to 200k tokens), as of 2025-11, for the
/// built-in providers' catalog models. Ollama runs locally and costs nothing.
pub fn builtin_price(kind: ProviderKind, model: &str) -> Option<Price> {
    let (input, output) = match (kind, model) {
        (ProviderKind::Ollama, _) => (0.0, 0.0),
        (ProviderKind::Anthropic, "claude-opus-4-5") => (5.0, 25.0),
        (ProviderKind::Anthropic, "claude-sonnet-4-5" | "claude-sonnet-4-0" | "claude-3-7-sonnet-latest") => {
            (3.0, 15.0)
        }
        (ProviderKind::Anthropic, "claude-haiku-4-5") => (1.0, 5.0),
        (ProviderKind::Anthropic, "claude-opus-4-1" | "claude-opus-4-0") => (15.0, 75.0),
        (ProviderKind::Anthropic, "claude-3-5-haiku-latest") => (0.8, 4.0),
        (ProviderKind::Openai, "gpt-5") => (1.25, 10.0),
        (ProviderKind::Openai, "gpt-5-mini") => (0.25, 2.0),
        (ProviderKind::Openai, "gpt-5-nano") => (0.05, 0.4),
        (ProviderKind::Openai, "gpt-4.1" | "o3") => (2.0, 8.0),
        (ProviderKind::Openai, "gpt-4.1-mini") => (0.4, 1.6),
        (ProviderKind::Openai, "gpt-4.1-nano") => (0.1, 0.4),
        (ProviderKind::Openai, "gpt-4o") => (2.5, 10.0),
        (ProviderKind::Openai, "gpt-4o-mini") => (0.15, 0.6),
        (ProviderKind::Openai, "o4-mini") => (1.1, 4.4),
        (ProviderKind::Google, "gemini-2.5-pro") => (1.25, 10.0),
        (ProviderKind::Google, "gemini-2.5-flash") => (0.3, 2.5),
        (ProviderKind::Google, "gemini-2.5-flash-lite" | "gemini-2.0-flash") => (0.1, 0.4),
        (ProviderKind::Google, "gemini-2.0-flash-lite") => (0.075, 0.3),
        _ => return None,
    };
    Some(Price { input, output })
}

/// Prompt tokens estimated from text: one token per 4 characters, rounded up (the rule of
/// thumb OpenAI and Anthropic publish for English; no tokenizer matches every provider, and
/// none ships offline for all of them).
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// An estimated cost: the prompt at its estimated size with no output, up to the prompt plus
/// `max_tokens` of output (`None`: no `max_tokens`, so no upper bound).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Estimated prompt tokens.
    pub input_tokens: u64,
    /// The output limit, when one is set.
    pub max_output_tokens: Option<u64>,
    /// USD for the prompt alone.
    pub low: f64,
    /// USD with `max_tokens` of output.
    pub high: Option<f64>,
}

impl Estimate {
    /// The estimate for a prompt of `input_tokens` with up to `max_output_tokens` at `price`.
    pub fn new(input_tokens: u64, max_output_tokens: Option<u64>, price: Price) -> Estimate {
        let at = |output_tokens| {
            price.cost(Usage {
                input_tokens,
                output_tokens,
            })
        };
        Estimate {
            input_tokens,
            max_output_tokens,
            low: at(0),
            high: max_output_tokens.map(at),
        }
    }

    /// Adds another request's estimate (fan-out items, whole runs).
    pub fn add(&mut self, other: &Estimate) {
        self.input_tokens += other.input_tokens;
        self.low += other.low;
        self.max_output_tokens = self.max_output_tokens.zip(other.max_output_tokens).map(|(a, b)| a + b);
        self.high = self.high.zip(other.high).map(|(a, b)| a + b);
    }

    /// What a budget counts before sending: the upper bound, else the prompt alone.
    pub fn worst(&self) -> f64 {
        self.high.unwrap_or(self.low)
    }

    /// `$0.0001–$0.0040`, or `$0.0001 + output` without an upper bound.
    pub fn range(&self) -> String {
        match self.high {
            Some(high) => format!("{}–{}", usd(self.low), usd(high)),
            None => format!("{} + output (no max_tokens)", usd(self.low)),
        }
    }
}

/// The estimate of one request to `provider`/`model` with `system` and `prompt`, up to
/// `max_tokens` (else the provider's required default) of output; `None` without a price.
pub fn request_estimate(
    provider: &ProviderInfo,
    model: &str,
    system: Option<&str>,
    prompt: &str,
    max_tokens: Option<u32>,
) -> Option<(Estimate, Priced)> {
    let priced = provider.price(model)?;
    let input = estimate_tokens(system.unwrap_or("")) + estimate_tokens(prompt);
    let max_output = max_tokens.or(provider.default_max_tokens).map(u64::from);
    Some((Estimate::new(input, max_output, priced.price), priced))
}

/// USD for display: four decimals below a dollar (`$0.0040`), cents above (`$12.50`).
pub fn usd(amount: f64) -> String {
    if amount.abs() >= 1.0 {
        format!("${amount:.2}")
    } else {
        format!("${amount:.4}")
    }
}

/// USD for the lens: short, as `$0.004`, `$0.0002`, `$1.25`, `$0`.
pub fn usd_short(amount: f64) -> String {
    if amount == 0.0 {
        return "$0".to_string();
    }
    if amount.abs() >= 1.0 {
        return format!("${amount:.2}");
    }
    // Two significant digits, trailing zeros dropped.
    let digits = (-amount.abs().log10().floor()) as usize + 1;
    let text = format!("{amount:.digits$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("${text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_tokens_times_price_per_million() {
        let price = Price {
            input: 3.0,
            output: 15.0,
        };
        let usage = Usage {
            input_tokens: 1_000,
            output_tokens: 200,
        };
        assert!((price.cost(usage) - 0.006).abs() < 1e-12);
    }

    #[test]
    fn a_reported_cost_wins_over_the_price() {
        let priced = Priced {
            price: Price {
                input: 1.0,
                output: 1.0,
            },
            source: PriceSource::Catalog,
        };
        let cost = CallCost::of(Usage::default(), Some(0.5), Some(priced)).unwrap();
        assert_eq!((cost.usd, cost.source, cost.price), (0.5, PriceSource::Provider, None));
        assert_eq!(CallCost::of(Usage::default(), None, None), None);
    }

    #[test]
    fn tokens_are_estimated_at_four_characters_each() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("éééé"), 1);
    }

    #[test]
    fn an_estimate_is_a_range_up_to_max_tokens() {
        let price = Price {
            input: 2.5,
            output: 10.0,
        };
        let e = Estimate::new(40, Some(400), price);
        assert_eq!(e.range(), "$0.0001–$0.0041");
        assert_eq!(
            Estimate::new(40, None, price).range(),
            "$0.0001 + output (no max_tokens)"
        );
    }

    #[test]
    fn short_amounts_keep_two_significant_digits() {
        assert_eq!(usd_short(0.00412), "$0.0041");
        assert_eq!(usd_short(0.004), "$0.004");
        assert_eq!(usd_short(0.0), "$0");
        assert_eq!(usd_short(12.5), "$12.50");
    }
}
