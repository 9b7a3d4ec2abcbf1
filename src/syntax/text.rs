//! Document text and positions: the one place that converts between byte offsets and
//! editor positions (UTF-8 or UTF-16 columns), so every layer above speaks byte offsets.
//!
//! Lines are the protocol's: they end at `\n`, `\r\n` or a lone `\r`, and nowhere else
//! (not at U+2028, U+2029, U+0085, VT or FF), for edits and positions alike.

use std::sync::Arc;

/// A byte range in a document. Copyable, unlike `Range<usize>`, so it can sit in every model node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (byte offsets).
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// An empty span at `offset`, for things that are missing at a place.
    pub fn empty(offset: usize) -> Span {
        Span::new(offset, offset)
    }

    /// Whether `offset` lies inside the span or touches its end (a cursor right after a word).
    pub fn touches(&self, offset: usize) -> bool {
        self.start <= offset && offset <= self.end
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Moves every span in a value by `base` bytes: things analysed in a chunk of a document are
/// kept relative to the chunk and placed in the document when reused.
pub trait OffsetBy {
    /// Moves every span inside by `base` bytes (negative: towards the start).
    fn offset_by(&mut self, base: isize);
}

impl OffsetBy for Span {
    fn offset_by(&mut self, base: isize) {
        self.start = self.start.wrapping_add_signed(base);
        self.end = self.end.wrapping_add_signed(base);
    }
}

impl<T: OffsetBy> OffsetBy for Option<T> {
    fn offset_by(&mut self, base: isize) {
        if let Some(v) = self {
            v.offset_by(base);
        }
    }
}

impl<T: OffsetBy + ?Sized> OffsetBy for Box<T> {
    fn offset_by(&mut self, base: isize) {
        (**self).offset_by(base);
    }
}

impl<T: OffsetBy> OffsetBy for Vec<T> {
    fn offset_by(&mut self, base: isize) {
        for v in self {
            v.offset_by(base);
        }
    }
}

/// What an edit changed: `old[start..old_end]` became `new[start..new_end]`, the rest is
/// the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The first byte that differs.
    pub start: usize,
    /// End of the replaced bytes in the old text.
    pub old_end: usize,
    /// End of the replacing bytes in the new text.
    pub new_end: usize,
}

impl Change {
    /// The change from `old` to `new` (their longest common prefix and suffix apart),
    /// `None` when they are equal.
    pub fn between(old: &str, new: &str) -> Option<Change> {
        let (old, new) = (old.as_bytes(), new.as_bytes());
        let start = common_prefix(old, new);
        if start == old.len() && start == new.len() {
            return None;
        }
        let suffix = common_suffix(&old[start..], &new[start..]);
        Some(Change {
            start,
            old_end: old.len() - suffix,
            new_end: new.len() - suffix,
        })
    }

    /// How far the bytes after the change moved.
    pub fn delta(&self) -> isize {
        self.new_end as isize - self.old_end as isize
    }

    /// `self` followed by `next` (a change of the text `self` made) as one change of the
    /// first text: from the earlier start to the later end.
    pub fn then(self, next: Change) -> Change {
        let end = self.new_end.max(next.old_end);
        Change {
            start: self.start.min(next.start),
            old_end: end.wrapping_add_signed(-self.delta()),
            new_end: end.wrapping_add_signed(next.delta()),
        }
    }

    /// The change from `old` to `new` that `self` covers, its common prefix and suffix
    /// apart (compared only inside it); `None` when the texts are equal.
    fn narrowed(self, old: &str, new: &str) -> Option<Change> {
        debug_assert!(
            self.holds(old, new),
            "{self:?} is not a change from the old text to the new"
        );
        let old = &old.as_bytes()[self.start..self.old_end];
        let new = &new.as_bytes()[self.start..self.new_end];
        let prefix = common_prefix(old, new);
        if prefix == old.len() && prefix == new.len() {
            return None;
        }
        let suffix = common_suffix(&old[prefix..], &new[prefix..]);
        Some(Change {
            start: self.start + prefix,
            old_end: self.old_end - suffix,
            new_end: self.new_end - suffix,
        })
    }

    /// Whether `old` and `new` are the same outside this change.
    fn holds(&self, old: &str, new: &str) -> bool {
        let (old, new) = (old.as_bytes(), new.as_bytes());
        self.start <= self.old_end
            && self.start <= self.new_end
            && self.old_end <= old.len()
            && self.new_end <= new.len()
            && old.len() - self.old_end == new.len() - self.new_end
            && old[..self.start] == new[..self.start]
            && old[self.old_end..] == new[self.new_end..]
    }
}

