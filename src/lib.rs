//! stepwise: a language server, command-line tool and workflow engine for YAML AI workflows.
//!
//! Layers, each importing only those before it: `syntax` → `model` → `analysis` →
//! (`server`, `engine`) → `cli`.

pub mod analysis;
pub mod cli;
pub mod engine;
pub mod model;
pub mod server;
pub mod syntax;
