//! The last check before a run: an untrusted workspace's `stepwise.toml` may not aim a key
//! that this run would send, nor put its records outside the workspace. Checked before any
//! record is written or any request sent, so a refused run leaves no trace anywhere.

use std::collections::BTreeSet;

use super::RunRequest;
use crate::model::resolve::resolve_step;
use crate::model::workflow::Workflow;

/// Why `request` may not run in its untrusted workspace, if it may not.
pub fn refusal(request: &RunRequest, workflow: &Workflow) -> Option<String> {
    let workspace = &request.workspace;
    if workspace.trust.blocked().is_empty() {
        return None;
    }
    let mut providers: BTreeSet<String> = BTreeSet::new();
    for step in &workflow.steps {
        let effective = resolve_step(workflow, step, workspace, &request.overrides);
        providers.extend(effective.provider.map(|p| p.value));
        providers.extend(step.fallback.iter().map(|f| f.provider.value.clone()));
    }
    workspace
        .trust
        .refusal_for(|need| need.provider().is_none_or(|p| providers.contains(p)))
}
