//! Dependency cycles, each reported once, on the reference that closes it.
//!
//! Workflows read top to bottom: a step normally depends on steps above it, so the reference
//! that turns a chain into a loop is the one pointing further down (`needs: [comment]` typed
//! on a step above `comment`). Each loop lives in one strongly connected component (Tarjan);
//! a depth-first search of the component from its last step (the one furthest down) reports
//! each reference that returns to its search path. When the loops of a component run through
//! one downward reference (a chain plus the reference just typed), that is the one reported:
//! the step it points to is the component's last, where the search starts, and only that
//! reference leads back to it. The result depends on the document only, never on the order
//! edits arrived in, so the editor, `check` and a fresh analysis agree.

use rustc_hash::FxHashSet as HashSet;

use crate::model::workflow::{Workflow, step_index};

/// How many step names a cycle message shows at each end of a longer loop.
const CYCLE_ENDS: usize = 4;

/// Each dependency cycle once, on the reference that closes it — as the step, the index of
/// that reference among the step's dependency mentions, and the message naming the loop (a
/// long loop shows its ends and how many are between).
pub(crate) fn cycles(wf: &Workflow) -> Vec<(usize, usize, String)> {
    let steps = &wf.steps;
    let index = step_index(wf);
    let mut found = Vec::new();
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
            let mut seen = HashSet::default();
            deps.retain(|&(i, _)| seen.insert(i));
            deps
        })
        .collect();
    let component = components(&deps);
    let mut last: Vec<Option<usize>> = vec![None; steps.len()];
    let mut size = vec![0usize; steps.len()];
    for (step, &c) in component.iter().enumerate() {
        last[c] = Some(step);
        size[c] += 1;
    }
    let names = |range: &[usize]| range.iter().map(|&n| steps[n].id_str()).collect::<Vec<_>>();
    const NEW: usize = usize::MAX;
    const DONE: usize = usize::MAX - 1;
    // For each step: NEW, DONE, or its position on the current path.
    let mut state = vec![NEW; steps.len()];
    let mut path: Vec<usize> = Vec::new();
    for start in last.iter().zip(&size).filter(|&(_, &n)| n > 1).filter_map(|(s, _)| *s) {
        let within = component[start];
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = path.len();
        path.push(start);
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let Some(&(dep, mention)) = deps[node].get(*next) else {
                state[node] = DONE;
                path.pop();
                stack.pop();
                continue;
            };
            *next += 1;
            if component[dep] != within {
                continue;
            }
            match state[dep] {
                NEW => {
                    state[dep] = path.len();
                    path.push(dep);
                    stack.push((dep, 0));
                }
                DONE => {}
                from => {
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
        }
    }
    found
}

/// The strongly connected component of each step (Tarjan's algorithm, without recursion so
/// a 20,000-step chain cannot overflow the stack); components are numbered in the order they
/// complete.
fn components(deps: &[Vec<(usize, usize)>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = deps.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut component = vec![UNSEEN; n];
    let mut next_order = 0;
    let mut next_component = 0;
    for root in 0..n {
        if order[root] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
        order[root] = next_order;
        low[root] = next_order;
        next_order += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (node, ref mut next)) = calls.last_mut() {
            if let Some(&(dep, _)) = deps[node].get(*next) {
                *next += 1;
                if order[dep] == UNSEEN {
                    order[dep] = next_order;
                    low[dep] = next_order;
                    next_order += 1;
                    stack.push(dep);
                    on_stack[dep] = true;
                    calls.push((dep, 0));
                } else if on_stack[dep] {
                    low[node] = low[node].min(order[dep]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == order[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = next_component;
                    if member == node {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}
