//! The server's `workspace/executeCommand` commands, each defined once: its ID and its typed
//! argument. The capability list, parsing, and the commands behind code actions and lenses
//! all come from this one table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_lsp_server::ls_types::{self as lsp, Position};

use crate::analysis::actions::RunAction;
use crate::model::comparison::CompareTarget;
use crate::model::resolve::Overrides;

/// Which step a one-step command acts on: named by its ID, or the step at a position (the
/// server decides which step is there).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StepAt {
    /// `{"step": "ID"}`.
    Id {
        /// The step ID.
        step: String,
    },
    /// `{"position": {"line": L, "character": C}}`, in the negotiated encoding.
    Position {
        /// A position on the step's lines.
        position: Position,
    },
}

/// The argument of a one-step command, with one-time overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepArgs {
    /// The workflow document.
    pub uri: String,
    /// The step.
    #[serde(flatten)]
    pub at: StepAt,
    /// Provider for this run only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Model for this run only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Persona for this run only (absent means the step's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// Values of the workflow's inputs, by name (absent ones: the last run's, else defaults).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
}

impl StepArgs {
    /// Step `step` of `uri`, without overrides.
    fn step(uri: &str, step: &str) -> StepArgs {
        StepArgs {
            uri: uri.to_string(),
            at: StepAt::Id { step: step.to_string() },
            provider: None,
            model: None,
            persona: None,
            inputs: BTreeMap::new(),
        }
    }

    /// The one-time overrides it carries.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            provider: self.provider.clone(),
            model: self.model.clone(),
            persona: self.persona.clone().map(Some),
        }
    }
}

/// The argument of a whole-document command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentArgs {
    /// The workflow document.
    pub uri: String,
}

/// The argument of a command that runs a whole workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowArgs {
    /// The workflow document.
    pub uri: String,
    /// Values of the workflow's inputs, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
}

/// The argument of `stepwise.compareStep`: the step, and the targets to send it to (none:
/// the editor has yet to ask which — a code lens or action carries none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareArgs {
    /// The workflow document.
    pub uri: String,
    /// The step.
    #[serde(flatten)]
    pub at: StepAt,
    /// Where to send it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<CompareTarget>,
    /// Samples per target (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// Values of the workflow's inputs, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
}

/// The argument of `stepwise.useTarget`: adopt a compared target in the step, as its own
/// provider/model/persona or as a fallback entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UseTargetArgs {
    /// The workflow document.
    pub uri: String,
    /// The step.
    #[serde(flatten)]
    pub at: StepAt,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// The persona (only for `as: step`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// Where the target goes.
    #[serde(rename = "as")]
    pub role: TargetRole,
}

/// Where an adopted target goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetRole {
    /// The step's provider, model and persona.
    Step,
    /// One more entry of the step's `fallback` list.
    Fallback,
}

