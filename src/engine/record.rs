//! Run records on disk: one JSON file per run under `runs_dir/<workflow>-<hash>/<uuid v7>.json`,
//! written atomically when the run ends; while it goes on, its journal (`engine::journal`)
//! beside it holds every step event, so a crash loses no finished step.
//! The data itself is `model::runs`; the editor reads the latest record of a workflow.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::journal::replay;
use uuid::Uuid;

pub use crate::model::runs::{
    Call, Failure, ItemRecord, ProviderModel, RecordedSetting, RunRecord, RunTarget, StepAttempt, StepError,
    StepRecord, StepStatus,
};

impl RunRecord {
    /// The file this record is stored in.
    pub fn path(&self, runs_dir: &Path) -> PathBuf {
        records_dir(runs_dir, &self.workflow).join(format!("{}.json", self.id))
    }

    /// The journal of this run while it goes on.
    pub fn journal_path(&self, runs_dir: &Path) -> PathBuf {
        records_dir(runs_dir, &self.workflow).join(format!("{}.journal", self.id))
    }

    /// Writes the record atomically, as compact JSON like the record a run leaves.
    pub fn save(&self, runs_dir: &Path) -> std::io::Result<PathBuf> {
        let path = self.path(runs_dir);
        write_atomically_with(&path, |out| {
            serde_json::to_writer(out, self).map_err(std::io::Error::other)
        })?;
        Ok(path)
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The folder holding the records of one workflow file: its stem plus a hash of its path,
/// so the latest record is found without reading any other.
pub fn records_dir(runs_dir: &Path, workflow: &Path) -> PathBuf {
    let absolute = workflow_key(workflow);
    let stem = absolute
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let stem = stem
        .trim_end_matches(".yaml")
        .trim_end_matches(".yml")
        .trim_end_matches(".flow");
    let hash = sha256_hex(absolute.to_string_lossy().as_bytes());
    runs_dir.join(format!("{stem}-{}", &hash[..12]))
}

/// The workflow file as records name it: canonical when it exists, so the editor's URI and
/// the command line's relative path find the same records.
pub fn workflow_key(workflow: &Path) -> PathBuf {
    std::fs::canonicalize(workflow)
        .or_else(|_| std::path::absolute(workflow))
        .unwrap_or_else(|_| workflow.to_path_buf())
}

/// The latest run record of `workflow`, if any (a broken file is skipped): the journal of a
/// run that is going on or crashed, else the compact record.
pub fn latest(runs_dir: &Path, workflow: &Path) -> Option<RunRecord> {
    run_stems(runs_dir, workflow).iter().rev().find_map(|run| read_run(run))
}

/// The run records of `workflow`, newest first, at most `limit` (broken files are skipped).
pub fn history(runs_dir: &Path, workflow: &Path, limit: usize) -> Vec<RunRecord> {
    run_stems(runs_dir, workflow)
        .iter()
        .rev()
        .filter_map(|run| read_run(run))
        .take(limit)
        .collect()
}

/// The runs of `workflow` as paths without extension, oldest first (uuid v7 sorts by time).
fn run_stems(runs_dir: &Path, workflow: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(records_dir(runs_dir, workflow)) else {
        return Vec::new();
    };
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "journal"))
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .map(|p| p.with_extension(""))
        .collect();
    runs.sort();
    runs.dedup();
    runs
}

/// One run: its journal replayed while it exists, else its compact record.
fn read_run(run: &Path) -> Option<RunRecord> {
    let journal = run.with_extension("journal");
    if journal.exists()
        && let Some(record) = replay(&journal)
    {
        return Some(record);
    }
    let bytes = std::fs::read(run.with_extension("json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `bytes` to `path` so a reader sees the old or the new file, never a mix: a temp
/// file in the same folder, fsync, rename, fsync of the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |out| out.write_all(bytes))
}

/// [`write_atomically`] with the contents written by `write` as they are made.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    super::own_file::ensure_replaceable(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", Uuid::now_v7()));
    let result = (|| {
        let mut out = BufWriter::new(File::create(&tmp)?);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            d.sync_all().ok();
        }
        Ok(())
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::model::resolve::Overrides;

    fn record(workflow: &Path) -> RunRecord {
        RunRecord {
            id: Uuid::now_v7(),
            workflow: workflow.to_path_buf(),
            name: "x".to_string(),
            target: RunTarget::Workflow,
            inputs: BTreeMap::new(),
            overrides: Overrides::default(),
            started_at: now_ms(),
            finished_at: None,
            steps: vec![StepRecord::pending("a")],
        }
    }

    #[test]
    fn latest_record_is_the_newest_of_this_workflow_only() {
        let dir = tempfile::tempdir().unwrap();
        let flow = dir.path().join("a.flow.yaml");
        let other = dir.path().join("b.flow.yaml");
        let first = record(&flow);
        first.save(dir.path()).unwrap();
        let mut second = record(&flow);
        second.steps[0].status = StepStatus::Completed;
        second.save(dir.path()).unwrap();
        record(&other).save(dir.path()).unwrap();
        let found = latest(dir.path(), &flow).unwrap();
        assert_eq!(found.id, second.id);
        assert_eq!(found.statuses()["a"], StepStatus::Completed);
    }

    #[test]
    fn history_lists_this_workflows_runs_newest_first_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let flow = dir.path().join("a.flow.yaml");
        let ids: Vec<Uuid> = (0..3)
            .map(|_| {
                let r = record(&flow);
                r.save(dir.path()).unwrap();
                r.id
            })
            .collect();
        record(&dir.path().join("b.flow.yaml")).save(dir.path()).unwrap();
        std::fs::write(records_dir(dir.path(), &flow).join("broken.json"), "{").unwrap();
        let found: Vec<Uuid> = history(dir.path(), &flow, 10).iter().map(|r| r.id).collect();
        assert_eq!(found, vec![ids[2], ids[1], ids[0]]);
        assert_eq!(history(dir.path(), &flow, 2).len(), 2);
    }

    #[test]
    fn relative_and_absolute_paths_share_records() {
        let dir = tempfile::tempdir().unwrap();
        let flow = dir.path().join("x.flow.yaml");
        std::fs::write(&flow, "").unwrap();
        let dotted = dir.path().join(".").join("x.flow.yaml");
        assert_eq!(records_dir(dir.path(), &flow), records_dir(dir.path(), &dotted));
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/f.json");
        write_atomically(&path, b"1").unwrap();
        write_atomically(&path, b"2").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}
