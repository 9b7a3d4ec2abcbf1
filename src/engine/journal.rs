//! The run journal: while a run goes on, each step event is one JSON line appended to
//! `<run id>.journal` beside the records, by a writer thread that group-commits (one fsync per
//! batch of lines); the compact record is written once at the end and the journal removed. A
//! run costs bytes in proportion to what it runs, and no file is written under a lock.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::model::runs::{ItemRecord, RunRecord, StepRecord};

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
    /// Unix milliseconds at the end.
    FinishedAt(u64),
}

/// A line to write, and who waits for it to be durable.
type Line = (Vec<u8>, Option<oneshot::Sender<()>>);

/// An open journal; dropping it without [`Journal::close`] still flushes what was sent.
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

fn encode(entry: &Entry) -> Vec<u8> {
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
        let mut file = File::create(&path)?;
        file.write_all(&encode(&Entry::Start(record.clone())))?;
        file.sync_data()?;
        let (tx, rx) = mpsc::channel::<Line>();
        let writer = std::thread::Builder::new()
            .name("stepwise-journal".to_string())
            .spawn(move || write_batches(file, rx))?;
        Ok(Journal {
            path,
            lines: Some(tx),
            writer: Some(writer),
        })
    }

    /// Appends `entry`; it becomes durable with the next batch.
    pub fn append(&self, entry: &Entry) {
        self.send(encode(entry), None);
    }

    /// Appends `entry` and resolves once it is durable (or the writer stopped).
    pub fn append_durable(&self, entry: &Entry) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(encode(entry), Some(tx));
        rx
    }

    fn send(&self, line: Vec<u8>, ack: Option<oneshot::Sender<()>>) {
        if let Some(lines) = &self.lines {
            lines.send((line, ack)).ok();
        }
    }

    /// Flushes every line, stops the writer and removes the journal (the compact record has
    /// been written by then).
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

/// How long a batch stays open for more lines, from its first: a step's end then shares its
/// sync with the start of the step after it, and a steady stream of fan-out items is synced
/// at this pace however long it lasts.
const COMMIT_DELAY: Duration = Duration::from_millis(10);

/// Bytes after which a batch is synced without waiting for more, so memory stays bounded.
const BATCH_BYTES: usize = 1 << 20;

/// The writer thread: writes lines as they come (a killed process loses no line it sent) and
/// syncs once per batch: when someone waits for durability, when [`COMMIT_DELAY`] has passed
/// since the batch's first line, or at [`BATCH_BYTES`]; then tells whoever waits.
fn write_batches(mut file: File, lines: mpsc::Receiver<Line>) -> std::io::Result<Committed> {
    let mut result = Ok(());
    let mut committed = Committed::default();
    let mut buffer = Vec::new();
    let mut write_out = |file: &mut File, buffer: &mut Vec<u8>, sync: bool| {
        let mut written = file.write_all(buffer);
        if sync {
            written = written.and_then(|_| file.sync_data());
        }
        buffer.clear();
        if let Err(e) = written {
            tracing::error!("cannot write the run journal: {e}");
            result = Err(e);
        }
    };
    while let Ok(first) = lines.recv() {
        let deadline = Instant::now() + COMMIT_DELAY;
        let mut acks = Vec::new();
        let mut size = 0;
        let mut line = Some(first);
        while let Some((bytes, ack)) = line.take() {
            size += bytes.len();
            committed.lines += 1;
            buffer.extend_from_slice(&bytes);
            acks.extend(ack);
            if size >= BATCH_BYTES {
                break;
            }
            line = lines.try_recv().ok();
            if line.is_none() && acks.is_empty() {
                write_out(&mut file, &mut buffer, false);
                line = lines
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .ok();
            }
        }
        write_out(&mut file, &mut buffer, true);
        committed.syncs += 1;
        for ack in acks {
            ack.send(()).ok();
        }
    }
    result.map(|_| committed)
}

/// The state a journal describes: its start record with every later line applied. A torn
/// last line (a crash mid-write) is ignored; `None` without a start line.
pub fn replay(path: &Path) -> Option<RunRecord> {
    let file = File::open(path).ok()?;
    let mut record: Option<RunRecord> = None;
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut items: Vec<BTreeMap<usize, ItemRecord>> = Vec::new();
    for line in BufReader::new(file).lines() {
        let Ok(entry) = serde_json::from_str::<Entry>(&line.ok()?) else {
            continue;
        };
        match (entry, record.as_mut()) {
            (Entry::Start(start), _) => {
                index = start.steps.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
                items = start.steps.iter().map(|s| by_index(&s.items)).collect();
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
            (Entry::FinishedAt(at), Some(r)) => r.finished_at = Some(at),
            (_, None) => {}
        }
    }
    let mut record = record?;
    for (step, items) in record.steps.iter_mut().zip(items) {
        step.items = items.into_values().collect();
    }
    Some(record)
}

/// Fan-out items keyed by index (a later line for the same item replaces an earlier one).
fn by_index(items: &[ItemRecord]) -> BTreeMap<usize, ItemRecord> {
    items.iter().map(|i| (i.index, i.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resolve::Overrides;
    use crate::model::runs::{ProviderModel, RunTarget, StepStatus};

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

    #[tokio::test]
    async fn a_replayed_journal_is_the_state_its_lines_describe() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let start = record();
        let journal = Journal::open(path.clone(), &start).unwrap();
        let mut running = StepRecord::pending("a");
        running.status = StepStatus::Running;
        journal.append_durable(&Entry::Step(running.clone())).await.unwrap();
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
    async fn one_sync_makes_every_line_queued_before_it_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.journal");
        let journal = Journal::open(path.clone(), &record()).unwrap();
        for at in 0..500 {
            journal.append(&Entry::FinishedAt(at));
        }
        let mut step = StepRecord::pending("b");
        step.status = StepStatus::Completed;
        journal.append_durable(&Entry::Step(step.clone())).await.unwrap();
        let replayed = replay(&path).unwrap();
        assert_eq!((replayed.steps[1].clone(), replayed.finished_at), (step, Some(499)));
        let committed = journal.close().unwrap();
        assert_eq!(committed.lines, 501);
        assert!(committed.syncs < 10, "{committed:?}");
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
