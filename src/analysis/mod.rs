//! Analysis: pure functions over an immutable snapshot (document + workspace). No I/O, no
//! LSP types; the server and the CLI turn the results into their own shapes.

pub mod actions;
pub mod budget;
mod chunk_pool;
pub mod compare;
pub mod completion;
pub mod config_file;
pub mod context;
pub mod cost_text;
mod cycles;
pub mod diagnostics;
pub mod estimate;
#[cfg(test)]
mod fixture;
pub mod generate;
pub mod hints;
pub mod hover;
pub mod navigation;
pub mod persona_file;
mod placed;
pub mod preview;
pub mod run_history_text;
pub mod run_text;
pub mod semantic_tokens;
mod step_env;
mod step_graph;
mod step_semantic;
mod syntax_errors;
mod vocabulary;

use std::sync::{Arc, OnceLock};

use crate::model::diagnostic::Diagnostic;
use crate::model::secrets::{FoundSecret, find_secrets};
use crate::model::steps::Steps;
use crate::model::workflow::{Step, Workflow, lower_step, lower_workflow, lower_workflow_with_steps};
use crate::model::workspace::Workspace;
use crate::syntax::chunks::{self, Chunks};
use crate::syntax::rechunk::{Rechunked, rechunk_at};
use crate::syntax::text::{Change, LineIndex, OffsetBy, Span, TextDelta};
use crate::syntax::yaml::{self, Entry, Node, NodeKind, ParsedYaml, SyntaxError};
use placed::{ItemEdit, ItemFindings};
use step_env::StepEnv;
use step_graph::{StepGraph, same_edges};
use step_semantic::StepSemantic;

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
/// that it can be reused wherever the item moves. Its step is not kept here but in the
/// workflow's list, placed in the document: one copy of each step.
#[derive(Debug)]
pub(crate) struct StepChunk {
    /// Whether the item lowered to a step.
    has_step: bool,
    diagnostics: Vec<Diagnostic>,
    error: Option<SyntaxError>,
    /// Key-like tokens in the chunk's text (a token never spans two lines, so never two chunks).
    secrets: Vec<FoundSecret>,
    /// The step's semantic diagnostics with the environment they were computed in.
    pub(crate) semantic: std::sync::Mutex<Option<step_semantic::CachedStepDiagnostics>>,
}

/// For each step, its chunk and where the chunk starts (none when the step comes from a
/// whole-document parse).
type StepChunks = Vec<Option<(usize, Arc<StepChunk>)>>;

/// The step items of a document, each with its chunk, kept for the next keystroke.
#[derive(Debug, Clone)]
struct Chunked {
    /// How the text splits.
    parts: Chunks,
    /// The chunk of each step item.
    items: Vec<Arc<StepChunk>>,
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
    /// The step items and their chunks, for the next keystroke's analysis to carry forward
    /// (none when the text does not split).
    chunked: Option<Chunked>,
    /// For each step of `workflow`, its chunk and where the chunk starts (none when the
    /// document was parsed whole).
    pub(crate) step_chunks: StepChunks,
    /// Whether every step was lowered from its chunk (not from a whole-document parse), so
    /// the next keystroke can take the steps over.
    steps_from_chunks: bool,
    /// What every step is checked against.
    pub(crate) step_env: Arc<StepEnv>,
    /// Repeated IDs and cycles of the steps, found on first use or carried over.
    graph: OnceLock<Arc<StepGraph>>,
    /// Key-like tokens anywhere in the text, in order.
    pub(crate) secrets: Vec<FoundSecret>,
    /// What the step items found besides their steps, for the next keystroke to patch
    /// (none when the document was parsed whole).
    item_findings: Option<ItemFindings>,
    /// Every step's semantic diagnostics, found on first use or patched from the previous
    /// version's.
    step_semantic: OnceLock<StepSemantic>,
}

