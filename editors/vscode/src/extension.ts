// stepwise for VS Code: a thin launcher for `stepwise lsp`. All language logic lives in the server.
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import {
  INSTALL_HINT,
  ProgressTracker,
  ProgressValue,
  SERVER_COMMANDS,
  TRUST_NOTIFICATION,
  CONFIG_GLOBS,
  WATCH_GLOB,
  WORKFLOW_GLOBS,
  YamlExtensionMode,
  commandArgument,
  findServer,
  initializationOptions,
  isWorkflowPath,
  MissingInput,
  missingInputs,
  outputView,
  serverEnv,
  serverOffers,
  shouldDropDiagnostic,
} from "./logic";
import { registerPreview } from "./preview";
import { compareStep, isCompareWithoutTargets, registerCompare } from "./compare";
import { RunsView, registerRunsView } from "./runsView";

const YAML_EXTENSION = "redhat.vscode-yaml";
const RUN_SOURCE_KIND = vscode.CodeActionKind.Source.append("run");
const RUN_KIND = vscode.CodeActionKind.Empty.append("stepwise").append("run");

let client: LanguageClient | undefined;
let starting: Promise<void> | undefined;
let output: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
const progress = new ProgressTracker();
let progressDisposables: vscode.Disposable[] = [];
let preview: ReturnType<typeof registerPreview> | undefined;
let runsView: RunsView | undefined;

function config() {
  return vscode.workspace.getConfiguration("stepwise");
}

function yamlExtensionValidates(): boolean {
  const ext = vscode.extensions.getExtension(YAML_EXTENSION);
  return !!ext && vscode.workspace.getConfiguration("yaml").get<boolean>("validate", true) !== false;
}

function renderStatus() {
  if (progress.active) {
    statusItem.text = progress.text();
    statusItem.tooltip = progress.tooltip();
    statusItem.command = "stepwise.editor.cancel";
    statusItem.show();
  } else {
    statusItem.hide();
  }
}

/** Follows one `$/progress` token: the status bar item shows the run until its `end`. */
function trackProgress(c: LanguageClient, token: string | number) {
  const d = c.onProgress(WorkDoneProgress.type, token, (value) => {
    progress.update(token, value as ProgressValue);
    if ((value as ProgressValue).kind === "end") d.dispose();
    renderStatus();
  });
  progressDisposables.push(d);
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  if (client) return;
  const found = findServer(config().get<string>("server.path"), { bundledDir: context.asAbsolutePath("server") });
  if (!found.ok) {
    output.appendLine(found.message);
    const choice = await vscode.window.showErrorMessage(found.message, "Open Settings", "Copy Install Command");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "stepwise.server.path");
    } else if (choice === "Copy Install Command") {
      await vscode.env.clipboard.writeText(INSTALL_HINT);
    }
    return;
  }
  output.appendLine(`stepwise: starting ${found.command} lsp (from ${found.source})`);
  const env = serverEnv(
    process.env,
    config().get<string>("server.logLevel"),
    config().get<Record<string, string>>("server.env"),
  );
  // No `transport`: the arguments go to the server verbatim (TransportKind.stdio would add --stdio).
  const serverOptions: ServerOptions = {
    run: { command: found.command, args: ["lsp"], options: { env } },
    debug: { command: found.command, args: ["lsp"], options: { env } },
  };
  const clientOptions: LanguageClientOptions = {
    initializationOptions: initializationOptions(vscode.workspace.isTrusted),
    documentSelector: [
      ...WORKFLOW_GLOBS.flatMap((pattern) => [
        { scheme: "file", pattern },
        { scheme: "untitled", pattern },
      ]),
      ...CONFIG_GLOBS.map((pattern) => ({ scheme: "file", pattern })),
    ],
    synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher(WATCH_GLOB) },
    outputChannel: output,
    middleware: {
      // The server files "Run step" under the `source.run` kind; VS Code leaves source actions out of
      // the light bulb / Ctrl+. menu. Show them there (as "More Actions"), except when the user asked
      // for source actions explicitly (then they stay in the Source Action menu as they are).
      async provideCodeActions(document, range, context, token, next) {
        const actions = await next(document, range, context, token);
        if (!actions || (context.only && vscode.CodeActionKind.Source.contains(context.only))) return actions;
        for (const a of actions) {
          if (a instanceof vscode.CodeAction && a.kind && RUN_SOURCE_KIND.contains(a.kind)) a.kind = RUN_KIND;
        }
        return actions;
      },
      // A run from a code lens or code action refused for missing inputs: ask for them and run again.
      async executeCommand(command, args, next) {
        // "Preview request" (code lens / action) opens the preview document instead.
        if (command === SERVER_COMMANDS.previewRequest && preview) return preview.open(args[0]);
        if (isCompareWithoutTargets(command, args)) return compareStep(args[0]);
        const inputs: Record<string, string> = {};
        for (;;) {
          const arg = args[0] && typeof args[0] === "object" ? { ...args[0], ...(Object.keys(inputs).length ? { inputs } : {}) } : args[0];
          try {
            return await next(command, arg === undefined ? args : [arg, ...args.slice(1)]);
          } catch (err) {
            const missing = missingInputs(err);
            if (missing.length === 0 || !(await askInputs(missing, inputs))) throw err;
          }
        }
      },
      handleDiagnostics(uri, diagnostics, next) {
        const mode = config().get<YamlExtensionMode>("diagnostics.yamlExtension", "defer");
        const validates = yamlExtensionValidates();
        next(uri, diagnostics.filter((d) => !shouldDropDiagnostic(d.code, mode, validates)));
      },
    },
  };
  const c = new LanguageClient("stepwise", "stepwise", serverOptions, clientOptions);
  client = c;
  c.onDidChangeState((e) => {
    if (e.newState === State.Stopped) {
      for (const token of progress.tokens()) progress.update(token, { kind: "end" });
      renderStatus();
    }
  });
  try {
    await c.start();
  } catch (err) {
    client = undefined;
    const msg = `stepwise: the language server did not start: ${err instanceof Error ? err.message : String(err)}`;
    output.appendLine(msg);
    void vscode.window.showErrorMessage(msg);
    return;
  }
  // The server creates a progress token per run; follow it for the status bar item.
  c.onRequest(WorkDoneProgressCreateRequest.type, (params) => {
    trackProgress(c, params.token);
    return null;
  });
  runsView?.attach(c);
  // Trust granted later (the "Trust" banner) counts from then on, without a restart.
  context.subscriptions.push(
    vscode.workspace.onDidGrantWorkspaceTrust(() => void c.sendNotification(TRUST_NOTIFICATION, {})),
  );
  context.subscriptions.push({ dispose: () => void c.stop() });
}

