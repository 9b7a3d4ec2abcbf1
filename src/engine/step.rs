//! One step: its attempt's settings, its prompts (one, or one per fan-out item, under the
//! step's concurrency), finished items and their requests journaled as they finish (items
//! reused by a resume while their request is unchanged).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::failover::Sent;
use super::gathered::{Gathered, Gathering};
use super::providers::Usage;
use super::record::{hex, now_ms};
use super::render::{context, render};
use super::requests::{StepSetup, items, outputs};
use super::scheduler::Run;
use crate::model::resolve::{Effective, Overrides, resolve_step, step_fingerprint};
use crate::model::runs::{
    Call, ErrorClass, Failure, ItemRecord, ProviderModel, RecordedSetting, StepAttempt, StepError, StepStatus,
};
use crate::model::workflow::{Step, Workflow};
use crate::model::workspace::Workspace;

/// How a step attempt ended.
#[derive(Debug)]
pub(super) enum StepOutcome {
    /// Every prompt was answered.
    Completed {
        /// The answers, in item order.
        texts: Vec<String>,
        /// Whether the step fans out.
        fan_out: bool,
        /// Tokens used.
        usage: Usage,
        /// Who answered (the last item's, for fan-out).
        answered_by: Option<ProviderModel>,
    },
    /// A prompt failed after retries and fallbacks.
    Failed(StepError),
    /// The run was cancelled.
    Cancelled,
}

/// Everything the scheduler records about an ended attempt.
#[derive(Debug)]
pub(super) struct StepEnd {
    pub(super) outcome: StepOutcome,
    /// The step's status before the attempt.
    pub(super) before: StepStatus,
    pub(super) calls: Vec<Call>,
    pub(super) duration: Duration,
    pub(super) request_hash: Option<String>,
    /// Items finished by this attempt or an earlier one, when the step did not complete.
    pub(super) unfinished: Vec<ItemRecord>,
    /// Whether each request is in the journal and `calls` holds them merged (fan-out).
    pub(super) calls_journaled: bool,
}

/// The step's definition as the document states it, one-time overrides left out: a run "with
/// openai (this run only)" must not make the step look edited.
fn document_fingerprint(workflow: &Workflow, step: &Step, workspace: &Workspace) -> String {
    let effective = resolve_step(workflow, step, workspace, &Overrides::default());
    step_fingerprint(workflow, step, workspace, &effective)
}

/// A new attempt with `effective` settings, running.
fn new_attempt(run: &Run<'_>, step: &Step, effective: &Effective) -> StepAttempt {
    let setting = |v: Option<String>, source| RecordedSetting { value: v, source };
    StepAttempt {
        provider: effective
            .provider
            .as_ref()
            .map(|p| setting(Some(p.value.clone()), p.source)),
        model: effective
            .model
            .as_ref()
            .map(|m| setting(Some(m.value.clone()), m.source)),
        persona: effective.persona.as_ref().map(|p| setting(p.value.clone(), p.source)),
        one_time: run.request.overrides != Overrides::default(),
        started_at: now_ms(),
        fingerprint: Some(document_fingerprint(run.workflow, step, &run.request.workspace)),
        ..StepAttempt::new(StepStatus::Running)
    }
}

fn prompt_error(message: String, provider: String) -> StepError {
    StepError {
        failure: Failure {
            class: ErrorClass::Prompt,
            status: None,
            message,
        },
        provider,
        attempts: 0,
    }
}

impl Run<'_> {
    /// Runs step `index` once.
    pub(super) async fn step(&self, index: usize) -> StepEnd {
        let workflow = self.workflow;
        let step = &workflow.steps[index];
        let id = step.id_str().to_string();
        let started = Instant::now();
        let effective = resolve_step(workflow, step, &self.request.workspace, &self.request.overrides);
        let base = {
            let record = self.lock();
            let deps = self.graph.deps[index].iter().map(|&d| &record.steps[d]);
            context(&record.inputs, &outputs(deps))
        };
        let prepared = StepSetup::new(self.request, workflow, step, &effective)
            .and_then(|setup| Ok((setup, items(&self.renderer, step, &base)?)));
        let count = match &prepared {
            Ok((_, prompts)) if prompts.fan_out() => Some(prompts.count()),
            _ => None,
        };
        let before = self.start(index, new_attempt(self, step, &effective), count).await;
        let finished: HashMap<usize, ItemRecord> = before.items.iter().map(|i| (i.index, i.clone())).collect();
        let end = |outcome, calls, request_hash, unfinished, calls_journaled| StepEnd {
            outcome,
            before: before.status,
            calls,
            duration: started.elapsed(),
            request_hash,
            unfinished,
            calls_journaled,
        };
        let first = effective.provider.as_ref().map(|p| p.value.clone()).unwrap_or_default();
        let prompt = step.prompt.as_ref().map_or("", |p| p.source.as_str());
        let prepared = prepared.and_then(|(setup, items)| Ok((setup, items, self.renderer.compile(prompt)?)));
        let (setup, prompts, template) = match prepared {
            Ok(p) => p,
            Err(message) => {
                let outcome = StepOutcome::Failed(prompt_error(message, first));
                return end(outcome, Vec::new(), None, finished.into_values().collect(), false);
            }
        };
        let (fan_out, total) = (prompts.fan_out(), prompts.count());
        let limit = step
            .concurrency
            .as_ref()
            .map_or(self.request.workspace.config.config.concurrency, |c| c.value)
            .max(1) as usize;
        let stop_items = self.cancel.child_token();
        let mut stream = futures::stream::iter(prompts.into_items().map(|item| {
            let stop = stop_items.clone();
            let (setup, id, template, finished) = (&setup, &id, &template, &finished);
            async move {
                let rendered = render(template, &item.context);
                let digest = rendered
                    .as_ref()
                    .ok()
                    .and_then(|text| setup.request_digest(self.request, text));
                let earlier = item
                    .index
                    .and_then(|i| finished.get(&i))
                    .filter(|done| digest.is_some_and(|d| hex(&d) == done.request_hash));
                let (sent, calls) = match (rendered, earlier) {
                    (_, Some(done)) => (
                        Sent::Answered {
                            text: done.output.clone(),
                            usage: done.usage,
                            answered_by: done.answered_by.clone(),
                        },
                        Vec::new(),
                    ),
                    (Ok(text), None) => self.send(id, item.index, setup, &text, &stop).await,
                    (Err(message), None) => (
                        Sent::Failed(prompt_error(message, setup.first().provider.clone())),
                        Vec::new(),
                    ),
                };
                if matches!(sent, Sent::Failed(_)) {
                    stop.cancel();
                }
                (item.index.unwrap_or(0), sent, calls, digest)
            }
        }))
        .buffer_unordered(limit);
        let mut gathered = Gathered::new(&setup.candidates, fan_out, total);
        while let Some((i, sent, calls, digest)) = stream.next().await {
            if fan_out {
                self.item_done(&id, i, &sent, &calls, digest);
            }
            gathered.add(i, sent, calls, digest);
            if fan_out {
                self.emit(super::RunEvent::ItemsProgress {
                    step: id.clone(),
                    done: gathered.done(),
                    total,
                });
            }
        }
        drop(stream);
        let Gathering {
            outcome,
            calls,
            request_hash,
            incomplete,
        } = gathered.finish();
        let unfinished = if incomplete {
            self.journaled_items(&id).await
        } else {
            Vec::new()
        };
        end(outcome, calls, Some(request_hash), unfinished, fan_out)
    }
}
