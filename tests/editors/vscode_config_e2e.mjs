// stepwise.toml in real VS Code (called from vscode_e2e.mjs while the real server runs): a mistake
// typed in it squiggles at its line, its hover says "did you mean", completion offers its keys, and
// undoing it clears the squiggle. The file is left as it was (undone, never saved).
export async function configScenario({ page, check, openFromExplorer, waitText, gotoLine, norm, mod }) {
  // A completion widget left open would take the keys: close it, then open the file as a user does.
  await page.keyboard.press("Escape");
  await page.keyboard.press("Escape");
  await openFromExplorer("stepwise.toml");
  check("stepwise.toml opens", await waitText(".monaco-editor .view-lines", /default_provider/, 20000));
  // Line 5 of examples/stepwise.toml is `concurrency = 8`: delete one `r`.
  await gotoLine(5, 6);
  await page.keyboard.press("Delete");
  let squiggle = false;
  try {
    await page.waitForSelector(".monaco-editor .squiggly-error", { timeout: 15000 });
    squiggle = true;
  } catch {}
  check("a mistake typed in stepwise.toml squiggles there", squiggle);
  await gotoLine(5, 3);
  await page.keyboard.press(`${mod}+K`);
  await page.keyboard.press(`${mod}+I`);
  let hover = "";
  try {
    await page.waitForSelector(".monaco-hover", { state: "visible", timeout: 8000 });
    await page.waitForTimeout(300);
    hover = norm(await page.locator(".monaco-hover").first().innerText());
  } catch {}
  check("its hover says did you mean `concurrency`", /did you mean `concurrency`/.test(hover), hover.slice(0, 300));
  await page.keyboard.press("Escape");
  await page.keyboard.press(`${mod}+Z`);
  let cleared = false;
  try {
    await page.waitForFunction(() => !document.querySelector(".monaco-editor .squiggly-error"), null, { timeout: 10000 });
    cleared = true;
  } catch {}
  check("undoing it clears the squiggle", cleared);
}
