//! The run journal: while a run goes on, each step event is one JSON line appended to
//! `<run id>.journal` beside the records by a writer thread, and made durable by a syncer
//! thread that group-commits (one `fdatasync` per [`COMMIT_DELAY`] of lines, never on the
//! write path); the compact record is written once at the end and the journal removed. A run
//! costs bytes in proportion to what it runs, and no file is written under a lock.
//!
//! A line is safe from a killed process once it is written (the kernel holds it); only a
//! machine crash needs the sync, and loses at most the last commit window. So a step waits
//! for its start line to be *written* before it sends ([`Journal::append_written`]), never
//! for a sync: the chain of steps is not paced by the disk.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::model::runs::{Call, ItemRecord, RunRecord, StepRecord};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// The record the run starts from (first line).
    Start(RunRecord),
    /// A step's record after it started or ended.
    Step(StepRecord),
    /// A fan-out item that finished while its step runs.
    Item {
        /// Step ID.
        step: String,
        /// The item.
        item: ItemRecord,
    },
    /// The requests one fan-out item made. They belong to the step's latest attempt, whose
    /// own lines carry none: the run holds them merged, and the compact record reads them back.
    Calls {
        /// Step ID.
        step: String,
        /// The item's requests.
        calls: Vec<Call>,
    },
    /// Unix milliseconds at the end.
    FinishedAt(u64),
}

/// [`Entry::Step`] by reference: the same line without copying the record.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum StepLine<'a> {
    Step(&'a StepRecord),
}

/// A line to write, and who waits for it to be written.
type Line = (Vec<u8>, Option<oneshot::Sender<()>>);

/// An open journal; dropping it without [`Journal::close`] still writes and syncs what was
/// sent.
pub struct Journal {
    path: PathBuf,
    lines: Option<mpsc::Sender<Line>>,
    writer: Option<JoinHandle<std::io::Result<Committed>>>,
}

/// What a journal wrote after its first line: lines, and the syncs that made them durable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    /// Lines appended.
    pub lines: usize,
    /// `fdatasync` calls: one per group of lines.
    pub syncs: usize,
}

fn encode(entry: &impl Serialize) -> Vec<u8> {
    let mut line = serde_json::to_vec(entry).unwrap_or_default();
    line.push(b'\n');
    line
}

impl Journal {
    /// Starts the journal of `record` at `path` (replacing one left by an earlier attempt of
    /// the same run, whose state `record` already holds), its first line durable on return.
    pub fn open(path: PathBuf, record: &RunRecord) -> std::io::Result<Journal> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a journal stepwise wrote; not replacing it",
                    path.display()
                ),
            ));
        }
        // Written beside it and renamed over it, so a reader (another process planning a
        // resume) sees the earlier journal or this one, never an empty file.
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::now_v7()));
        let mut file = File::create(&tmp)?;
        file.write_all(&encode(&Entry::Start(record.clone())))?;
        file.sync_data()?;
        std::fs::rename(&tmp, &path)?;
        if let Some(dir) = path.parent().and_then(|d| File::open(d).ok()) {
            dir.sync_all().ok();
        }
        let syncing = file.try_clone()?;
        let (tx, rx) = mpsc::channel::<Line>();
        let writer = std::thread::Builder::new()
            .name("stepwise-journal".to_string())
            .spawn(move || write_lines(file, syncing, rx))?;
        Ok(Journal {
            path,
            lines: Some(tx),
            writer: Some(writer),
        })
    }

    /// Appends `entry`; it is written at once and durable with the next group commit.
    pub fn append(&self, entry: &Entry) {
        self.send(encode(entry), None);
    }

    /// Appends the record of a step (as [`Entry::Step`]).
    pub fn append_step(&self, step: &StepRecord) {
        self.send(encode(&StepLine::Step(step)), None);
    }

    /// Appends the record of a step and resolves once it is written (see
    /// [`Journal::append_written`]).
    pub fn append_step_written(&self, step: &StepRecord) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(encode(&StepLine::Step(step)), Some(tx));
        rx
    }

    /// Appends `entry` and resolves once it is written (or the writer stopped): from then a
    /// killed process keeps it.
    pub fn append_written(&self, entry: &Entry) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(encode(entry), Some(tx));
        rx
    }

    /// Resolves once every line sent before is written (or the writer stopped).
    pub fn written(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Vec::new(), Some(tx));
        rx
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, line: Vec<u8>, ack: Option<oneshot::Sender<()>>) {
        if let Some(lines) = &self.lines {
            lines.send((line, ack)).ok();
        }
    }

    /// Writes and syncs every line, stops the threads and removes the journal (the compact
    /// record has been written by then).
    pub fn close(mut self) -> std::io::Result<Committed> {
        let committed = self.stop()?;
        std::fs::remove_file(&self.path)?;
        Ok(committed)
    }

    fn stop(&mut self) -> std::io::Result<Committed> {
        self.lines.take();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the journal writer panicked")),
            None => Ok(Committed::default()),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!("cannot write the run journal: {e}");
        }
    }
}

