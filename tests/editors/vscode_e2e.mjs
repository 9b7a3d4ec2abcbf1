// End-to-end test of editors/vscode in real VS Code (code-server) driven through headless Chromium.
// Run by tests/editors/vscode-e2e.sh, which installs the .vsix and starts code-server.
// Env: E2E_URL (code-server with the folder), E2E_WORKSPACE (the folder), E2E_SHOTS (screenshot dir),
// E2E_USER_DATA (code-server --user-data-dir, for the LSP trace), PLAYWRIGHT (playwright-core path).
import { createRequire } from "node:module";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { previewChecks } from "./vscode_e2e_preview.mjs";
import { configScenario } from "./vscode_config_e2e.mjs";
import { runsViewChecks } from "./vscode_runs_e2e.mjs";
import { compareChecks } from "./vscode_compare_e2e.mjs";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT || "playwright-core");

const url = process.env.E2E_URL;
const ws = process.env.E2E_WORKSPACE;
const shots = process.env.E2E_SHOTS;
mkdirSync(shots, { recursive: true });

let failures = 0;
const t0 = Date.now();
const ms = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
function check(name, ok, detail) {
  if (ok) console.log(`PASS ${name} (${ms()})`);
  else {
    failures++;
    console.log(`FAIL ${name} (${ms()})${detail ? ": " + detail : ""}`);
  }
  return ok;
}
const norm = (s) => (s || "").replace(/\u00a0/g, " ");

const file = "launch-brief.flow.yaml";
const lines = readFileSync(join(ws, file), "utf8").split("\n");
const providerLine = lines.findIndex((l) => l === "    provider: openai") + 1; // 1-based
const summarizeLine = lines.findIndex((l) => l === "  - id: summarize") + 1;

const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "chromium-")), {
  viewport: { width: 1400, height: 900 },
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});
const page = browser.pages()[0] ?? (await browser.newPage());
const mod = "Control";

async function gotoLine(line, col = 1) {
  await page.keyboard.press(`${mod}+G`);
  await page.waitForSelector(".quick-input-widget input", { state: "visible" });
  await page.keyboard.type(`${line}:${col}`);
  await page.keyboard.press("Enter");
  await page.waitForTimeout(150);
}
async function palette(title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget input", { state: "visible" });
  await page.keyboard.type(title);
  await page.waitForSelector(".quick-input-list .monaco-list-row", { timeout: 10000 });
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
}
async function waitText(selector, re, timeout) {
  try {
    await page.waitForFunction(
      ([sel, src]) => [...document.querySelectorAll(sel)].some((e) => new RegExp(src).test((e.textContent || "").replace(/\u00a0/g, " "))),
      [selector, re.source],
      { timeout },
    );
    return true;
  } catch {
    return false;
  }
}
/** The rendered pieces of the first visible line containing `needle`: text and colour. */
async function lineColours(needle) {
  return page.evaluate((n) => {
    const line = [...document.querySelectorAll(".monaco-editor .view-line")].find((l) =>
      (l.textContent || "").replace(/\u00a0/g, " ").includes(n),
    );
    if (!line) return [];
    return [...line.querySelectorAll("span[class^='mtk'], span[class*=' mtk']")].map((s) => ({
      text: (s.textContent || "").replace(/\u00a0/g, " "),
      colour: getComputedStyle(s).color,
    }));
  }, needle);
}
const colourOf = (pieces, re) => pieces.find((p) => re.test(p.text))?.colour;
/** Whether the line's `{{` and input name are coloured apart from the prompt text around them. */
async function promptHighlighted(needle) {
  const pieces = await lineColours(needle);
  const text = colourOf(pieces, /Summarize/);
  const brace = colourOf(pieces, /^\s*\{\{\s*$/);
  const name = colourOf(pieces, /^product$/);
  return { ok: !!text && !!brace && !!name && brace !== text && name !== text, pieces };
}
async function waitFor(fn, timeout) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last.ok) return last;
    await page.waitForTimeout(250);
  }
  return last;
}

