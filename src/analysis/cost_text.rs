//! The words of cost: hover's breakdown of what an attempt cost (tokens × price per side,
//! and where each price came from) and of what a step not yet run is estimated to cost.

use crate::model::prices::{CallCost, Estimate, Price, PriceSource, Priced, usd};
use crate::model::runs::{StepAttempt, Usage};

/// `$2.50/M`.
fn per_million(amount: f64) -> String {
    format!("${amount:.2}/M")
}

/// `800 in × $2.50/M + 12 out × $10.00/M = $0.0021`.
fn sides(usage: Usage, price: Price, total: f64) -> String {
    format!(
        "{} in × {} + {} out × {} = {}",
        usage.input_tokens,
        per_million(price.input),
        usage.output_tokens,
        per_million(price.output),
        usd(total)
    )
}

/// One provider/model's share of an attempt's cost.
struct Share {
    who: String,
    source: PriceSource,
    price: Option<Price>,
    usage: Usage,
    usd: f64,
}

/// Hover's `Cost:` section for an attempt: its total and one line per provider/model and
/// price; `None` when no request billed anything.
pub fn cost_breakdown(attempt: &StepAttempt) -> Option<String> {
    let mut shares: Vec<Share> = Vec::new();
    let mut unpriced: Vec<(String, Usage)> = Vec::new();
    for call in &attempt.calls {
        let who = format!("{}/{}", call.provider, call.model);
        if let Some(usage) = call.unpriced {
            match unpriced.iter_mut().find(|(w, _)| *w == who) {
                Some((_, u)) => u.add(usage),
                None => unpriced.push((who.clone(), usage)),
            }
        }
        let Some(CallCost {
            usage,
            usd,
            source,
            price,
        }) = call.cost
        else {
            continue;
        };
        match shares
            .iter_mut()
            .find(|s| s.who == who && s.source == source && s.price == price)
        {
            Some(share) => {
                share.usage.add(usage);
                share.usd += usd;
            }
            None => shares.push(Share {
                who,
                source,
                price,
                usage,
                usd,
            }),
        }
    }
    if shares.is_empty() && unpriced.is_empty() {
        return None;
    }
    let total = match attempt.cost_usd {
        Some(total) => usd(total),
        None => "unknown".to_string(),
    };
    let mut out = format!("Cost: {total}");
    for share in &shares {
        let detail = match share.price {
            Some(price) => sides(share.usage, price, share.usd),
            None => format!(
                "{} in + {} out = {}",
                share.usage.input_tokens,
                share.usage.output_tokens,
                usd(share.usd)
            ),
        };
        out.push_str(&format!("\n- {}: {detail} ({})", share.who, share.source.label()));
    }
    for (who, usage) in &unpriced {
        let provider = who.split('/').next().unwrap_or_default();
        out.push_str(&format!(
            "\n- {who}: {} in + {} out, no price known: set `[providers.{provider}.prices]` in stepwise.toml",
            usage.input_tokens, usage.output_tokens
        ));
    }
    Some(out)
}

/// Hover's estimate for a step not yet run, e.g. `Estimated cost: $0.0001–$0.0040 —
/// anthropic/claude-haiku-4-5, ~25 prompt tokens × $1.00/M + up to 300 out × $5.00/M
/// (built-in catalog)`.
pub fn estimate_text(who: &str, estimate: &Estimate, priced: &Priced, per_item: bool) -> String {
    let output = match estimate.max_output_tokens {
        Some(max) => format!("up to {max} out × {}", per_million(priced.price.output)),
        None => format!("output × {} (no max_tokens)", per_million(priced.price.output)),
    };
    let each = if per_item { " per item" } else { "" };
    format!(
        "Estimated cost{each}: {} — {who}, ~{} prompt tokens × {} + {output} ({}; prompt tokens ≈ \
         characters / 4 of the prompt as written)",
        estimate.range(),
        estimate.input_tokens,
        per_million(priced.price.input),
        priced.source.label()
    )
}
