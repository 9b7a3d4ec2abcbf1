// The "stepwise Runs" view: the active workflow's runs from the server's `stepwise/runs`, as a tree
// run → step → attempt → failed requests and fan-out items, refreshed on `stepwise/runsChanged`, with
// inline actions (re-run, re-run with another provider, run from here, open output, compare with the
// previous attempt) and output documents that grow while a step streams (`stepwise/output`).
import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";
import { isWorkflowPath } from "./logic";
import {
  LiveParts,
  OutputDelta,
  RunEntry,
  RunsReply,
  StepEntry,
  attemptDocument,
  attemptLabel,
  callLabel,
  liveDocument,
  runLabel,
  stepLabel,
} from "./runsLogic";

export const RUNS_VIEW = "stepwise.runs";
const OUTPUT_SCHEME = "stepwise-output";

type Node =
  | { kind: "run"; run: RunEntry; latest: boolean }
  | { kind: "step"; run: RunEntry; step: StepEntry; latest: boolean }
  | { kind: "attempt"; run: RunEntry; step: StepEntry; index: number }
  | { kind: "leaf"; label: string; description?: string; tooltip?: string }
  | { kind: "empty"; label: string };

/** Output documents: fixed ones (an attempt's output) and live ones (a step streaming now). */
class OutputDocuments implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly fixed = new Map<string, string>();
  private readonly live = new Map<string, { workflow: string; step: string; run?: string; parts: LiveParts }>();
  private counter = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    const live = this.live.get(uri.toString());
    if (live) return liveDocument(live.parts);
    return this.fixed.get(uri.toString()) ?? "";
  }

  /** A read-only document holding `text`, named after `title`. */
  fixedDoc(title: string, text: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: OUTPUT_SCHEME, path: `/${title}`, query: String(++this.counter) });
    this.fixed.set(uri.toString(), text);
    return uri;
  }

  /** The live document of `step` of `workflow`, starting from what it streamed so far. */
  liveDoc(workflow: string, step: string, run: string | undefined, parts: LiveParts): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: OUTPUT_SCHEME, path: `/${step} (live).txt`, query: workflow });
    this.live.set(uri.toString(), { workflow, step, run, parts });
    this.changed.fire(uri);
    return uri;
  }

  /** Appends a `stepwise/output` delta to the live documents it belongs to. */
  apply(delta: OutputDelta) {
    for (const [key, doc] of this.live) {
      if (doc.workflow !== delta.uri || doc.step !== delta.step) continue;
      if (doc.run !== delta.run) {
        doc.run = delta.run;
        doc.parts = new Map();
      }
      const item = delta.item ?? null;
      doc.parts.set(item, (delta.reset ? "" : (doc.parts.get(item) ?? "")) + delta.text);
      this.changed.fire(vscode.Uri.parse(key));
    }
  }
}

