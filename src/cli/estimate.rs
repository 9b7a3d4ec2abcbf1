//! `run --dry-run`'s cost estimate: one line per step (fan-out items summed), the total and,
//! with a budget, whether the worst case fits it.

use crate::engine::PlannedRequest;
use crate::model::prices::{Estimate, usd};

/// One step's requests, summed.
struct StepLine<'a> {
    step: &'a str,
    who: String,
    requests: usize,
    estimate: Option<Estimate>,
}

/// The estimate section printed after the dry run's requests.
pub fn estimate_lines(planned: &[PlannedRequest], budget: Option<f64>) -> String {
    let mut steps: Vec<StepLine> = Vec::new();
    let mut unpriced: Vec<String> = Vec::new();
    for p in planned {
        let who = format!("{}/{}", p.estimate.provider, p.estimate.model);
        let estimate = p.estimate.cost.map(|(e, _)| e);
        if estimate.is_none() && !unpriced.contains(&who) {
            unpriced.push(who.clone());
        }
        match steps.iter_mut().find(|s| s.step == p.step) {
            Some(line) => {
                line.requests += 1;
                line.estimate = line.estimate.zip(estimate).map(|(mut sum, e)| {
                    sum.add(&e);
                    sum
                });
            }
            None => steps.push(StepLine {
                step: &p.step,
                who,
                requests: 1,
                estimate,
            }),
        }
    }
    let mut out = String::from("# cost estimate (prompt tokens ≈ characters / 4; output up to max_tokens)\n");
    let mut total: Option<Estimate> = None;
    for line in &steps {
        let requests = match line.requests {
            1 => String::new(),
            n => format!(" · {n} requests"),
        };
        let cost = match &line.estimate {
            Some(e) => {
                total = Some(match total {
                    Some(mut t) => {
                        t.add(e);
                        t
                    }
                    None => *e,
                });
                let output = e
                    .max_output_tokens
                    .map(|m| format!(" · up to {m} output tokens"))
                    .unwrap_or_default();
                format!("~{} prompt tokens{output} · {}", e.input_tokens, e.range())
            }
            None => "no price known".to_string(),
        };
        out.push_str(&format!("estimate {}: {}{requests} · {cost}\n", line.step, line.who));
    }
    match &total {
        Some(t) if unpriced.is_empty() => out.push_str(&format!("estimate total: {}\n", t.range())),
        Some(t) => out.push_str(&format!(
            "estimate total: {} + {} at unknown prices\n",
            t.range(),
            unpriced.join(", ")
        )),
        None => {}
    }
    for who in &unpriced {
        let provider = who.split('/').next().unwrap_or_default();
        out.push_str(&format!(
            "note: no price known for {who}: set it under [providers.{provider}.prices] in stepwise.toml\n"
        ));
    }
    if let (Some(limit), Some(t)) = (budget, &total) {
        let verdict = if t.worst() > limit {
            "the worst case exceeds it: the run stops before the request that would go over"
        } else {
            "the worst case fits"
        };
        out.push_str(&format!("budget: {}: {verdict}\n", usd(limit)));
    }
    out
}
