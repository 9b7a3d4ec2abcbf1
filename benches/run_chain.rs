//! A run costs what it runs: chains of 500 and 2,000 steps (each step `needs` the one before)
//! against a local fake provider answering at once. Prints each run's wall time, the bytes its
//! process passed to `write()` (the journal, the compact record and the fake server's replies)
//! and the bytes that reached storage, per run and per step: per-step time and bytes stay flat
//! as n grows. Run with `cargo bench --bench run_chain`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use stepwise::engine::RunTarget;
use support::fake_provider::{FakeProvider, anthropic_stream};
use support::{Project, config_for, fast_engine, run};

const SIZES: [usize; 2] = [500, 2000];
const ROUNDS: usize = 2;

/// `wchar` and `write_bytes` of this process (`/proc/self/io`).
fn written() -> (u64, u64) {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        io.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("wchar:"), field("write_bytes:"))
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let server = FakeProvider::start(|_| anthropic_stream(&["ok"], 1, 1)).await;
        let engine = fast_engine(0);
        for steps in SIZES {
            let mut flow = String::from("version: 1\nname: Chain\nprovider: anthropic\nmodel: m\nsteps:\n  - id: s0\n    prompt: go\n");
            for i in 1..steps {
                flow.push_str(&format!("  - id: s{i}\n    needs: [s{}]\n    prompt: step {i}\n", i - 1));
            }
            let project = Project::new(&config_for(&server.url, ""), &flow);
            for round in 0..ROUNDS {
                let request = project.request(RunTarget::Workflow);
                let (wchar, disk) = written();
                let started = Instant::now();
                let (record, _) = run(&engine, request).await.expect("run");
                let took = started.elapsed().as_secs_f64();
                let (wchar_after, disk_after) = written();
                assert!(record.succeeded());
                let compact = std::fs::metadata(record.path(&project.runs_dir())).map_or(0, |m| m.len());
                let mb = |b: u64| b as f64 / 1e6;
                println!(
                    "{steps} steps, round {round}: {took:.2} s ({:.2} ms/step); write() {:.1} MB ({:.0} B/step), to storage {:.1} MB; compact record {:.2} MB",
                    took * 1000.0 / steps as f64,
                    mb(wchar_after - wchar),
                    (wchar_after - wchar) as f64 / steps as f64,
                    mb(disk_after - disk),
                    mb(compact),
                );
            }
        }
    });
}
