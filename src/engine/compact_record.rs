//! The compact record a run leaves: written once, at its end, from the record in memory, each
//! fan-out attempt's requests streamed back from the run's journal (the run holds them
//! merged, `gathered::merge_call`), so writing it holds one step's JSON at a time.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::journal::journaled_calls;
use super::record::write_atomically_with;
use crate::model::runs::{RunRecord, StepRecord};

/// The one place a record's `steps` (its last field) appear in its JSON while empty.
const NO_STEPS: &str = "\"steps\":[]";
/// Where an attempt's requests appear while it has none: its last such key is the last
/// attempt's (JSON escapes every quote inside a string, so none can match there).
const NO_CALLS: &str = "\"calls\":[]";

/// Writes `record` atomically as compact JSON, the latest attempt of each step in
/// `calls_journaled` listing every request the journal at `journal` holds for it.
pub(super) fn save(
    record: &mut RunRecord,
    runs_dir: &Path,
    journal: &Path,
    calls_journaled: &BTreeSet<usize>,
) -> std::io::Result<PathBuf> {
    let path = record.path(runs_dir);
    let steps = std::mem::take(&mut record.steps);
    let head = serde_json::to_string(record).map_err(std::io::Error::other);
    record.steps = steps;
    let head = head?;
    let (before, after) = head
        .rsplit_once(NO_STEPS)
        .ok_or_else(|| std::io::Error::other("a run record without steps"))?;
    let steps = &mut record.steps;
    write_atomically_with(&path, |out| {
        write!(out, "{before}\"steps\":[")?;
        for (i, step) in steps.iter_mut().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            if calls_journaled.contains(&i) {
                write_with_journaled_calls(out, step, journal)?;
            } else {
                serde_json::to_writer(&mut *out, step).map_err(std::io::Error::other)?;
            }
        }
        write!(out, "]{after}")
    })?;
    Ok(path)
}

/// `step` as JSON with its latest attempt's requests read from `journal`.
fn write_with_journaled_calls(out: &mut impl Write, step: &mut StepRecord, journal: &Path) -> std::io::Result<()> {
    let merged = step.attempts.last_mut().map(|a| std::mem::take(&mut a.calls));
    let json = serde_json::to_string(step).map_err(std::io::Error::other);
    if let (Some(attempt), Some(merged)) = (step.attempts.last_mut(), merged) {
        attempt.calls = merged;
    }
    let json = json?;
    let Some((before, after)) = json.rsplit_once(NO_CALLS) else {
        return out.write_all(json.as_bytes());
    };
    write!(out, "{before}\"calls\":[")?;
    let mut first = true;
    journaled_calls(journal, &step.id, |call| {
        if !std::mem::take(&mut first) {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, call).map_err(std::io::Error::other)
    })?;
    write!(out, "]{after}")
}
