//! The words of a run's `$/progress`: the title names the run (`stepwise: run findings`) and a
//! message names its step only when that is not the step the title already names, so editors
//! that show `title: message` read `stepwise: run findings: asking openai/gpt-4o`, never
//! `run findings: findings: …`.

use crate::engine::RunTarget;

/// The progress title of a run of `target`.
pub fn title(target: &RunTarget) -> String {
    match target {
        RunTarget::Step(s) => format!("stepwise: run {s}"),
        RunTarget::FromStep(s) => format!("stepwise: run from {s}"),
        RunTarget::Workflow => "stepwise: run workflow".to_string(),
        RunTarget::Resume => "stepwise: resume".to_string(),
    }
}

/// A progress message about `step` in a run of `target`: `what` alone for the step the title
/// names, else `step: what`.
pub fn message(target: &RunTarget, step: &str, what: impl AsRef<str>) -> String {
    let named = matches!(target, RunTarget::Step(s) | RunTarget::FromStep(s) if s == step);
    if named {
        what.as_ref().to_string()
    } else {
        format!("{step}: {}", what.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_the_title_names_is_not_named_again() {
        let target = RunTarget::Step("findings".to_string());
        assert_eq!(title(&target), "stepwise: run findings");
        assert_eq!(
            message(&target, "findings", "asking openai/gpt-4o"),
            "asking openai/gpt-4o"
        );
        assert_eq!(
            message(&target, "diff", "asking openai/gpt-4o"),
            "diff: asking openai/gpt-4o"
        );
        let from = RunTarget::FromStep("findings".to_string());
        assert_eq!(message(&from, "findings", "completed"), "completed");
        assert_eq!(
            message(&RunTarget::Workflow, "findings", "completed"),
            "findings: completed"
        );
    }
}