class RunsTree implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  reply: RunsReply | undefined;
  workflow: vscode.Uri | undefined;
  error: string | undefined;

  constructor(private readonly client: () => LanguageClient | undefined) {}

  async refresh() {
    const c = this.client();
    if (!c || !this.workflow) {
      this.reply = undefined;
    } else {
      try {
        this.reply = await c.sendRequest<RunsReply>("stepwise/runs", { uri: c.code2ProtocolConverter.asUri(this.workflow) });
        this.error = undefined;
      } catch (err) {
        this.reply = undefined;
        this.error = err instanceof Error ? err.message : String(err);
      }
    }
    this.changed.fire(undefined);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const none = vscode.TreeItemCollapsibleState.None;
    switch (node.kind) {
      case "run": {
        const l = runLabel(node.run);
        const item = new vscode.TreeItem(l.label, node.latest ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
        item.description = l.description;
        item.tooltip = l.tooltip;
        item.contextValue = "run";
        item.id = `run:${node.run.id}`;
        return item;
      }
      case "step": {
        const l = stepLabel(node.step);
        const item = new vscode.TreeItem(l.label, node.step.attempts.length ? vscode.TreeItemCollapsibleState.Collapsed : none);
        item.description = l.description;
        item.tooltip = l.tooltip;
        item.contextValue = node.step.attempts.length > 1 ? "step.compare" : "step";
        item.id = `step:${node.run.id}:${node.step.id}`;
        item.command = { command: "stepwise.runs.reveal", title: "Reveal step", arguments: [node] };
        return item;
      }
      case "attempt": {
        const l = attemptLabel(node.step.attempts[node.index], node.index);
        const attempt = node.step.attempts[node.index];
        const hasChildren = attempt.calls.some((c) => c.error) || (attempt.outputs?.length ?? 0) > 0;
        const item = new vscode.TreeItem(l.label, hasChildren ? vscode.TreeItemCollapsibleState.Collapsed : none);
        item.description = l.description;
        item.tooltip = l.tooltip;
        item.contextValue = node.index > 0 ? "attempt.compare" : "attempt";
        item.id = `attempt:${node.run.id}:${node.step.id}:${node.index}`;
        return item;
      }
      case "leaf": {
        const item = new vscode.TreeItem(node.label, none);
        item.description = node.description;
        item.tooltip = node.tooltip;
        return item;
      }
      case "empty":
        return new vscode.TreeItem(node.label, none);
    }
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      if (this.error) return [{ kind: "empty", label: `stepwise: ${this.error}` }];
      if (!this.workflow) return [{ kind: "empty", label: "Open a workflow (*.flow.yaml) to see its runs." }];
      const runs = this.reply?.runs ?? [];
      if (runs.length === 0) return [{ kind: "empty", label: "No runs yet." }];
      return runs.map((run, i) => ({ kind: "run", run, latest: i === 0 }));
    }
    switch (node.kind) {
      case "run":
        return node.run.steps.map((step) => ({ kind: "step", run: node.run, step, latest: node.latest }));
      case "step":
        return node.step.attempts.map((_, index) => ({ kind: "attempt", run: node.run, step: node.step, index }));
      case "attempt": {
        const attempt = node.step.attempts[node.index];
        const calls: Node[] = attempt.calls
          .filter((c) => c.error)
          .map((c) => ({ kind: "leaf", label: callLabel(c), tooltip: c.error?.message }));
        const items: Node[] = (attempt.outputs ?? []).map((text, i) => ({
          kind: "leaf",
          label: `item ${i + 1}`,
          description: text.split("\n")[0].slice(0, 80),
          tooltip: text,
        }));
        return [...calls, ...items];
      }
      default:
        return [];
    }
  }
}

/** What extension.ts calls: `attach` with each client once it has started; `showLive` with the
 * reply of `stepwise.openOutput` (true when it was a running step, now shown live). */
export interface RunsView {
  attach(started: LanguageClient): void;
  showLive(workflow: string, result: unknown): Promise<boolean>;
}

