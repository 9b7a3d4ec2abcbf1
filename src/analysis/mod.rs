//! Analysis: pure functions over an immutable snapshot (document + workspace). No I/O, no
//! LSP types; the server and the CLI turn the results into their own shapes.

pub mod diagnostics;
pub mod generate;

use std::sync::Arc;

use crate::model::diagnostic::Diagnostic;
use crate::model::workflow::{Workflow, lower_workflow};
use crate::model::workspace::Workspace;
use crate::syntax::text::LineIndex;
use crate::syntax::yaml::{self, ParsedYaml};

/// One document analysed against its workspace: what every feature reads.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The text and its line index.
    pub line_index: LineIndex,
    /// The YAML tree (partial when there is a syntax error).
    pub yaml: ParsedYaml,
    /// The typed workflow, as far as the text allows.
    pub workflow: Workflow,
    /// Syntax and structure diagnostics from lowering.
    structural: Vec<Diagnostic>,
    /// The workspace it was resolved against.
    pub workspace: Arc<Workspace>,
}

impl Analysis {
    /// Parses and lowers `text`; the semantic checks run lazily in [`Analysis::diagnostics`].
    pub fn new(text: Arc<str>, workspace: Arc<Workspace>) -> Analysis {
        let yaml = yaml::parse(&text);
        let (workflow, structural) = lower_workflow(&text, yaml.root.as_ref());
        Analysis {
            line_index: LineIndex::new(text),
            yaml,
            workflow,
            structural,
            workspace,
        }
    }

    /// The document text.
    pub fn text(&self) -> &str {
        self.line_index.text()
    }

    /// Every diagnostic of the document: syntax, then structure, then meaning.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        diagnostics::diagnose(self, &self.structural)
    }
}