/** Opens `name` with Ctrl+P, as a user would, and waits for it to be the active tab and, on a
 * first opening (at its top), for `marker` in the editor. */
async function openFile(name, marker) {
  // A quick input that is still closing would swallow the keys.
  await page.waitForSelector(".quick-input-widget", { state: "hidden" }).catch(() => {});
  await page.waitForTimeout(500);
  await page.keyboard.press(`${mod}+P`);
  await page.waitForSelector(".quick-input-widget input", { state: "visible" });
  await page.keyboard.type(name);
  await page.waitForSelector(".quick-input-list .monaco-list-row", { timeout: 20000 });
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    ([n, m]) =>
      (document.querySelector(".tabs-container .tab.active")?.textContent || "").includes(n) &&
      (!m || (document.querySelector(".monaco-editor .view-lines")?.textContent || "").replace(/\u00a0/g, " ").includes(m)),
    [name, marker],
    { timeout: 20000 },
  );
}

/** Opens `name` by clicking it in the Explorer and waits for its tab to be the active one. */
async function openFromExplorer(name) {
  await page.locator(".explorer-folders-view .monaco-list-row", { hasText: name }).first().click();
  await page.waitForFunction((n) => (document.querySelector(".tabs-container .tab.active")?.textContent || "").includes(n), name, {
    timeout: 20000,
  });
}

async function viewText() {
  return norm(await page.locator(".monaco-editor .view-lines").first().innerText());
}