/// How a text differs from an earlier version, as far as the edits that made it say: the
/// server knows where a keystroke landed, so the two texts need not be compared whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextDelta {
    /// Not known (the whole text was replaced, or the versions are unrelated).
    Unknown,
    /// No edit was made.
    Same,
    /// The texts are the same outside this change.
    Within(Change),
}

impl TextDelta {
    /// `self` followed by `next`, as one delta from the first text.
    pub fn then(self, next: TextDelta) -> TextDelta {
        match (self, next) {
            (TextDelta::Unknown, _) | (_, TextDelta::Unknown) => TextDelta::Unknown,
            (TextDelta::Same, delta) | (delta, TextDelta::Same) => delta,
            (TextDelta::Within(a), TextDelta::Within(b)) => TextDelta::Within(a.then(b)),
        }
    }

    /// The change from `old` to `new` (`None` when they are equal), comparing them only where
    /// this delta says they may differ.
    pub fn change(self, old: &str, new: &str) -> Option<Change> {
        match self {
            TextDelta::Unknown => Change::between(old, new),
            TextDelta::Same => {
                debug_assert_eq!(old, new, "no edit, yet the texts differ");
                None
            }
            TextDelta::Within(change) => change.narrowed(old, new),
        }
    }
}

/// How many leading bytes `a` and `b` share (compared a block at a time, as `memcmp` does).
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 256;
    let len = a.len().min(b.len());
    let mut at = 0;
    while at + BLOCK <= len && a[at..at + BLOCK] == b[at..at + BLOCK] {
        at += BLOCK;
    }
    at + a[at..len].iter().zip(&b[at..len]).take_while(|(x, y)| x == y).count()
}

/// How many trailing bytes `a` and `b` share.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 256;
    let len = a.len().min(b.len());
    let (a, b) = (&a[a.len() - len..], &b[b.len() - len..]);
    let mut at = len;
    while at >= BLOCK && a[at - BLOCK..at] == b[at - BLOCK..at] {
        at -= BLOCK;
    }
    len - at
        + a[..at]
            .iter()
            .rev()
            .zip(b[..at].iter().rev())
            .take_while(|(x, y)| x == y)
            .count()
}

/// How an editor counts columns: LSP defaults to UTF-16 code units; clients may offer UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionEncoding {
    /// Columns in bytes.
    Utf8,
    /// Columns in UTF-16 code units (the LSP default).
    #[default]
    Utf16,
}

/// A zero-based line and column, columns counted in some [`PositionEncoding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct LineCol {
    /// Zero-based line.
    pub line: u32,
    /// Zero-based column in the encoding's units.
    pub col: u32,
}