/// What the next version's analysis takes over from the previous one: moved out of it when
/// the next one holds it alone, copied otherwise.
struct Carried {
    line_index: LineIndex,
    chunked: Option<Chunked>,
    /// The previous steps, how far each has yet to move, and their chunks, when every step
    /// was lowered from its chunk (the j-th step then belongs to the j-th item that has one).
    steps: Option<(Vec<Step>, Vec<isize>, StepChunks)>,
    step_env: Arc<StepEnv>,
    graph: Option<Arc<StepGraph>>,
    findings: Option<ItemFindings>,
    semantic: Option<StepSemantic>,
}

impl Carried {
    fn from_shared(previous: &Analysis) -> Carried {
        Carried {
            line_index: previous.line_index.clone(),
            chunked: previous.chunked.clone(),
            steps: previous.steps_from_chunks.then(|| {
                let steps = previous.workflow.steps.to_vec();
                let by = vec![0; steps.len()];
                (steps, by, previous.step_chunks.clone())
            }),
            step_env: previous.step_env.clone(),
            graph: previous.graph.get().cloned(),
            findings: previous.item_findings.clone(),
            semantic: previous.step_semantic.get().cloned(),
        }
    }

    fn from_owned(mut previous: Analysis) -> Carried {
        let steps = previous.steps_from_chunks.then(|| {
            let (steps, by) = std::mem::take(&mut previous.workflow.steps).into_moving();
            (steps, by, std::mem::take(&mut previous.step_chunks))
        });
        Carried {
            line_index: previous.line_index,
            chunked: previous.chunked,
            steps,
            step_env: previous.step_env,
            graph: previous.graph.into_inner(),
            findings: previous.item_findings,
            semantic: previous.step_semantic.into_inner(),
        }
    }
}

impl Analysis {
    /// Analyses `text` from scratch.
    pub fn new(text: Arc<str>, workspace: Arc<Workspace>) -> Analysis {
        Analysis::update(text, workspace, None)
    }

    /// [`Analysis::new`] with the step items split over exactly `threads` threads whatever
    /// the document's size (1: all in the calling thread); `new` uses every core for a large
    /// document and one thread for a small one. The result is the same either way.
    pub fn on_threads(text: Arc<str>, workspace: Arc<Workspace>, threads: usize) -> Analysis {
        Analysis::carry(text, workspace, None, TextDelta::Unknown, Some(threads))
    }

    /// Analyses `text`, reusing every step of `previous` whose text is unchanged: a keystroke
    /// costs one step's parse and lowering, not the document's.
    ///
    /// The result equals [`Analysis::whole_document`] wherever the document parses: when a
    /// part does not stand alone (an alias of an anchor in another part, a flow collection or
    /// quoted scalar running across parts, …) it fails to parse on its own, and then the
    /// whole document is parsed; if that succeeds, it is the result.
    pub fn update(text: Arc<str>, workspace: Arc<Workspace>, previous: Option<&Analysis>) -> Analysis {
        Analysis::carry(
            text,
            workspace,
            previous.map(Carried::from_shared),
            TextDelta::Unknown,
            None,
        )
    }

    /// [`Analysis::update`] taking `previous` over: its steps, chunks and line starts are
    /// moved and shifted in place instead of copied (the server's path, where the new
    /// version is the previous analysis's last holder).
    pub fn update_owned(text: Arc<str>, workspace: Arc<Workspace>, previous: Analysis) -> Analysis {
        Analysis::edited_owned(text, workspace, previous, TextDelta::Unknown)
    }

    /// [`Analysis::update`] told by `delta` where `text` may differ from the previous text,
    /// so the two are compared only there (the server knows where the edits landed).
    pub fn edited(text: Arc<str>, workspace: Arc<Workspace>, previous: &Analysis, delta: TextDelta) -> Analysis {
        Analysis::carry(text, workspace, Some(Carried::from_shared(previous)), delta, None)
    }

