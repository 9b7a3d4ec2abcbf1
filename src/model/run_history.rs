//! A workflow's run history as `stepwise runs`, `stepwise show` and the editor's run view
//! see it: each run's overall status and step counts, and finding a run by an ID prefix.
//! Plain data over records; reading them from disk is `engine::record::history`.

use serde::Serialize;

use crate::model::runs::{RunRecord, StepAttempt, StepStatus};

/// How a whole run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Going on now.
    Running,
    /// Every attempt it made completed.
    Completed,
    /// An attempt it made failed.
    Failed,
    /// It was cancelled.
    Cancelled,
    /// It has no recorded end and is not this process's run: it goes on in another process,
    /// or its process died (`run --resume` finishes it).
    Unfinished,
}

impl RunStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Unfinished => "unfinished",
        }
    }
}

/// The attempts a run made itself (not those of outputs it carried over from earlier runs).
pub fn own_attempts(record: &RunRecord) -> impl Iterator<Item = (&str, &StepAttempt)> {
    record.steps.iter().flat_map(move |s| {
        s.attempts
            .iter()
            .filter(move |a| a.started_at >= record.started_at)
            .map(move |a| (s.id.as_str(), a))
    })
}

/// The status of `record`; `live` says whether it is the run going on now.
pub fn run_status(record: &RunRecord, live: bool) -> RunStatus {
    if record.finished_at.is_none() {
        return if live {
            RunStatus::Running
        } else {
            RunStatus::Unfinished
        };
    }
    let ended = |status: StepStatus| own_attempts(record).any(|(_, a)| a.status == status);
    if ended(StepStatus::Cancelled) {
        RunStatus::Cancelled
    } else if ended(StepStatus::Failed) {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    }
}

/// How many of a run's steps are in which state at its end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StepCounts {
    /// Completed.
    pub done: usize,
    /// Failed.
    pub failed: usize,
    /// Stale.
    pub stale: usize,
    /// Pending, running or cancelled.
    pub other: usize,
}

/// The step counts of `record`.
pub fn step_counts(record: &RunRecord) -> StepCounts {
    let mut counts = StepCounts::default();
    for step in &record.steps {
        match step.status {
            StepStatus::Completed => counts.done += 1,
            StepStatus::Failed => counts.failed += 1,
            StepStatus::Stale => counts.stale += 1,
            _ => counts.other += 1,
        }
    }
    counts
}

/// Milliseconds from start to end, once it has ended.
pub fn run_duration_ms(record: &RunRecord) -> Option<u64> {
    Some(record.finished_at?.saturating_sub(record.started_at))
}

/// What the attempts a run made cost: the sum of the priced ones, and whether some billed
/// tokens at an unknown price (so the sum is a lower bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RunCost {
    /// USD of the priced attempts (`None`: none was priced).
    pub usd: Option<f64>,
    /// Some request billed tokens without a known price.
    pub unpriced: bool,
}

/// The cost of the attempts `record` made (not of outputs it carried over).
pub fn run_cost(record: &RunRecord) -> RunCost {
    let mut cost = RunCost::default();
    for (_, attempt) in own_attempts(record) {
        if let Some(usd) = attempt.cost_usd {
            *cost.usd.get_or_insert(0.0) += usd;
        }
        cost.unpriced |= attempt.calls.iter().any(|c| c.unpriced.is_some());
    }
    cost
}

/// A run as the run view and `show --format json` give it: the record with its status,
/// step counts and duration.
#[derive(Debug, Clone, Serialize)]
pub struct RunEntry<'a> {
    /// How it ended (or that it goes on).
    pub status: RunStatus,
    /// Its steps' states.
    pub counts: StepCounts,
    /// Start to end.
    pub duration_ms: Option<u64>,
    /// What its attempts cost.
    pub cost: RunCost,
    /// The record: inputs, steps, attempts (with calls, errors, waits, usage), items.
    #[serde(flatten)]
    pub record: &'a RunRecord,
}

impl<'a> RunEntry<'a> {
    /// The entry of `record`; `live` says whether it is the run going on now.
    pub fn of(record: &'a RunRecord, live: bool) -> RunEntry<'a> {
        RunEntry {
            status: run_status(record, live),
            counts: step_counts(record),
            duration_ms: run_duration_ms(record),
            cost: run_cost(record),
            record,
        }
    }
}

/// Why no run could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunLookupError {
    /// The workflow has no records.
    #[error("this workflow has no runs yet")]
    NoRuns,
    /// No ID starts with the prefix.
    #[error("no run of this workflow has an ID starting with `{0}`")]
    NotFound(String),
    /// More than one ID starts with it.
    #[error("`{prefix}` is the start of {} run IDs ({}); give more of it", .matches.len(), .matches.join(", "))]
    Ambiguous {
        /// The prefix given.
        prefix: String,
        /// The IDs it starts.
        matches: Vec<String>,
    },
}

