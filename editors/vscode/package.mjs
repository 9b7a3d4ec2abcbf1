// Packages the extension. `npm run package` makes the universal dist/stepwise.vsix (the server comes
// from the setting or PATH); `npm run package -- --target linux-x64` makes dist/stepwise-linux-x64.vsix
// with the release binary inside (server/stepwise), as rust-analyzer and ruff ship theirs.
// `--target all` packages every target whose binary has been built (target/<triple>/release), and the
// host's. The host's binary is built with `cargo build --release` when missing; STEPWISE_BIN names a
// binary to bundle instead (one target only).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

/** vsce targets and the Rust target triple whose binary each carries. */
const RUST_TRIPLES = {
  "linux-x64": "x86_64-unknown-linux-gnu",
  "linux-arm64": "aarch64-unknown-linux-gnu",
  "linux-armhf": "armv7-unknown-linux-gnueabihf",
  "alpine-x64": "x86_64-unknown-linux-musl",
  "alpine-arm64": "aarch64-unknown-linux-musl",
  "darwin-x64": "x86_64-apple-darwin",
  "darwin-arm64": "aarch64-apple-darwin",
  "win32-x64": "x86_64-pc-windows-msvc",
  "win32-arm64": "aarch64-pc-windows-msvc",
};

const repo = resolve(import.meta.dirname, "../..");
const hostTarget = `${process.platform}-${process.arch}`;
const exe = (target) => (target.startsWith("win32-") ? "stepwise.exe" : "stepwise");

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(2);
}

function requestedTargets(argv) {
  const targets = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--target" && argv[i + 1]) targets.push(...argv[++i].split(","));
    else if (argv[i].startsWith("--target=")) targets.push(...argv[i].slice("--target=".length).split(","));
    else fail(`unknown argument ${argv[i]} (use --target TARGET, --target all, or nothing)`);
  }
  if (!targets.includes("all")) return targets;
  return Object.keys(RUST_TRIPLES).filter((t) => t === hostTarget || existsSync(crossBuilt(t)));
}

function crossBuilt(target) {
  return join(repo, "target", RUST_TRIPLES[target], "release", exe(target));
}

/** The release binary for `target`, building the host's when it is missing. */
function binaryFor(target, single) {
  if (!RUST_TRIPLES[target]) fail(`unknown target ${target}; known: ${Object.keys(RUST_TRIPLES).join(", ")}`);
  if (process.env.STEPWISE_BIN) {
    if (!single) fail("STEPWISE_BIN names one binary: package one target with it");
    return process.env.STEPWISE_BIN;
  }
  if (existsSync(crossBuilt(target))) return crossBuilt(target);
  if (target !== hostTarget) {
    fail(`no binary for ${target}: build it with \`cargo build --release --target ${RUST_TRIPLES[target]}\``);
  }
  const host = join(repo, "target", "release", exe(target));
  if (!existsSync(host)) {
    console.log("package: cargo build --release --locked --bin stepwise");
    execFileSync("cargo", ["build", "--release", "--locked", "--bin", "stepwise"], { cwd: repo, stdio: "inherit" });
  }
  return host;
}

function vsce(args) {
  const bin = join(import.meta.dirname, "node_modules", ".bin", "vsce");
  const common = ["package", "--no-dependencies", "--skip-license", "--allow-missing-repository"];
  execFileSync(bin, [...common, ...args], { cwd: import.meta.dirname, stdio: "inherit" });
}

const serverDir = join(import.meta.dirname, "server");
const targets = requestedTargets(process.argv.slice(2));
mkdirSync(join(import.meta.dirname, "dist"), { recursive: true });
// A universal package never carries a binary left over from a platform one.
rmSync(serverDir, { recursive: true, force: true });
if (targets.length === 0) {
  vsce(["-o", "dist/stepwise.vsix"]);
}
for (const target of targets) {
  const binary = binaryFor(target, targets.length === 1);
  mkdirSync(serverDir, { recursive: true });
  const bundled = join(serverDir, exe(target));
  copyFileSync(binary, bundled);
  chmodSync(bundled, 0o755);
  vsce(["--target", target, "-o", `dist/stepwise-${target}.vsix`]);
  rmSync(serverDir, { recursive: true, force: true });
  console.log(`package: dist/stepwise-${target}.vsix carries ${binary}`);
}
