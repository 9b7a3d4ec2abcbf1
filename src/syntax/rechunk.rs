//! Carries the chunks of a document across an edit: only the lines between the step items
//! that enclose the change are split again, or the header's when the change lies before the
//! `steps:` line, so a keystroke costs its own lines, not the document's. The result equals
//! [`chunks::split`] of the new text; where that cannot be shown from the changed lines alone
//! (the change reaches the `steps:` line or the first item's `-` line, or ends the items
//! early), it is `None` and the caller splits from scratch.

use super::chunks::{self, Chunks, ItemLine};
use super::text::{Change, OffsetBy, Span};

/// The chunks of the new text and which step items are the previous ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Rechunked {
    /// The chunks of the new text, as [`chunks::split`] gives them.
    pub chunks: Chunks,
    /// Items `..first` are the previous items, at the same offsets.
    pub first: usize,
    /// Items `first..first + added` were split again; they replace the previous items
    /// `first..first + removed`.
    pub added: usize,
    /// How many previous items the re-split ones replace.
    pub removed: usize,
    /// How far the items after them moved (new offset = previous offset + `delta`).
    pub delta: isize,
}

/// The chunks of `new`, given those of `old`; see the module comment.
pub fn rechunk(previous: &Chunks, old: &str, new: &str) -> Option<Rechunked> {
    rechunk_at(previous, old, new, Change::between(old, new))
}

/// [`rechunk`], given the change from `old` to `new` (`Change::between` them, which the
/// caller has already computed).
pub fn rechunk_at(previous: &Chunks, old: &str, new: &str, change: Option<Change>) -> Option<Rechunked> {
    let items = &previous.items;
    let delta = new.len() as isize - old.len() as isize;
    let Some(change) = change else {
        return Some(Rechunked {
            chunks: previous.clone(),
            first: items.len(),
            added: 0,
            removed: 0,
            delta,
        });
    };
    // A lone `\r` the edit made (the old text had none, or it would not be chunked) is a line
    // break the split does not see: split again, which parses such a text whole.
    let around = change.start.saturating_sub(1)..(change.new_end + 1).min(new.len());
    if chunks::has_lone_cr(&new.as_bytes()[around]) {
        return None;
    }
    if previous.header.last().is_some_and(|steps| change.old_end < steps.start) {
        return rechunk_header(previous, new, change);
    }
    let prefix = change.start;
    // The line holding the first changed byte may have become anything: start at the item
    // before it, whose `-` line is wholly unchanged.
    let line_start = old.as_bytes()[..prefix]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let first = items.partition_point(|it| it.start < line_start).checked_sub(1)?;
    if items[first].end < line_start {
        return None;
    }
    let start = items[first].start;
    let indent = chunks::indentation(&old[items[0].start..]);
    // The first item starting after the last changed byte (and its line break) still starts
    // an item, unmoved relative to the end; the re-split lines end there.
    let changed_end = change.old_end;
    let next = items.partition_point(|it| it.start <= changed_end);
    let end = match items.get(next) {
        Some(it) => it.start.wrapping_add_signed(delta),
        None => new.len(),
    };
    let mut fresh: Vec<Span> = Vec::new();
    let mut end_of_items = None;
    let mut offset = start;
    for line in new[start..end].split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        match chunks::classify(content, indent) {
            ItemLine::Inside => {}
            ItemLine::Start => {
                if let Some(last) = fresh.last_mut() {
                    last.end = offset;
                }
                fresh.push(Span::new(offset, end));
            }
            ItemLine::AfterItems if next == items.len() => {
                end_of_items = Some(offset);
                break;
            }
            ItemLine::AfterItems | ItemLine::Unsplittable => return None,
        }
        offset += line.len();
    }
    if fresh.first().map(|s| s.start) != Some(start) {
        return None;
    }
    let trailer = if next < items.len() {
        let mut trailer = previous.trailer.clone();
        trailer.offset_by(delta);
        trailer
    } else {
        let from = end_of_items.unwrap_or(new.len());
        if let Some(last) = fresh.last_mut() {
            last.end = from;
        }
        trailer_keys(new, from)?
    };
    let added = fresh.len();
    let mut all = Vec::with_capacity(first + added + items.len() - next);
    all.extend_from_slice(&items[..first]);
    all.extend(fresh);
    all.extend(items[next..].iter().map(|it| {
        let mut it = *it;
        it.offset_by(delta);
        it
    }));
    Some(Rechunked {
        chunks: Chunks {
            header: previous.header.clone(),
            items: all,
            trailer,
        },
        first,
        added,
        removed: next - first,
        delta,
    })
}