function ensureStarted(context: vscode.ExtensionContext): Promise<void> {
  if (!starting) {
    starting = startClient(context).finally(() => {
      starting = undefined;
    });
  }
  return starting;
}

async function stopClient() {
  const c = client;
  client = undefined;
  for (const d of progressDisposables) d.dispose();
  progressDisposables = [];
  if (c && c.state !== State.Stopped) await c.stop();
}

function activeWorkflowEditor(): vscode.TextEditor | undefined {
  const ed = vscode.window.activeTextEditor;
  if (ed && isWorkflowPath(ed.document.uri.path)) return ed;
  void vscode.window.showWarningMessage("stepwise: open a workflow document (*.flow.yaml) first.");
  return undefined;
}

async function readyClient(context: vscode.ExtensionContext): Promise<LanguageClient | undefined> {
  await ensureStarted(context);
  return client;
}

let tokenCounter = 0;

/** Sends one of the server's commands with `{ uri }`, or `{ uri, position }` of the cursor for a
 * one-step command (the server decides which step is there); a progress token follows the run. */
async function execute(context: vscode.ExtensionContext, command: string, atCursor = false): Promise<unknown> {
  const ed = activeWorkflowEditor();
  if (!ed) return undefined;
  const c = await readyClient(context);
  if (!c) return undefined;
  if (!serverOffers(c.initializeResult?.capabilities, command)) {
    void vscode.window.showWarningMessage(
      `stepwise: this version of the language server does not offer ${command} yet. Update it with \`${INSTALL_HINT}\`.`,
    );
    return undefined;
  }
  const position = atCursor ? c.code2ProtocolConverter.asPosition(ed.selection.active) : undefined;
  if (ed.document.isDirty && config().get<boolean>("run.saveBeforeRun", true)) await ed.document.save();
  const uri = c.code2ProtocolConverter.asUri(ed.document.uri);
  const inputs: Record<string, string> = {};
  for (;;) {
    const workDoneToken = `stepwise-vscode-${process.pid}-${++tokenCounter}`;
    trackProgress(c, workDoneToken);
    try {
      return await c.sendRequest(ExecuteCommandRequest.type, {
        command,
        arguments: [commandArgument(uri, { position, inputs })],
        workDoneToken,
      });
    } catch (err) {
      const missing = missingInputs(err);
      if (missing.length === 0) {
        const msg = err instanceof Error ? err.message : String(err);
        void vscode.window.showErrorMessage(`stepwise: ${command} failed: ${msg}`);
        return undefined;
      }
      if (!(await askInputs(missing, inputs))) return undefined;
    } finally {
      progress.update(workDoneToken, { kind: "end" });
      renderStatus();
    }
  }
}

