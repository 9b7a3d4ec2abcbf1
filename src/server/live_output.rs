//! Live output of the editor's runs: what each step (each fan-out item) has streamed so far,
//! kept so that `stepwise.openOutput` during a run shows it, and forwarded to the client as
//! `stepwise/output` deltas so an output document grows as the text arrives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::Uri;
use tower_lsp_server::ls_types::notification::Notification;
use uuid::Uuid;

/// `stepwise/output`: text a running step streamed.
pub enum OutputNotification {}

/// The params of `stepwise/output`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputParams {
    /// The workflow.
    pub uri: String,
    /// The run ID.
    pub run: String,
    /// The step.
    pub step: String,
    /// The fan-out item (0-based), for fan-out steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// The new text, to append.
    pub text: String,
    /// The text streamed before this (of the item) was thrown away: a request failed
    /// mid-stream and is retried or passed on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

impl Notification for OutputNotification {
    type Params = OutputParams;
    const METHOD: &'static str = "stepwise/output";
}

/// Streamed text per fan-out item (`None` without fan-out), in item order.
pub type Parts = Vec<(Option<usize>, String)>;

/// One run's streamed text: per step, per item (`None` without fan-out).
struct LiveRun {
    run: Uuid,
    steps: HashMap<String, BTreeMap<Option<usize>, String>>,
}

/// The streamed text of the runs going on, per document.
#[derive(Default)]
pub struct LiveOutputs {
    runs: Mutex<HashMap<Uri, LiveRun>>,
}

impl LiveOutputs {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<Uri, LiveRun>) -> T) -> T {
        f(&mut self.runs.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Run `run` of `uri` started.
    pub fn start(&self, uri: &Uri, run: Uuid) {
        self.with(|runs| {
            runs.insert(
                uri.clone(),
                LiveRun {
                    run,
                    steps: HashMap::new(),
                },
            )
        });
    }

    /// `step` started an attempt: it has streamed nothing yet.
    pub fn step_started(&self, uri: &Uri, step: &str) {
        self.with(|runs| {
            if let Some(live) = runs.get_mut(uri) {
                live.steps.insert(step.to_string(), BTreeMap::new());
            }
        });
    }

    /// Appends streamed text; returns the run ID to send it with.
    pub fn append(&self, uri: &Uri, step: &str, item: Option<usize>, text: &str) -> Option<Uuid> {
        self.with(|runs| {
            let live = runs.get_mut(uri)?;
            live.steps
                .entry(step.to_string())
                .or_default()
                .entry(item)
                .or_default()
                .push_str(text);
            Some(live.run)
        })
    }

    /// Throws away what `step` (`item`) streamed; returns the run ID when there was any.
    pub fn discard(&self, uri: &Uri, step: &str, item: Option<usize>) -> Option<Uuid> {
        self.with(|runs| {
            let live = runs.get_mut(uri)?;
            let text = live.steps.get_mut(step)?.get_mut(&item)?;
            text.clear();
            Some(live.run)
        })
    }

    /// The run of `uri` ended.
    pub fn end(&self, uri: &Uri) {
        self.with(|runs| runs.remove(uri));
    }

    /// What `step` of the run of `uri` going on has streamed: the run ID and the text per item.
    pub fn streamed(&self, uri: &Uri, step: &str) -> Option<(Uuid, Parts)> {
        self.with(|runs| {
            let live = runs.get(uri)?;
            let parts = live.steps.get(step)?.iter().map(|(i, t)| (*i, t.clone())).collect();
            Some((live.run, parts))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discarded_request_leaves_only_the_retry_s_text() {
        let live = LiveOutputs::default();
        let uri: Uri = "file:///w.flow.yaml".parse().unwrap();
        let run = Uuid::now_v7();
        assert_eq!(live.append(&uri, "a", None, "x"), None, "no run going on");
        live.start(&uri, run);
        live.step_started(&uri, "a");
        live.append(&uri, "a", Some(1), "half");
        live.append(&uri, "a", Some(0), "zero");
        assert_eq!(live.discard(&uri, "a", Some(1)), Some(run));
        live.append(&uri, "a", Some(1), "one");
        assert_eq!(
            live.streamed(&uri, "a"),
            Some((run, vec![(Some(0), "zero".to_string()), (Some(1), "one".to_string())]))
        );
        live.end(&uri);
        assert_eq!(live.streamed(&uri, "a"), None);
    }
}
