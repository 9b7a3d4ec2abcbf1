// Compare a step across providers: the `⇄ Compare` lens (the server's `stepwise.compareStep` without
// targets) and the "Compare Step Across Providers" command ask which of the server's candidates to send
// the step to (a multi-select, then a persona), send it with a progress notification, and show the
// targets side by side in a webview panel whose buttons adopt one through `stepwise.useTarget`.
import * as vscode from "vscode";
import { ExecuteCommandRequest, LanguageClient, WorkDoneProgress } from "vscode-languageclient/node";
import { CompareResult, compareHtml } from "./compare_view";
import { SERVER_COMMANDS, isWorkflowPath } from "./logic";

/** Where the step is: by ID (from a lens) or at a position (the cursor). */
type StepAt = { step: string } | { position: { line: number; character: number } };

interface Candidates {
  step: string;
  targets: { provider: string; model: string; label: string; description: string; current: boolean }[];
  personas: string[];
}

type Target = { provider: string; model?: string; persona?: string };

let clientOf: () => Promise<LanguageClient | undefined> = async () => undefined;
let counter = 0;

async function request<T>(c: LanguageClient, command: string, argument: object, workDoneToken?: string): Promise<T> {
  return (await c.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument], workDoneToken })) as T;
}

/** Asks which targets (and which persona) to compare step `at` of `uri` on; undefined when dismissed. */
async function pickTargets(c: LanguageClient, uri: string, at: StepAt): Promise<Target[] | undefined> {
  const found = await request<Candidates>(c, SERVER_COMMANDS.compareTargets, { uri, ...at });
  const items = found.targets.map((t) => ({
    label: t.label,
    description: t.current ? "current" : undefined,
    detail: t.description || undefined,
    picked: t.current,
    target: { provider: t.provider, model: t.model } as Target,
  }));
  const chosen = await vscode.window.showQuickPick(items, {
    canPickMany: true,
    title: `stepwise: compare \`${found.step}\` on…`,
    placeHolder: "Check the provider/model pairs to send the step to",
    ignoreFocusOut: true,
  });
  if (!chosen || chosen.length === 0) return undefined;
  const own = "$(person) the step's own persona";
  const persona = await vscode.window.showQuickPick([own, ...found.personas], {
    title: "stepwise: persona for the comparison",
    ignoreFocusOut: true,
  });
  if (persona === undefined) return undefined;
  return chosen.map((i) => (persona === own ? i.target : { ...i.target, persona }));
}

/** Sends the step to `targets` with a progress notification fed by the server's `$/progress`. */
async function send(c: LanguageClient, uri: string, at: StepAt, targets: Target[]): Promise<CompareResult | undefined> {
  const token = `stepwise-compare-${process.pid}-${++counter}`;
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: "stepwise: comparing" },
    async (progress) => {
      const d = c.onProgress(WorkDoneProgress.type, token, (v) => {
        if (v.kind !== "end" && v.message) progress.report({ message: v.message });
      });
      try {
        return await request<CompareResult>(c, SERVER_COMMANDS.compareStep, { uri, ...at, targets }, token);
      } catch (err) {
        void vscode.window.showErrorMessage(`stepwise: compare failed: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      } finally {
        d.dispose();
      }
    },
  );
}

/** Shows `result` beside the workflow; its buttons use a target for the step or add it to the fallback. */
function show(c: LanguageClient, uri: string, result: CompareResult) {
  const panel = vscode.window.createWebviewPanel(
    "stepwise.compare",
    `Compare ${result.step}`,
    { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
    { enableScripts: true },
  );
  const nonce = Math.random().toString(36).slice(2) + Date.now().toString(36);
  panel.webview.html = compareHtml(result, nonce);
  panel.webview.onDidReceiveMessage(async (m: { action: "use" | "fallback"; index: number }) => {
    const t = result.targets[m.index];
    if (!t) return;
    const argument = {
      uri,
      step: result.step,
      provider: t.provider,
      model: t.model,
      ...(m.action === "use" && t.persona ? { persona: t.persona } : {}),
      as: m.action === "use" ? "step" : "fallback",
    };
    const reply = await request<{ applied: boolean; message?: string }>(c, SERVER_COMMANDS.useTarget, argument);
    if (!reply.applied && reply.message) void vscode.window.showWarningMessage(`stepwise: ${reply.message}`);
  });
}

/** Compares step `at` (default: the step at the cursor) of `uri` (default: the active workflow). */
export async function compareStep(arg?: { uri?: string; step?: string; position?: { line: number; character: number } }) {
  const c = await clientOf();
  if (!c) return;
  const ed = vscode.window.activeTextEditor;
  let uri = arg?.uri;
  let at: StepAt | undefined = arg?.step ? { step: arg.step } : arg?.position ? { position: arg.position } : undefined;
  if (!uri || !at) {
    if (!ed || !isWorkflowPath(ed.document.uri.path)) {
      void vscode.window.showWarningMessage("stepwise: open a workflow document (*.flow.yaml) first.");
      return;
    }
    uri = c.code2ProtocolConverter.asUri(ed.document.uri);
    at = { position: c.code2ProtocolConverter.asPosition(ed.selection.active) };
  }
  try {
    const targets = await pickTargets(c, uri, at);
    if (!targets) return;
    const result = await send(c, uri, at, targets);
    if (result) show(c, uri, result);
  } catch (err) {
    void vscode.window.showErrorMessage(`stepwise: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Whether an `executeCommand` of the server's is the lens's compare without targets (the client asks). */
export function isCompareWithoutTargets(command: string, args: unknown[]): boolean {
  const a = args[0] as { targets?: unknown[] } | undefined;
  return command === SERVER_COMMANDS.compareStep && !(a?.targets && a.targets.length > 0);
}

/** Registers the command; `client` gives the running language client. */
export function registerCompare(context: vscode.ExtensionContext, client: () => Promise<LanguageClient | undefined>) {
  clientOf = client;
  context.subscriptions.push(vscode.commands.registerCommand("stepwise.editor.compareStep", () => compareStep()));
}
