//! Text, positions and YAML with spans: the layer every other one reads documents through.

pub mod chunks;
pub mod line_cursor;
pub mod rechunk;
pub mod text;
pub mod yaml;
