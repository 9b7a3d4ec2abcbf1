//! Positions of byte offsets met in ascending order, as a whole file's inlay hints are: each
//! offset's line is found by walking on from the previous one's instead of searching every
//! line start again, and a column in an ASCII stretch of a line is its byte count.

use super::text::{LineCol, LineIndex, PositionEncoding, floor_char_boundary};

/// Lines walked before a search is cheaper.
const WALK: usize = 16;

/// Converts ascending offsets of one text to positions.
pub struct LineCursor<'a> {
    index: &'a LineIndex,
    encoding: PositionEncoding,
    /// The line of the previous offset.
    line: usize,
}

impl<'a> LineCursor<'a> {
    /// A cursor at the start of `index`'s text, counting columns in `encoding`.
    pub fn new(index: &'a LineIndex, encoding: PositionEncoding) -> LineCursor<'a> {
        LineCursor {
            index,
            encoding,
            line: 0,
        }
    }

    /// The position of byte `offset`, as [`LineIndex::position`] gives it. An offset before
    /// the previous one, or far after it, is found by a search.
    pub fn position(&mut self, offset: usize) -> LineCol {
        let text = self.index.text();
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let last = self.index.line_count() - 1;
        if offset < self.index.line_start(self.line) || offset >= self.index.line_start(self.line + WALK) {
            self.line = self.index.line_of(offset);
        } else {
            while self.line < last && self.index.line_start(self.line + 1) <= offset {
                self.line += 1;
            }
        }
        let segment = &text[self.index.line_start(self.line)..offset];
        let col = match self.encoding {
            PositionEncoding::Utf16 if !segment.is_ascii() => segment.encode_utf16().count(),
            _ => segment.len(),
        };
        LineCol {
            line: self.line as u32,
            col: col as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;

    fn text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("id: x"),
                Just("\n"),
                Just("\r\n"),
                Just("\r"),
                Just("日本"),
                Just("😀"),
                Just("é"),
            ],
            0..200,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn each_position_is_the_line_index_one(
            text in text(),
            fractions in proptest::collection::vec(0.0..=1.05f64, 0..60),
            sorted in any::<bool>(),
            utf16 in any::<bool>(),
        ) {
            let index = LineIndex::new(Arc::from(text.as_str()));
            let encoding = if utf16 { PositionEncoding::Utf16 } else { PositionEncoding::Utf8 };
            let mut offsets: Vec<usize> = fractions.iter().map(|f| (f * text.len() as f64) as usize).collect();
            if sorted {
                offsets.sort_unstable();
            }
            let mut cursor = LineCursor::new(&index, encoding);
            for offset in offsets {
                prop_assert_eq!(cursor.position(offset), index.position(offset, encoding), "offset {}", offset);
            }
        }
    }
}
