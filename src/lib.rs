//! stepwise: a language server, command-line tool and workflow engine for YAML AI workflows.
//!
//! Layers, each importing only those before it: `syntax` → `model` → `analysis` →
//! (`server`, `engine`) → `cli`; `json_stream` (a serde helper) and `parallel` (work split
//! over threads) are for any of them.

pub mod analysis;
pub mod cli;
pub mod engine;
pub mod json_stream;
pub mod model;
pub mod parallel;
pub mod server;
pub mod syntax;
