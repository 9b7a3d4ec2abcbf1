// The comparison panel's HTML, free of the `vscode` module so that node's test runner can test it:
// one column per target (status, latency, tokens, output) with "Use for this step" and "Add to
// fallback" buttons that post `{ action, index }` back to the extension.

/** One sample of a target, as `stepwise.compareStep` returns it. */
export interface CompareSample {
  status: string;
  duration_ms: number;
  usage: { input_tokens: number; output_tokens: number };
  output?: string | null;
  error?: { message: string } | null;
}

/** One target of the comparison. */
export interface CompareTargetResult {
  label: string;
  provider: string;
  model: string;
  persona?: string | null;
  latency?: { min_ms: number; median_ms: number; max_ms: number } | null;
  cost_usd?: number | null;
  samples: CompareSample[];
}

/** The reply of `stepwise.compareStep`. */
export interface CompareResult {
  step: string;
  repeat: number;
  prompts: string[];
  record: string;
  targets: CompareTargetResult[];
}

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/**
 * USD as the CLI shows it: four decimals below a dollar, cents above; "no price" when unknown.
 * A cost too small for four decimals reads "< $0.0001", not "$0.0000" (it is not free).
 */
export function usd(amount: number | null | undefined): string {
  if (amount === null || amount === undefined) return "no price";
  if (amount > 0 && amount < 0.00005) return "< $0.0001";
  return Math.abs(amount) >= 1 ? `$${amount.toFixed(2)}` : `$${amount.toFixed(4)}`;
}

function latencyText(t: CompareTargetResult, repeat: number): string {
  if (!t.latency) return "–";
  if (repeat > 1) return `${t.latency.min_ms} / ${t.latency.median_ms} / ${t.latency.max_ms} ms`;
  return `${t.latency.median_ms} ms`;
}

function status(t: CompareTargetResult): string {
  const failed = t.samples.find((s) => s.status !== "completed");
  const done = t.samples.filter((s) => s.status === "completed").length;
  if (t.samples.length > 1) return `${done}/${t.samples.length} completed`;
  return failed ? failed.status : "completed";
}

/** The panel's page; `nonce` allows its one script. */
export function compareHtml(result: CompareResult, nonce: string): string {
  const columns = result.targets
    .map((t, i) => {
      const tokensIn = t.samples.reduce((n, s) => n + s.usage.input_tokens, 0);
      const tokensOut = t.samples.reduce((n, s) => n + s.usage.output_tokens, 0);
      const outputs = t.samples
        .map((s, n) => {
          const head = t.samples.length > 1 ? `<div class="sample">#${n + 1} · ${s.duration_ms} ms</div>` : "";
          const text = s.output ?? (s.error ? `✗ ${s.error.message}` : s.status);
          return `${head}<pre class="${s.status}">${escape(text)}</pre>`;
        })
        .join("");
      const ok = status(t) === "completed" || t.samples.length > 1;
      return `<section class="target">
  <h2>${escape(t.label)}</h2>
  <table>
    <tr><th>status</th><td class="${ok ? "ok" : "bad"}">${escape(status(t))}</td></tr>
    <tr><th>latency${result.repeat > 1 ? " min/med/max" : ""}</th><td>${latencyText(t, result.repeat)}</td></tr>
    <tr><th>tokens in / out</th><td>${tokensIn} / ${tokensOut}</td></tr>
    <tr><th>cost</th><td>${escape(usd(t.cost_usd))}</td></tr>
  </table>
  <div class="buttons">
    <button data-action="use" data-index="${i}">Use for this step</button>
    <button data-action="fallback" data-index="${i}">Add to fallback</button>
  </div>
  ${outputs}
</section>`;
    })
    .join("\n");
  const prompt = result.prompts.length === 1 ? result.prompts[0] : result.prompts.map((p, i) => `#${i + 1}: ${p}`).join("\n");
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}';">
<style>
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 12px; }
  .prompt { white-space: pre-wrap; opacity: 0.8; border-left: 3px solid var(--vscode-textBlockQuote-border); padding-left: 8px; }
  .grid { display: grid; grid-template-columns: repeat(${result.targets.length}, minmax(180px, 1fr)); gap: 12px; }
  .target { border: 1px solid var(--vscode-panel-border); border-radius: 4px; padding: 8px; min-width: 0; }
  h2 { font-size: 1.05em; margin: 0 0 6px; word-break: break-all; }
  th { text-align: left; font-weight: normal; opacity: 0.7; padding-right: 10px; }
  .ok { color: var(--vscode-testing-iconPassed); } .bad { color: var(--vscode-errorForeground); }
  pre { white-space: pre-wrap; word-break: break-word; background: var(--vscode-textCodeBlock-background); padding: 6px; max-height: 50vh; overflow: auto; }
  pre.failed { color: var(--vscode-errorForeground); }
  .buttons { margin: 8px 0; display: flex; gap: 6px; flex-wrap: wrap; }
  button { background: var(--vscode-button-background); color: var(--vscode-button-foreground); border: none; padding: 4px 10px; cursor: pointer; }
  .record { opacity: 0.6; font-size: 0.9em; word-break: break-all; }
</style></head>
<body>
<h1>Compare <code>${escape(result.step)}</code></h1>
<div class="prompt">${escape(prompt)}</div>
<p></p>
<div class="grid">
${columns}
</div>
<p class="record">record: ${escape(result.record)}</p>
<script nonce="${nonce}">
  const vscode = acquireVsCodeApi();
  for (const b of document.querySelectorAll("button[data-action]")) {
    b.addEventListener("click", () => vscode.postMessage({ action: b.dataset.action, index: Number(b.dataset.index) }));
  }
</script>
</body></html>`;
}