/// Line starts of an immutable text, for converting offsets of a snapshot to positions and back.
#[derive(Debug, Clone)]
pub struct LineIndex {
    text: Arc<str>,
    line_starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`; O(n) once per snapshot.
    pub fn new(text: Arc<str>) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(line_break_ends(&text));
        LineIndex { text, line_starts }
    }

    /// Indexes `text`, which is this index's text changed by `change`: the line starts
    /// before and after the change are carried over (moved), only the changed bytes are scanned.
    pub fn edited(self, text: Arc<str>, change: Change) -> LineIndex {
        let mut line_starts = self.line_starts;
        let bytes = text.as_bytes();
        let keep = line_starts.partition_point(|&s| s < change.start);
        let after = line_starts.partition_point(|&s| s <= change.old_end);
        let from = change.start.saturating_sub(1);
        let mut scanned: Vec<usize> = memchr::memchr2_iter(b'\n', b'\r', &bytes[from..change.new_end])
            .map(|i| i + from)
            .filter_map(|i| match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => None,
                _ => Some(i + 1),
            })
            .filter(|&s| s >= change.start)
            .collect();
        if keep == 0 {
            scanned.insert(0, 0);
        }
        let moved = keep + scanned.len();
        line_starts.splice(keep..after, scanned);
        let delta = change.delta();
        if delta != 0 {
            line_starts[moved..]
                .iter_mut()
                .for_each(|s| *s = s.wrapping_add_signed(delta));
        }
        LineIndex { text, line_starts }
    }

    /// The indexed text.
    pub fn text(&self) -> &Arc<str> {
        &self.text
    }

    /// Number of lines (a trailing newline starts an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Byte offset where `line` starts, or the text's end for lines past it.
    pub fn line_start(&self, line: usize) -> usize {
        self.line_starts.get(line).copied().unwrap_or(self.text.len())
    }

    /// Byte offset of the end of `line`, excluding its line break.
    pub fn line_end(&self, line: usize) -> usize {
        let start = self.line_start(line);
        let next = self.line_start(line + 1);
        start + content_len(&self.text[start..next])
    }

    /// The zero-based line containing byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// The position of byte `offset` (clamped to the text and to a char boundary).
    pub fn position(&self, offset: usize, encoding: PositionEncoding) -> LineCol {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_of(offset);
        let start = self.line_starts[line];
        let segment = &self.text[start..offset];
        let col = match encoding {
            PositionEncoding::Utf8 => segment.len(),
            PositionEncoding::Utf16 => segment.encode_utf16().count(),
        };
        LineCol {
            line: line as u32,
            col: col as u32,
        }
    }

    /// The byte offset of a position; columns past the line's end clamp to it, as LSP requires.
    pub fn offset(&self, pos: LineCol, encoding: PositionEncoding) -> usize {
        let line = pos.line as usize;
        if line >= self.line_starts.len() {
            return self.text.len();
        }
        let start = self.line_starts[line];
        let end = self.line_end(line);
        column_to_offset(&self.text[start..end], pos.col as usize, encoding) + start
    }

    /// The text of `line` without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        &self.text[self.line_start(line)..self.line_end(line)]
    }

    /// The char index of byte `offset` (for callers that count chars, like diff tools).
    pub fn char_index(&self, offset: usize) -> usize {
        self.text[..floor_char_boundary(&self.text, offset.min(self.text.len()))]
            .chars()
            .count()
    }
}

/// The byte offsets just past each line break: `\n`, `\r\n` (one break) and a lone `\r`.
fn line_break_ends(text: &str) -> impl Iterator<Item = usize> + '_ {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(b'\n', b'\r', bytes).filter_map(move |i| match bytes[i] {
        b'\r' if bytes.get(i + 1) == Some(&b'\n') => None,
        _ => Some(i + 1),
    })
}

/// The length of a line without its line break (the line may have none: the last one).
fn content_len(line: &str) -> usize {
    let without = line
        .strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .or_else(|| line.strip_suffix('\r'))
        .unwrap_or(line);
    without.len()
}

/// Converts a column within one line to a byte offset within that line, clamping to its end.
fn column_to_offset(line: &str, col: usize, encoding: PositionEncoding) -> usize {
    match encoding {
        PositionEncoding::Utf8 => floor_char_boundary(line, col.min(line.len())),
        PositionEncoding::Utf16 => {
            let mut units = 0;
            for (i, ch) in line.char_indices() {
                if units >= col {
                    return i;
                }
                units += ch.len_utf16();
                if units > col {
                    // Inside a surrogate pair: LSP says round down to the char's start.
                    return i;
                }
            }
            line.len()
        }
    }
}

/// The largest char boundary at or below `offset`.
pub fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// An edit as an editor sends it: a range in positions (or the whole text) and the new text.
#[derive(Debug, Clone)]
pub struct TextEdit {
    /// The replaced range; `None` replaces the whole document.
    pub range: Option<(LineCol, LineCol)>,
    /// The inserted text.
    pub text: String,
}

/// A document's live text, shared with the snapshot of its latest version rather than kept
/// a second time (as a rope was): every version needs its whole text for analysis anyway.
/// Its line starts are kept with it, so an edit's positions are found by the line model of
/// [`LineIndex`] without scanning the text, and an edit costs one copy of the text.
#[derive(Debug, Clone)]
pub struct DocumentText {
    index: LineIndex,
}

impl Default for DocumentText {
    fn default() -> Self {
        DocumentText::new("")
    }
}

impl DocumentText {
    /// A document holding `text`.
    pub fn new(text: &str) -> DocumentText {
        DocumentText {
            index: LineIndex::new(Arc::from(text)),
        }
    }

    /// Applies one edit; see [`DocumentText::apply_all`].
    pub fn apply(&mut self, edit: &TextEdit, encoding: PositionEncoding) -> TextDelta {
        self.apply_all(std::slice::from_ref(edit), encoding)
    }

    /// Applies edits in order, each in the text the previous one left, as LSP sends them;
    /// positions are clamped, as clients may send ranges past the end. Returns where the new
    /// text differs from the old.
    pub fn apply_all(&mut self, edits: &[TextEdit], encoding: PositionEncoding) -> TextDelta {
        let mut delta = TextDelta::Same;
        for edit in edits {
            let Some((start, end)) = edit.range else {
                self.index = LineIndex::new(Arc::from(edit.text.as_str()));
                delta = TextDelta::Unknown;
                continue;
            };
            let start = self.index.offset(start, encoding);
            let end = self.index.offset(end, encoding).max(start);
            let text = spliced(self.index.text(), start..end, &edit.text);
            let change = Change {
                start,
                old_end: end,
                new_end: start + edit.text.len(),
            };
            let index = std::mem::replace(&mut self.index, LineIndex::new(Arc::from("")));
            self.index = index.edited(text, change);
            delta = delta.then(TextDelta::Within(change));
        }
        delta
    }

    /// The whole text, for a new analysis snapshot (shared, not copied).
    pub fn to_arc_str(&self) -> Arc<str> {
        self.index.text().clone()
    }

    /// Length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.index.text().len()
    }
}

/// `old` with the bytes of `range` replaced by `insert`, written once, straight into the
/// shared allocation: building a `String` and then `Arc::from` it copied a large document
/// twice per keystroke, and faulted in the pages of two fresh allocations.
fn spliced(old: &str, range: std::ops::Range<usize>, insert: &str) -> Arc<str> {
    assert!(old.is_char_boundary(range.start) && old.is_char_boundary(range.end) && range.start <= range.end);
    let pieces = [
        &old.as_bytes()[..range.start],
        insert.as_bytes(),
        &old.as_bytes()[range.end..],
    ];
    let len = pieces.iter().map(|p| p.len()).sum();
    let mut bytes = Arc::<[u8]>::new_uninit_slice(len);
    let slots = Arc::get_mut(&mut bytes).expect("a new allocation has one holder");
    let mut at = 0;
    for piece in pieces {
        // SAFETY: `slots` has `len` bytes, the sum of the pieces' lengths, so each piece
        // fits at `at`; a fresh allocation does not overlap the pieces.
        unsafe { std::ptr::copy_nonoverlapping(piece.as_ptr(), slots.as_mut_ptr().add(at).cast::<u8>(), piece.len()) };
        at += piece.len();
    }
    // SAFETY: every byte was written above.
    let bytes = unsafe { bytes.assume_init() };
    // SAFETY: UTF-8 text cut at char boundaries (asserted) with UTF-8 text between is UTF-8;
    // `str` and `[u8]` have the same layout, so the pointer cast keeps the allocation's.
    unsafe { Arc::from_raw(Arc::into_raw(bytes) as *const str) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> LineIndex {
        LineIndex::new(Arc::from(text))
    }

    #[test]
    fn utf16_columns_count_surrogate_pairs() {
        let idx = index("a: 😀x\n");
        let x = "a: 😀".len();
        assert_eq!(idx.position(x, PositionEncoding::Utf16), LineCol { line: 0, col: 5 });
        assert_eq!(idx.position(x, PositionEncoding::Utf8), LineCol { line: 0, col: 7 });
        assert_eq!(idx.offset(LineCol { line: 0, col: 5 }, PositionEncoding::Utf16), x);
    }

    #[test]
    fn cjk_columns_are_one_unit_each_in_utf16() {
        let idx = index("p: 日本語z");
        let z = "p: 日本語".len();
        assert_eq!(idx.position(z, PositionEncoding::Utf16).col, 6);
        assert_eq!(idx.offset(LineCol { line: 0, col: 6 }, PositionEncoding::Utf16), z);
    }

    #[test]
    fn columns_past_line_end_clamp_before_the_line_break() {
        let idx = index("ab\r\ncd\n");
        assert_eq!(idx.offset(LineCol { line: 0, col: 99 }, PositionEncoding::Utf16), 2);
        assert_eq!(idx.offset(LineCol { line: 9, col: 0 }, PositionEncoding::Utf16), 7);
    }

    #[test]
    fn a_batch_of_edits_applies_each_in_the_text_the_previous_left() {
        let mut doc = DocumentText::new("a\rb\n");
        let at = |line, col| LineCol { line, col };
        let edits = [
            TextEdit {
                range: Some((at(0, 1), at(0, 1))),
                text: "\r\nx".into(),
            },
            TextEdit {
                range: Some((at(1, 0), at(1, 1))),
                text: "😀".into(),
            },
            TextEdit {
                range: Some((at(2, 0), at(9, 9))),
                text: "end".into(),
            },
        ];
        doc.apply_all(&edits, PositionEncoding::Utf16);
        assert_eq!(&*doc.to_arc_str(), "a\r\n😀\rend");
    }

    #[test]
    fn lines_break_at_cr_lf_and_crlf_only() {
        let idx = index("a\rb\r\nc\nd\u{2028}e\u{2029}f\u{85}g\u{b}h\u{c}i");
        assert_eq!(idx.line_count(), 4);
        assert_eq!(idx.line_text(0), "a");
        assert_eq!(idx.line_text(1), "b");
        assert_eq!(idx.line_text(2), "c");
        assert_eq!(idx.line_text(3), "d\u{2028}e\u{2029}f\u{85}g\u{b}h\u{c}i");
        assert_eq!(
            idx.position("a\rb\r\nc\nd".len(), PositionEncoding::Utf16),
            LineCol { line: 3, col: 1 }
        );
    }

    #[test]
    fn edits_after_unicode_separators_land_on_the_protocol_line() {
        let mut doc = DocumentText::new("a\u{2028}b\u{85}c\rd\n");
        doc.apply(
            &TextEdit {
                range: Some((LineCol { line: 1, col: 0 }, LineCol { line: 1, col: 1 })),
                text: "D".into(),
            },
            PositionEncoding::Utf16,
        );
        assert_eq!(&*doc.to_arc_str(), "a\u{2028}b\u{85}c\rD\n");
    }

    #[test]
    fn edits_use_utf16_positions() {
        let mut doc = DocumentText::new("x: 😀\ny: 1\n");
        doc.apply(
            &TextEdit {
                range: Some((LineCol { line: 0, col: 5 }, LineCol { line: 0, col: 5 })),
                text: "!".into(),
            },
            PositionEncoding::Utf16,
        );
        assert_eq!(&*doc.to_arc_str(), "x: 😀!\ny: 1\n");
    }

    /// The position of byte `offset` by the protocol's rules, written apart from `LineIndex`.
    fn protocol_position(text: &str, offset: usize) -> LineCol {
        let before = &text[..offset];
        let breaks = before.matches(['\n', '\r']).count() - before.matches("\r\n").count();
        let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        LineCol {
            line: breaks as u32,
            col: before[line_start..].encode_utf16().count() as u32,
        }
    }

    const PIECES: &[&str] = &[
        "a", "é", "日本", "😀", "\n", "\r\n", "\r", "\u{2028}", "\u{2029}", "\u{85}", "\u{b}", "\u{c}", "  ", "",
    ];

    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(PIECES), 0..4).prop_map(|p| p.concat())
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn an_edited_index_equals_indexing_the_new_text(
            start in piece(),
            edits in proptest::collection::vec((0.0..=1.0f64, 0.0..=1.0f64, piece()), 1..20),
        ) {
            let mut text = start;
            let mut index = LineIndex::new(Arc::from(text.as_str()));
            for (a, b, insert) in edits {
                let pick = |f: f64| (0..=((text.len() as f64 * f) as usize)).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                let (from, to) = (pick(a.min(b)), pick(a.max(b)));
                let mut next = text.clone();
                next.replace_range(from..to, &insert);
                let fresh = LineIndex::new(Arc::from(next.as_str()));
                index = match Change::between(&text, &next) {
                    Some(change) => index.edited(Arc::from(next.as_str()), change),
                    None => fresh.clone(),
                };
                prop_assert_eq!(&index.line_starts, &fresh.line_starts, "{:?} → {:?}", text, next);
                text = next;
            }
        }

        #[test]
        fn edits_by_protocol_positions_match_the_same_edits_on_a_string(
            start in piece(),
            edits in proptest::collection::vec((0.0..=1.0f64, 0.0..=1.0f64, piece()), 1..20),
        ) {
            let mut expected = start.clone();
            let mut doc = DocumentText::new(&start);
            for (a, b, insert) in edits {
                let boundaries: Vec<usize> = (0..=expected.len())
                    .filter(|&i| expected.is_char_boundary(i))
                    .filter(|&i| !(i > 0 && expected.as_bytes()[i - 1] == b'\r' && expected.as_bytes().get(i) == Some(&b'\n')))
                    .collect();
                let pick = |f: f64| boundaries[((boundaries.len() - 1) as f64 * f) as usize];
                let (from, to) = (pick(a.min(b)), pick(a.max(b)));
                let range = (protocol_position(&expected, from), protocol_position(&expected, to));
                doc.apply(&TextEdit { range: Some(range), text: insert.clone() }, PositionEncoding::Utf16);
                expected.replace_range(from..to, &insert);
                prop_assert_eq!(&*doc.to_arc_str(), expected.as_str());
                let index = LineIndex::new(Arc::from(expected.as_str()));
                let after = from + insert.len();
                if !(expected[..after].ends_with('\r') && expected[after..].starts_with('\n')) {
                    prop_assert_eq!(index.position(after, PositionEncoding::Utf16), protocol_position(&expected, after));
                    prop_assert_eq!(index.offset(protocol_position(&expected, after), PositionEncoding::Utf16), after);
                }
            }
        }
    }
}
