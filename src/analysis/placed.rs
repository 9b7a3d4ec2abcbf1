//! Findings of step items kept in document order with the start of their item, so that the
//! next version takes them over by the edit instead of visiting every item again: those of
//! the items before the edit stay, those of the re-split items are replaced, and those after
//! it move by the edit's length. A keystroke then costs the findings, not the steps.

use std::sync::Arc;

use super::StepChunk;
use crate::model::diagnostic::Diagnostic;
use crate::model::secrets::FoundSecret;
use crate::syntax::rechunk::Rechunked;
use crate::syntax::text::{OffsetBy, Span};
use crate::syntax::yaml::SyntaxError;

/// Values found in step items, placed in the document, each with its item's start, in
/// document order.
#[derive(Debug, Clone)]
pub(crate) struct Placed<T> {
    entries: Vec<(usize, T)>,
}

impl<T> Default for Placed<T> {
    fn default() -> Self {
        Placed { entries: Vec::new() }
    }
}

impl<T: OffsetBy> Placed<T> {
    /// Adds `value` (placed in the document) of the item starting at `base`, which is not
    /// before the last one added.
    pub(crate) fn push(&mut self, base: usize, value: T) {
        debug_assert!(self.entries.last().is_none_or(|(b, _)| *b <= base));
        self.entries.push((base, value));
    }

    /// The values, in document order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The next version's values: those of items starting before `kept_before` as they are,
    /// those of items starting at `moved_from` or later moved by `delta`, and `fresh` (the
    /// re-split items' own) in place of those in between.
    pub(crate) fn patched(self, kept_before: usize, moved_from: usize, delta: isize, fresh: Placed<T>) -> Placed<T> {
        let mut entries = self.entries;
        let kept = entries.partition_point(|(b, _)| *b < kept_before);
        let moved = entries.partition_point(|(b, _)| *b < moved_from).max(kept);
        if delta != 0 {
            for (base, value) in &mut entries[moved..] {
                *base = base.wrapping_add_signed(delta);
                value.offset_by(delta);
            }
        }
        entries.splice(kept..moved, fresh.entries);
        Placed { entries }
    }
}

/// Which step items an edit replaced, in the previous version's offsets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ItemEdit {
    /// Items starting before this are unchanged, at the same offsets.
    pub(crate) kept_before: usize,
    /// Items starting here or later are unchanged, moved by `delta`.
    pub(crate) moved_from: usize,
    /// How far they moved.
    pub(crate) delta: isize,
}

impl ItemEdit {
    /// The edit that `rechunked` made of the previous version's `items`.
    pub(crate) fn of(items: &[Span], rechunked: &Rechunked) -> ItemEdit {
        let start = |i: usize| items.get(i).map_or(usize::MAX, |s| s.start);
        ItemEdit {
            kept_before: start(rechunked.first),
            moved_from: start(rechunked.first + rechunked.removed),
            delta: rechunked.delta,
        }
    }
}

/// What the step items hold besides their steps (structure diagnostics from lowering, syntax
/// errors, key-like tokens), placed in the document.
#[derive(Debug, Clone, Default)]
pub(crate) struct ItemFindings {
    pub(crate) structural: Placed<Diagnostic>,
    pub(crate) errors: Placed<SyntaxError>,
    pub(crate) secrets: Placed<FoundSecret>,
}

impl ItemFindings {
    /// The findings of the chunks `items`, each starting where its span in `spans` does.
    pub(crate) fn of(spans: &[Span], items: &[Arc<StepChunk>]) -> ItemFindings {
        let mut found = ItemFindings::default();
        for (span, chunk) in spans.iter().zip(items) {
            let base = span.start;
            for d in &chunk.diagnostics {
                found.structural.push(base, placed(d, base));
            }
            if let Some(err) = &chunk.error {
                found.errors.push(base, placed(err, base));
            }
            for s in &chunk.secrets {
                found.secrets.push(base, placed(s, base));
            }
        }
        found
    }

    /// These findings after `edit`, with `fresh` those of the items it re-split.
    pub(crate) fn patched(self, edit: ItemEdit, fresh: ItemFindings) -> ItemFindings {
        let ItemEdit {
            kept_before,
            moved_from,
            delta,
        } = edit;
        ItemFindings {
            structural: self
                .structural
                .patched(kept_before, moved_from, delta, fresh.structural),
            errors: self.errors.patched(kept_before, moved_from, delta, fresh.errors),
            secrets: self.secrets.patched(kept_before, moved_from, delta, fresh.secrets),
        }
    }
}

/// `value`, relative to a chunk starting at `base`, placed in the document.
fn placed<T: OffsetBy + Clone>(value: &T, base: usize) -> T {
    let mut value = value.clone();
    value.offset_by(base as isize);
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::text::Span;

    fn placed(entries: &[(usize, usize)]) -> Placed<Span> {
        let mut out = Placed::default();
        for &(base, at) in entries {
            out.push(base, Span::new(at, at + 1));
        }
        out
    }

    #[test]
    fn patching_keeps_the_findings_before_replaces_the_edited_and_moves_the_rest() {
        let old = placed(&[(0, 1), (10, 12), (10, 15), (20, 21), (30, 33)]);
        let fresh = placed(&[(10, 11)]);
        let new = old.patched(10, 20, 3, fresh);
        let values: Vec<Span> = new.values().copied().collect();
        assert_eq!(
            values,
            vec![Span::new(1, 2), Span::new(11, 12), Span::new(24, 25), Span::new(36, 37)]
        );
        assert_eq!(
            new.entries.iter().map(|(b, _)| *b).collect::<Vec<_>>(),
            vec![0, 10, 23, 33]
        );
    }
}
