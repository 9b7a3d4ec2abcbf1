//! `stepwise trust`, `stepwise trust --list` and `stepwise untrust`: the user's say over
//! what a workspace's `stepwise.toml` may do with their keys and files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::model::catalog::ProcessEnv;
use crate::model::config::CONFIG_FILE;
use crate::model::trust::{self, TrustStore, config_digest};
use crate::model::workspace::Workspace;

/// Arguments of `stepwise trust`.
#[derive(clap::Args)]
pub struct TrustArgs {
    /// A folder of the workspace (default: the current folder).
    #[arg(default_value = ".", conflicts_with = "list")]
    dir: PathBuf,
    /// List the trusted workspaces instead.
    #[arg(long)]
    list: bool,
}

/// Arguments of `stepwise untrust`.
#[derive(clap::Args)]
pub struct UntrustArgs {
    /// A folder of the workspace (default: the current folder).
    #[arg(default_value = ".")]
    dir: PathBuf,
}

fn workspace(dir: &Path) -> Result<Workspace, ExitCode> {
    if !dir.is_dir() {
        eprintln!("error: {} is not a folder", dir.display());
        return Err(ExitCode::from(2));
    }
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    Ok(Workspace::from_config(
        Workspace::config_for(&dir, &ProcessEnv),
        &ProcessEnv,
    ))
}

/// Trusts a workspace, printing what that allows; or lists trusted workspaces.
pub fn trust(args: TrustArgs) -> ExitCode {
    if args.list {
        return list();
    }
    let ws = match workspace(&args.dir) {
        Ok(ws) => ws,
        Err(code) => return code,
    };
    let trust = &ws.trust;
    if let Some(err) = &ws.config.error {
        eprintln!("error: {}: {}: fix it before trusting", err.path.display(), err.message);
        return ExitCode::from(2);
    }
    println!("trusting {}", trust.root.display());
    if trust.needs.is_empty() {
        println!("  its {CONFIG_FILE} sends keys only to their providers' default hosts and keeps runs inside it");
    } else {
        println!("  this allows:");
        for need in &trust.needs {
            println!("  - {}", need.describe());
        }
    }
    match trust::record(&ProcessEnv, trust) {
        Ok(path) => {
            println!("recorded in {} (until {CONFIG_FILE} changes)", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn list() -> ExitCode {
    let store = match TrustStore::path(&ProcessEnv).and_then(|p| TrustStore::load(&p)) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if store.workspaces.is_empty() {
        println!("no trusted workspaces");
    }
    for entry in &store.workspaces {
        let file = entry.root.join(CONFIG_FILE);
        let current = std::fs::read_to_string(&file).ok();
        let state = if config_digest(current.as_deref()) == entry.stepwise_toml_sha256 {
            "trusted"
        } else {
            "lapsed: stepwise.toml changed since"
        };
        println!("{}  ({state})", entry.root.display());
    }
    ExitCode::SUCCESS
}

/// Removes a workspace's trust.
pub fn untrust(args: UntrustArgs) -> ExitCode {
    let ws = match workspace(&args.dir) {
        Ok(ws) => ws,
        Err(code) => return code,
    };
    let result = TrustStore::path(&ProcessEnv).and_then(|path| {
        let mut store = TrustStore::load(&path)?;
        let removed = store.revoke(&ws.trust.root);
        store.save(&path)?;
        Ok(removed)
    });
    match result {
        Ok(true) => {
            println!("no longer trusted: {}", ws.trust.root.display());
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("{} was not trusted", ws.trust.root.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
