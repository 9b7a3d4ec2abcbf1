//! stepwise replaces only files it wrote itself: every file it keeps under `runs_dir`
//! (records, `models.json`, `health.json`) is JSON, so anything else found at one
//! of those paths — someone's own file, a symlink, a device — is left alone.

use std::path::Path;

/// The largest existing file inspected before it is replaced.
const MAX_INSPECTED_BYTES: u64 = 64 * 1024 * 1024;

/// `Ok` when `path` is absent or holds a file stepwise wrote; else an error naming it.
pub fn ensure_replaceable(path: &Path) -> std::io::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let ours = meta.is_file()
        && meta.len() <= MAX_INSPECTED_BYTES
        && std::fs::read(path)
            .ok()
            .is_some_and(|bytes| serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok());
    if ours {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and was not written by stepwise; not replacing it",
                path.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absent_files_and_stepwise_json_may_be_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.json");
        assert!(ensure_replaceable(&path).is_ok());
        std::fs::write(&path, "{\"providers\":{}}").unwrap();
        assert!(ensure_replaceable(&path).is_ok());
        std::fs::write(&path, "the user's own notes").unwrap();
        assert!(ensure_replaceable(&path).is_err());
        let link = dir.path().join("health.json");
        std::os::unix::fs::symlink(dir.path().join("elsewhere.json"), &link).unwrap();
        assert!(ensure_replaceable(&link).is_err());
    }
}