/// How long written lines wait for their sync, from the first of them: every line of that
/// window shares one `fdatasync`, and a steady stream of fan-out items is synced at this pace
/// however long it lasts.
const COMMIT_DELAY: Duration = Duration::from_millis(10);

/// The most bytes gathered into one `write`, so a burst of lines keeps memory bounded.
const WRITE_BYTES: usize = 1 << 20;

/// The writer thread: writes lines as they come, with whatever else is queued then (a killed
/// process loses no line it was told is written), tells whoever waits, and hands the syncs
/// to a syncer thread so no write waits for the disk. Returns once every sender is gone and
/// the last line is synced.
fn write_lines(mut file: File, syncing: File, lines: mpsc::Receiver<Line>) -> std::io::Result<Committed> {
    let dirty = Arc::new(AtomicBool::new(false));
    let (due, due_rx) = mpsc::channel::<Instant>();
    let syncer = {
        let dirty = dirty.clone();
        std::thread::Builder::new()
            .name("stepwise-journal-sync".to_string())
            .spawn(move || sync_groups(syncing, &dirty, due_rx))?
    };
    let mut result = Ok(());
    let mut count = 0;
    let mut buffer = Vec::new();
    let mut acks = Vec::new();
    while let Ok(first) = lines.recv() {
        let mut line = Some(first);
        while let Some((bytes, ack)) = line.take() {
            count += usize::from(!bytes.is_empty());
            buffer.extend_from_slice(&bytes);
            acks.extend(ack);
            if buffer.len() < WRITE_BYTES {
                line = lines.try_recv().ok();
            }
        }
        if let Err(e) = file.write_all(&buffer) {
            tracing::error!("cannot write the run journal: {e}");
            result = Err(e);
        }
        buffer.clear();
        if !dirty.swap(true, Ordering::AcqRel) {
            due.send(Instant::now() + COMMIT_DELAY).ok();
        }
        for ack in acks.drain(..) {
            ack.send(()).ok();
        }
    }
    drop(due);
    let synced = match syncer.join() {
        Ok(synced) => synced,
        Err(_) => Err(std::io::Error::other("the journal syncer panicked")),
    };
    result.and(synced).map(|syncs| Committed { lines: count, syncs })
}

