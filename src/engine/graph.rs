//! The step dependency graph: which steps must finish before which, in document order
//! wherever the dependencies leave a choice.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use crate::model::workflow::Workflow;

/// Dependencies between the steps of one workflow, by step index.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Step IDs by index.
    pub ids: Vec<String>,
    /// For each step, the indices of the steps it depends on.
    pub deps: Vec<Vec<usize>>,
    /// For each step, the indices of the steps that depend on it.
    pub readers: Vec<Vec<usize>>,
}

impl Graph {
    /// The graph of `workflow` (references to missing steps are left out: analysis reports them).
    pub fn new(workflow: &Workflow) -> Graph {
        let ids: Vec<String> = workflow.steps.iter().map(|s| s.id_str().to_string()).collect();
        let index: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let deps = workflow
            .steps
            .iter()
            .map(|s| {
                s.dependencies()
                    .iter()
                    .filter_map(|d| index.get(d.value.as_str()).copied())
                    .collect()
            })
            .collect::<Vec<Vec<usize>>>();
        let mut readers = vec![Vec::new(); ids.len()];
        for (i, d) in deps.iter().enumerate() {
            for &dep in d {
                readers[dep].push(i);
            }
        }
        Graph { ids, deps, readers }
    }

    /// The index of step `id`.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|i| i == id)
    }

    /// Every step `step` depends on, directly or not.
    pub fn upstream(&self, step: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = self.deps[step].clone();
        while let Some(s) = stack.pop() {
            if seen.insert(s) {
                stack.extend(&self.deps[s]);
            }
        }
        seen
    }

    /// Every step that depends on `step`, directly or not.
    pub fn downstream(&self, step: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![step];
        while let Some(s) = stack.pop() {
            for &i in &self.readers[s] {
                if seen.insert(i) {
                    stack.push(i);
                }
            }
        }
        seen
    }

    /// The steps in an order where each comes after its dependencies, document order among
    /// equals; steps on a cycle are left out. Linear in the steps and edges.
    pub fn order(&self) -> Vec<usize> {
        let mut waiting: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..self.ids.len()).filter(|&i| waiting[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(self.ids.len());
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &r in &self.readers[i] {
                waiting[r] -= 1;
                if waiting[r] == 0 {
                    ready.push(Reverse(r));
                }
            }
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::workflow::lower_workflow;
    use crate::syntax::yaml;

    fn graph(text: &str) -> Graph {
        let parsed = yaml::parse(text);
        Graph::new(&lower_workflow(text, parsed.root.as_ref()).0)
    }

    #[test]
    fn graph_follows_needs_and_template_references() {
        let g = graph(
            "version: 1\nname: x\nsteps:\n  - id: c\n    needs: [b]\n    prompt: \"{{ steps.a.output }}\"\n  - id: a\n    prompt: hi\n  - id: b\n    prompt: \"{{ steps.a.output }}\"\n  - id: d\n    prompt: alone\n",
        );
        assert_eq!(g.order(), vec![1, 2, 0, 3]);
        assert_eq!(g.upstream(0), BTreeSet::from([1, 2]));
        assert_eq!(g.downstream(1), BTreeSet::from([0, 2]));
    }
}