/** Asks for each required input a run was refused for (prefilled with the last run's value) into
 * `inputs`; false when the user dismisses one. */
async function askInputs(missing: MissingInput[], inputs: Record<string, string>): Promise<boolean> {
  for (const input of missing) {
    const value = await vscode.window.showInputBox({
      title: `stepwise: input \`${input.name}\``,
      prompt: input.description ?? `A value for the workflow's input \`${input.name}\``,
      value: input.lastValue ?? "",
      ignoreFocusOut: true,
    });
    if (value === undefined) return false;
    inputs[input.name] = value;
  }
  return true;
}

async function cancel(context: vscode.ExtensionContext) {
  const c = client;
  if (c) {
    // Cancel cancellable runs through their progress tokens, then ask the server to stop the run.
    for (const token of progress.tokens()) {
      if (progress.get(token)?.cancellable) {
        void c.sendNotification(WorkDoneProgressCancelNotification.type, { token });
      }
    }
  }
  await execute(context, SERVER_COMMANDS.cancel);
}

async function openOutput(context: vscode.ExtensionContext) {
  const result = await execute(context, SERVER_COMMANDS.openOutput, true);
  const ed = vscode.window.activeTextEditor;
  if (client && ed && runsView && (await runsView.showLive(client.code2ProtocolConverter.asUri(ed.document.uri), result))) return;
  const view = outputView(result);
  if (view.kind === "uri") {
    await vscode.window.showTextDocument(vscode.Uri.parse(view.uri), { preview: true, viewColumn: vscode.ViewColumn.Beside });
  } else if (view.kind === "text") {
    const doc = await vscode.workspace.openTextDocument({ content: view.text, language: "markdown" });
    await vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  } else if (view.kind === "message") {
    void vscode.window.showInformationMessage(view.text);
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("stepwise");
  statusItem = vscode.window.createStatusBarItem("stepwise.run", vscode.StatusBarAlignment.Left, 10);
  statusItem.name = "stepwise run";
  context.subscriptions.push(output, statusItem);

  runsView = registerRunsView(context, () => client);
  const reg = (id: string, fn: () => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  reg("stepwise.editor.runStep", () => execute(context, SERVER_COMMANDS.runStep, true));
  reg("stepwise.editor.runFrom", () => execute(context, SERVER_COMMANDS.runFrom, true));
  reg("stepwise.editor.runWorkflow", () => execute(context, SERVER_COMMANDS.runWorkflow));
  reg("stepwise.editor.resume", () => execute(context, SERVER_COMMANDS.resume));
  reg("stepwise.editor.cancel", () => cancel(context));
  reg("stepwise.editor.openOutput", () => openOutput(context));
  reg("stepwise.editor.showLog", () => output.show(true));
  preview = registerPreview(context, () => readyClient(context));
  registerCompare(context, () => readyClient(context));
  reg("stepwise.editor.restartServer", async () => {
    await stopClient();
    await ensureStarted(context);
    if (client) void vscode.window.setStatusBarMessage("stepwise: language server restarted", 3000);
  });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("stepwise.server") && client) {
        await stopClient();
        await ensureStarted(context);
      }
    }),
    // Started lazily: activation on a YAML file that is no workflow starts nothing.
    vscode.workspace.onDidOpenTextDocument((doc) => {
      if (isWorkflowPath(doc.uri.path)) void ensureStarted(context);
    }),
  );

  const hasWorkflowOpen = vscode.workspace.textDocuments.some((d) => isWorkflowPath(d.uri.path));
  const inStepwiseWorkspace =
    !hasWorkflowOpen &&
    (await vscode.workspace.findFiles("**/{*.flow.yaml,*.flow.yml,stepwise.toml}", "**/node_modules/**", 1)).length > 0;
  if (hasWorkflowOpen || inStepwiseWorkspace) await ensureStarted(context);
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
