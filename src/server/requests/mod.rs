//! One file per LSP request: each turns a snapshot and the request's params into the reply.

pub mod code_action;
pub mod code_lens;
pub mod completion;
pub mod definition;
pub mod document_symbol;
pub mod hover;
pub mod inlay_hint;
pub mod references;
pub mod rename;
pub mod runs;
pub mod semantic_tokens;