/// The chunks of `new` when `change` lies before the `steps:` line (where the last header
/// part starts): the header's lines are split again, the items and the trailer moved. `None`
/// when the new header holds a document marker or an earlier `steps:` line.
fn rechunk_header(previous: &Chunks, new: &str, change: Change) -> Option<Rechunked> {
    let delta = change.delta();
    let steps_at = previous.header.last()?.start.wrapping_add_signed(delta);
    let first_item = previous.items.first()?.start.wrapping_add_signed(delta);
    let lines = chunks::lines_in(new, 0..first_item)?;
    if lines[chunks::steps_line(&lines)?].0 != steps_at {
        return None;
    }
    let mut items = previous.items.clone();
    items.offset_by(delta);
    let mut trailer = previous.trailer.clone();
    trailer.offset_by(delta);
    Some(Rechunked {
        chunks: Chunks {
            header: chunks::top_level_keys(&lines, 0, first_item),
            items,
            trailer,
        },
        first: 0,
        added: 0,
        removed: 0,
        delta,
    })
}

/// The top-level keys of `text[from..]`, or `None` when a line there is a document marker.
fn trailer_keys(text: &str, from: usize) -> Option<Vec<Span>> {
    let lines = chunks::lines_in(text, from..text.len())?;
    Some(chunks::top_level_keys(&lines, from, text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BASE: &str = "version: 1\nname: x\nsteps:\n  - id: a\n    prompt: hi\n\n  # note\n  - id: b\n    prompt: |\n      - not an item\n  - id: c\n    prompt: there\ninputs: {}\n";

    const PIECES: &[&str] = &[
        "\n",
        "  - id: d\n",
        "  - ",
        "- ",
        "x",
        " ",
        "  ",
        "# c\n",
        "steps:\n",
        "name: y\n",
        "---\n",
        "\t",
        "\r\n",
        "...",
        "%",
        "  prompt: |\n",
        "\u{feff}",
        "",
    ];

    fn piece() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(PIECES), 0..4).prop_map(|p| p.concat())
    }

    fn boundary(text: &str, f: f64) -> usize {
        let at = ((text.len() as f64) * f) as usize;
        (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
    }

    /// Rechunks [`BASE`] with `from` replaced by `to`, checks the chunks against a split of the
    /// new text, and says which items were re-split: (first, added, removed, delta).
    fn re_split(from: &str, to: &str) -> (usize, usize, usize, isize) {
        let new = BASE.replace(from, to);
        let carried = rechunk(&chunks::split(BASE).unwrap(), BASE, &new).unwrap();
        assert_eq!(Some(carried.chunks), chunks::split(&new));
        (carried.first, carried.added, carried.removed, carried.delta)
    }

    #[test]
    fn typing_inside_a_step_re_splits_only_that_step() {
        assert_eq!(re_split("prompt: hi", "prompt: hix"), (0, 1, 1, 1));
    }

    #[test]
    fn an_edit_of_the_header_re_splits_only_the_header() {
        assert_eq!(re_split("name: x", "name: xy"), (0, 0, 0, 1));
    }

    #[test]
    fn an_edit_of_the_steps_line_splits_from_scratch() {
        let new = BASE.replace("steps:", "steps: # the list");
        assert_eq!(rechunk(&chunks::split(BASE).unwrap(), BASE, &new), None);
    }

    #[test]
    fn a_steps_line_typed_in_the_header_splits_from_scratch() {
        let new = BASE.replace(
            "name: x
",
            "name: x
steps:
",
        );
        assert_eq!(rechunk(&chunks::split(BASE).unwrap(), BASE, &new), None);
    }

    proptest! {
        #[test]
        fn rechunking_after_random_edits_equals_splitting_the_new_text(
            edits in proptest::collection::vec((0.0..=1.0f64, 0.0..=0.2f64, piece()), 1..12)
        ) {
            let mut text = BASE.to_string();
            let mut parts = chunks::split(&text);
            for (at, len, insert) in edits {
                let start = boundary(&text, at);
                let end = boundary(&text, (at + len).min(1.0)).max(start);
                let mut next = text.clone();
                next.replace_range(start..end, &insert);
                let fresh = chunks::split(&next);
                if let Some(old) = &parts
                    && let Some(carried) = rechunk(old, &text, &next)
                {
                    prop_assert_eq!(Some(carried.chunks.clone()), fresh.clone(), "{:?} → {:?}", text, next);
                    let kept = old.items.len() - carried.removed;
                    prop_assert_eq!(carried.chunks.items.len(), kept + carried.added);
                }
                text = next;
                parts = fresh;
            }
        }
    }
}
