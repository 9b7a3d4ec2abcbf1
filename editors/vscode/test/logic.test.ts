// Unit tests of the extension's own logic (node's test runner): `npm test`.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import {
  ProgressTracker,
  SERVER_COMMANDS,
  TRUST_NOTIFICATION,
  commandArgument,
  findServer,
  initializationOptions,
  isWorkflowPath,
  missingInputs,
  outputView,
  serverEnv,
  serverOffers,
  shouldDropDiagnostic,
} from "../src/logic";

test("workflow paths", () => {
  assert.ok(isWorkflowPath("/w/launch.flow.yaml"));
  assert.ok(isWorkflowPath("/w/launch.flow.yml"));
  assert.ok(!isWorkflowPath("/w/launch.yaml"));
  assert.ok(!isWorkflowPath("/w/stepwise.toml"));
  assert.ok(!isWorkflowPath("/w/flow.yaml"));
});

test("server from the setting wins", () => {
  const r = findServer("/opt/sw/stepwise", { pathVar: "/usr/bin", home: "/h", isExecutable: () => true });
  assert.deepEqual(r, { ok: true, command: "/opt/sw/stepwise", source: "setting" });
});

test("setting with ~ expands to home", () => {
  const r = findServer("~/bin/stepwise", { home: "/h", isExecutable: (p) => p === "/h/bin/stepwise" });
  assert.deepEqual(r, { ok: true, command: "/h/bin/stepwise", source: "setting" });
});

test("a wrong setting is an error naming the setting, not a silent fallback", () => {
  const r = findServer("/nope/stepwise", { pathVar: "/usr/bin", home: "/h", isExecutable: (p) => p === "/usr/bin/stepwise" });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(r.message, /stepwise\.server\.path/);
    assert.match(r.message, /cargo install --path \./);
  }
});

test("the bundled server comes after the setting and before PATH", () => {
  const everywhere = { bundledDir: "/ext/server", pathVar: "/usr/bin", home: "/h", isExecutable: () => true };
  assert.deepEqual(findServer("", everywhere), { ok: true, command: "/ext/server/stepwise", source: "bundled" });
  assert.deepEqual(findServer("/opt/stepwise", everywhere), { ok: true, command: "/opt/stepwise", source: "setting" });
  const universal = { ...everywhere, isExecutable: (p: string) => p === "/usr/bin/stepwise" };
  assert.deepEqual(findServer("", universal), { ok: true, command: "/usr/bin/stepwise", source: "PATH" });
});

test("server found on PATH, first match", () => {
  const r = findServer("", {
    pathVar: "/a:/b:/c",
    home: "/h",
    isExecutable: (p) => p === "/b/stepwise" || p === "/c/stepwise",
  });
  assert.deepEqual(r, { ok: true, command: "/b/stepwise", source: "PATH" });
});

test("server falls back to ~/.cargo/bin", () => {
  const r = findServer(undefined, { pathVar: "/a", home: "/h", isExecutable: (p) => p === "/h/.cargo/bin/stepwise" });
  assert.deepEqual(r, { ok: true, command: "/h/.cargo/bin/stepwise", source: "cargo" });
});

test("missing server: clear error with the install command", () => {
  const r = findServer("", { pathVar: "/a:/b", home: "/h", isExecutable: () => false });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.match(r.message, /not found on PATH/);
    assert.match(r.message, /cargo install --path \./);
  }
});

test("windows looks for stepwise.exe with ; separators", () => {
  const r = findServer("", { pathVar: "C:\\a;C:\\b", home: "C:\\h", platform: "win32", isExecutable: (p) => p.endsWith("b/stepwise.exe") || p.endsWith("b\\stepwise.exe") });
  assert.equal(r.ok, true);
});

test("server environment: log level and extra variables", () => {
  const env = serverEnv({ PATH: "/bin", DROP: "x" }, "debug", { OLLAMA_HOST: "http://box:11434", DROP: null as unknown as string });
  assert.equal(env.STEPWISE_LOG, "debug");
  assert.equal(env.OLLAMA_HOST, "http://box:11434");
  assert.equal(env.PATH, "/bin");
  assert.ok(!("DROP" in env));
  assert.ok(!("STEPWISE_LOG" in serverEnv({}, "default", {})));
  assert.ok(!("STEPWISE_LOG" in serverEnv({}, undefined, undefined)));
});

test("command argument: one object, empty overrides left out", () => {
  const position = { line: 23, character: 4 };
  assert.deepEqual(commandArgument("file:///w/a.flow.yaml", { position, provider: "", model: undefined }), {
    uri: "file:///w/a.flow.yaml",
    position,
  });
  assert.deepEqual(commandArgument("file:///w/a.flow.yaml", { position, provider: "openai", model: "gpt-4o", persona: "p" }), {
    uri: "file:///w/a.flow.yaml",
    position,
    provider: "openai",
    model: "gpt-4o",
    persona: "p",
  });
  assert.deepEqual(commandArgument("file:///w/a.flow.yaml"), { uri: "file:///w/a.flow.yaml" });
});

test("a run's input values go in its argument, none when empty", () => {
  assert.deepEqual(commandArgument("file:///w/a.flow.yaml", { inputs: { message: "hi" } }), {
    uri: "file:///w/a.flow.yaml",
    inputs: { message: "hi" },
  });
  assert.deepEqual(commandArgument("file:///w/a.flow.yaml", { inputs: {} }), { uri: "file:///w/a.flow.yaml" });
});

