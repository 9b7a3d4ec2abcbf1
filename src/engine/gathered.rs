//! A step's answers as its prompts finish, in any order. For a fan-out, the run holds each
//! item's answer (the step's outputs) and little else: answers are taken in item order as
//! they can be, folding each request digest into the step's request hash at once; each
//! item's requests and its record go to the journal as it finishes, its requests held only
//! merged ([`merge_call`]), so a fan-out over 100,000 items keeps no 100,000 [`Call`]s or
//! item records (the compact record reads the requests back, a failed step its items).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::failover::Sent;
use super::providers::Usage;
use super::record::hex;
use super::requests::Candidate;
use super::step::StepOutcome;
use crate::model::runs::{Call, ProviderModel, StepError};

/// The answers and requests of one step attempt so far.
pub(super) struct Gathered<'a> {
    candidates: &'a [Candidate],
    fan_out: bool,
    count: usize,
    /// Answers of the items before `outputs.len()`, in item order (empty when not answered).
    outputs: Vec<String>,
    /// Items that finished before an earlier one: their answer and request digest.
    ahead: BTreeMap<usize, (Option<String>, Option<[u8; 32]>)>,
    /// The request hash of the items taken in order so far.
    hash: Sha256,
    hashed: usize,
    first_digest: Option<[u8; 32]>,
    usage: Usage,
    answered: usize,
    /// The candidate that answered the last item.
    last_by: Option<usize>,
    /// The failure of the lowest-numbered item that failed.
    failure: Option<(usize, StepError)>,
    cancelled: bool,
    calls: Vec<Call>,
    done: usize,
}

/// What a step attempt gave, gathered.
pub(super) struct Gathering {
    pub(super) outcome: StepOutcome,
    /// Every request without fan-out; merged per kind with it.
    pub(super) calls: Vec<Call>,
    pub(super) request_hash: String,
    /// Whether a fan-out item was not answered: the step keeps the answered ones, from the
    /// journal.
    pub(super) incomplete: bool,
}

