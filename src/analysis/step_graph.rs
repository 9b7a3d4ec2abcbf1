//! The workflow's steps as a graph: repeated step IDs and dependency cycles. Findings are
//! kept by step index and mention rather than by span, so they move with their steps: an
//! edit that changes no step's ID or dependencies keeps them, and a keystroke in a prompt
//! costs no search of the graph.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::model::diagnostic::{Code, Diagnostic};
use crate::model::workflow::{Step, Workflow, step_index};

/// How many step names a cycle message shows at each end of a longer loop.
const CYCLE_ENDS: usize = 4;

/// What the step graph of one workflow has wrong.
#[derive(Debug, Default)]
pub(crate) struct StepGraph {
    /// Each repeated ID: the repeating step and the step that has it first.
    duplicates: Vec<(usize, usize)>,
    /// Each cycle: the step whose mention closes it, the index of that mention among the
    /// step's dependency mentions, and the message naming the loop.
    cycles: Vec<(usize, usize, String)>,
}

impl StepGraph {
    /// Searches `wf`'s steps.
    pub(crate) fn of(wf: &Workflow) -> StepGraph {
        StepGraph {
            duplicates: duplicates(&wf.steps),
            cycles: cycles(wf),
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

/// Each dependency cycle once, on the reference that closes it (a back edge of one
/// depth-first search), naming the loop; a long loop shows its ends and how many are between.
fn cycles(wf: &Workflow) -> Vec<(usize, usize, String)> {
    let steps = &wf.steps;
    let index = step_index(wf);
    let deps: Vec<Vec<(usize, usize)>> = steps
        .iter()
        .map(|s| {
            let mut deps: Vec<(usize, usize)> = s
                .dependency_refs()
                .enumerate()
                .filter_map(|(mention, (name, _))| index.get(name).map(|&i| (i, mention)))
                .filter(|&(i, _)| steps[i].id_str() != s.id_str())
                .collect();
            // One edge per step depended on, at its first mention: a loop is reported once.
            let mut seen = FxHashSet::default();
            deps.retain(|&(i, _)| seen.insert(i));
            deps
        })
        .collect();
    const NEW: usize = usize::MAX;
    const DONE: usize = usize::MAX - 1;
    let mut found = Vec::new();
    // For each step: NEW, DONE, or its position on the current path.
    let mut state = vec![NEW; steps.len()];
    let mut path: Vec<usize> = Vec::new();
    for start in 0..steps.len() {
        if state[start] != NEW {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = path.len();
        path.push(start);
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(dep, mention)) = deps[node].get(*next) {
                *next += 1;
                match state[dep] {
                    NEW => {
                        state[dep] = path.len();
                        path.push(dep);
                        stack.push((dep, 0));
                    }
                    DONE => {}
                    from => {
                        let names = |range: &[usize]| range.iter().map(|&n| steps[n].id_str()).collect::<Vec<_>>();
                        let loop_ = &path[from..];
                        let shown = if loop_.len() <= 2 * CYCLE_ENDS + 1 {
                            names(loop_).join(" → ")
                        } else {
                            format!(
                                "{} → … {} more … → {}",
                                names(&loop_[..CYCLE_ENDS]).join(" → "),
                                loop_.len() - 2 * CYCLE_ENDS,
                                names(&loop_[loop_.len() - CYCLE_ENDS..]).join(" → ")
                            )
                        };
                        let message = format!("dependency cycle: {shown} → {}", steps[dep].id_str());
                        found.push((node, mention, message));
                    }
                }
            } else {
                state[node] = DONE;
                path.pop();
                stack.pop();
            }
        }
    }
    found
}
