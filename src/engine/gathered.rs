//! A step's answers as its prompts finish, in any order. For a fan-out, what the run holds
//! per item is its answer, its request digest and who answered; each item's requests go to
//! the journal as it finishes and are held only merged ([`merge_call`]), so a fan-out over
//! 100,000 items does not keep 100,000 [`Call`]s (the compact record reads them back).

use sha2::{Digest, Sha256};

use super::failover::Sent;
use super::providers::Usage;
use super::record::hex;
use super::requests::Candidate;
use super::step::StepOutcome;
use crate::model::runs::{Call, ItemRecord, ProviderModel, StepError};

/// An answered prompt.
struct Answer {
    text: String,
    usage: Usage,
    /// Index of the candidate that answered.
    by: usize,
}

/// The answers and requests of one step attempt so far.
pub(super) struct Gathered<'a> {
    candidates: &'a [Candidate],
    fan_out: bool,
    answers: Vec<Option<Answer>>,
    digests: Vec<Option<[u8; 32]>>,
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
    /// Answered items, when some item was not answered.
    pub(super) unfinished: Vec<ItemRecord>,
}

impl<'a> Gathered<'a> {
    /// Room for `count` prompts asking `candidates`.
    pub(super) fn new(candidates: &'a [Candidate], fan_out: bool, count: usize) -> Gathered<'a> {
        Gathered {
            candidates,
            fan_out,
            answers: std::iter::repeat_with(|| None).take(count).collect(),
            digests: vec![None; count],
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
        if let Some(slot) = self.digests.get_mut(index) {
            *slot = digest;
        }
        match sent {
            Sent::Answered {
                text,
                usage,
                answered_by,
            } => {
                let by = self
                    .candidates
                    .iter()
                    .position(|c| c.provider == answered_by.provider && c.model == answered_by.model)
                    .unwrap_or(0);
                if let Some(slot) = self.answers.get_mut(index) {
                    *slot = Some(Answer { text, usage, by });
                }
            }
            Sent::Failed(e) => {
                if self.failure.as_ref().is_none_or(|(first, _)| index < *first) {
                    self.failure = Some((index, e));
                }
            }
            Sent::Cancelled => self.cancelled = true,
        }
    }

    /// The attempt's outcome (the first failure in item order, else a cancellation, else every
    /// answer in item order), its requests, request hash and, when it did not complete, the
    /// items it answered.
    pub(super) fn finish(self) -> Gathering {
        let hashes = self.digests.iter().flatten().map(|d| hex(d));
        let request_hash = if self.fan_out {
            let mut all = Sha256::new();
            for (n, h) in hashes.enumerate() {
                if n > 0 {
                    all.update(b"\n");
                }
                all.update(h.as_bytes());
            }
            hex(&all.finalize())
        } else {
            hashes.into_iter().next().unwrap_or_default()
        };
        let answered_by = |by: usize| {
            self.candidates.get(by).map(|c| ProviderModel {
                provider: c.provider.clone(),
                model: c.model.clone(),
            })
        };
        let complete = self.answers.iter().all(Option::is_some);
        let unfinished = if self.fan_out && !complete {
            self.answers
                .iter()
                .zip(&self.digests)
                .enumerate()
                .filter_map(|(index, (answer, digest))| {
                    let (answer, digest) = (answer.as_ref()?, digest.as_ref()?);
                    Some(ItemRecord {
                        index,
                        request_hash: hex(digest),
                        output: answer.text.clone(),
                        usage: answer.usage,
                        answered_by: answered_by(answer.by)?,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let outcome = match (self.failure, self.cancelled || !complete) {
            (Some((_, e)), _) => StepOutcome::Failed(e),
            (None, true) => StepOutcome::Cancelled,
            (None, false) => {
                let mut usage = Usage::default();
                let last = self.answers.last().and_then(|a| a.as_ref()).map(|a| a.by);
                let texts = self
                    .answers
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        usage.add(a.usage);
                        a.text
                    })
                    .collect();
                StepOutcome::Completed {
                    texts,
                    fan_out: self.fan_out,
                    usage,
                    answered_by: last.and_then(answered_by),
                }
            }
        };
        Gathering {
            outcome,
            calls: self.calls,
            request_hash,
            unfinished,
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
