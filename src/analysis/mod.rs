//! Analysis: pure functions over an immutable snapshot (document + workspace). No I/O, no
//! LSP types; the server and the CLI turn the results into their own shapes.

pub mod actions;
pub mod completion;
pub mod context;
pub mod diagnostics;
#[cfg(test)]
mod fixture;
pub mod generate;
pub mod hints;
pub mod hover;
pub mod navigation;
pub mod run_text;
pub mod semantic_tokens;
mod syntax_errors;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::diagnostic::Diagnostic;
use crate::model::workflow::{Step, Workflow, lower_step, lower_workflow, lower_workflow_with_steps};
use crate::model::workspace::Workspace;
use crate::syntax::chunks;
use crate::syntax::text::{LineIndex, OffsetBy, Span};
use crate::syntax::yaml::{self, Node, NodeKind, SyntaxError};

/// What the YAML layer found wrong with the text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YamlSummary {
    /// The first syntax error, if any.
    pub error: Option<SyntaxError>,
    /// Every syntax error (one per independently parsed part of the document).
    pub errors: Vec<SyntaxError>,
    /// Spans of documents after the first, which stepwise ignores.
    pub extra_documents: Vec<Span>,
}

/// One step item, parsed and lowered on its own, with spans relative to its first byte so
/// that it can be reused wherever the item moves.
#[derive(Debug)]
pub(crate) struct StepChunk {
    step: Option<Step>,
    diagnostics: Vec<Diagnostic>,
    error: Option<SyntaxError>,
    /// The step's semantic diagnostics, valid while the workspace and the workflow's header
    /// and step IDs are the same (see `diagnostics::StepContext`).
    pub(crate) semantic: std::sync::Mutex<Option<diagnostics::CachedStepDiagnostics>>,
}

/// One document analysed against its workspace: what every feature reads.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The text and its line index.
    pub line_index: LineIndex,
    /// Syntax errors.
    pub yaml: YamlSummary,
    /// The typed workflow, as far as the text allows.
    pub workflow: Workflow,
    /// Syntax and structure diagnostics from lowering.
    structural: Vec<Diagnostic>,
    /// The workspace it was resolved against.
    pub workspace: Arc<Workspace>,
    /// Step chunks by their text, for the next keystroke's analysis to reuse.
    chunks: FxHashMap<Arc<str>, Arc<StepChunk>>,
    /// For each step of `workflow`, its chunk and where the chunk starts (none when the
    /// document was parsed whole).
    pub(crate) step_chunks: Vec<Option<(usize, Arc<StepChunk>)>>,
}

impl Analysis {
    /// Analyses `text` from scratch.
    pub fn new(text: Arc<str>, workspace: Arc<Workspace>) -> Analysis {
        Analysis::update(text, workspace, None)
    }

    /// Analyses `text`, reusing every step of `previous` whose text is unchanged: a keystroke
    /// costs one step's parse and lowering, not the document's.
    pub fn update(text: Arc<str>, workspace: Arc<Workspace>, previous: Option<&Analysis>) -> Analysis {
        let Some(parts) = chunks::split(&text) else {
            return Analysis::whole(text, workspace);
        };
        let mut summary = YamlSummary::default();
        let mut structural = Vec::new();
        let mut steps = Vec::new();
        let mut step_chunks = Vec::new();
        let mut cache = FxHashMap::with_capacity_and_hasher(parts.items.len(), Default::default());
        for item in &parts.items {
            let chunk_text = &text[item.start..item.end];
            let (key, chunk) = match previous.and_then(|p| p.chunks.get_key_value(chunk_text)) {
                Some((key, chunk)) => (key.clone(), chunk.clone()),
                None => (Arc::from(chunk_text), Arc::new(analyse_step_chunk(chunk_text))),
            };
            if let Some(mut step) = chunk.step.clone() {
                step.offset_by(item.start as isize);
                steps.push(step);
                step_chunks.push(Some((item.start, chunk.clone())));
            }
            for d in &chunk.diagnostics {
                let mut d = d.clone();
                d.offset_by(item.start as isize);
                structural.push(d);
            }
            if let Some(mut err) = chunk.error.clone() {
                err.offset_by(item.start as isize);
                summary.errors.push(err);
            }
            cache.insert(key, chunk);
        }
        let root = header_and_trailer(&text, &parts, &mut summary);
        let (workflow, header_diagnostics) = lower_workflow_with_steps(&text, root.as_ref(), Some(steps));
        structural.extend(header_diagnostics);
        summary.errors.sort_by_key(|e| e.span.start);
        summary.error = summary.errors.first().cloned();
        Analysis {
            line_index: LineIndex::new(text),
            yaml: summary,
            workflow,
            structural,
            workspace,
            chunks: cache,
            step_chunks,
        }
    }

    /// Parses and lowers the document as one piece (documents the chunker does not split).
    fn whole(text: Arc<str>, workspace: Arc<Workspace>) -> Analysis {
        let parsed = yaml::parse(&text);
        let (workflow, structural) = lower_workflow(&text, parsed.root.as_ref());
        let step_chunks = vec![None; workflow.steps.len()];
        Analysis {
            line_index: LineIndex::new(text),
            yaml: YamlSummary {
                error: parsed.error.clone(),
                errors: parsed.error.into_iter().collect(),
                extra_documents: parsed.extra_documents,
            },
            workflow,
            structural,
            workspace,
            chunks: FxHashMap::default(),
            step_chunks,
        }
    }

    /// The document text.
    pub fn text(&self) -> &str {
        self.line_index.text()
    }

    /// Every diagnostic of the document: syntax, then structure, then meaning.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut all = diagnostics::diagnose(self, &self.structural);
        syntax_errors::quiet_broken_steps(self.text(), &self.workflow, &mut all);
        all
    }
}

fn analyse_step_chunk(text: &str) -> StepChunk {
    let parsed = yaml::parse(text);
    let item = parsed
        .root
        .as_ref()
        .and_then(|r| r.as_seq())
        .and_then(|items| items.first());
    let (step, diagnostics) = match item {
        Some(node) => lower_step(text, node),
        None => (None, Vec::new()),
    };
    StepChunk {
        step,
        diagnostics,
        error: parsed.error,
        semantic: std::sync::Mutex::new(None),
    }
}

/// Parses the header and trailer and joins them into one root mapping whose `steps` value is
/// an empty list spanning the items (their steps are lowered per chunk).
fn header_and_trailer(text: &str, parts: &chunks::Chunks, summary: &mut YamlSummary) -> Option<Node> {
    let header = yaml::parse(&text[..parts.header.end]);
    summary.errors.extend(header.error);
    let mut root = header.root?;
    let items = Span::new(
        parts.items.first().map_or(parts.header.end, |s| s.start),
        parts.items.last().map_or(parts.header.end, |s| s.end),
    );
    let trailer = yaml::parse(&text[parts.trailer.start..]);
    if let NodeKind::Map(entries) = &mut root.kind {
        if let Some(steps) = entries.iter_mut().find(|e| e.key.key_text() == Some("steps")) {
            steps.value = Node {
                kind: NodeKind::Seq(Vec::new()),
                span: items,
                truncated: false,
            };
        }
        if let Some(mut extra) = trailer.root {
            extra.offset_by(parts.trailer.start as isize);
            if let NodeKind::Map(more) = extra.kind {
                entries.extend(more);
            }
        }
        root.span.end = root.span.end.max(items.end);
    }
    if let Some(mut err) = trailer.error {
        err.offset_by(parts.trailer.start as isize);
        summary.errors.push(err);
    }
    Some(root)
}
