//! 100,000 fan-out items in bounded memory: `stepwise run` (the real binary) fans one step out
//! over 100,000 items at concurrency 64 against a local fake provider answering at once, and
//! the bench prints the run's wall time, its peak resident memory (`getrusage` of the child)
//! and the size of its record. Run with `cargo bench --bench fanout_memory`; `STEPWISE_BIN`
//! names another build of the binary to measure (an older one, to compare).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Instant;

use stepwise::engine::latest;
use support::fake_provider::{FakeProvider, anthropic_stream};
use support::{Project, config_for, stepwise};

const ITEMS: usize = 100_000;
const CONCURRENCY: usize = 64;

/// Peak resident memory of the largest child waited for, in bytes.
fn children_peak_rss() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss as u64 * 1024
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1, 1)).await;
        let flow = format!(
            "version: 1\nname: Items\nprovider: anthropic\nmodel: m\ninputs:\n  n:\n    default: \"{ITEMS}\"\nsteps:\n  - id: fan\n    for_each: range(inputs.n | int)\n    concurrency: {CONCURRENCY}\n    prompt: \"item {{{{ item }}}}\"\n"
        );
        let project = Project::new(&config_for(&server.url, &format!("concurrency = {CONCURRENCY}")), &flow);
        let started = Instant::now();
        let mut child = stepwise(&project, &["run", "test.flow.yaml"]);
        if let Some(bin) = std::env::var_os("STEPWISE_BIN") {
            let args: Vec<_> = child.get_args().map(ToOwned::to_owned).collect();
            let envs: Vec<_> = child.get_envs().map(|(k, v)| (k.to_owned(), v.map(ToOwned::to_owned))).collect();
            let mut other = std::process::Command::new(bin);
            other.args(args).current_dir(project.dir.path());
            for (k, v) in envs {
                match v {
                    Some(v) => other.env(k, v),
                    None => other.env_remove(k),
                };
            }
            child = other;
        }
        let status = tokio::task::spawn_blocking(move || child.stdout(Stdio::null()).stderr(Stdio::null()).status())
            .await
            .expect("join")
            .expect("stepwise run");
        let took = started.elapsed().as_secs_f64();
        assert!(status.success(), "{status}");
        let record = latest(&project.runs_dir(), &project.flow).expect("record");
        assert!(record.succeeded());
        let size = std::fs::metadata(record.path(&project.runs_dir())).map_or(0, |m| m.len());
        println!(
            "{ITEMS} items at concurrency {CONCURRENCY}: {took:.2} s; peak RSS {:.1} MiB; record {:.1} MB",
            children_peak_rss() as f64 / (1024.0 * 1024.0),
            size as f64 / 1e6
        );
    });
}
