// The run view's words and documents, without VS Code: the shapes of `stepwise/runs` and
// `stepwise/output`, the labels of runs, steps, attempts and failed requests, and output documents
// (fan-out items separated and numbered, as the server renders them).

export interface Setting {
  value: string | null;
  source: string;
}
export interface Failure {
  class: string;
  status?: number | null;
  message: string;
}
export interface Call {
  provider: string;
  model: string;
  item?: number;
  duration_ms: number;
  error?: Failure;
  discarded_chars?: number;
  retry_after_ms?: number;
}
export interface Attempt {
  status: string;
  provider?: Setting | null;
  model?: Setting | null;
  persona?: Setting | null;
  one_time: boolean;
  error?: { failure: Failure; provider: string; attempts: number } | null;
  calls: Call[];
  usage: { input_tokens: number; output_tokens: number };
  started_at: number;
  duration_ms?: number | null;
  answered_by?: { provider: string; model: string } | null;
  output?: string | null;
  outputs?: string[] | null;
  cost_usd?: number | null;
}
export interface StepEntry {
  id: string;
  status: string;
  attempts: Attempt[];
  reused_from?: string;
}
export interface RunEntry {
  id: string;
  status: string;
  counts: { done: number; failed: number; stale: number; other: number };
  cost?: { usd: number | null; unpriced: boolean };
  duration_ms?: number | null;
  started_at: number;
  finished_at?: number | null;
  inputs: Record<string, string>;
  steps: StepEntry[];
}
export interface RunsReply {
  runs: RunEntry[];
  providers: string[];
  steps: { id: string; line: number }[];
}
/** `stepwise/output`: text a running step streamed (`reset`: what came before is void). */
export interface OutputDelta {
  uri: string;
  run: string;
  step: string;
  item?: number;
  text: string;
  reset?: boolean;
}
/** Streamed text per fan-out item (`null` without fan-out). */
export type LiveParts = Map<number | null, string>;

export interface Label {
  label: string;
  description: string;
  tooltip: string;
}

const MARKS: Record<string, string> = {
  completed: "✓",
  failed: "✗",
  cancelled: "⊘",
  running: "⟳",
  stale: "stale",
  pending: "·",
  unfinished: "!",
};
export const mark = (status: string) => MARKS[status] ?? "·";
const seconds = (ms: number | null | undefined) => (ms == null ? "" : `${(ms / 1000).toFixed(1)}s`);
const tokens = (a: Attempt) => a.usage.input_tokens + a.usage.output_tokens;

/** `2026-12-01 11:37:47` (UTC). */
export function utcTime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

/** `$0.0123`, with ` + ?` when some tokens had no known price. */
export function runCost(run: RunEntry): string {
  const usd = run.cost?.usd;
  const known = usd == null ? "" : `$${usd >= 1 ? usd.toFixed(2) : usd.toFixed(4)}`;
  if (!run.cost?.unpriced) return known;
  return known ? `${known} + ?` : "?";
}

export function runLabel(run: RunEntry): Label {
  const c = run.counts;
  const parts = [`${c.done} done`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.stale) parts.push(`${c.stale} stale`);
  if (c.other) parts.push(`${c.other} not run`);
  const inputs = Object.entries(run.inputs).map(([k, v]) => `${k} = ${v}`);
  return {
    label: `${mark(run.status)} ${utcTime(run.started_at)}`,
    description: [run.status, parts.join(", "), runCost(run), seconds(run.duration_ms)].filter(Boolean).join(" · "),
    tooltip: [`run ${run.id}`, ...inputs].join("\n"),
  };
}

/** The attempt the step's status describes: its output's (the latest completed), else the latest. */
export function shownAttempt(step: StepEntry): Attempt | undefined {
  for (let i = step.attempts.length - 1; i >= 0; i--) if (step.attempts[i].status === "completed") return step.attempts[i];
  return step.attempts.at(-1);
}

const asked = (a: Attempt) => `${a.provider?.value ?? "?"}/${a.model?.value ?? "?"}`;

export function stepLabel(step: StepEntry): Label {
  const shown = shownAttempt(step);
  const who = shown ? (shown.answered_by ? `${shown.answered_by.provider}/${shown.answered_by.model}` : asked(shown)) : "";
  const carried = step.reused_from ? "earlier run" : "";
  return {
    label: `${mark(step.status)} ${step.id}`,
    description: [who, shown ? seconds(shown.duration_ms) : "", carried].filter(Boolean).join(" · "),
    tooltip: `${step.id}: ${step.status}${shown?.error ? `\n${shown.error.provider} ${shown.error.failure.class}: ${shown.error.failure.message}` : ""}`,
  };
}

export function attemptLabel(a: Attempt, index: number): Label {
  const bits = [asked(a)];
  if (a.answered_by && `${a.answered_by.provider}/${a.answered_by.model}` !== asked(a)) {
    bits.push(`answered by ${a.answered_by.provider}/${a.answered_by.model}`);
  }
  if (a.persona?.value) bits.push(`persona ${a.persona.value}`);
  if (a.one_time) bits.push("one-time");
  bits.push(seconds(a.duration_ms), `${tokens(a)} tok`);
  if (a.cost_usd != null) bits.push(`$${a.cost_usd.toFixed(4)}`);
  const error = a.error ? `${a.error.provider} ${a.error.failure.class}${a.error.failure.status ? ` (${a.error.failure.status})` : ""}: ${a.error.failure.message}` : "";
  return {
    label: `#${index + 1} ${mark(a.status)} ${a.status}`,
    description: bits.filter(Boolean).join(" · "),
    tooltip: [`attempt ${index + 1}: ${a.status}`, error].filter(Boolean).join("\n"),
  };
}

/** A failed request: `! anthropic/m item 2 overloaded (529) · retried after 30 ms`. */
export function callLabel(c: Call): string {
  const item = c.item === undefined ? "" : ` item ${c.item + 1}`;
  const why = c.error ? ` ${c.error.class}${c.error.status ? ` (${c.error.status})` : ""}` : "";
  const discarded = c.discarded_chars ? ` · ${c.discarded_chars} chars discarded` : "";
  const wait = c.retry_after_ms != null ? ` · retried after ${c.retry_after_ms} ms` : "";
  return `! ${c.provider}/${c.model}${item}${why}${discarded}${wait}`;
}

/** A step's text, or its fan-out items each under `── item N ──` (numbered from 1). */
export function outputDocument(parts: [number | null, string][]): string {
  let out = "";
  for (const [item, text] of parts) {
    if (item === null) out += text;
    else out += `${out ? "\n" : ""}── item ${item + 1} ──\n${text}\n`;
  }
  return out;
}

/** The live document of streamed parts, items in order. */
export function liveDocument(parts: LiveParts): string {
  const sorted = [...parts.entries()].sort(([a], [b]) => (a ?? -1) - (b ?? -1));
  return outputDocument(sorted);
}

/** An attempt's output document: its items numbered, or its output. */
export function attemptDocument(a: Attempt): string {
  if (a.outputs) return outputDocument(a.outputs.map((t, i) => [i, t]));
  return a.output ?? "";
}
