// End-to-end checks of the "stepwise Runs" view (editors/vscode/src/runsView.ts), called from
// vscode_e2e.mjs once a step of `file` has run on the fake provider: the tree shows the run and its
// steps, selecting a step reveals it, the inline actions re-run it, open its output and compare it
// with the previous attempt. Screenshot: vscode-runs.png.
import { join } from "node:path";

export async function runsViewChecks({ page, check, shots, palette, waitText, norm, stepLine }) {
  const rows = ".pane-body .monaco-list-row";
  const treeText = async () => norm((await page.locator(rows).allInnerTexts().catch(() => [])).join(" | "));
  const runRows = async () =>
    (await page.locator(rows).allInnerTexts()).filter((t) => /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(norm(t))).length;

  await palette("Focus on stepwise Runs View");
  const shown = await waitText(rows, /✓ summarize/, 20000);
  check("the Runs view shows the workflow's run with the step that ran ✓", shown, (await treeText()).slice(0, 400));
  const who = await waitText(rows, /✓ summarize\s*anthropic\/claude-sonnet-4-5/, 5000);
  check("the step row names the provider/model it ran on", who, (await treeText()).slice(0, 400));
  const pending = await waitText(rows, /· ideas/, 5000);
  check("steps not run show as not run", pending);
  const before = await runRows();

  // Selecting the step reveals it in the document: the cursor goes to its `- id:` line.
  await page.locator(rows, { hasText: "summarize" }).first().click();
  const revealed = await waitText(".statusbar", new RegExp(`Ln ${stepLine},`), 10000);
  check("selecting a step in the Runs view reveals it in the document", revealed, norm(await page.locator(".statusbar").first().innerText()).slice(0, 200));
  await page.screenshot({ path: join(shots, "vscode-runs.png") });

  // Inline action: re-run. A new run appears, live (refreshed on stepwise/runsChanged).
  const row = page.locator(rows, { hasText: "summarize" }).first();
  await row.hover();
  await row.locator('.action-label[aria-label="Re-run Step"]').click();
  let after = before;
  for (let i = 0; i < 60 && after <= before; i++) {
    await page.waitForTimeout(500);
    after = await runRows();
  }
  check("the inline Re-run runs the step again and the view shows the new run", after > before, `${before} -> ${after}: ${(await treeText()).slice(0, 300)}`);

  // Inline action: open output (a read-only virtual document).
  const again = page.locator(rows, { hasText: "summarize" }).first();
  await again.hover();
  await again.locator('.action-label[aria-label="Open Output"]').click();
  const opened = await waitText(".tabs-container .tab", /summarize #\d+\.txt/, 10000);
  const text = await waitText(".monaco-editor .view-lines", /Fake answer from the local test provider/, 10000);
  check("Open Output shows the step's output in a virtual document", opened && text);

  // Inline action: compare with the previous attempt (a diff editor).
  await page.locator(`${rows}`, { hasText: "summarize" }).first().hover();
  await page.locator(rows, { hasText: "summarize" }).first().locator('.action-label[aria-label="Compare Output with Previous Attempt"]').click();
  const diff = await page.waitForSelector(".monaco-diff-editor", { timeout: 10000 }).then(() => true).catch(() => false);
  const diffTab = await waitText(".tabs-container .tab", /summarize: attempt \d+ ↔ \d+/, 5000);
  check("Compare opens a diff of the step's output with its previous attempt's", diff && diffTab);
}
