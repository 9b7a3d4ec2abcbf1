//! The `stepwise` binary: see `stepwise --help`.

/// mimalloc rather than the system allocator: the language server frees a document's old
/// analysis on one thread while building the next on another, and glibc's per-thread arenas
/// kept the freed memory from the next analysis (peak RSS about twice the one analysis).
/// Built without transparent huge pages (`no_thp`): a 2 MiB page is resident whole, and with
/// them the server on 20,000 cyclic steps peaked at 110 MiB, 85 MiB without.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (libmimalloc-sys names no constant
/// for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long mimalloc keeps freed memory before returning it to the system, in milliseconds.
/// mimalloc 3 waits 1,000 ms: long enough for every transient allocation of one analysis to
/// stay resident (`check` on 50,000 template references peaked at 104 MiB of RSS for 56 MiB
/// of live heap, 70 MiB at 10 ms).
const PURGE_DELAY_MS: std::ffi::c_long = 10;

fn main() -> std::process::ExitCode {
    // SAFETY: options may be set at any time; mimalloc reads this one at each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    stepwise::cli::main()
}
