// Request preview: the exact request a step would send now (`stepwise.previewRequest`), shown as a
// read-only virtual document (`stepwise-preview:`) beside the workflow and refreshed as the workflow
// is edited, with "Copy as curl" (the key as `$VARIABLE`, never its value).
import * as vscode from "vscode";
import { ExecuteCommandRequest, LanguageClient } from "vscode-languageclient/node";
import { SERVER_COMMANDS } from "./logic";

export const PREVIEW_SCHEME = "stepwise-preview";
const REFRESH_DELAY_MS = 300;

/** What a preview document shows: a step of a workflow, with one-time overrides. */
interface PreviewTarget {
  uri: string;
  step: string;
  provider?: string;
  model?: string;
  persona?: string;
}

/** The server's reply, the parts this file reads. */
interface PreviewReply {
  step: string;
  text: string;
  curl: string;
}

function targetOf(uri: vscode.Uri): PreviewTarget {
  return JSON.parse(uri.query) as PreviewTarget;
}

function previewUri(target: PreviewTarget): vscode.Uri {
  return vscode.Uri.from({ scheme: PREVIEW_SCHEME, path: `/${target.step} request`, query: JSON.stringify(target) });
}

/** The step argument of a command: `{ step }` or `{ position }`, with overrides. */
type StepArgument = { uri: string; step?: string; position?: unknown; provider?: string; model?: string; persona?: string };

/** Registers the preview document provider and its commands; returns `open`, which the code lens
 * command (through the client's middleware) and the palette command use. */
export function registerPreview(
  context: vscode.ExtensionContext,
  readyClient: () => Promise<LanguageClient | undefined>,
): { open: (argument: StepArgument) => Promise<void> } {
  const changed = new vscode.EventEmitter<vscode.Uri>();
  const curls = new Map<string, string>();

  async function request(argument: StepArgument): Promise<PreviewReply> {
    const c = await readyClient();
    if (!c) throw new Error("the language server is not running");
    return (await c.sendRequest(ExecuteCommandRequest.type, {
      command: SERVER_COMMANDS.previewRequest,
      arguments: [argument],
    })) as PreviewReply;
  }

  const provider: vscode.TextDocumentContentProvider = {
    onDidChange: changed.event,
    async provideTextDocumentContent(uri) {
      const target = targetOf(uri);
      try {
        const reply = await request(target);
        curls.set(uri.toString(), reply.curl);
        return reply.text;
      } catch (err) {
        curls.delete(uri.toString());
        const message = err instanceof Error ? err.message : String(err);
        return `# Request preview: step \`${target.step}\`\n\nNo request: ${message}\n`;
      }
    },
  };

  async function open(argument: StepArgument): Promise<void> {
    let step = argument.step;
    if (!step) {
      try {
        step = (await request(argument)).step;
      } catch (err) {
        void vscode.window.showErrorMessage(`stepwise: no preview: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
    const { uri, provider, model, persona } = argument;
    const target: PreviewTarget = { uri, step, provider, model, persona };
    const doc = await vscode.workspace.openTextDocument(previewUri(target));
    await vscode.languages.setTextDocumentLanguage(doc, "markdown");
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
  }

  async function openAtCursor(): Promise<void> {
    const ed = vscode.window.activeTextEditor;
    const c = await readyClient();
    if (!ed || !c) return;
    await open({
      uri: c.code2ProtocolConverter.asUri(ed.document.uri),
      position: c.code2ProtocolConverter.asPosition(ed.selection.active),
    });
  }

  async function copyCurl(): Promise<void> {
    const active = vscode.window.activeTextEditor?.document.uri;
    const uri =
      active?.scheme === PREVIEW_SCHEME
        ? active
        : vscode.window.visibleTextEditors.map((e) => e.document.uri).find((u) => u.scheme === PREVIEW_SCHEME);
    const curl = uri && curls.get(uri.toString());
    if (!curl) {
      void vscode.window.showWarningMessage("stepwise: open a request preview first (stepwise: Preview Request at Cursor).");
      return;
    }
    await vscode.env.clipboard.writeText(curl);
    void vscode.window.setStatusBarMessage("stepwise: request copied as curl", 3000);
  }

  // Refresh the previews of a workflow once its edits pause.
  const timers = new Map<string, NodeJS.Timeout>();
  const onEdit = vscode.workspace.onDidChangeTextDocument((e) => {
    if (e.document.uri.scheme === PREVIEW_SCHEME || e.contentChanges.length === 0) return;
    const edited = e.document.uri.toString();
    clearTimeout(timers.get(edited));
    timers.set(
      edited,
      setTimeout(() => {
        timers.delete(edited);
        for (const doc of vscode.workspace.textDocuments) {
          if (doc.uri.scheme !== PREVIEW_SCHEME) continue;
          if (vscode.Uri.parse(targetOf(doc.uri).uri).toString() === edited) changed.fire(doc.uri);
        }
      }, REFRESH_DELAY_MS),
    );
  });

  context.subscriptions.push(
    changed,
    onEdit,
    { dispose: () => timers.forEach((t) => clearTimeout(t)) },
    vscode.workspace.registerTextDocumentContentProvider(PREVIEW_SCHEME, provider),
    vscode.commands.registerCommand("stepwise.editor.previewRequest", openAtCursor),
    vscode.commands.registerCommand("stepwise.editor.copyCurl", copyCurl),
  );
  return { open };
}
