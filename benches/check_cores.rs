//! `stepwise check` on every core: 1,000 generated workflows (about 8.6 MB) checked by the
//! real binary with `--jobs 1` and with one thread per core, next to the parse floor (a plain
//! saphyr scan of the same files on one thread, reading included). Prints the best of three
//! runs of each, with the CPU time the check used (user + system, `getrusage` of the child):
//! on a loaded machine the wall time shows no free core, but equal CPU time on 1 and N threads
//! shows the work itself splits without overhead. Run with `cargo bench --bench check_cores`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use stepwise::analysis::generate::large_workflow;

const FILES: usize = 1000;
const STEPS: usize = 57;
const ROUNDS: usize = 3;

fn best(mut f: impl FnMut()) -> f64 {
    (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// User + system seconds of the children waited for so far.
fn children_cpu() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// The best wall time of `check`, and its CPU time per run.
fn check(dir: &Path, jobs: Option<usize>) -> (f64, f64) {
    let cpu = children_cpu();
    let wall = best(|| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stepwise"));
        cmd.args(["check", "--format", "json"]);
        if let Some(jobs) = jobs {
            cmd.args(["--jobs", &jobs.to_string()]);
        }
        let out = cmd
            .arg(dir)
            .env("XDG_CONFIG_HOME", dir.join("no-config-home"))
            .envs(["ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY"].map(|k| (k, "k")))
            .output()
            .expect("stepwise check");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    });
    (wall, (children_cpu() - cpu) / ROUNDS as f64)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = large_workflow(STEPS);
    for i in 0..FILES {
        std::fs::write(dir.path().join(format!("f{i:04}.flow.yaml")), &text).expect("write");
    }
    let mb = (text.len() * FILES) as f64 / 1e6;
    let floor = best(|| {
        for i in 0..FILES {
            let text = std::fs::read_to_string(dir.path().join(format!("f{i:04}.flow.yaml"))).expect("read");
            std::hint::black_box(saphyr_parser::Parser::new_from_str(&text).count());
        }
    });
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (one, one_cpu) = check(dir.path(), Some(1));
    let (all, all_cpu) = check(dir.path(), None);
    println!("{FILES} files, {mb:.1} MB, {cores} cores (best of {ROUNDS}):");
    println!("  saphyr scan, 1 thread (the parse floor): {floor:.3} s");
    println!(
        "  check --jobs 1: {one:.3} s ({:.2}x the floor), CPU {one_cpu:.3} s per run",
        one / floor
    );
    println!(
        "  check, every core: {all:.3} s ({:.2}x faster than 1 thread; {:.2}x the floor), CPU {all_cpu:.3} s per run ({:.2}x the CPU of 1 thread)",
        one / all,
        all / floor,
        all_cpu / one_cpu
    );
}