/// The syncer thread: once lines are written, waits until their commit is due (or the writer
/// is done), marks the file clean and syncs it; lines written after the mark start the next
/// group. Returns how many syncs it made.
fn sync_groups(file: File, dirty: &AtomicBool, due: mpsc::Receiver<Instant>) -> std::io::Result<usize> {
    let mut syncs = 0;
    let mut result = Ok(());
    while let Ok(at) = due.recv() {
        let closing = matches!(
            due.recv_timeout(at.saturating_duration_since(Instant::now())),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        dirty.store(false, Ordering::Release);
        syncs += 1;
        if let Err(e) = file.sync_data() {
            tracing::error!("cannot sync the run journal: {e}");
            result = Err(e);
        }
        if closing {
            break;
        }
    }
    result.map(|()| syncs)
}

/// The state a journal describes: its start record with every later line applied (a step's
/// journaled requests go to its latest attempt). A torn last line (a crash mid-write) is
/// ignored; `None` without a start line.
pub fn replay(path: &Path) -> Option<RunRecord> {
    let file = File::open(path).ok()?;
    let mut record: Option<RunRecord> = None;
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut items: Vec<BTreeMap<usize, ItemRecord>> = Vec::new();
    let mut calls: Vec<Vec<Call>> = Vec::new();
    for line in BufReader::new(file).lines() {
        let Ok(entry) = serde_json::from_str::<Entry>(&line.ok()?) else {
            continue;
        };
        match (entry, record.as_mut()) {
            (Entry::Start(start), _) => {
                index = start.steps.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
                items = start.steps.iter().map(|s| by_index(&s.items)).collect();
                calls = vec![Vec::new(); start.steps.len()];
                record = Some(start);
            }
            (Entry::Step(step), Some(r)) => {
                if let Some(&i) = index.get(&step.id) {
                    items[i] = by_index(&step.items);
                    r.steps[i] = step;
                }
            }
            (Entry::Item { step, item }, Some(_)) => {
                if let Some(&i) = index.get(&step) {
                    items[i].insert(item.index, item);
                }
            }
            (Entry::Calls { step, calls: made }, Some(_)) => {
                if let Some(&i) = index.get(&step) {
                    calls[i].extend(made);
                }
            }
            (Entry::FinishedAt(at), Some(r)) => r.finished_at = Some(at),
            (_, None) => {}
        }
    }
    let mut record = record?;
    for ((step, items), calls) in record.steps.iter_mut().zip(items).zip(calls) {
        step.items = items.into_values().collect();
        if let Some(attempt) = step.attempts.last_mut() {
            attempt.calls.extend(calls);
        }
    }
    Some(record)
}

/// The fan-out items the journal at `path` holds for step `id`, by index (a later line for
/// an item replaces an earlier one), reading one line at a time.
pub fn journaled_items(path: &Path, id: &str) -> std::io::Result<Vec<ItemRecord>> {
    let mut items = BTreeMap::new();
    each_entry(path, "{\"item\":", |entry| {
        if let Entry::Item { step, item } = entry
            && step == id
        {
            items.insert(item.index, item);
        }
        Ok(())
    })?;
    Ok(items.into_values().collect())
}

/// Calls `each` with every request the journal at `path` holds for step `id`, in the order
/// they were written, reading one line at a time.
pub fn journaled_calls(
    path: &Path,
    id: &str,
    mut each: impl FnMut(&Call) -> std::io::Result<()>,
) -> std::io::Result<()> {
    each_entry(path, "{\"calls\":", |entry| match entry {
        Entry::Calls { step, calls } if step == id => calls.iter().try_for_each(&mut each),
        _ => Ok(()),
    })
}

/// Calls `each` with every entry of the journal at `path` whose line starts with `tag`, one
/// line at a time (the tag is checked before the line is decoded; a line that does not
/// decode, such as one torn by a crash, is skipped).
fn each_entry(path: &Path, tag: &str, mut each: impl FnMut(Entry) -> std::io::Result<()>) -> std::io::Result<()> {
    for line in BufReader::new(File::open(path)?).lines() {
        let line = line?;
        if line.starts_with(tag)
            && let Ok(entry) = serde_json::from_str(&line)
        {
            each(entry)?;
        }
    }
    Ok(())
}

/// Fan-out items keyed by index (a later line for the same item replaces an earlier one).
fn by_index(items: &[ItemRecord]) -> BTreeMap<usize, ItemRecord> {
    items.iter().map(|i| (i.index, i.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resolve::Overrides;
    use crate::model::runs::{ProviderModel, RunTarget, StepAttempt, StepStatus};

    fn record() -> RunRecord {
        RunRecord {
            id: uuid::Uuid::now_v7(),
            workflow: PathBuf::from("x.flow.yaml"),
            name: "x".to_string(),
            target: RunTarget::Workflow,
            inputs: Default::default(),
            overrides: Overrides::default(),
            started_at: 1,
            finished_at: None,
            steps: vec![StepRecord::pending("a"), StepRecord::pending("b")],
        }
    }

    #[test]
    fn a_journal_replaced_by_a_resume_is_never_seen_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let start = record();
        drop(Journal::open(path.clone(), &start).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut missing = 0;
                while !stop.load(Ordering::Relaxed) {
                    missing += usize::from(replay(&path).is_none());
                }
                missing
            })
        };
        for _ in 0..300 {
            drop(Journal::open(path.clone(), &start).unwrap());
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(
            reader.join().unwrap(),
            0,
            "a reader found no journal while it was replaced"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["r.journal"], "no temp file is left behind");
    }

    #[tokio::test]
    async fn a_replayed_journal_is_the_state_its_lines_describe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let start = record();
        let journal = Journal::open(path.clone(), &start).unwrap();
        let mut running = StepRecord::pending("a");
        running.status = StepStatus::Running;
        journal.append_written(&Entry::Step(running.clone())).await.unwrap();
        assert_eq!(replay(&path).unwrap().steps[0].status, StepStatus::Running);
        running.status = StepStatus::Completed;
        journal.append(&Entry::Step(running));
        journal.append(&Entry::FinishedAt(9));
        drop(journal);
        let replayed = replay(&path).unwrap();
        assert_eq!(replayed.steps[0].status, StepStatus::Completed);
        assert_eq!(replayed.steps[1], start.steps[1]);
        assert_eq!(replayed.finished_at, Some(9));
    }

    #[tokio::test]
    async fn finished_fan_out_items_are_replayed_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let journal = Journal::open(path.clone(), &record()).unwrap();
        let item = |index| ItemRecord {
            index,
            request_hash: "h".to_string(),
            output: format!("out {index}"),
            usage: Default::default(),
            answered_by: crate::model::runs::ProviderModel {
                provider: "p".to_string(),
                model: "m".to_string(),
            },
        };
        for index in [0, 1, 1] {
            journal.append(&Entry::Item {
                step: "b".to_string(),
                item: item(index),
            });
        }
        drop(journal);
        let items = &replay(&path).unwrap().steps[1].items;
        assert_eq!(items.iter().map(|i| i.index).collect::<Vec<_>>(), [0, 1]);
    }

    #[tokio::test]
    async fn lines_written_together_share_one_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let journal = Journal::open(path.clone(), &record()).unwrap();
        for at in 0..500 {
            journal.append(&Entry::FinishedAt(at));
        }
        let mut step = StepRecord::pending("b");
        step.status = StepStatus::Completed;
        journal.append_written(&Entry::Step(step.clone())).await.unwrap();
        let replayed = replay(&path).unwrap();
        assert_eq!((replayed.steps[1].clone(), replayed.finished_at), (step, Some(499)));
        let committed = journal.close().unwrap();
        assert_eq!(committed.lines, 501);
        assert!((1..10).contains(&committed.syncs), "{committed:?}");
        assert!(!path.exists());
    }

    #[test]
    fn a_steady_stream_of_lines_is_written_while_it_lasts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let journal = Journal::open(path.clone(), &record()).unwrap();
        let item = |index| Entry::Item {
            step: "b".to_string(),
            item: ItemRecord {
                index,
                request_hash: "h".to_string(),
                output: String::new(),
                usage: Default::default(),
                answered_by: ProviderModel {
                    provider: "p".to_string(),
                    model: "m".to_string(),
                },
            },
        };
        let started = std::time::Instant::now();
        let mut sent = 0;
        while replay(&path).unwrap().steps[1].items.is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no line of a steady stream was written"
            );
            journal.append(&item(sent));
            sent += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(journal.close().unwrap().syncs >= 1);
    }

    #[test]
    fn a_steady_stream_of_lines_is_synced_while_it_lasts() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().join("r.journal"), &record()).unwrap();
        let started = std::time::Instant::now();
        let mut at = 0;
        while started.elapsed() < COMMIT_DELAY * 10 {
            journal.append(&Entry::FinishedAt(at));
            at += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        let committed = journal.close().unwrap();
        assert!(committed.syncs >= 3, "{committed:?}");
    }

    #[tokio::test]
    async fn waiting_for_a_line_to_be_written_does_not_wait_for_a_sync() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().join("r.journal"), &record()).unwrap();
        for at in 0..50 {
            journal.append_written(&Entry::FinishedAt(at)).await.unwrap();
        }
        let committed = journal.close().unwrap();
        assert!(committed.syncs < 25, "{committed:?}");
    }

    #[tokio::test]
    async fn journaled_requests_go_to_the_steps_latest_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let mut start = record();
        start.steps[1].attempts.push(StepAttempt::new(StepStatus::Completed));
        let journal = Journal::open(path.clone(), &start).unwrap();
        let mut running = start.steps[1].clone();
        running.attempts.push(StepAttempt::new(StepStatus::Running));
        journal.append_step(&running);
        let call = |item| Call {
            provider: "p".to_string(),
            model: "m".to_string(),
            item: Some(item),
            duration_ms: 1,
            error: None,
            discarded_chars: 0,
            retry_after_ms: None,
            cost: None,
            unpriced: None,
        };
        for item in [1, 0] {
            journal.append(&Entry::Calls {
                step: "b".to_string(),
                calls: vec![call(item)],
            });
        }
        journal.append_step_written(&running).await.unwrap();
        let replayed = replay(&path).unwrap();
        let attempts = &replayed.steps[1].attempts;
        assert_eq!(attempts.len(), 2);
        assert!(attempts[0].calls.is_empty());
        assert_eq!(attempts[1].calls, [call(1), call(0)]);
        let mut streamed = Vec::new();
        journaled_calls(&path, "b", |c| {
            streamed.push(c.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!(streamed, [call(1), call(0)]);
    }

    #[test]
    fn a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let start = record();
        let mut text = encode(&Entry::Start(start.clone()));
        text.extend_from_slice(b"{\"step\":{\"id\":\"a\",\"sta");
        std::fs::write(&path, text).unwrap();
        assert_eq!(replay(&path), Some(start));
    }
}