    /// [`Analysis::update_owned`] told by `delta` where `text` may differ from the previous.
    pub fn edited_owned(text: Arc<str>, workspace: Arc<Workspace>, previous: Analysis, delta: TextDelta) -> Analysis {
        Analysis::carry(text, workspace, Some(Carried::from_owned(previous)), delta, None)
    }

    /// The analysis of `text`, carrying what it can from `previous` (whose text may differ
    /// from it where `delta` says), with the step items it analyses afresh split over
    /// `threads` threads (by their size when `None`).
    fn carry(
        text: Arc<str>,
        workspace: Arc<Workspace>,
        previous: Option<Carried>,
        delta: TextDelta,
        threads: Option<usize>,
    ) -> Analysis {
        let change = previous.as_ref().and_then(|p| delta.change(p.line_index.text(), &text));
        let rechunked = previous.as_ref().and_then(|p| {
            let chunked = p.chunked.as_ref()?;
            rechunk_at(&chunked.parts, p.line_index.text(), &text, change)
        });
        let (line_index, old, step_env, old_graph) = match previous {
            Some(p) => {
                let index = match change {
                    Some(change) => p.line_index.edited(text.clone(), change),
                    None => LineIndex::new(text.clone()),
                };
                let old = (p.chunked, p.steps, p.findings, p.semantic);
                (index, Some(old), Some(p.step_env), p.graph)
            }
            None => (LineIndex::new(text.clone()), None, None, None),
        };
        // The new chunks are moved out; the rest of `rechunked` says how they came about.
        let (rechunked, parts) = match rechunked {
            Some(mut r) => {
                let parts = std::mem::take(&mut r.chunks);
                (Some(r), Some(parts))
            }
            None => (None, chunks::split(&text)),
        };
        let Some(parts) = parts else {
            let parsed = yaml::parse(&text);
            return Analysis::from_whole(line_index, workspace, parsed, None, step_env.as_ref());
        };
        let (old_chunked, old_steps, old_findings, old_semantic) = old.unwrap_or((None, None, None, None));
        // With the steps of the items the edit re-split when the rest were carried.
        let mut edited: Option<(ItemEdit, std::ops::Range<usize>)> = None;
        let (items, steps, step_chunks, same_graph) = match (&rechunked, old_chunked, old_steps) {
            (Some(r), Some(old_chunked), Some((steps, by, step_chunks))) => {
                let old = (old_chunked.parts.items.get(r.first).map(|s| s.start), old_chunked.items);
                let carried = carry_items(&text, &parts, r, old, (steps, by), step_chunks);
                edited = Some((ItemEdit::of(&old_chunked.parts.items, r), carried.fresh_steps));
                let steps = Steps::moving(carried.steps, carried.by);
                (carried.items, steps, carried.step_chunks, carried.same_graph)
            }
            (_, old_chunked, old_steps) => {
                // Equal texts: every item is where it was.
                let unchanged = Change {
                    start: text.len(),
                    old_end: text.len(),
                    new_end: text.len(),
                };
                let old = old_chunked
                    .as_ref()
                    .zip(old_steps)
                    .map(|(chunked, (steps, by, _))| (chunked, change.unwrap_or(unchanged), steps, by));
                let (items, steps, step_chunks) = match_items(&text, &parts, old, threads);
                (items, Steps::new(steps), step_chunks, false)
            }
        };
        let findings = match (&rechunked, edited.as_ref(), old_findings) {
            (Some(r), Some((edit, _)), Some(old)) => {
                let fresh = r.first..r.first + r.added;
                old.patched(*edit, ItemFindings::of(&parts.items[fresh.clone()], &items[fresh]))
            }
            _ => ItemFindings::of(&parts.items, &items),
        };
        let mut summary = YamlSummary::default();
        let mut structural: Vec<Diagnostic> = findings.structural.values().cloned().collect();
        summary.errors.extend(findings.errors.values().cloned());
        let mut secrets = secrets_in(&text, &parts.header);
        secrets.extend(findings.secrets.values().cloned());
        secrets.extend(secrets_in(&text, &parts.trailer));
        let root = top_level(&text, &parts, &mut summary);
        let chunked = Chunked { parts, items };
        if root.is_none() || !summary.errors.is_empty() {
            let whole = yaml::parse(&text);
            if whole.error.is_none() || root.is_none() {
                return Analysis::from_whole(line_index, workspace, whole, Some(chunked), step_env.as_ref());
            }
        }
        let (workflow, header_diagnostics) = lower_workflow_with_steps(&text, root.as_ref(), Some(steps));
        structural.extend(header_diagnostics);
        summary.errors.sort_by_key(|e| e.span.start);
        summary.error = summary.errors.first().cloned();
        let step_env = StepEnv::carry(step_env.as_ref(), &workflow, &workspace, same_graph);
        let graph = OnceLock::new();
        if let Some(old) = old_graph.filter(|_| same_graph) {
            let _ = graph.set(old);
        }
        let step_semantic = OnceLock::new();
        if let (Some((edit, fresh_steps)), Some(old)) = (edited, old_semantic) {
            // Only the re-split items' steps are read: the others need not be moved for it.
            let patched = workflow.steps.read_unmoved(fresh_steps.clone(), |fresh| {
                let fresh = step_chunks[fresh_steps]
                    .iter()
                    .zip(fresh)
                    .filter_map(|(chunk, step)| chunk.as_ref().map(|(base, chunk)| (*base, &**chunk, step)));
                old.patched(&step_env, edit.kept_before, edit.moved_from, edit.delta, fresh)
            });
            if let Some(patched) = patched {
                let _ = step_semantic.set(patched);
            }
        }
        Analysis {
            line_index,
            yaml: summary,
            workflow,
            structural,
            workspace,
            chunked: Some(chunked),
            step_chunks,
            steps_from_chunks: true,
            step_env,
            graph,
            secrets,
            item_findings: Some(findings),
            step_semantic,
        }
    }

