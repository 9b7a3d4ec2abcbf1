// The extension's own logic, free of the `vscode` module so that node's test runner can test it.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The server's `workspace/executeCommand` commands: the list it advertises (a Rust test fails
 * when this one drifts from it). */
export const SERVER_COMMANDS = {
  runStep: "stepwise.runStep",
  runFrom: "stepwise.runFrom",
  runWorkflow: "stepwise.runWorkflow",
  resume: "stepwise.resume",
  cancel: "stepwise.cancel",
  openOutput: "stepwise.openOutput",
  previewRequest: "stepwise.previewRequest",
  compareStep: "stepwise.compareStep",
  compareTargets: "stepwise.compareTargets",
  useTarget: "stepwise.useTarget",
} as const;

/** The notification telling the server that the user granted Workspace Trust. */
export const TRUST_NOTIFICATION = "stepwise/workspaceTrusted";

/** What the server is told at start: whether VS Code trusts the workspace (it then counts as
 * trusted while the editor runs, as `stepwise trust` would make it). */
export function initializationOptions(isTrusted: boolean): { workspaceTrusted: boolean } {
  return { workspaceTrusted: isTrusted };
}

/** The server's commands this extension does not send: VS Code's own workspace trust (passed to the
 * server at start) takes their place. */
export const SERVER_COMMANDS_NOT_SENT = ["stepwise.trustWorkspace", "stepwise.trustStatus"] as const;

export const INSTALL_HINT = "cargo install --path .";

/** Glob patterns of the documents the server handles. */
export const WORKFLOW_GLOBS = ["**/*.flow.yaml", "**/*.flow.yml"];

/** Glob patterns of the other files the server serves (diagnostics, completion, hover): the workspace
 * configuration and the default persona library folder. */
export const CONFIG_GLOBS = ["**/stepwise.toml", "**/personas/*.yaml", "**/personas/*.yml"];

export function isWorkflowPath(p: string): boolean {
  return /\.flow\.ya?ml$/i.test(p);
}

/** Files whose changes the server wants to hear about (configuration, persona library, workflows). */
export const WATCH_GLOB = "**/{stepwise.toml,*.flow.yaml,*.flow.yml,personas/*.yaml,personas/*.yml}";

export type ServerLookup =
  | { ok: true; command: string; source: "setting" | "bundled" | "PATH" | "cargo" }
  | { ok: false; message: string };

export interface LookupEnv {
  /** The folder of the binary a platform package carries (`server/` in the extension). */
  bundledDir?: string;
  pathVar?: string;
  home?: string;
  platform?: NodeJS.Platform;
  isExecutable?: (p: string) => boolean;
}

function defaultIsExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    if (process.platform === "win32") return true;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function expandHome(p: string, home: string): string {
  if (p === "~") return home;
  if (p.startsWith("~/")) return path.join(home, p.slice(2));
  return p;
}

/**
 * Finds the language server binary: the `stepwise.server.path` setting, else the binary bundled in a
 * platform package, else `stepwise` on PATH, else `~/.cargo/bin/stepwise` (where `cargo install`
 * puts it, often missing from a GUI's PATH).
 */
