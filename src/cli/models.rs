//! `stepwise models`: every provider with its availability, degraded state and models (the
//! built-in catalog, `stepwise.toml`, and the provider's own listing, cached on disk).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::engine::Engine;
use crate::engine::models::{MODELS_MAX_AGE, ModelCache};
use crate::engine::probe::probe_into;
use crate::model::catalog::{Availability, ProcessEnv, ProviderKind};
use crate::model::reach::Reachability;
use crate::model::workspace::Workspace;

/// Arguments of `stepwise models`.
#[derive(clap::Args)]
pub struct ModelsArgs {
    /// The folder whose `stepwise.toml` applies (default: the current folder).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// Fetch listings even if the cache is fresh.
    #[arg(long)]
    refresh: bool,
}

/// Runs the command.
pub fn run(args: ModelsArgs) -> ExitCode {
    let mut workspace = Workspace::load(&args.dir, &ProcessEnv);
    let runs_dir = workspace.config.runs_dir();
    let mut cache = ModelCache::load(&runs_dir);
    let max_age = if args.refresh { Duration::ZERO } else { MODELS_MAX_AGE };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = Engine::default();
    let mut reach = Reachability::default();
    rt.block_on(probe_into(
        engine.client(),
        &workspace.catalog.keyless_urls(),
        &mut reach,
    ));
    workspace.catalog.apply_reachability(&reach);
    let errors = rt.block_on(cache.refresh(
        engine.client(),
        &workspace.catalog,
        &ProcessEnv,
        &runs_dir,
        max_age,
        Duration::from_secs(10),
    ));
    for provider in workspace.catalog.providers() {
        let kind = match provider.kind {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Openai => "openai",
            ProviderKind::Google => "google",
            ProviderKind::Ollama => "ollama",
        };
        println!(
            "{} ({kind}, {}): {}",
            provider.id,
            provider.base_url,
            provider.status_label()
        );
        let listed = cache.providers.get(&provider.id).map(|l| &l.models);
        for model in &provider.models {
            let mark = if provider.default_model == model.id { "*" } else { " " };
            println!("  {mark} {:<28} {}", model.id, model.description);
        }
        for id in listed.into_iter().flatten() {
            if !provider.knows_model(id) {
                println!("    {id:<28} listed by the provider");
            }
        }
        if let Availability::Untrusted(reason) = &provider.availability {
            println!("    (model listing skipped, untrusted workspace: {reason}; run `stepwise trust` to allow it)");
        }
        if let Some(error) = errors.get(&provider.id) {
            println!("    (model listing failed: {error})");
        }
    }
    ExitCode::SUCCESS
}