/** Registers the view, its commands and the output documents; `client` gives the running client. */
export function registerRunsView(context: vscode.ExtensionContext, client: () => LanguageClient | undefined): RunsView {
  const tree = new RunsTree(client);
  const outputs = new OutputDocuments();
  const view = vscode.window.createTreeView(RUNS_VIEW, { treeDataProvider: tree, showCollapseAll: true });
  let pending: ReturnType<typeof setTimeout> | undefined;
  const refreshSoon = () => {
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => void tree.refresh(), 150);
  };
  const follow = (editor: vscode.TextEditor | undefined) => {
    if (!editor || !isWorkflowPath(editor.document.uri.path) || editor.document.uri.scheme !== "file") return;
    if (tree.workflow?.toString() === editor.document.uri.toString()) return;
    tree.workflow = editor.document.uri;
    view.title = `stepwise Runs: ${editor.document.uri.path.split("/").pop()}`;
    refreshSoon();
  };
  const wireUri = () => {
    const c = client();
    return c && tree.workflow ? c.code2ProtocolConverter.asUri(tree.workflow) : undefined;
  };
  const runCommand = async (command: string, step: string, extra: Record<string, unknown> = {}) => {
    const uri = wireUri();
    if (!uri) return;
    try {
      await vscode.commands.executeCommand(command, { uri, step, ...extra });
    } catch (err) {
      void vscode.window.showErrorMessage(`stepwise: ${err instanceof Error ? err.message : String(err)}`);
    }
    refreshSoon();
  };
  const show = (uri: vscode.Uri) =>
    vscode.window.showTextDocument(uri, { preview: true, viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
  const reg = (id: string, fn: (node: Node) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg("stepwise.runs.refresh", () => tree.refresh());
  reg("stepwise.runs.reveal", async (node) => {
    if (node.kind !== "step" || !tree.workflow) return;
    const line = tree.reply?.steps.find((s) => s.id === node.step.id)?.line;
    if (line === undefined) return;
    const at = new vscode.Position(line, 0);
    await vscode.window.showTextDocument(tree.workflow, { selection: new vscode.Range(at, at), preserveFocus: true });
  });
  reg("stepwise.runs.rerun", (node) => node.kind === "step" && runCommand("stepwise.runStep", node.step.id));
  reg("stepwise.runs.runFrom", (node) => node.kind === "step" && runCommand("stepwise.runFrom", node.step.id));
  reg("stepwise.runs.rerunWith", async (node) => {
    if (node.kind !== "step") return;
    const ranOn = node.step.attempts.at(-1)?.provider?.value;
    const choices = (tree.reply?.providers ?? []).filter((p) => p !== ranOn);
    if (choices.length === 0) {
      void vscode.window.showInformationMessage("stepwise: no other provider is available.");
      return;
    }
    const provider = await vscode.window.showQuickPick(choices, { title: `Re-run \`${node.step.id}\` with (this run only)` });
    if (provider) await runCommand("stepwise.runStep", node.step.id, { provider });
  });
  reg("stepwise.runs.openOutput", async (node) => {
    if (node.kind === "step" && node.latest && node.step.status === "running") {
      await openLive(node.step.id);
      return;
    }
    const found =
      node.kind === "attempt"
        ? { step: node.step, index: node.index }
        : node.kind === "step"
          ? { step: node.step, index: latestCompleted(node.step) }
          : undefined;
    if (!found || found.index < 0) {
      void vscode.window.showInformationMessage("stepwise: this step has no output in this run.");
      return;
    }
    const attempt = found.step.attempts[found.index];
    await show(outputs.fixedDoc(`${found.step.id} #${found.index + 1}.txt`, attemptDocument(attempt)));
  });
  reg("stepwise.runs.compare", async (node) => {
    const step = node.kind === "step" || node.kind === "attempt" ? node.step : undefined;
    if (!step) return;
    const index = node.kind === "attempt" ? node.index : step.attempts.length - 1;
    if (index < 1) {
      void vscode.window.showInformationMessage("stepwise: there is no earlier attempt to compare with.");
      return;
    }
    const before = outputs.fixedDoc(`${step.id} #${index}.txt`, attemptDocument(step.attempts[index - 1]));
    const after = outputs.fixedDoc(`${step.id} #${index + 1}.txt`, attemptDocument(step.attempts[index]));
    await vscode.commands.executeCommand("vscode.diff", before, after, `${step.id}: attempt ${index} ↔ ${index + 1}`, {
      preview: true,
      viewColumn: vscode.ViewColumn.Beside,
    });
  });

  /** Opens the live output of `step` of the view's workflow (what it streamed so far, then more). */
  async function openLive(step: string) {
    const uri = wireUri();
    const c = client();
    if (!uri || !c) return;
    const result = await c.sendRequest<Record<string, unknown>>("workspace/executeCommand", {
      command: "stepwise.openOutput",
      arguments: [{ uri, step }],
    });
    await showLive(uri, result);
  }

  /** Shows the reply of `stepwise.openOutput`: a live document while the step runs. */
  async function showLive(workflow: string, result: unknown): Promise<boolean> {
    const r = result as { running?: boolean; step?: string; run?: string; parts?: { item: number | null; text: string }[] } | null;
    if (!r?.running || !r.step) return false;
    const parts: LiveParts = new Map((r.parts ?? []).map((p) => [p.item, p.text]));
    await show(outputs.liveDoc(workflow, r.step, r.run, parts));
    return true;
  }

  context.subscriptions.push(
    view,
    vscode.workspace.registerTextDocumentContentProvider(OUTPUT_SCHEME, outputs),
    vscode.window.onDidChangeActiveTextEditor(follow),
    view.onDidChangeVisibility((e) => e.visible && refreshSoon()),
  );
  follow(vscode.window.activeTextEditor);

  const attach = (started: LanguageClient) => {
    context.subscriptions.push(
      started.onNotification("stepwise/runsChanged", (p: { uri: string }) => {
        if (p.uri === wireUri()) refreshSoon();
      }),
      started.onNotification("stepwise/output", (p: OutputDelta) => outputs.apply(p)),
    );
    follow(vscode.window.activeTextEditor);
    refreshSoon();
  };
  return { attach, showLive };
}

/** The index of the attempt whose output the step has (the latest completed), or -1. */
function latestCompleted(step: StepEntry): number {
  for (let i = step.attempts.length - 1; i >= 0; i--) if (step.attempts[i].status === "completed") return i;
  return -1;
}