    /// Analyses `text` parsed as one YAML document, without chunks: the reference that
    /// [`Analysis::update`] equals wherever the document parses.
    pub fn whole_document(text: Arc<str>, workspace: Arc<Workspace>) -> Analysis {
        let parsed = yaml::parse(&text);
        Analysis::from_whole(LineIndex::new(text), workspace, parsed, None, None)
    }

    /// Lowers the whole-document parse `parsed`, keeping `chunked` for the next keystroke.
    fn from_whole(
        line_index: LineIndex,
        workspace: Arc<Workspace>,
        parsed: ParsedYaml,
        chunked: Option<Chunked>,
        step_env: Option<&Arc<StepEnv>>,
    ) -> Analysis {
        let text = line_index.text().clone();
        let (workflow, structural) = lower_workflow(&text, parsed.root.as_ref());
        let step_chunks = vec![None; workflow.steps.len()];
        let secrets = find_secrets(&text);
        let step_env = StepEnv::carry(step_env, &workflow, &workspace, false);
        Analysis {
            line_index,
            yaml: YamlSummary {
                error: parsed.error.clone(),
                errors: parsed.error.into_iter().collect(),
                extra_documents: parsed.extra_documents,
            },
            workflow,
            structural,
            workspace,
            chunked,
            step_chunks,
            steps_from_chunks: false,
            step_env,
            graph: OnceLock::new(),
            secrets,
            item_findings: None,
            step_semantic: OnceLock::new(),
        }
    }

    /// Every step's semantic diagnostics.
    pub(crate) fn step_semantic(&self) -> &StepSemantic {
        self.step_semantic.get_or_init(|| StepSemantic::of(self))
    }

