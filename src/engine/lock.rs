//! One run of a workflow at a time: a lock file beside the workflow's records, held with an
//! OS file lock for the whole run. Two runs planning from the same latest record would send
//! the same pending steps twice and each write a record that misses the other's results.
//!
//! The OS releases the lock when its process ends, however it ends, so a dead process's lock
//! is simply taken by the next run; the file only tells a refused run who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::record::records_dir;

/// The name of the lock file in a workflow's records folder.
const LOCK_FILE: &str = "run.lock";

/// Why a run could not take the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run of the workflow holds it.
    #[error("another run of this workflow is in progress ({holder}); wait for it to finish or cancel it")]
    Busy {
        /// Who holds it, as written in the lock file (e.g. `process 1234`).
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("cannot lock the run records at {}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// The lock of one workflow's runs; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of `workflow`'s runs under `runs_dir`, or says who holds it.
    pub fn acquire(runs_dir: &Path, workflow: &Path) -> Result<RunLock, LockError> {
        let dir = records_dir(runs_dir, workflow);
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                let holder = format!("process {}", std::process::id());
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                file.write_all(holder.as_bytes()).map_err(io)?;
                Ok(RunLock { _file: file })
            }
            Err(TryLockError::WouldBlock) => Err(LockError::Busy {
                holder: holder(&mut file),
            }),
            Err(TryLockError::Error(err)) => Err(io(err)),
        }
    }
}

/// Who holds the lock, from the lock file. A holder that has just taken the lock may not
/// have written itself yet (the file is empty or names the dead process it took over from),
/// so the file is read again for a moment before settling for "another process".
fn holder(file: &mut File) -> String {
    for _ in 0..20 {
        let mut text = String::new();
        if file.rewind().is_ok() && file.read_to_string(&mut text).is_ok() {
            let pid = text.trim().strip_prefix("process ").and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(is_alive) {
                return text.trim().to_string();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "another process".to_string()
}

/// Whether process `pid` exists (assumed where the OS gives no cheap way to tell).
fn is_alive(pid: u32) -> bool {
    !cfg!(target_os = "linux") || Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_with_the_holder_until_the_first_ends() {
        let runs = tempfile::tempdir().unwrap();
        let workflow = runs.path().join("w.flow.yaml");
        let first = RunLock::acquire(runs.path(), &workflow).unwrap();
        let refused = RunLock::acquire(runs.path(), &workflow).unwrap_err();
        assert!(
            refused.to_string().contains(&format!("process {}", std::process::id())),
            "{refused}"
        );
        drop(first);
        RunLock::acquire(runs.path(), &workflow).expect("free after the first run ended");
    }

    #[test]
    fn runs_of_other_workflows_do_not_wait() {
        let runs = tempfile::tempdir().unwrap();
        let _a = RunLock::acquire(runs.path(), &runs.path().join("a.flow.yaml")).unwrap();
        RunLock::acquire(runs.path(), &runs.path().join("b.flow.yaml")).expect("another workflow");
    }
}