try {
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
  check("workbench loaded", true);

  // Open the workflow with Ctrl+P, as a user would.
  await page.waitForTimeout(1000);
  await openFile(file, "Launch brief");
  check("workflow opened in an editor", true);

  // Inlay hints: the effective provider/model and persona with their source (U+00A0 normalised).
  const hintWanted = "openai/gpt-4o (step) · creative-marketer (step)";
  let hintOk = false;
  try {
    await page.waitForFunction(
      (w) => (document.querySelector(".monaco-editor .view-lines")?.textContent || "").replace(/\u00a0/g, " ").includes(w),
      hintWanted,
      { timeout: 30000 },
    );
    hintOk = true;
  } catch {}
  check("inlay hint shows the step's provider and persona", hintOk, (await viewText()).slice(0, 600));
  const hintCount = await page.locator(".monaco-editor .view-lines [class*='dyn-rule'], .monaco-editor .view-lines span[class*='inlay']").count();
  console.log(`     inlay hint elements: ${hintCount}`);
  await page.screenshot({ path: join(shots, "vscode-hints.png") });

  // Highlighting inside prompts: `{{`, `inputs` and `product` stand out of the prompt text, and a
  // reference to a missing step is coloured differently from a real one (semantic tokens).
  const summarizeText = "Summarize {{ inputs.product }}";
  const highlighted = await waitFor(() => promptHighlighted(summarizeText), 15000);
  check("template spans inside a prompt are highlighted", highlighted.ok, JSON.stringify(highlighted.pieces));
  const headlineLine = lines.findIndex((l) => l.includes("{{ steps.draft.output }}")) + 1;
  await gotoLine(headlineLine, lines[headlineLine - 1].indexOf("draft.output") + "draft".length + 1);
  await page.keyboard.type("x");
  const unknownColoured = await waitFor(async () => {
    const unknown = colourOf(await lineColours("steps.draftx.output"), /^draftx$/);
    const known = colourOf(await lineColours("{{ steps.ideas.output }}"), /^ideas$/);
    return { ok: !!unknown && !!known && unknown !== known, unknown, known };
  }, 15000);
  check("an unknown step reference is coloured apart from a known one", unknownColoured.ok, JSON.stringify(unknownColoured));
  // The unknown colour came from the server's tokens: the `{{` colour now is theirs.
  const semanticBrace = colourOf(await lineColours("Draft the launch brief for {{"), /^\s*\{\{\s*$/);
  await page.screenshot({ path: join(shots, "vscode-highlight.png") });
  await page.keyboard.press("Backspace");

  // A broken line: `provider: openaix` -> unknown-provider squiggle while typing.
  await gotoLine(providerLine, 100);
  await page.keyboard.press("End");
  await page.keyboard.type("x");
  let squiggle = false;
  try {
    await page.waitForSelector(".monaco-editor .squiggly-error", { timeout: 15000 });
    squiggle = true;
  } catch {}
  check("diagnostic squiggle for the broken line", squiggle);
  // Its hover message names the bad provider.
  await gotoLine(providerLine, 16);
  await page.keyboard.press(`${mod}+K`);
  await page.keyboard.press(`${mod}+I`);
  let hover = "";
  try {
    await page.waitForSelector(".monaco-hover", { state: "visible", timeout: 8000 });
    await page.waitForTimeout(300);
    hover = norm(await page.locator(".monaco-hover").first().innerText());
  } catch {}
  check("hover on the squiggle explains it", /openaix/.test(hover) && /provider/i.test(hover), hover.slice(0, 300));
  await page.screenshot({ path: join(shots, "vscode-diagnostic.png") });
  await page.keyboard.press("Escape");

  // Completion at `provider: `: remove the value, Ctrl+Space, read the suggest widget.
  await gotoLine(providerLine, 100);
  await page.keyboard.press("End");
  for (let i = 0; i < "openaix".length; i++) await page.keyboard.press("Backspace");
  await page.keyboard.press(`${mod}+Space`);
  let labels = [];
  try {
    await page.waitForSelector(".suggest-widget .monaco-list-row", { state: "visible", timeout: 10000 });
    await page.waitForTimeout(400);
    labels = await page.locator(".suggest-widget .monaco-list-row .label-name").allInnerTexts();
  } catch {}
  const want = ["anthropic", "openai", "google", "ollama"];
  check(
    "completion at `provider: ` lists provider IDs",
    want.every((p) => labels.map(norm).some((l) => l.trim() === p)),
    JSON.stringify(labels),
  );
  console.log(`     completion rows: ${labels.join(", ")}`);
  await page.screenshot({ path: join(shots, "vscode.png") });
  await page.keyboard.press("Escape");
  await page.keyboard.type("openai");
  let cleared = false;
  try {
    await page.waitForFunction(() => !document.querySelector(".monaco-editor .squiggly-error"), null, { timeout: 10000 });
    cleared = true;
  } catch {}
  check("squiggle clears when fixed", cleared);

  // The editor title bar carries the run buttons for workflow documents.
  const runButton = await page.locator(".editor-actions [aria-label*='Run Step at Cursor']").count();
  check("editor title has Run Step at Cursor", runButton > 0);

  await configScenario({ page, check, openFromExplorer, waitText, gotoLine, norm, mod });
  await openFromExplorer(file);

  // Code actions (Ctrl+.) on a step: Run step, when the server offers them.
  if (process.env.E2E_CODE_ACTIONS === "1") {
    await gotoLine(summarizeLine, 9);
    await page.keyboard.press(`${mod}+.`);
    let actions = "";
    try {
      await page.waitForSelector(".action-widget", { state: "visible", timeout: 8000 });
      actions = norm(await page.locator(".action-widget").first().innerText());
    } catch {}
    check("code actions contain Run step", /Run step/.test(actions), actions.slice(0, 300));
    await page.screenshot({ path: join(shots, "vscode-code-actions.png") });
    await page.keyboard.press("Escape");
  } else {
    console.log("SKIP code actions contain Run step: the server does not offer code actions yet");
  }

  // Run Step at Cursor from the command palette.
  await gotoLine(summarizeLine + 1, 5);
  if (process.env.E2E_RUN === "1") {
    await palette("stepwise: Run Step at Cursor");
    const done = await waitText(".monaco-editor .view-lines", /summarize.*✓/, 30000);
    check("Run Step at Cursor runs the step on the fake provider; its hint shows ✓", done, (await viewText()).slice(0, 400));
    const lens = await waitText(".monaco-editor .codelens-decoration", /Re-run/, 10000);
    check("the step's code lens turns into Re-run", lens);
    await page.screenshot({ path: join(shots, "vscode-run.png") });
    // A workflow with a required input: running its first step asks for it in an input box,
    // then runs. (Run Workflow would be refused before sending anything: its `review` step's
    // provider, groq, has no key here, and the whole plan is checked first.)
    await openFromExplorer("support-triage.flow.yaml");
    const triage = readFileSync(join(ws, "support-triage.flow.yaml"), "utf8").split("\n");
    await gotoLine(triage.findIndex((l) => l === "  - id: classify") + 2, 5);
    await palette("stepwise: Run Step at Cursor");
    const asked = await waitText(".quick-input-widget", /input `message`/, 20000);
    check("running a step of a workflow with a required input asks for `message` in an input box", asked, norm(await page.locator(".quick-input-widget").first().innerText().catch(() => "")).slice(0, 200));
    await page.keyboard.type("my skates squeak");
    await page.keyboard.press("Enter");
    const ranWithInput = await waitText(".monaco-editor .view-lines", /classify.*✓/, 30000);
    check("the step then runs with the value given; its hint shows ✓", ranWithInput, (await viewText()).slice(0, 400));
    await openFromExplorer(file);
    await runsViewChecks({ page, check, shots, palette, waitText, norm, stepLine: summarizeLine });
  } else {
    await palette("stepwise: Run Step at Cursor");
    const warned = await waitText(".notifications-toasts", /does not offer stepwise\.runStep/, 10000);
    check("Run Step at Cursor without server support warns clearly", warned);
    console.log("SKIP running a step: the server does not list stepwise.runStep in executeCommandProvider yet");
    await page.keyboard.press("Escape");
  }

  // The request preview beside the workflow (tests/editors/vscode_e2e_preview.mjs), from the
  // workflow's own editor in a single group (the Runs view checks leave diff and output editors
  // open beside it).
  await openFromExplorer(file);
  await palette("View: Close Editors in Other Groups");
  await previewChecks({ page, check, gotoLine, palette, waitText, norm, shots, lines, url, workflow: file });
  // Comparing a step across providers in a panel (tests/editors/vscode_compare_e2e.mjs).
  if (process.env.E2E_RUN === "1") await compareChecks({ page, check, gotoLine, palette, waitText, norm, shots, ws, workflow: file, mod });

  // Restart Language Server: the hints come back from the new server.
  await palette("stepwise: Restart Language Server");
  const restarted = await waitText(".statusbar", /language server restarted/, 20000);
  const hintsBack = await waitText(".monaco-editor .view-lines", /creative-marketer \(step\)/, 20000);
  check("Restart Language Server restarts and the hints come back", restarted && hintsBack);

  // The LSP trace on disk shows the extension's client talked to `stepwise lsp`.
  const logs = join(process.env.E2E_USER_DATA, "logs");
  const found = [];
  const walk = (d) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (/stepwise/i.test(n)) found.push(p);
    }
  };
  try {
    walk(logs);
  } catch {}
  const trace = found.map((p) => readFileSync(p, "utf8")).join("\n");
  check("LSP trace: initialize and inlay hints exchanged", /initialize/.test(trace) && /textDocument\/inlayHint/.test(trace), found.join(", "));
  const started = trace.match(/stepwise: starting .* lsp \(from \w+\)/)?.[0] ?? "";
  check("the extension started the server bundled in the .vsix", /server\/stepwise lsp \(from bundled\)/.test(started), started || found.join(", "));

  // The client side of running: switch the server to a stand-in (tests/editors/stub_server.py) by
  // editing settings.json, as a user would; it offers the commands and reports slow $/progress.
  if (process.env.E2E_STUB) {
    const settings = {
      "stepwise.server.path": process.env.E2E_STUB,
      "stepwise.server.env": { STUB_LOG: process.env.E2E_STUB_LOG, STUB_DELAY: "2" },
    };
    // A repository's own .vscode/settings.json cannot choose the executable (`stepwise.server.path`
    // is machine-scoped): the client stays on the real server, hints and all.
    mkdirSync(join(ws, ".vscode"), { recursive: true });
    writeFileSync(join(ws, ".vscode", "settings.json"), JSON.stringify(settings, null, 2));
    await new Promise((r) => setTimeout(r, 6000));
    const kept = await waitText(".monaco-editor .view-lines", /creative-marketer \(step\)/, 5000);
    check("a workspace's .vscode/settings.json cannot choose the server executable", kept);
    // The user's own machine settings can (in code-server, the extension host's machine is the
    // "Remote" settings, `Machine/settings.json`; the workspace's `stepwise.server.env` above still
    // applies, so the stub gets its log file).
    const machineSettings = join(process.env.E2E_USER_DATA, "Machine", "settings.json");
    const current = existsSync(machineSettings) ? JSON.parse(readFileSync(machineSettings, "utf8")) : {};
    mkdirSync(join(process.env.E2E_USER_DATA, "Machine"), { recursive: true });
    writeFileSync(machineSettings, JSON.stringify({ ...current, "stepwise.server.path": process.env.E2E_STUB }, null, 2));
    // The client restarts on the stub: its hints vanish (the stub has none).
    const switched = await waitText(".monaco-editor .view-lines", /^(?![\s\S]*creative-marketer \(step\))/, 20000);
    check("changing stepwise.server.path restarts the client on the new server", switched);
    // The stand-in has no semantic tokens: the colour left is the extension's TextMate grammar.
    const grammar = await waitFor(() => promptHighlighted(summarizeText), 5000);
    check("the TextMate grammar highlights template spans without the server", grammar.ok, JSON.stringify(grammar.pieces));
    const grammarBrace = colourOf(grammar.pieces, /^\s*\{\{\s*$/);
    check("`{{` has one colour with and without the server's tokens", grammarBrace === semanticBrace, `${grammarBrace} vs ${semanticBrace}`);
    const ideasLine = lines.findIndex((l) => l.includes("Three campaign ideas"));
    await gotoLine(ideasLine + 1, 1);
    await palette("stepwise: Run Step at Cursor");
    // The client sends the cursor's position; the stub names the step after its line.
    const runTitle = `Run line ${ideasLine}`;
    const shown = await waitText(".statusbar", new RegExp(runTitle), 10000);
    const statusText = norm(await page.locator(".statusbar").first().innerText()).replace(/\s+/g, " ");
    check("status bar item shows the run in progress", shown, statusText.slice(0, 300));
    await page.screenshot({ path: join(shots, "vscode-status.png") });
    // Click it: cancels the run.
    await page.locator(".statusbar-item", { hasText: runTitle }).first().click().catch(() => {});
    const gone = await waitText(".statusbar", new RegExp(`^(?![\\s\\S]*${runTitle})`), 10000);
    check("status bar item goes away when the run ends", gone);
    const calls = existsSync(process.env.E2E_STUB_LOG)
      ? readFileSync(process.env.E2E_STUB_LOG, "utf8").trim().split("\n").map((l) => JSON.parse(l))
      : [];
    const run = calls.find((c) => c.command === "stepwise.runStep");
    check(
      "Run Step at Cursor sends stepwise.runStep {uri, position}",
      run &&
        run.argument.position &&
        run.argument.position.line === ideasLine &&
        /launch-brief\.flow\.yaml$/.test(run.argument.uri) &&
        Object.keys(run.argument).length === 2,
      JSON.stringify(calls),
    );
    check("clicking the status bar item sends stepwise.cancel", calls.some((c) => c.command === "stepwise.cancel"), JSON.stringify(calls));
  }
} catch (err) {
  failures++;
  console.log(`FAIL (error) ${err && err.stack ? err.stack : err}`);
  await page.screenshot({ path: join(shots, "vscode-error.png") }).catch(() => {});
} finally {
  await browser.close();
}
console.log(`vscode e2e: ${failures} failed, ${ms()} in the browser`);
process.exit(failures);