/// Defines [`ServerCommand`] from one line per command: variant, argument type, ID.
macro_rules! commands {
    ($($(#[$doc:meta])* $variant:ident($args:ty) = $name:ident = $id:literal,)*) => {
        /// A command the server executes, with its typed argument.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ServerCommand {
            $($(#[$doc])* $variant($args),)*
        }

        impl ServerCommand {
            /// Every command ID, as listed in the server's capabilities.
            pub const IDS: &'static [&'static str] = &[$(Self::$name),*];

            $(
                #[doc = concat!("`", $id, "`.")]
                pub const $name: &'static str = $id;
            )*

            /// The command's ID.
            pub fn id(&self) -> &'static str {
                match self {
                    $(ServerCommand::$variant(_) => $id,)*
                }
            }

            /// The command's single JSON argument.
            pub fn argument(&self) -> Value {
                let value = match self {
                    $(ServerCommand::$variant(a) => serde_json::to_value(a),)*
                };
                value.unwrap_or_default()
            }

            /// Parses a command from its ID and JSON argument.
            pub fn parse(id: &str, argument: Value) -> Result<ServerCommand, String> {
                let bad = |e: serde_json::Error| format!("bad arguments for {id}: {e}");
                match id {
                    $($id => serde_json::from_value(argument).map(ServerCommand::$variant).map_err(bad),)*
                    other => Err(format!("unknown command {other}")),
                }
            }
        }
    };
}

commands! {
    /// Run one step (upstream steps without output first).
    RunStep(StepArgs) = RUN_STEP = "stepwise.runStep",
    /// Run one step and everything downstream of it.
    RunFrom(StepArgs) = RUN_FROM = "stepwise.runFrom",
    /// Run every step.
    RunWorkflow(WorkflowArgs) = RUN_WORKFLOW = "stepwise.runWorkflow",
    /// Run what is pending, failed or stale.
    Resume(WorkflowArgs) = RESUME = "stepwise.resume",
    /// Stop the run in progress.
    Cancel(DocumentArgs) = CANCEL = "stepwise.cancel",
    /// The step's last output.
    OpenOutput(StepArgs) = OPEN_OUTPUT = "stepwise.openOutput",
    /// The exact request the step would send now, key redacted (`server::preview`).
    PreviewRequest(StepArgs) = PREVIEW_REQUEST = "stepwise.previewRequest",
    /// Send one step to several targets and return them side by side (`server::compare`).
    CompareStep(CompareArgs) = COMPARE_STEP = "stepwise.compareStep",
    /// The targets a step can be compared on (`server::compare`).
    CompareTargets(StepArgs) = COMPARE_TARGETS = "stepwise.compareTargets",
    /// Apply a compared target to the step, as its own or as a fallback (`server::compare`).
    UseTarget(UseTargetArgs) = USE_TARGET = "stepwise.useTarget",
    /// Trust the document's workspace, after asking (`server::trust`).
    TrustWorkspace(DocumentArgs) = TRUST_WORKSPACE = "stepwise.trustWorkspace",
    /// Whether the document's workspace is trusted (`server::trust`).
    TrustStatus(DocumentArgs) = TRUST_STATUS = "stepwise.trustStatus",
}

impl ServerCommand {
    /// The command behind an analysis action on document `uri`.
    pub fn for_action(action: &RunAction, uri: &str) -> ServerCommand {
        match action {
            RunAction::RunStep { step, provider } => ServerCommand::RunStep(StepArgs {
                provider: provider.clone(),
                ..StepArgs::step(uri, step)
            }),
            RunAction::RunFrom { step } => ServerCommand::RunFrom(StepArgs::step(uri, step)),
            RunAction::Cancel => ServerCommand::Cancel(DocumentArgs { uri: uri.to_string() }),
            RunAction::OpenOutput { step } => ServerCommand::OpenOutput(StepArgs::step(uri, step)),
            RunAction::PreviewRequest { step } => ServerCommand::PreviewRequest(StepArgs::step(uri, step)),
            RunAction::Compare { step } => ServerCommand::CompareStep(CompareArgs {
                uri: uri.to_string(),
                at: StepAt::Id { step: step.clone() },
                targets: Vec::new(),
                repeat: None,
                inputs: BTreeMap::new(),
            }),
        }
    }

    /// The LSP command titled `title` that runs `action` on document `uri`.
    pub fn lsp(title: &str, action: &RunAction, uri: &str) -> lsp::Command {
        let command = ServerCommand::for_action(action, uri);
        lsp::Command {
            title: title.to_string(),
            command: command.id().to_string(),
            arguments: Some(vec![command.argument()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_round_trip_through_their_json_arguments() {
        let command = ServerCommand::parse(
            "stepwise.runStep",
            json!({ "uri": "file:///w/a.flow.yaml", "step": "ideas", "provider": "openai" }),
        )
        .unwrap();
        assert_eq!(command.id(), "stepwise.runStep");
        assert_eq!(ServerCommand::parse(command.id(), command.argument()).unwrap(), command);
        assert!(ServerCommand::parse("stepwise.runStep", json!({ "uri": 1 })).is_err());
        assert!(ServerCommand::parse("stepwise.nothing", json!({})).is_err());
    }

    #[test]
    fn a_step_command_takes_a_position_instead_of_an_id() {
        let command = ServerCommand::parse(
            "stepwise.openOutput",
            json!({ "uri": "file:///w/a.flow.yaml", "position": { "line": 3, "character": 0 } }),
        )
        .unwrap();
        let ServerCommand::OpenOutput(args) = command else {
            panic!("{command:?}")
        };
        assert_eq!(
            args.at,
            StepAt::Position {
                position: Position::new(3, 0)
            }
        );
    }

    #[test]
    fn run_commands_take_input_values() {
        let command = ServerCommand::parse(
            "stepwise.runWorkflow",
            json!({ "uri": "file:///w/a.flow.yaml", "inputs": { "message": "hi" } }),
        )
        .unwrap();
        let ServerCommand::RunWorkflow(args) = &command else {
            panic!("{command:?}")
        };
        assert_eq!(args.inputs["message"], "hi");
        assert_eq!(ServerCommand::parse(command.id(), command.argument()).unwrap(), command);
    }

    #[test]
    fn every_command_is_listed_once() {
        let mut ids = ServerCommand::IDS.to_vec();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ServerCommand::IDS.len());
        let action = RunAction::RunStep {
            step: "a".to_string(),
            provider: None,
        };
        assert!(ServerCommand::IDS.contains(&ServerCommand::for_action(&action, "file:///a").id()));
    }
}
