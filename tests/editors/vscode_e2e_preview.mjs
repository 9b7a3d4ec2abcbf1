// VS Code end-to-end checks of the request preview (editors/vscode/src/preview.ts), called from
// tests/editors/vscode_e2e.mjs with its page and helpers while the workflow is the active editor.
// The preview opens beside the workflow as a read-only `stepwise-preview:` document, follows an
// unsaved edit, and "Copy Request as curl" puts the curl line (key as $ANTHROPIC_API_KEY) on the clipboard.
import { join } from "node:path";

/** Runs the checks; `h` holds the main test's page, check, helpers and file lines. */
export async function previewChecks(h) {
  const { page, check, gotoLine, palette, waitText, norm, shots, lines, url, workflow } = h;
  const promptLine = lines.findIndex((l) => l.includes("Summarize {{ inputs.product }}")) + 1;
  const editors = async () => norm((await page.locator(".monaco-editor .view-lines").allInnerTexts()).join("\n"));

  await gotoLine(promptLine, 7);
  await palette("stepwise: Preview Request at Cursor");
  const opened = await waitText(".tabs-container .tab", /summarize request/, 20000);
  check("Preview Request at Cursor opens the step's preview in its own tab", opened);
  const shown = await waitText(".monaco-editor .view-lines", /POST http:\/\/127\.0\.0\.1:\d+\/v1\/messages/, 20000);
  const text = await editors();
  check("the preview shows the method and URL of the request", shown, text.slice(0, 400));
  check("the preview shows the key header as ***", /x-api-key: \*\*\*/.test(text), text.slice(0, 600));
  check("the key itself is not in the preview", !text.includes("sk-ant-test-not-a-real-key"));
  const groups = await page.locator(".editor-group-container").count();
  check("the preview opens beside the workflow", groups >= 2, `${groups} editor groups`);
  await page.screenshot({ path: join(shots, "vscode-preview.png") });
  // Typing into the preview changes nothing: it is read-only.
  await page.locator(".monaco-editor .view-lines", { hasText: "x-api-key" }).first().click();
  await page.keyboard.type("zzz");
  await page.waitForTimeout(500);
  check("the preview document is read-only", !(await editors()).includes("zzz"));
  await page.locator(".tabs-container .tab", { hasText: workflow }).first().click();
  await page.waitForTimeout(300);

  // An unsaved edit of the prompt (focus stayed in the workflow) refreshes the preview.
  await gotoLine(promptLine, 200);
  await page.keyboard.press("End");
  await page.keyboard.type(" Quickly.");
  const refreshed = await waitText(".monaco-editor .view-lines", /bullet points\. Quickly\.",/, 15000);
  check("editing the workflow refreshes the preview", refreshed, (await editors()).slice(0, 800));
  for (let i = 0; i < " Quickly.".length; i++) await page.keyboard.press("Backspace");

  // Copy as curl: the clipboard gets the curl line.
  const origin = new URL(url).origin;
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin }).catch(() => {});
  await palette("stepwise: Copy Request as curl");
  const copied = await waitText(".statusbar", /request copied as curl/, 10000);
  const clip = await page.evaluate(() => navigator.clipboard.readText()).catch((e) => `(clipboard unreadable: ${e})`);
  check("Copy Request as curl says so", copied);
  check(
    "the clipboard holds the curl line with $ANTHROPIC_API_KEY, not the key",
    clip.startsWith("curl ") && clip.includes('"x-api-key: $ANTHROPIC_API_KEY"') && !clip.includes("sk-ant-test"),
    clip.slice(0, 300),
  );

  await palette("View: Close Editors in Other Groups");
  await page.waitForTimeout(500);

  // The code lens "Preview request" opens the preview too (through the client's middleware).
  await page.locator(".codelens-decoration a", { hasText: "Preview request" }).first().click();
  const fromLens = await waitText(".tabs-container .tab", /summarize request/, 20000);
  check("the Preview request code lens opens the step's preview", fromLens);
  // Close it so later checks see the workflow editor only.
  await palette("View: Close Editors in Other Groups");
  await page.waitForTimeout(500);
}