/// The run of `runs` (newest first) whose ID starts with `prefix`, or the newest without one.
pub fn find_run<'a>(runs: &'a [RunRecord], prefix: Option<&str>) -> Result<&'a RunRecord, RunLookupError> {
    let Some(prefix) = prefix else {
        return runs.first().ok_or(RunLookupError::NoRuns);
    };
    let wanted = prefix.to_ascii_lowercase();
    let matches: Vec<&RunRecord> = runs.iter().filter(|r| r.id.to_string().starts_with(&wanted)).collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(RunLookupError::NotFound(prefix.to_string())),
        many => Err(RunLookupError::Ambiguous {
            prefix: prefix.to_string(),
            matches: many.iter().map(|r| r.id.to_string()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use uuid::Uuid;

    use super::*;
    use crate::model::resolve::Overrides;
    use crate::model::runs::{RunTarget, StepRecord};

    fn record(id: &str, finished: bool, attempts: &[(StepStatus, u64)]) -> RunRecord {
        let steps = attempts
            .iter()
            .enumerate()
            .map(|(i, (status, started_at))| {
                let mut attempt = StepAttempt::new(*status);
                attempt.started_at = *started_at;
                StepRecord {
                    id: format!("s{i}"),
                    status: *status,
                    attempts: vec![attempt],
                    items: Vec::new(),
                    reused_from: None,
                }
            })
            .collect();
        RunRecord {
            id: Uuid::parse_str(id).unwrap(),
            workflow: "w.flow.yaml".into(),
            name: "w".into(),
            target: RunTarget::Workflow,
            inputs: BTreeMap::new(),
            overrides: Overrides::default(),
            started_at: 100,
            finished_at: finished.then_some(250),
            steps,
        }
    }

    const A: &str = "019a0000-0000-7000-8000-000000000001";
    const B: &str = "019a0000-0000-7000-8000-000000000002";
    const C: &str = "019b0000-0000-7000-8000-000000000003";

    #[test]
    fn a_failure_carried_over_from_an_earlier_run_does_not_fail_this_one() {
        let run = record(A, true, &[(StepStatus::Failed, 50), (StepStatus::Completed, 120)]);
        assert_eq!(run_status(&run, false), RunStatus::Completed);
        let run = record(A, true, &[(StepStatus::Failed, 130), (StepStatus::Completed, 120)]);
        assert_eq!(run_status(&run, false), RunStatus::Failed);
    }

    #[test]
    fn a_run_without_an_end_is_running_only_while_live_else_unfinished() {
        let run = record(A, false, &[(StepStatus::Running, 120)]);
        assert_eq!(run_status(&run, true), RunStatus::Running);
        assert_eq!(run_status(&run, false), RunStatus::Unfinished);
        assert_eq!(run_duration_ms(&run), None);
    }

    #[test]
    fn cancelled_wins_over_failed() {
        let run = record(A, true, &[(StepStatus::Failed, 120), (StepStatus::Cancelled, 130)]);
        assert_eq!(run_status(&run, false), RunStatus::Cancelled);
        assert_eq!(
            step_counts(&run),
            StepCounts {
                failed: 1,
                other: 1,
                ..StepCounts::default()
            }
        );
    }

    #[test]
    fn a_unique_prefix_finds_its_run_and_a_shared_one_names_the_candidates() {
        let runs = vec![record(C, true, &[]), record(B, true, &[]), record(A, true, &[])];
        assert_eq!(find_run(&runs, None).unwrap().id.to_string(), C);
        assert_eq!(find_run(&runs, Some("019B")).unwrap().id.to_string(), C);
        assert_eq!(find_run(&runs, Some(B)).unwrap().id.to_string(), B);
        let err = find_run(&runs, Some("019a")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("`019a` is the start of 2 run IDs ({B}, {A}); give more of it")
        );
        assert_eq!(find_run(&runs, Some("ff")), Err(RunLookupError::NotFound("ff".into())));
        assert_eq!(find_run(&[], None), Err(RunLookupError::NoRuns));
    }
}
