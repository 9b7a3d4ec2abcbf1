//! The workflow's steps as a graph: repeated step IDs and dependency cycles. Findings are
//! kept by step index and mention rather than by span, so they move with their steps: an
//! edit that changes no step's ID or dependencies keeps them, and a keystroke in a prompt
//! costs no search of the graph.

use rustc_hash::FxHashMap;

use crate::model::diagnostic::{Code, Diagnostic};
use crate::model::workflow::{Step, Workflow};

/// What the step graph of one workflow has wrong.
#[derive(Debug, Default)]
pub(crate) struct StepGraph {
    /// Each repeated ID: the repeating step and the step that has it first.
    duplicates: Vec<(usize, usize)>,
    /// Each cycle: the step whose mention closes it, the index of that mention among the
    /// step's dependency mentions, and the message naming the loop (`cycles`).
    cycles: Vec<(usize, usize, String)>,
}

impl StepGraph {
    /// Searches `wf`'s steps.
    pub(crate) fn of(wf: &Workflow) -> StepGraph {
        StepGraph {
            duplicates: duplicates(&wf.steps),
            cycles: super::cycles::cycles(wf),
        }
    }

    /// Adds a diagnostic per repeated ID, placed on `wf`'s steps.
    pub(crate) fn duplicates_into(&self, wf: &Workflow, out: &mut Vec<Diagnostic>) {
        for &(repeat, first) in &self.duplicates {
            let (Some(id), Some(first)) = (&wf.steps[repeat].id, &wf.steps[first].id) else {
                continue;
            };
            let d = Diagnostic::new(
                Code::DuplicateStepId,
                id.span,
                format!("step ID `{}` is already used; step IDs must be unique", id.value),
            )
            .with_related(first.span, "first used here");
            out.push(d);
        }
    }

    /// Adds a diagnostic per cycle, on the mention that closes it in `wf`'s steps.
    pub(crate) fn cycles_into(&self, wf: &Workflow, out: &mut Vec<Diagnostic>) {
        for (step, mention, message) in &self.cycles {
            if let Some((_, span)) = wf.steps[*step].dependency_refs().nth(*mention) {
                out.push(Diagnostic::new(Code::DependencyCycle, span, message.clone()));
            }
        }
    }
}

/// Whether two runs of steps have the same IDs and mention the same dependencies in the same
/// order: then the graph findings of the one hold for the other, by index and mention.
pub(crate) fn same_edges(a: &[Step], b: &[Step]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.id_str() == b.id_str()
                && a.dependency_refs()
                    .map(|(n, _)| n)
                    .eq(b.dependency_refs().map(|(n, _)| n))
        })
}

fn duplicates(steps: &[Step]) -> Vec<(usize, usize)> {
    let mut first: FxHashMap<&str, usize> = FxHashMap::default();
    let mut found = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let Some(id) = &step.id else { continue };
        match first.get(id.value.as_str()) {
            Some(&j) => found.push((i, j)),
            None => {
                first.insert(&id.value, i);
            }
        }
    }
    found
}