    /// Repeated step IDs and dependency cycles.
    pub(crate) fn graph(&self) -> &StepGraph {
        self.graph.get_or_init(|| Arc::new(StepGraph::of(&self.workflow)))
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

/// The chunk and step of each item of `parts`: the previous ones where the item's text is
/// unchanged (it lies wholly before or wholly after `change`, at the same place or moved by
/// it; the previous steps are those of the previous items, in order), else analysed afresh,
/// those on `threads` threads (by their size when `None`).
fn match_items(
    text: &str,
    parts: &Chunks,
    old: Option<(&Chunked, Change, Vec<Step>, Vec<isize>)>,
    threads: Option<usize>,
) -> (Vec<Arc<StepChunk>>, Vec<Step>, StepChunks) {
    let (old, mut old_steps, old_by) = match old {
        Some((chunked, change, steps, by)) => (Some((chunked, change)), steps, by),
        None => (None, Vec::new(), Vec::new()),
    };
    // The next previous item that may match, and the index of its step if it has one.
    let (mut j, mut k) = (0, 0);
    // For each item, the previous chunk it keeps, where that was and the index of its step.
    let kept: Vec<Option<(Arc<StepChunk>, usize, usize)>> = parts
        .items
        .iter()
        .map(|span| {
            let (old, change) = old?;
            let at = if span.end <= change.start {
                *span
            } else if span.start >= change.new_end {
                let mut at = *span;
                at.offset_by(-change.delta());
                at
            } else {
                return None;
            };
            let olds = &old.parts.items;
            let skipped = olds[j..].partition_point(|o| o.start < at.start);
            k += old.items[j..j + skipped].iter().filter(|c| c.has_step).count();
            j += skipped;
            (olds.get(j) == Some(&at)).then(|| (old.items[j].clone(), at.start, k))
        })
        .collect();
    let fresh: Vec<Span> = parts
        .items
        .iter()
        .zip(&kept)
        .filter_map(|(span, kept)| kept.is_none().then_some(*span))
        .collect();
    let threads = threads.unwrap_or_else(|| chunk_pool::threads_for(fresh.iter().map(Span::len).sum()));
    let mut analysed =
        chunk_pool::map_in_order(&fresh, threads, |span| analyse_step_chunk(&text[span.start..span.end])).into_iter();
    let mut items = Vec::with_capacity(parts.items.len());
    let mut steps = Vec::with_capacity(parts.items.len());
    let mut step_chunks = Vec::with_capacity(parts.items.len());
    for (span, kept) in parts.items.iter().zip(kept) {
        let (chunk, step) = match kept {
            Some((chunk, was_at, k)) => {
                let step = chunk.has_step.then(|| {
                    let step = std::mem::take(&mut old_steps[k]);
                    (step, span.start as isize - was_at as isize + old_by[k])
                });
                (chunk, step)
            }
            None => {
                let (chunk, step) = analysed.next().expect("an analysis for every item not kept");
                (Arc::new(chunk), step.map(|s| (s, span.start as isize)))
            }
        };
        if let Some((mut step, by)) = step {
            step.offset_by(by);
            steps.push(step);
            step_chunks.push(Some((span.start, chunk.clone())));
        }
        items.push(chunk);
    }
    (items, steps, step_chunks)
}

/// The parts of the next version that [`carry_items`] carried from the previous one.
struct CarriedItems {
    items: Vec<Arc<StepChunk>>,
    steps: Vec<Step>,
    /// How far each step has yet to move.
    by: Vec<isize>,
    step_chunks: StepChunks,
    /// Where the steps of the re-split items are in `steps`.
    fresh_steps: std::ops::Range<usize>,
    /// Whether the steps' IDs and dependencies are those of the previous version.
    same_graph: bool,
}

/// The chunks, steps and step chunks of `parts` when `rechunked` carried them from the
/// previous version (`old`: where its first re-split item started, none past the last, and
/// its chunks): the re-split items are analysed, the rest are carried over, those after the
/// change to move by its delta when they are placed (see [`Steps`]).
fn carry_items(
    text: &str,
    parts: &Chunks,
    rechunked: &Rechunked,
    (first_start, mut items): (Option<usize>, Vec<Arc<StepChunk>>),
    (mut steps, mut by): (Vec<Step>, Vec<isize>),
    mut step_chunks: StepChunks,
) -> CarriedItems {
    let Rechunked {
        first,
        added,
        removed,
        delta,
        ..
    } = *rechunked;
    let replaced = first..first + removed;
    // The steps before the first re-split item, found by where their chunks start (every
    // step here has its chunk): counting the items that have one read every chunk before it.
    let before = first_start.map_or(step_chunks.len(), |at| {
        step_chunks.partition_point(|c| c.as_ref().is_some_and(|(base, _)| *base < at))
    });
    debug_assert_eq!(before, items[..first].iter().filter(|c| c.has_step).count());
    let old_steps = items[replaced.clone()].iter().filter(|c| c.has_step).count();
    let mut fresh = Vec::with_capacity(added);
    let mut new_steps = Vec::new();
    let mut new_chunks = Vec::new();
    for span in &parts.items[first..first + added] {
        let (chunk, step) = analyse_step_chunk(&text[span.start..span.end]);
        let chunk = Arc::new(chunk);
        if let Some(mut step) = step {
            step.offset_by(span.start as isize);
            new_steps.push(step);
            new_chunks.push(Some((span.start, chunk.clone())));
        }
        fresh.push(chunk);
    }
    items.splice(replaced, fresh);
    let added_steps = new_steps.len();
    let same_graph = same_edges(&steps[before..before + old_steps], &new_steps);
    steps.splice(before..before + old_steps, new_steps);
    by.splice(before..before + old_steps, std::iter::repeat_n(0, added_steps));
    step_chunks.splice(before..before + old_steps, new_chunks);
    let moved = before + added_steps;
    if delta != 0 {
        by[moved..].iter_mut().for_each(|b| *b += delta);
        for (base, _) in step_chunks[moved..].iter_mut().flatten() {
            *base = base.wrapping_add_signed(delta);
        }
    }
    CarriedItems {
        items,
        steps,
        by,
        step_chunks,
        fresh_steps: before..moved,
        same_graph,
    }
}

/// The chunk of one step item's `text`, and its step with spans relative to the item.
fn analyse_step_chunk(text: &str) -> (StepChunk, Option<Step>) {
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
    let chunk = StepChunk {
        has_step: step.is_some(),
        diagnostics,
        error: parsed.error,
        secrets: find_secrets(text),
        semantic: std::sync::Mutex::new(None),
    };
    (chunk, step)
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
/// lowered per chunk). `None` when a part is not a block mapping (it does not stand alone).
fn top_level(text: &str, parts: &chunks::Chunks, summary: &mut YamlSummary) -> Option<Node> {
    let items = Span::new(
        parts.items.first().map_or(0, |s| s.start),
        parts.items.last().map_or(0, |s| s.end),
    );
    let mut entries: Vec<Entry> = Vec::new();
    // Where the first part's mapping starts: at its first key, or before it at a `?` that
    // makes that key explicit.
    let mut mapping_start = None;
    for part in parts.header.iter().chain(&parts.trailer) {
        let part_text = &text[part.start..part.end];
        // A flow mapping is a whole mapping alone, but in the document's block mapping a key
        // that needs its `:`: only the whole document can say which it is.
        let content = part_text
            .lines()
            .map(str::trim_start)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        if content.is_some_and(|l| l.starts_with('{')) {
            return None;
        }
        let parsed = yaml::parse(part_text);
        let broken = parsed.error.is_some();
        if let Some(mut err) = parsed.error {
            err.offset_by(part.start as isize);
            summary.errors.push(err);
        }
        match parsed.root {
            Some(Node {
                kind: NodeKind::Map(mut more),
                span,
                ..
            }) => {
                mapping_start.get_or_insert(span.start + part.start);
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
    let start = mapping_start.unwrap_or(entries.first()?.key.span.start);
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