export function findServer(setting: string | undefined, env: LookupEnv = {}): ServerLookup {
  const home = env.home ?? os.homedir();
  const platform = env.platform ?? process.platform;
  const isExe = env.isExecutable ?? defaultIsExecutable;
  const exe = platform === "win32" ? "stepwise.exe" : "stepwise";
  const configured = (setting ?? "").trim();
  if (configured) {
    const p = expandHome(configured, home);
    if (isExe(p)) return { ok: true, command: p, source: "setting" };
    return {
      ok: false,
      message:
        `stepwise: the language server set in "stepwise.server.path" (${configured}) is not an executable file. ` +
        `Fix the setting, or clear it to use \`stepwise\` from PATH (install it from the stepwise repository with \`${INSTALL_HINT}\`).`,
    };
  }
  if (env.bundledDir) {
    const p = path.join(env.bundledDir, exe);
    if (isExe(p)) return { ok: true, command: p, source: "bundled" };
  }
  const sep = platform === "win32" ? ";" : ":";
  for (const dir of (env.pathVar ?? process.env.PATH ?? "").split(sep)) {
    if (!dir) continue;
    const p = path.join(dir, exe);
    if (isExe(p)) return { ok: true, command: p, source: "PATH" };
  }
  const cargo = path.join(home, ".cargo", "bin", exe);
  if (isExe(cargo)) return { ok: true, command: cargo, source: "cargo" };
  return {
    ok: false,
    message:
      "stepwise: the language server `stepwise` was not found on PATH. Install it from the stepwise repository " +
      `with \`${INSTALL_HINT}\`, or set "stepwise.server.path" to the binary.`,
  };
}

export const LOG_LEVELS = ["default", "error", "warn", "info", "debug", "trace"] as const;

/** The server's environment: the editor's, plus STEPWISE_LOG and the user's extra variables. */
export function serverEnv(
  base: NodeJS.ProcessEnv,
  logLevel: string | undefined,
  extra: Record<string, unknown> | undefined,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  if (logLevel && logLevel !== "default") env.STEPWISE_LOG = logLevel;
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === null || v === undefined) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

/** A position in the document, as LSP sends it: the server decides which step is there. */
export interface Position {
  line: number;
  character: number;
}

export interface RunArgs {
  uri: string;
  position?: Position;
  provider?: string;
  model?: string;
  persona?: string;
  inputs?: Record<string, string>;
}

/** A required input a run was refused for: the server's `error.data.missingInputs` items. */
export interface MissingInput {
  name: string;
  description?: string;
  /** The value the workflow's last run used, to prefill the question with. */
  lastValue?: string;
}

/** The inputs a command's error says are missing (empty when it is another error). */
export function missingInputs(err: unknown): MissingInput[] {
  const data = (err as { data?: { missingInputs?: unknown } } | undefined)?.data;
  const list = data?.missingInputs;
  if (!Array.isArray(list)) return [];
  return list
    .filter((i): i is { name: string; description?: unknown; lastValue?: unknown } => typeof i?.name === "string")
    .map((i) => ({
      name: i.name,
      description: typeof i.description === "string" ? i.description : undefined,
      lastValue: typeof i.lastValue === "string" ? i.lastValue : undefined,
    }));
}

/** The single JSON object argument of the server's commands; empty overrides are left out. */
export function commandArgument(uri: string, extra: Omit<RunArgs, "uri"> = {}): RunArgs {
  const arg: RunArgs = { uri };
  if (extra.position) arg.position = { line: extra.position.line, character: extra.position.character };
  for (const k of ["provider", "model", "persona"] as const) {
    const v = extra[k];
    if (v !== undefined && v !== "") arg[k] = v;
  }
  if (extra.inputs && Object.keys(extra.inputs).length > 0) arg.inputs = { ...extra.inputs };
  return arg;
}

/** Whether the server lists a command in `executeCommandProvider.commands`. */
export function serverOffers(capabilities: { executeCommandProvider?: { commands?: string[] } } | undefined, command: string): boolean {
  return !!capabilities?.executeCommandProvider?.commands?.includes(command);
}

/** The `WorkDoneProgress` values of `$/progress`. */
export interface ProgressValue {
  kind: "begin" | "report" | "end";
  title?: string;
  message?: string;
  percentage?: number;
  cancellable?: boolean;
}

export interface ProgressState {
  title: string;
  message?: string;
  percentage?: number;
  cancellable: boolean;
}

/** Keeps the runs in progress per token and renders the status bar text. */
export class ProgressTracker {
  private runs = new Map<string, ProgressState>();