test("the missing inputs come from the error's data.missingInputs", () => {
  const err = Object.assign(new Error("the workflow needs a value for `message`"), {
    data: { missingInputs: [{ name: "message", description: "The customer's message", lastValue: null }, { name: "tone", lastValue: "warm" }] },
  });
  assert.deepEqual(missingInputs(err), [
    { name: "message", description: "The customer's message", lastValue: undefined },
    { name: "tone", description: undefined, lastValue: "warm" },
  ]);
  assert.deepEqual(missingInputs(new Error("other")), []);
  assert.deepEqual(missingInputs(undefined), []);
});

test("server command names follow the spec", () => {
  assert.deepEqual(Object.values(SERVER_COMMANDS).sort(), [
    "stepwise.cancel",
    "stepwise.compareStep",
    "stepwise.compareTargets",
    "stepwise.openOutput",
    "stepwise.previewRequest",
    "stepwise.resume",
    "stepwise.runFrom",
    "stepwise.runStep",
    "stepwise.runWorkflow",
    "stepwise.useTarget",
  ]);
  assert.ok(serverOffers({ executeCommandProvider: { commands: ["stepwise.runStep"] } }, "stepwise.runStep"));
  assert.ok(!serverOffers({ executeCommandProvider: { commands: [] } }, "stepwise.runStep"));
  assert.ok(!serverOffers({}, "stepwise.runStep"));
  assert.ok(!serverOffers(undefined, "stepwise.runStep"));
});

test("progress tracker renders the status bar", () => {
  const p = new ProgressTracker();
  assert.equal(p.text(), "");
  assert.equal(p.active, false);
  p.update("t1", { kind: "begin", title: "Run ideas", cancellable: true });
  assert.equal(p.text(), "$(sync~spin) Run ideas");
  p.update("t1", { kind: "report", message: "ideas 2/4", percentage: 50 });
  assert.equal(p.text(), "$(sync~spin) Run ideas: ideas 2/4 (50%)");
  assert.equal(p.get("t1")?.cancellable, true);
  p.update(7, { kind: "begin", title: "Run draft" });
  assert.equal(p.text(), "$(sync~spin) Run ideas: ideas 2/4 (50%) +1");
  assert.deepEqual(p.tokens(), ["t1", "7"]);
  assert.match(p.tooltip(), /Run draft\nClick to cancel$/);
  p.update("t1", { kind: "end" });
  p.update(7, { kind: "end" });
  assert.equal(p.active, false);
  assert.equal(p.text(), "");
});

test("progress report without begin still shows", () => {
  const p = new ProgressTracker();
  p.update("x", { kind: "report", message: "1/3" });
  assert.equal(p.text(), "$(sync~spin) run: 1/3");
});

test("double diagnostics: schema-class codes deferred to the YAML extension only when it validates", () => {
  assert.ok(shouldDropDiagnostic("unknown-key", "defer", true));
  assert.ok(shouldDropDiagnostic("yaml-syntax", "defer", true));
  assert.ok(shouldDropDiagnostic({ value: "wrong-type", target: "x" }, "defer", true));
  assert.ok(!shouldDropDiagnostic("unknown-provider", "defer", true), "stepwise-only knowledge stays");
  assert.ok(!shouldDropDiagnostic("step-failed", "defer", true));
  assert.ok(!shouldDropDiagnostic("unknown-key", "defer", false), "without the YAML extension stepwise reports all");
  assert.ok(!shouldDropDiagnostic("unknown-key", "keep", true));
  assert.ok(!shouldDropDiagnostic(undefined, "defer", true));
});

test("open output: uri, text or nothing", () => {
  assert.deepEqual(outputView(null), { kind: "none" });
  assert.deepEqual(outputView("file:///w/.stepwise/runs/x.md"), { kind: "uri", uri: "file:///w/.stepwise/runs/x.md" });
  assert.deepEqual(outputView({ uri: "file:///a" }), { kind: "uri", uri: "file:///a" });
  assert.deepEqual(outputView("Hello"), { kind: "text", text: "Hello" });
  assert.deepEqual(outputView({ output: "Hi" }), { kind: "text", text: "Hi" });
  assert.deepEqual(outputView({ outputs: ["a", "b"] }), { kind: "text", text: "a\n\nb" });
  assert.equal(outputView({ other: 1 }).kind, "text");
  // The server's shape.
  assert.deepEqual(outputView({ step: "ideas", status: "completed", answered_by: "openai/gpt-4o", output: "Ideas", error: null }), {
    kind: "text",
    text: "Ideas",
  });
  assert.deepEqual(outputView({ step: "ideas", status: null, answered_by: null, output: null, error: null }), {
    kind: "message",
    text: "stepwise: step `ideas` has no output yet: run it first.",
  });
  assert.deepEqual(outputView({ step: "x", status: "failed", output: null, error: "anthropic overloaded (529)" }), {
    kind: "message",
    text: "stepwise: step `x` failed: anthropic overloaded (529)",
  });
});

test("workspace trust: limited support, the server path and env are the user's, isTrusted reaches the server", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pkg = require("../../package.json");
  const untrusted = pkg.capabilities.untrustedWorkspaces;
  assert.equal(untrusted.supported, "limited");
  assert.deepEqual(untrusted.restrictedConfigurations, ["stepwise.server.path", "stepwise.server.env"]);
  assert.ok(untrusted.description.length > 20);
  const settings = pkg.contributes.configuration.properties ?? pkg.contributes.configuration[0].properties;
  assert.equal(settings["stepwise.server.path"].scope, "machine");
  assert.deepEqual(initializationOptions(true), { workspaceTrusted: true });
  assert.deepEqual(initializationOptions(false), { workspaceTrusted: false });
  assert.equal(TRUST_NOTIFICATION, "stepwise/workspaceTrusted");
});
