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

/// `value`, pretty-printed to `out` as `serde_json::to_string_pretty` would print it.
pub fn write_pretty(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::from)
}
