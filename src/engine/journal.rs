//! The run journal: while a run goes on, each step event is one JSON line appended to
//! `<run id>.journal` beside the records, by a writer thread that group-commits (one fsync per
//! batch of lines); the compact record is written once at the end and the journal removed. A
//! run costs bytes in proportion to what it runs, and no file is written under a lock.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

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
    writer: Option<JoinHandle<std::io::Result<()>>>,
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
    pub fn close(mut self) -> std::io::Result<()> {
        self.stop()?;
        std::fs::remove_file(&self.path)
    }

    fn stop(&mut self) -> std::io::Result<()> {
        self.lines.take();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the journal writer panicked")),
            None => Ok(()),
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

/// How long a batch nobody waits for stays open for more lines: a step's end then shares
/// its sync with the start of the step after it.
const COMMIT_DELAY: Duration = Duration::from_millis(10);

/// The writer thread: waits for a line, gathers the lines queued with it (until someone waits
/// for durability, or none came for [`COMMIT_DELAY`]), writes them and syncs once, then tells
/// whoever waits.
fn write_batches(mut file: File, lines: mpsc::Receiver<Line>) -> std::io::Result<()> {
    let mut result = Ok(());
    while let Ok(first) = lines.recv() {
        let mut batch = vec![first];
        loop {
            batch.extend(lines.try_iter());
            if batch.iter().any(|(_, ack)| ack.is_some()) {
                break;
            }
            match lines.recv_timeout(COMMIT_DELAY) {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let mut buffer = Vec::new();
        let mut acks = Vec::new();
        for (line, ack) in batch {
            buffer.extend_from_slice(&line);
            acks.extend(ack);
        }
        let written = file.write_all(&buffer).and_then(|_| file.sync_data());
        if let Err(e) = written {
            tracing::error!("cannot write the run journal: {e}");
            result = Err(e);
        }
        for ack in acks {
            ack.send(()).ok();
        }
    }
    result
}

/// The state a journal describes: its start record with every later line applied. A torn
/// last line (a crash mid-write) is ignored; `None` without a start line.
pub fn replay(path: &Path) -> Option<RunRecord> {
    let file = File::open(path).ok()?;
    let mut record: Option<RunRecord> = None;
    for line in BufReader::new(file).lines() {
        let Ok(entry) = serde_json::from_str::<Entry>(&line.ok()?) else {
            continue;
        };
        match (entry, record.as_mut()) {
            (Entry::Start(start), _) => record = Some(start),
            (Entry::Step(step), Some(r)) => {
                if let Some(s) = r.step_mut(&step.id) {
                    *s = step;
                }
            }
            (Entry::Item { step, item }, Some(r)) => {
                if let Some(s) = r.step_mut(&step) {
                    s.items.retain(|i| i.index != item.index);
                    s.items.push(item);
                }
            }
            (Entry::FinishedAt(at), Some(r)) => r.finished_at = Some(at),
            (_, None) => {}
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resolve::Overrides;
    use crate::model::runs::{RunTarget, StepStatus};

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
