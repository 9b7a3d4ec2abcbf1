//! JSON written as it is made: an array whose items are built one at a time while it is
//! written, so `check`'s reports and the server's diagnostics never hold 50,000 diagnostics as
//! JSON values at once (that tripled the peak memory of both).

use std::cell::RefCell;
use std::io::{self, Write};

use serde::{Serialize, Serializer};

/// An array of the items `make` yields, each serialized and dropped before the next is made.
pub struct Streamed<I>(RefCell<Option<I>>);

impl<I> Streamed<I> {
    /// The array of `items`, written once.
    pub fn new(items: I) -> Streamed<I> {
        Streamed(RefCell::new(Some(items)))
    }
}

impl<I> Serialize for Streamed<I>
where
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let items = self.0.borrow_mut().take();
        serializer.collect_seq(items.into_iter().flatten())
    }
}

/// The length of `value` serialized as JSON, counted without writing it.
pub fn encoded_len(value: &impl Serialize) -> serde_json::Result<usize> {
    let mut length = ByteCount(0);
    serde_json::to_writer(&mut length, value)?;
    Ok(length.0)
}

/// `value` as JSON in a buffer of exactly its size: measured first, then written. A buffer
/// grown by doubling holds up to twice the message, plus the copy made at each growth.
pub fn to_exact_vec(value: &impl Serialize) -> serde_json::Result<Vec<u8>> {
    let mut encoded = Vec::with_capacity(encoded_len(value)?);
    serde_json::to_writer(&mut encoded, value)?;
    Ok(encoded)
}

/// A writer that only counts the bytes written to it.
struct ByteCount(usize);

impl Write for ByteCount {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `value`, pretty-printed to `out` as `serde_json::to_string_pretty` would print it.
pub fn write_pretty(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)
}