impl<'a> Gathered<'a> {
    /// Room for `count` prompts asking `candidates`.
    pub(super) fn new(candidates: &'a [Candidate], fan_out: bool, count: usize) -> Gathered<'a> {
        Gathered {
            candidates,
            fan_out,
            count,
            outputs: Vec::with_capacity(count),
            ahead: BTreeMap::new(),
            hash: Sha256::new(),
            hashed: 0,
            first_digest: None,
            usage: Usage::default(),
            answered: 0,
            last_by: None,
            failure: None,
            cancelled: false,
            calls: Vec::new(),
            done: 0,
        }
    }

    /// Prompts finished so far.
    pub(super) fn done(&self) -> usize {
        self.done
    }

    /// Takes prompt `index`'s ending, its requests and its request digest.
    pub(super) fn add(&mut self, index: usize, sent: Sent, calls: Vec<Call>, digest: Option<[u8; 32]>) {
        self.done += 1;
        if self.fan_out {
            for call in calls {
                merge_call(&mut self.calls, call);
            }
        } else {
            self.calls.extend(calls);
        }
        let text = match sent {
            Sent::Answered {
                text,
                usage,
                answered_by,
            } => {
                self.usage.add(usage);
                self.answered += 1;
                if index + 1 == self.count {
                    self.last_by = self
                        .candidates
                        .iter()
                        .position(|c| c.provider == answered_by.provider && c.model == answered_by.model);
                }
                Some(text)
            }
            Sent::Failed(e) => {
                if self.failure.as_ref().is_none_or(|(first, _)| index < *first) {
                    self.failure = Some((index, e));
                }
                None
            }
            Sent::Cancelled => {
                self.cancelled = true;
                None
            }
        };
        if index == self.outputs.len() {
            self.take(text, digest);
            while let Some((text, digest)) = self.ahead.remove(&self.outputs.len()) {
                self.take(text, digest);
            }
        } else if index < self.count {
            self.ahead.insert(index, (text, digest));
        }
    }

    /// Takes the next item in order.
    fn take(&mut self, text: Option<String>, digest: Option<[u8; 32]>) {
        if let Some(digest) = digest {
            if self.hashed > 0 {
                self.hash.update(b"\n");
            }
            self.hash.update(hex(&digest).as_bytes());
            self.hashed += 1;
            self.first_digest.get_or_insert(digest);
        }
        self.outputs.push(text.unwrap_or_default());
    }

    /// The attempt's outcome (the first failure in item order, else a cancellation, else every
    /// answer in item order), its requests and request hash.
    pub(super) fn finish(self) -> Gathering {
        let request_hash = if self.fan_out {
            hex(&self.hash.finalize())
        } else {
            self.first_digest.map(|d| hex(&d)).unwrap_or_default()
        };
        let complete = self.answered == self.count;
        let outcome = match (self.failure, self.cancelled || !complete) {
            (Some((_, e)), _) => StepOutcome::Failed(e),
            (None, true) => StepOutcome::Cancelled,
            (None, false) => StepOutcome::Completed {
                texts: self.outputs,
                fan_out: self.fan_out,
                usage: self.usage,
                answered_by: self
                    .last_by
                    .and_then(|by| self.candidates.get(by))
                    .map(|c| ProviderModel {
                        provider: c.provider.clone(),
                        model: c.model.clone(),
                    }),
            },
        };
        Gathering {
            outcome,
            calls: self.calls,
            request_hash,
            incomplete: self.fan_out && !complete,
        }
    }
}

/// Adds `call` to `calls`, merged into the request of its kind there (same provider, model,
/// outcome and price): durations, discarded characters, usage and cost summed; `item` and
/// `retry_after_ms` dropped. The run's view of a fan-out's requests: what cost and status
/// need, in a few entries.
pub(super) fn merge_call(calls: &mut Vec<Call>, call: Call) {
    let kind = |c: &Call| {
        (
            c.error.as_ref().map(|e| (e.class, e.status)),
            c.cost.map(|cost| (cost.source, cost.price)),
        )
    };
    let same = calls
        .iter_mut()
        .find(|c| c.provider == call.provider && c.model == call.model && kind(c) == kind(&call));
    let Some(merged) = same else {
        calls.push(Call {
            item: None,
            retry_after_ms: None,
            ..call
        });
        return;
    };
    merged.duration_ms += call.duration_ms;
    merged.discarded_chars += call.discarded_chars;
    if let (Some(sum), Some(cost)) = (merged.cost.as_mut(), call.cost) {
        sum.usage.add(cost.usage);
        sum.usd += cost.usd;
    }
    match (merged.unpriced.as_mut(), call.unpriced) {
        (Some(sum), Some(usage)) => sum.add(usage),
        (None, Some(usage)) => merged.unpriced = Some(usage),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::prices::{CallCost, PriceSource};
    use crate::model::runs::{ErrorClass, Failure};

    fn call(provider: &str, item: usize, usd: f64, error: Option<ErrorClass>) -> Call {
        Call {
            provider: provider.to_string(),
            model: "m".to_string(),
            item: Some(item),
            duration_ms: 10,
            error: error.map(|class| Failure {
                class,
                status: None,
                message: "down".to_string(),
            }),
            discarded_chars: 0,
            retry_after_ms: None,
            cost: Some(CallCost {
                usage: Usage {
                    input_tokens: 100,
                    output_tokens: 10,
                },
                usd,
                source: PriceSource::Catalog,
                price: None,
            }),
            unpriced: None,
        }
    }

    fn answered(text: &str) -> Sent {
        Sent::Answered {
            text: text.to_string(),
            usage: Usage {
                input_tokens: 1,
                output_tokens: 2,
            },
            answered_by: ProviderModel {
                provider: "p".to_string(),
                model: "m".to_string(),
            },
        }
    }

    /// Outputs and request hash of `count` answered items added in `order`.
    fn gathered_in(order: &[usize], count: usize) -> (Vec<String>, String) {
        let candidates = [Candidate {
            provider: "p".to_string(),
            model: "m".to_string(),
        }];
        let mut gathered = Gathered::new(&candidates, true, count);
        for &i in order {
            gathered.add(i, answered(&format!("out {i}")), Vec::new(), Some([i as u8; 32]));
        }
        let Gathering {
            outcome, request_hash, ..
        } = gathered.finish();
        match outcome {
            StepOutcome::Completed { texts, usage, .. } => {
                assert_eq!(usage.output_tokens, 2 * count as u64);
                (texts, request_hash)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn items_finishing_in_any_order_give_the_outputs_and_hash_of_item_order() {
        let count = 40;
        let expected_texts: Vec<String> = (0..count).map(|i| format!("out {i}")).collect();
        let joined: Vec<String> = (0..count).map(|i| hex(&[i as u8; 32])).collect();
        let expected_hash = hex(&Sha256::digest(joined.join("\n").as_bytes()));
        let mut seed = 7u64;
        for _ in 0..50 {
            let mut order: Vec<usize> = (0..count).collect();
            for i in (1..count).rev() {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (seed >> 33) as usize % (i + 1));
            }
            assert_eq!(
                gathered_in(&order, count),
                (expected_texts.clone(), expected_hash.clone()),
                "{order:?}"
            );
        }
    }

    #[test]
    fn merged_calls_keep_the_cost_per_provider_and_outcome() {
        let mut merged = Vec::new();
        let calls = [
            call("a", 0, 1.0, None),
            call("a", 1, 2.0, None),
            call("a", 2, 0.5, Some(ErrorClass::Server)),
            call("b", 2, 4.0, None),
            call("a", 3, 3.0, None),
        ];
        for c in calls.iter().cloned() {
            merge_call(&mut merged, c);
        }
        let summed: Vec<(&str, bool, f64, u64, u64)> = merged
            .iter()
            .map(|c| {
                let cost = c.cost.unwrap();
                (
                    c.provider.as_str(),
                    c.error.is_some(),
                    cost.usd,
                    cost.usage.input_tokens,
                    c.duration_ms,
                )
            })
            .collect();
        assert_eq!(
            summed,
            [
                ("a", false, 6.0, 300, 30),
                ("a", true, 0.5, 100, 10),
                ("b", false, 4.0, 100, 10)
            ]
        );
        assert_eq!(
            crate::model::runs::StepAttempt::cost_of(&merged),
            crate::model::runs::StepAttempt::cost_of(&calls)
        );
        assert!(merged.iter().all(|c| c.item.is_none()));
    }
}
