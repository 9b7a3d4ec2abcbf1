// VS Code end-to-end checks of comparing a step (editors/vscode/src/compare.ts), called from
// tests/editors/vscode_e2e.mjs with its page and helpers while the workflow is the only editor and
// the server talks to the fake provider: the `⇄ Compare` lens on `summarize` opens a multi-select
// of provider/model pairs (rows checked by filtering to their label and clicking them), then the
// persona pick; the comparison panel shows the targets side by side; "Use for this step" and
// "Add to fallback" edit the step and keep the rest of the document (read back from disk once
// saved); the file is then put back as it was. Screenshot: vscode-compare.png.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** The lines of step `id`'s item in `text` (from its `- id:` line to the next item or the end). */
function stepBlock(text, id) {
  const lines = text.split("\n");
  const start = lines.indexOf(`  - id: ${id}`);
  if (start < 0) return [];
  let end = start + 1;
  while (end < lines.length && !lines[end].startsWith("  - ")) end++;
  return lines.slice(start, end);
}

/** Runs the checks; `h` holds the main test's page, check, helpers and the workspace. */
export async function compareChecks(h) {
  const { page, check, gotoLine, palette, waitText, norm, shots, ws, workflow, mod } = h;
  const path = join(ws, workflow);
  const original = readFileSync(path, "utf8");
  const summarizeLine = original.split("\n").indexOf("  - id: summarize") + 1;
  const quickRows = ".quick-input-list .monaco-list-row";
  const filter = page.locator(".quick-input-widget .quick-input-box input").first();
  const quickText = async () => norm(await page.locator(".quick-input-widget").first().innerText().catch(() => ""));

  // The lens on the first step (the top of the document is in view).
  await gotoLine(summarizeLine, 1);
  await page.locator(".codelens-decoration a", { hasText: "⇄ Compare" }).first().click();
  const asked = await waitText(".quick-input-widget", /compare `summarize` on/, 20000);
  check("the ⇄ Compare lens opens a multi-select of provider/model pairs for the step", asked, (await quickText()).slice(0, 300));
  const current = page.locator(quickRows, { hasText: "anthropic/claude-sonnet-4-5" }).first();
  const checked = await current.getAttribute("aria-checked").catch(() => null);
  check("the step's own provider/model is checked already", checked === "true", `aria-checked=${checked}`);

  // Check two more rows: filter to each label, click its row (a click on a row toggles it).
  const wanted = ["openai/gpt-4o", "anthropic/claude-haiku-4-5"];
  for (const label of wanted) {
    await filter.fill(label);
    const exact = new RegExp(`^${label.replace(/[./-]/g, "\\$&")}$`);
    const row = page.locator(quickRows, { has: page.locator(".label-name", { hasText: exact }) }).first();
    await row.waitFor({ state: "visible", timeout: 10000 });
    await row.locator("label.quick-input-list-label").click();
    const on = await row.getAttribute("aria-checked").catch(() => null);
    check(`filtering the multi-select to ${label} and clicking its row checks it`, on === "true", `aria-checked=${on}`);
  }
  await filter.fill("");
  await page.keyboard.press("Enter");
  const persona = await waitText(".quick-input-widget", /persona for the comparison/, 10000);
  check("then a persona is asked for", persona, (await quickText()).slice(0, 200));
  await page.waitForTimeout(300);
  await page.keyboard.press("Enter");

  // The panel: one column per target, side by side.
  const opened = await waitText(".tabs-container .tab", /Compare summarize/, 30000);
  check("the comparison opens in a panel beside the workflow", opened);
  const panel = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
  const sections = panel.locator("section.target");
  const three = await sections
    .nth(2)
    .waitFor({ state: "visible", timeout: 30000 })
    .then(() => true)
    .catch(() => false);
  const heads = three ? (await panel.locator("section.target h2").allInnerTexts()).map(norm) : [];
  const labels = ["anthropic/claude-sonnet-4-5", ...wanted].map((l) => `${l}@concise-analyst`);
  check(
    "the panel shows the three targets (with the step's persona)",
    three && heads.length === 3 && labels.every((l) => heads.includes(l)),
    JSON.stringify(heads),
  );
  const boxes = three ? await Promise.all([0, 1, 2].map((i) => sections.nth(i).boundingBox())) : [];
  const sideBySide =
    boxes.length === 3 && boxes.every(Boolean) && boxes.every((b) => Math.abs(b.y - boxes[0].y) < 2) && boxes[0].x < boxes[1].x && boxes[1].x < boxes[2].x;
  check("the targets stand side by side", sideBySide, JSON.stringify(boxes));
  const texts = three ? (await sections.allInnerTexts()).map(norm) : [];
  check(
    "each target shows completed, its tokens, a cost and the fake provider's answer",
    texts.length === 3 &&
      texts.every((t) => /completed/.test(t) && /7 \/ 8/.test(t) && /\$0\.\d{4}/.test(t) && t.includes("Fake answer from the local test provider.")),
    JSON.stringify(texts).slice(0, 800),
  );
  // The screenshot without the side bar, so that the three columns fit beside the workflow.
  await palette("View: Toggle Primary Side Bar Visibility");
  await page.waitForTimeout(800);
  await page.screenshot({ path: join(shots, "vscode-compare.png") });
  await palette("View: Toggle Primary Side Bar Visibility");
  await page.waitForTimeout(300);

  // "Use for this step" on openai/gpt-4o, then "Add to fallback" on anthropic/claude-haiku-4-5.
  // VS Code saves a file a workspace edit changed (files.refactoring.autoSave); Ctrl+S covers a
  // profile without it. Returns the file once it differs from `previous` and stays so for 250 ms
  // (after 10 s: as it is).
  const saved = async (previous) => {
    await page.locator(".tabs-container .tab", { hasText: workflow }).first().click();
    await page.waitForTimeout(300);
    await page.keyboard.press(`${mod}+S`);
    let text = readFileSync(path, "utf8");
    for (let i = 0; i < 40; i++) {
      await page.waitForTimeout(250);
      const now = readFileSync(path, "utf8");
      if (now !== previous && now === text) break; // changed, and not mid-write
      text = now;
    }
    return text;
  };
  const button = (target, title) => sections.filter({ hasText: target }).locator("button", { hasText: title });
  await button("openai/gpt-4o@", "Use for this step").click();
  const used = await saved(original);
  const block = stepBlock(used, "summarize");
  const before = stepBlock(original, "summarize");
  const added = (b) => b.filter((l) => !before.includes(l));
  check(
    "Use for this step sets the step's provider, model and persona",
    ["    provider: openai", "    model: gpt-4o", "    persona: concise-analyst"].every((l) => block.includes(l)),
    block.join("\\n"),
  );
  check(
    "… and keeps the rest of the step and of the document",
    added(block).length === 3 && block.filter((l) => before.includes(l)).join("\n") === before.join("\n") &&
      used.replace(block.join("\n"), before.join("\n")) === original,
    block.join("\\n"),
  );
  await button("anthropic/claude-haiku-4-5@", "Add to fallback").click();
  const fell = stepBlock(await saved(used), "summarize");
  check(
    "Add to fallback starts the step's fallback list with the target",
    fell.includes("    fallback: [anthropic/claude-haiku-4-5]") && added(fell).length === 4,
    fell.join("\\n"),
  );

  // Put the workflow back on disk (the editor, saved, follows it) for the checks after these.
  writeFileSync(path, original);
  await waitText(".monaco-editor .view-lines", /^(?![\s\S]*claude-haiku-4-5\])[\s\S]*id: summarize/, 10000);
  await palette("View: Close Editors in Other Groups");
  await page.waitForTimeout(500);
}
