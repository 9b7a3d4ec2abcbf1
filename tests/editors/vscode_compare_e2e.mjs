// The comparison flow in real VS Code, called from vscode_e2e.mjs (which owns the browser): "Compare
// Step Across Providers" on `summarize` asks for targets (multi-select) and a persona, the panel shows
// the three targets side by side (screenshot target/e2e/vscode-compare.png), "Add to fallback" and
// "Use for this step" edit the step, and undo puts the document back for the tests after this one.
import { join } from "node:path";

/** The webview frame whose page contains `text`, within `timeout` ms. */
async function webviewWith(page, text, timeout) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    for (const f of page.frames()) {
      const body = await f.evaluate(() => document.body?.innerText || "").catch(() => "");
      if (body.includes(text)) return { frame: f, body };
    }
    await page.waitForTimeout(250);
  }
  return undefined;
}

/** Checks the quick-pick row labelled exactly `label`. */
async function checkRow(page, label) {
  const row = page
    .locator(".quick-input-list .monaco-list-row")
    .filter({ has: page.locator(".label-name", { hasText: new RegExp(`^${label.replace(/[/.]/g, "\\$&")}$`) }) })
    .first();
  await row.waitFor({ state: "visible", timeout: 10000 });
  const box = row.locator("input[type=checkbox], .quick-input-list-checkbox, .monaco-custom-toggle").first();
  if (await box.count()) await box.click();
  else await row.click();
}

export async function compareE2E({ page, check, gotoLine, palette, waitText, viewText, shots, summarizeLine, mod }) {
  await gotoLine(summarizeLine + 1, 5);
  await palette("stepwise: Compare Step Across Providers");
  const asked = await waitText(".quick-input-widget", /compare `summarize` on/, 20000);
  check("Compare asks which targets to send `summarize` to", asked);
  await checkRow(page, "anthropic/claude-haiku-4-5");
  await checkRow(page, "openai/gpt-4o");
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");
  const persona = await waitText(".quick-input-widget", /persona for the comparison/, 10000);
  check("then which persona", persona);
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");

  const shown = await webviewWith(page, "Use for this step", 40000);
  const body = shown?.body ?? "";
  const labels = ["anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5", "openai/gpt-4o"];
  check("the panel shows the three targets side by side", !!shown && labels.every((l) => body.includes(l)), body.slice(0, 600));
  const answers = body.split("Fake answer from the local test provider.").length - 1;
  check("each target answered, with status, latency, tokens and cost", answers === 3 && /7 \/ 8/.test(body) && / ms/.test(body) && /\$0\.\d{4}/.test(body), body.slice(0, 600));
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(shots, "vscode-compare.png") });
  if (!shown) return;

  const index = (label) => labels.findIndex((l) => l === label);
  await shown.frame.locator(`button[data-action="fallback"][data-index="${index("openai/gpt-4o")}"]`).click();
  const fallback = await waitText(".monaco-editor .view-lines", /fallback: \[openai\/gpt-4o\]/, 10000);
  check("Add to fallback adds the target to the step's fallback list", fallback, (await viewText()).slice(0, 500));
  await shown.frame.locator(`button[data-action="use"][data-index="${index("anthropic/claude-haiku-4-5")}"]`).click();
  const used = await waitText(".monaco-editor .view-lines", /model: claude-haiku-4-5/, 10000);
  check("Use for this step sets the step's model", used, (await viewText()).slice(0, 500));

  // Put the document back: the checks after this one count lines of the original.
  await palette("View: Focus First Editor Group");
  await page.waitForTimeout(300);
  await page.keyboard.press(`${mod}+Z`);
  await page.keyboard.press(`${mod}+Z`);
  const restored = await waitText(".monaco-editor .view-lines", /^(?![\s\S]*(fallback: \[openai\/gpt-4o\]|claude-haiku-4-5))/, 10000);
  check("undo restores the step", restored, (await viewText()).slice(0, 500));
  await palette("View: Close Editors in Other Groups");
}
