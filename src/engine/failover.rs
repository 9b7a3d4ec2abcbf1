//! One prompt through a step's candidates: retries per provider as the SDKs do, then the next
//! fallback for outage-class failures. Every request becomes a [`Call`] of the attempt.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::RunEvent;
use super::error::ProviderError;
use super::providers::{self, Usage};
use super::requests::{Candidate, StepSetup};
use super::retry::RetryDecision;
use super::scheduler::Run;
use super::secret::ApiKey;
use crate::model::catalog::ProviderInfo;
use crate::model::prices::CallCost;
use crate::model::runs::{Call, ErrorClass, Failure, ProviderModel, StepError};

/// How one prompt ended.
#[derive(Debug)]
pub(super) enum Sent {
    /// A provider answered.
    Answered {
        /// The answer.
        text: String,
        /// Tokens used.
        usage: Usage,
        /// Who answered.
        answered_by: ProviderModel,
    },
    /// Every candidate failed, or a failure was final.
    Failed(StepError),
    /// The run (or the step's other items) stopped it.
    Cancelled,
}

fn call(candidate: &Candidate, item: Option<usize>, error: Option<&ProviderError>, duration: Duration) -> Call {
    Call {
        provider: candidate.provider.clone(),
        model: candidate.model.clone(),
        item,
        duration_ms: duration.as_millis() as u64,
        error: error.map(failure),
        discarded_chars: error.map_or(0, |e| e.partial_chars),
        retry_after_ms: None,
        cost: None,
        unpriced: None,
    }
}

/// Sets what `call` billed: `usage` (and the provider's own figure) at the model's price.
fn bill(call: &mut Call, info: &ProviderInfo, usage: Usage, reported: Option<f64>) {
    if usage == Usage::default() && reported.is_none() {
        return;
    }
    call.cost = CallCost::of(usage, reported, info.price(&call.model));
    if call.cost.is_none() {
        call.unpriced = Some(usage);
    }
}

/// The USD a call cost, for the budget.
fn spent(call: &Call) -> f64 {
    call.cost.map_or(0.0, |c| c.usd)
}

fn failure(e: &ProviderError) -> Failure {
    Failure {
        class: e.class,
        status: e.status,
        message: e.message.clone(),
    }
}

fn failed(e: &ProviderError, provider: &str, attempts: usize) -> Sent {
    Sent::Failed(StepError {
        failure: failure(e),
        provider: provider.to_string(),
        attempts,
    })
}

impl Run<'_> {
    /// Sends `prompt` of step `step` (fan-out item `item`) until a candidate answers, a
    /// failure is final, or `stop` is cancelled; returns how it ended and every request.
    pub(super) async fn send(
        &self,
        step: &str,
        item: Option<usize>,
        setup: &StepSetup,
        prompt: &str,
        stop: &CancellationToken,
    ) -> (Sent, Vec<Call>) {
        let catalog = &self.request.workspace.catalog;
        let mut calls = Vec::new();
        let mut last: Option<(ProviderError, String)> = None;
        for (position, candidate) in setup.candidates.iter().enumerate() {
            let Some(info) = catalog.provider(&candidate.provider) else {
                let e = ProviderError::new(ErrorClass::Prompt, format!("unknown provider `{}`", candidate.provider));
                calls.push(call(candidate, item, Some(&e), Duration::ZERO));
                last = Some((e, candidate.provider.clone()));
                continue;
            };
            let key = ApiKey::for_provider(info, self.request.env.as_ref());
            if key.is_none() && !info.api_key_env.is_empty() {
                let e = ProviderError::new(
                    ErrorClass::Auth,
                    format!("{} is not set", info.api_key_env.join(" or ")),
                );
                calls.push(call(candidate, item, Some(&e), Duration::ZERO));
                if position == 0 {
                    let n = calls.len();
                    return (failed(&e, &candidate.provider, n), calls);
                }
                last = Some((e, candidate.provider.clone()));
                continue;
            }
            let Some(http) = setup.request(self.request, candidate, prompt, key) else {
                continue;
            };
            if position > 0 {
                self.emit(RunEvent::FallingBack {
                    step: step.to_string(),
                    item,
                    to: ProviderModel {
                        provider: candidate.provider.clone(),
                        model: candidate.model.clone(),
                    },
                });
            }
            let mut retries = 0;
            loop {
                let reserved = self.budget.reserve(
                    info,
                    &candidate.model,
                    setup.system.as_deref(),
                    prompt,
                    setup.params.max_tokens,
                );
                let reservation = match reserved {
                    Ok(r) => r,
                    Err(e) => {
                        let n = calls.len();
                        return (failed(&e, &candidate.provider, n), calls);
                    }
                };
                let started = Instant::now();
                let result = tokio::select! {
                    _ = stop.cancelled() => {
                        self.budget.settle(reservation, 0.0);
                        return (Sent::Cancelled, calls);
                    }
                    result = async {
                        let _permit = self.global.acquire().await;
                        let mut on_text = |text: &str| {
                            self.emit(RunEvent::Text {
                                step: step.to_string(),
                                item,
                                text: text.to_string(),
                            });
                        };
                        providers::send(&self.engine.client, info.kind, &http, self.timeout, &mut on_text).await
                    } => result,
                };
                let e = match result {
                    Ok(completion) => {
                        let mut answered = call(candidate, item, None, started.elapsed());
                        bill(&mut answered, info, completion.usage, completion.reported_cost);
                        self.budget.settle(reservation, spent(&answered));
                        calls.push(answered);
                        self.health.success(&candidate.provider);
                        let answered_by = ProviderModel {
                            provider: candidate.provider.clone(),
                            model: candidate.model.clone(),
                        };
                        let answered = Sent::Answered {
                            text: completion.text,
                            usage: completion.usage,
                            answered_by,
                        };
                        return (answered, calls);
                    }
                    Err(e) => e,
                };
                let decision = self.retry.decide(&e, retries);
                let mut failed_call = call(candidate, item, Some(&e), started.elapsed());
                bill(&mut failed_call, info, e.usage, e.reported_cost);
                self.budget.settle(reservation, spent(&failed_call));
                if let RetryDecision::RetryAfter(wait) = decision {
                    failed_call.retry_after_ms = Some(wait.as_millis() as u64);
                }
                self.emit(RunEvent::CallFailed {
                    step: step.to_string(),
                    call: failed_call.clone(),
                    attempt: retries + 1,
                    of: self.retry.max_retries + 1,
                });
                calls.push(failed_call);
                match decision {
                    RetryDecision::RetryAfter(wait) => {
                        retries += 1;
                        tokio::select! {
                            _ = stop.cancelled() => return (Sent::Cancelled, calls),
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                    RetryDecision::NextProvider => {
                        self.health.failure(&candidate.provider, &e.reason());
                        last = Some((e, candidate.provider.clone()));
                        break;
                    }
                    RetryDecision::Fail => {
                        let n = calls.len();
                        return (failed(&e, &candidate.provider, n), calls);
                    }
                }
            }
        }
        let n = calls.len();
        let (e, provider) = last.unwrap_or_else(|| {
            (
                ProviderError::new(ErrorClass::Prompt, "no provider to call"),
                String::new(),
            )
        });
        (failed(&e, &provider, n), calls)
    }
}
