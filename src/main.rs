//! The `stepwise` binary: see `stepwise --help`.

/// mimalloc rather than the system allocator: the language server frees a document's old
/// analysis on one thread while building the next on another, and glibc's per-thread arenas
/// kept the freed memory from the next analysis (peak RSS about twice the one analysis).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    stepwise::cli::main()
}
