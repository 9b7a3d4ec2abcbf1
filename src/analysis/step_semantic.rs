//! The semantic diagnostics of every step, placed in the document and kept with the analysis,
//! so that the next version whose steps are checked in the same environment patches them by
//! the edit (only the re-split steps are checked and visited) instead of visiting every step.

use std::sync::{Arc, MutexGuard};

use super::chunk_pool;
use super::diagnostics::{StepDiagnostics, check_step};
use super::placed::Placed;
use super::step_env::StepEnv;
use super::{Analysis, StepChunk};
use crate::model::diagnostic::Diagnostic;
use crate::model::workflow::Step;
use crate::syntax::text::OffsetBy;

/// A step's semantic diagnostics, relative to its chunk, and the environment they were
/// computed in (the cache key).
#[derive(Debug)]
pub(crate) struct CachedStepDiagnostics {
    env: Arc<StepEnv>,
    found: StepDiagnostics,
}

/// An unavailable provider with the diagnostic at one mention of it.
#[derive(Debug, Clone)]
pub(crate) struct Unavailable(pub(crate) String, pub(crate) Diagnostic);

impl OffsetBy for Unavailable {
    fn offset_by(&mut self, base: isize) {
        self.1.offset_by(base);
    }
}

/// Every step's semantic diagnostics in step order, and the environment they hold in.
#[derive(Debug, Clone)]
pub(crate) struct StepSemantic {
    env: Arc<StepEnv>,
    pub(crate) diagnostics: Placed<Diagnostic>,
    pub(crate) unavailable: Placed<Unavailable>,
}

impl StepSemantic {
    /// The diagnostics of every step of `analysis`, reusing each chunk's cached ones while
    /// their environment is unchanged.
    pub(crate) fn of(analysis: &Analysis) -> StepSemantic {
        let env = &analysis.step_env;
        // Each chunk's cache is filled on every core first; placing them is then a copy.
        let chunked: Vec<(usize, &StepChunk, &Step)> = (analysis.workflow.steps.iter())
            .zip(&analysis.step_chunks)
            .filter_map(|(step, chunk)| chunk.as_ref().map(|(base, chunk)| (*base, &**chunk, step)))
            .collect();
        let threads = chunk_pool::threads_for(analysis.text().len());
        chunk_pool::map_in_order(&chunked, threads, |&(base, chunk, step)| {
            drop(StepSemantic::cached(env, base, chunk, step));
        });
        let mut all = StepSemantic::empty(env);
        for (i, step) in analysis.workflow.steps.iter().enumerate() {
            match analysis.step_chunks.get(i).and_then(Option::as_ref) {
                Some((base, chunk)) => all.add_chunk(*base, chunk, step),
                None => {
                    let found = check_step(env, step);
                    all.add(step.span.start, &found, 0);
                }
            }
        }
        all
    }

    /// These diagnostics in the next version, whose step items `fresh` (each with its start
    /// and its step) replace those between `kept_before` and `moved_from` (starts in this version), the
    /// items after them moved by `delta`; `None` when the next version's steps are checked in
    /// another environment than `env`.
    pub(crate) fn patched<'a>(
        self,
        env: &Arc<StepEnv>,
        kept_before: usize,
        moved_from: usize,
        delta: isize,
        fresh: impl Iterator<Item = (usize, &'a StepChunk, &'a Step)>,
    ) -> Option<StepSemantic> {
        if !Arc::ptr_eq(&self.env, env) {
            return None;
        }
        let mut added = StepSemantic::empty(env);
        for (base, chunk, step) in fresh {
            added.add_chunk(base, chunk, step);
        }
        Some(StepSemantic {
            env: self.env,
            diagnostics: self
                .diagnostics
                .patched(kept_before, moved_from, delta, added.diagnostics),
            unavailable: self
                .unavailable
                .patched(kept_before, moved_from, delta, added.unavailable),
        })
    }

    fn empty(env: &Arc<StepEnv>) -> StepSemantic {
        StepSemantic {
            env: env.clone(),
            diagnostics: Placed::default(),
            unavailable: Placed::default(),
        }
    }

    /// Adds the diagnostics of the chunk's `step` (placed in the document at `base`), checking
    /// the step first unless the chunk's cache was computed in an equal environment.
    fn add_chunk(&mut self, base: usize, chunk: &StepChunk, step: &Step) {
        let cache = StepSemantic::cached(&self.env, base, chunk, step);
        let found = &cache.as_ref().expect("filled by cached").found;
        self.add(base, found, base as isize);
    }

    /// The chunk's cache of its `step`'s diagnostics (the step placed at `base`) in `env`,
    /// checked first unless it was computed in an equal environment.
    fn cached<'a>(
        env: &Arc<StepEnv>,
        base: usize,
        chunk: &'a StepChunk,
        step: &Step,
    ) -> MutexGuard<'a, Option<CachedStepDiagnostics>> {
        let mut cache = chunk.semantic.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cache
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.env, env) || *c.env == **env);
        if !fresh {
            let mut found = check_step(env, step);
            let to_chunk = -(base as isize);
            found.diagnostics.iter_mut().for_each(|d| d.offset_by(to_chunk));
            found.unavailable.iter_mut().for_each(|(_, d)| d.offset_by(to_chunk));
            *cache = Some(CachedStepDiagnostics {
                env: env.clone(),
                found,
            });
        }
        cache
    }

    /// Adds the diagnostics of the step at `base`, moved by `by`.
    fn add(&mut self, base: usize, found: &StepDiagnostics, by: isize) {
        for d in &found.diagnostics {
            let mut d = d.clone();
            d.offset_by(by);
            self.diagnostics.push(base, d);
        }
        for (provider, d) in &found.unavailable {
            let mut d = d.clone();
            d.offset_by(by);
            self.unavailable.push(base, Unavailable(provider.clone(), d));
        }
    }
}
