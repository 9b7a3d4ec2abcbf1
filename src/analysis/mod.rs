//! Analysis: pure functions over an immutable snapshot (document + workspace). No I/O, no
//! LSP types; the server and the CLI turn the results into their own shapes.

pub mod actions;
pub mod budget;
pub mod completion;
pub mod context;
pub mod cost_text;
pub mod diagnostics;
pub mod estimate;
#[cfg(test)]
mod fixture;
pub mod generate;
pub mod hints;
pub mod hover;
pub mod navigation;
pub mod run_text;
pub mod semantic_tokens;
mod step_env;
mod syntax_errors;
mod vocabulary;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::diagnostic::Diagnostic;
use crate::model::secrets::{FoundSecret, find_secrets};
use crate::model::workflow::{Step, Workflow, lower_step, lower_workflow, lower_workflow_with_steps};
use crate::model::workspace::Workspace;
use crate::syntax::chunks;
use crate::syntax::text::{LineIndex, OffsetBy, Span};
use crate::syntax::yaml::{self, Entry, Node, NodeKind, ParsedYaml, SyntaxError};
use step_env::StepEnv;

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
    /// Key-like tokens in the chunk's text (a token never spans two lines, so never two chunks).
    secrets: Vec<FoundSecret>,
    /// The step's semantic diagnostics with the environment they were computed in.
    pub(crate) semantic: std::sync::Mutex<Option<diagnostics::CachedStepDiagnostics>>,
}

impl StepChunk {
    /// The step, with spans relative to the chunk.
    pub(crate) fn step(&self) -> Option<&Step> {
        self.step.as_ref()
    }
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
    /// What every step is checked against.
    pub(crate) step_env: Arc<StepEnv>,
    /// Key-like tokens anywhere in the text, in order.
    pub(crate) secrets: Vec<FoundSecret>,
}

impl Analysis {
    /// Analyses `text` from scratch.
    pub fn new(text: Arc<str>, workspace: Arc<Workspace>) -> Analysis {
        Analysis::update(text, workspace, None)
    }

    /// Analyses `text`, reusing every step of `previous` whose text is unchanged: a keystroke
    /// costs one step's parse and lowering, not the document's.
    ///
    /// The result equals [`Analysis::whole_document`] wherever the document parses: when a
    /// part does not stand alone (an alias of an anchor in another part, a flow collection or
    /// quoted scalar running across parts, …) it fails to parse on its own, and then the
    /// whole document is parsed; if that succeeds, it is the result.
    pub fn update(text: Arc<str>, workspace: Arc<Workspace>, previous: Option<&Analysis>) -> Analysis {
        let Some(parts) = chunks::split(&text) else {
            let parsed = yaml::parse(&text);
            return Analysis::from_whole(text, workspace, parsed, FxHashMap::default(), previous);
        };
        let mut summary = YamlSummary::default();
        let mut structural = Vec::new();
        let mut steps = Vec::new();
        let mut step_chunks = Vec::new();
        let mut secrets = secrets_in(&text, &parts.header);
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
            secrets.extend(chunk.secrets.iter().map(|s| FoundSecret {
                start: s.start + item.start,
                end: s.end + item.start,
                ..s.clone()
            }));
            cache.insert(key, chunk);
        }
        secrets.extend(secrets_in(&text, &parts.trailer));
        let root = top_level(&text, &parts, &mut summary);
        if root.is_none() || !summary.errors.is_empty() {
            let whole = yaml::parse(&text);
            if whole.error.is_none() || root.is_none() {
                return Analysis::from_whole(text, workspace, whole, cache, previous);
            }
        }
        let (workflow, header_diagnostics) = lower_workflow_with_steps(&text, root.as_ref(), Some(steps));
        structural.extend(header_diagnostics);
        summary.errors.sort_by_key(|e| e.span.start);
        summary.error = summary.errors.first().cloned();
        let step_env = StepEnv::carry(previous.map(|p| &p.step_env), &workflow, &workspace);
        Analysis {
            line_index: LineIndex::new(text),
            yaml: summary,
            workflow,
            structural,
            workspace,
            chunks: cache,
            step_chunks,
            step_env,
            secrets,
        }
    }

    /// Analyses `text` parsed as one YAML document, without chunks: the reference that
    /// [`Analysis::update`] equals wherever the document parses.
    pub fn whole_document(text: Arc<str>, workspace: Arc<Workspace>) -> Analysis {
        let parsed = yaml::parse(&text);
        Analysis::from_whole(text, workspace, parsed, FxHashMap::default(), None)
    }

    /// Lowers the whole-document parse `parsed`, keeping `chunks` for the next keystroke.
    fn from_whole(
        text: Arc<str>,
        workspace: Arc<Workspace>,
        parsed: ParsedYaml,
        chunks: FxHashMap<Arc<str>, Arc<StepChunk>>,
        previous: Option<&Analysis>,
    ) -> Analysis {
        let (workflow, structural) = lower_workflow(&text, parsed.root.as_ref());
        let step_chunks = vec![None; workflow.steps.len()];
        let secrets = find_secrets(&text);
        let step_env = StepEnv::carry(previous.map(|p| &p.step_env), &workflow, &workspace);
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
            chunks,
            step_chunks,
            step_env,
            secrets,
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
        secrets: find_secrets(text),
        semantic: std::sync::Mutex::new(None),
    }
}

/// Key-like tokens in `parts` of `text`, placed in the document.
fn secrets_in(text: &str, parts: &[Span]) -> Vec<FoundSecret> {
    parts
        .iter()
        .flat_map(|part| {
            find_secrets(&text[part.start..part.end])
                .into_iter()
                .map(move |s| FoundSecret {
                    start: s.start + part.start,
                    end: s.end + part.start,
                    ..s
                })
        })
        .collect()
}

/// Parses each top-level key before and after the steps on its own and joins them into one
/// root mapping whose `steps` value is an empty list spanning the items (their steps are
/// lowered per chunk). `None` when a part is not a mapping (it does not stand alone).
fn top_level(text: &str, parts: &chunks::Chunks, summary: &mut YamlSummary) -> Option<Node> {
    let items = Span::new(
        parts.items.first().map_or(0, |s| s.start),
        parts.items.last().map_or(0, |s| s.end),
    );
    let mut entries: Vec<Entry> = Vec::new();
    for part in parts.header.iter().chain(&parts.trailer) {
        let parsed = yaml::parse(&text[part.start..part.end]);
        let broken = parsed.error.is_some();
        if let Some(mut err) = parsed.error {
            err.offset_by(part.start as isize);
            summary.errors.push(err);
        }
        match parsed.root {
            Some(Node {
                kind: NodeKind::Map(mut more),
                ..
            }) => {
                more.offset_by(part.start as isize);
                entries.extend(more);
            }
            _ if broken => {}
            _ => return None,
        }
    }
    if let Some(steps) = entries.iter_mut().find(|e| e.key.key_text() == Some("steps")) {
        steps.value = Node {
            kind: NodeKind::Seq(Vec::new()),
            span: items,
            truncated: false,
        };
    }
    let start = entries.first()?.key.span.start;
    let end = entries
        .iter()
        .map(|e| e.value.span.end.max(e.key.span.end))
        .max()
        .unwrap_or(start);
    Some(Node {
        kind: NodeKind::Map(entries),
        span: Span::new(start, end),
        truncated: false,
    })
}