  update(token: string | number, value: ProgressValue): void {
    const key = String(token);
    if (value.kind === "end") {
      this.runs.delete(key);
      return;
    }
    const prev = this.runs.get(key);
    if (value.kind === "begin" || !prev) {
      this.runs.set(key, {
        title: value.title ?? prev?.title ?? "run",
        message: value.message,
        percentage: value.percentage,
        cancellable: value.cancellable ?? false,
      });
      return;
    }
    if (value.message !== undefined) prev.message = value.message;
    if (value.percentage !== undefined) prev.percentage = value.percentage;
    if (value.cancellable !== undefined) prev.cancellable = value.cancellable;
  }

  get active(): boolean {
    return this.runs.size > 0;
  }

  /** Tokens of the runs in progress, oldest first. */
  tokens(): string[] {
    return [...this.runs.keys()];
  }

  get(token: string | number): ProgressState | undefined {
    return this.runs.get(String(token));
  }

  /** E.g. `$(sync~spin) stepwise: ideas 2/4 (50%)`; '' when nothing runs. */
  text(): string {
    if (!this.active) return "";
    const [first] = this.runs.values();
    let s = `$(sync~spin) ${first.title}`;
    if (first.message) s += `: ${first.message}`;
    if (first.percentage !== undefined) s += ` (${Math.round(first.percentage)}%)`;
    if (this.runs.size > 1) s += ` +${this.runs.size - 1}`;
    return s;
  }

  tooltip(): string {
    const lines = [...this.runs.values()].map(
      (r) => `${r.title}${r.message ? `: ${r.message}` : ""}${r.percentage !== undefined ? ` (${Math.round(r.percentage)}%)` : ""}`,
    );
    return lines.join("\n") + (lines.length ? "\nClick to cancel" : "");
  }
}

/**
 * Diagnostics the redhat YAML extension also reports when it validates against the contributed JSON
 * schema: YAML syntax and structural (schema) errors. With that extension active and validating,
 * stepwise leaves these to it, so each problem is reported once; everything the schema cannot express
 * (providers, models, personas, references, cycles, secrets, run results) stays with stepwise.
 */
export const SCHEMA_CLASS_CODES = new Set(["yaml-syntax", "unknown-key", "wrong-type", "missing-field", "duplicate-key"]);

export type YamlExtensionMode = "defer" | "keep";

export function shouldDropDiagnostic(
  code: unknown,
  mode: YamlExtensionMode,
  yamlExtensionValidates: boolean,
): boolean {
  if (mode !== "defer" || !yamlExtensionValidates) return false;
  const c = typeof code === "object" && code !== null && "value" in code ? (code as { value: unknown }).value : code;
  return typeof c === "string" && SCHEMA_CLASS_CODES.has(c);
}

/** What `stepwise.openOutput` returned, normalised for display. The server answers
 * `{ step, status, answered_by, output, error }`; a URI or plain text is accepted too. */
export type OutputView =
  | { kind: "none" }
  | { kind: "uri"; uri: string }
  | { kind: "text"; text: string }
  | { kind: "message"; text: string };

export function outputView(result: unknown): OutputView {
  if (result === null || result === undefined) return { kind: "none" };
  if (typeof result === "string") {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(result) ? { kind: "uri", uri: result } : { kind: "text", text: result };
  }
  if (typeof result === "object") {
    const r = result as Record<string, unknown>;
    const uri = r.uri ?? r.targetUri;
    if (typeof uri === "string") return { kind: "uri", uri };
    const text = r.output ?? r.text ?? r.content ?? r.outputs;
    if (typeof text === "string") return { kind: "text", text };
    if (Array.isArray(text)) return { kind: "text", text: text.map(String).join("\n\n") };
    const step = typeof r.step === "string" ? `step \`${r.step}\`` : "this step";
    if (typeof r.error === "string" && r.error) return { kind: "message", text: `stepwise: ${step} failed: ${r.error}` };
    if ("output" in r) return { kind: "message", text: `stepwise: ${step} has no output yet: run it first.` };
    return { kind: "text", text: JSON.stringify(result, null, 2) };
  }
  return { kind: "text", text: String(result) };
}
