/** Entry point: wires the server, the commands, the runs view, the loss charts and the status bar together. */
import * as path from "path";
import * as vscode from "vscode";
import type { Middleware } from "vscode-languageclient/node";
import { ChartPanels } from "./chartPanel";
import { registerAskTuned } from "./askTuned";
import { registerEvaluation } from "./evaluate";
import { ApiKeys, KEYS } from "./keys";
import { RunInfo } from "./pure/runs";
import { changeImpact } from "./pure/settings";
import { onPythonInterpreterChanged } from "./python";
import { registryFor, RunsProvider } from "./runsView";
import { SECTION, ServerManager } from "./server";
import { DatasetStatusBar } from "./statusBar";
import { selectTarget } from "./targetPick";
import { targetUri, trainOnFile } from "./train";

const STATS_SCHEME = "tuneline-stats";

/** Server commands in code lenses → this extension's commands (the train flow, the stats preview). */
const LENS_COMMANDS: Record<string, { command: string; tooltip: string }> = {
  "tuneline.train": { command: "tuneline.trainOnFile", tooltip: "Choose a backend and a model, see the cost, then confirm" },
  "tuneline.stats": { command: "tuneline.showStats", tooltip: "Show the dataset's statistics" },
  "tuneline.askTuned": { command: "tuneline.askTunedModel", tooltip: "Send this example's prompt to the tuned model once and show its answer beside the reference" },
};

function rewriteLens(lens: vscode.CodeLens): vscode.CodeLens {
  const target = lens.command && LENS_COMMANDS[lens.command.command];
  if (lens.command && target) {
    lens.command = { title: lens.command.title, command: target.command, tooltip: target.tooltip, arguments: lens.command.arguments };
  }
  return lens;
}

/** In Restricted Mode training is off: the server's "Train on this file…" lens is not shown. */
function allowedLens(lens: vscode.CodeLens): boolean {
  return vscode.workspace.isTrusted || lens.command?.command !== "tuneline.trainOnFile";
}

const middleware: Middleware = {
  provideCodeLenses: async (document, token, next) => (await next(document, token))?.map(rewriteLens).filter(allowedLens),
  resolveCodeLens: async (lens, token, next) => {
    const resolved = await next(lens, token);
    return resolved ? rewriteLens(resolved) : resolved;
  },
};

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export const RESTRICTED_MESSAGE = "tuneline: training and run control are off in Restricted Mode. Trust this folder to train, cancel or resume runs.";

/** In Restricted Mode: says why a training or run-control command does nothing, with a way to trust the folder. */
export function refuseUntrusted(): boolean {
  if (vscode.workspace.isTrusted) {
    return false;
  }
  void vscode.window.showWarningMessage(RESTRICTED_MESSAGE, "Manage Workspace Trust").then((pick) => {
    if (pick) {
      void vscode.commands.executeCommand("workbench.trust.manage");
    }
  });
  return true;
}

let activeServer: ServerManager | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const keys = new ApiKeys(context.secrets);
  const server = new ServerManager(context, keys, middleware);
  activeServer = server;
  const runs = new RunsProvider();
  const view = vscode.window.createTreeView("tuneline.runs", { treeDataProvider: runs });
  runs.view = view;
  const charts = new ChartPanels((id) => runs.find(id));
  const statusBar = new DatasetStatusBar(server);
  context.subscriptions.push(server, runs, view, charts, statusBar, server.log);

  let restartTimer: NodeJS.Timeout | undefined;
  const scheduleRestart = (reason: string) => {
    if (restartTimer) {
      clearTimeout(restartTimer);
    }
    restartTimer = setTimeout(() => void server.restart(reason), 300);
  };

  const runFor = (arg: unknown): RunInfo | undefined => {
    if (arg && typeof arg === "object" && "folder" in arg) {
      // Only a run the view itself read: an argument cannot bring its own `startedHere`.
      return runs.all.find((r) => r.folder === (arg as { folder: unknown }).folder);
    }
    const selected = view.selection[0];
    const run = selected && "run" in selected ? selected.run : selected;
    return typeof arg === "string" ? runs.find(arg) : run;
  };

  /** A run started or resumed from this window (the server follows it and reports its end itself). */
  const revealRun = async (runId: string, root: string | undefined) => {
    if (root) {
      runs.markStartedInWindow(path.join(root, runId));
    }
    await vscode.commands.executeCommand("tuneline.runs.focus");
    for (let i = 0; i < 20 && !runs.find(runId); i++) {
      await runs.refresh();
      await new Promise((r) => setTimeout(r, 500));
    }
    const run = runs.find(runId);
    if (run) {
      await view.reveal(run, { select: true, focus: false });
    }
  };

  // Dataset statistics as a markdown preview of a read-only virtual document.
  const statsChanged = new vscode.EventEmitter<vscode.Uri>();
  context.subscriptions.push(
    statsChanged,
    vscode.workspace.registerTextDocumentContentProvider(STATS_SCHEME, {
      onDidChange: statsChanged.event,
      provideTextDocumentContent: async (uri) => {
        try {
          const markdown = await server.executeCommand<string>("tuneline.stats", [decodeURIComponent(uri.query)]);
          return typeof markdown === "string" ? markdown : "No statistics: the server returned nothing.";
        } catch (err) {
          return `Statistics are not available: ${errorText(err)}`;
        }
      },
    }),
  );

  const register = (id: string, fn: (...args: unknown[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  register("tuneline.trainOnFile", (arg) => {
    if (refuseUntrusted()) {
      return;
    }
    return trainOnFile(arg, {
      server,
      keys,
      restartServer: scheduleRestart,
      runsRootFor: async (uri) => {
        const { root, project } = await registryFor(uri);
        runs.addRoot(root, project);
        return root;
      },
      revealRun: (id, root) => void revealRun(id, root),
      showChart: (id) => {
        const run = runs.find(id);
        if (run) {
          charts.show(run);
        }
      },
    });
  });

  register("tuneline.selectTarget", (arg) => selectTarget(server, arg));

  register("tuneline.showStats", async (arg) => {
    const uri = targetUri(arg);
    if (!uri) {
      void vscode.window.showWarningMessage("Open a .jsonl dataset to see its statistics.");
      return;
    }
    const statsUri = vscode.Uri.from({
      scheme: STATS_SCHEME,
      path: `/${path.basename(uri.path)} statistics.md`,
      query: encodeURIComponent(uri.toString()),
    });
    statsChanged.fire(statsUri);
    try {
      await vscode.commands.executeCommand("markdown.showPreview", statsUri);
    } catch {
      await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(statsUri), { preview: true });
    }
  });

  register("tuneline.fixAllInFile", async (arg) => {
    const uri = targetUri(arg);
    if (!uri) {
      return;
    }
    try {
      const count = await server.executeCommand<number>("tuneline.fixAll", [uri.toString()]);
      void vscode.window.showInformationMessage(count ? `Applied ${count} safe fix${count === 1 ? "" : "es"}.` : "No safe fixes to apply.");
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not apply fixes: ${errorText(err)}`);
    }
  });

  for (const [backend, spec] of Object.entries(KEYS) as [keyof typeof KEYS, (typeof KEYS)[keyof typeof KEYS]][]) {
    register(spec.command, async () => {
      if (await keys.prompt(backend)) {
        void vscode.window.showInformationMessage(`${spec.provider} API key stored in VS Code's secret storage; the server restarts to pass it to training runs.`);
        scheduleRestart(`${spec.provider} API key set`);
      }
    });
  }
  register("tuneline.clearKeys", async () => {
    const removed = await keys.clear();
    void vscode.window.showInformationMessage(removed ? `Removed ${removed} stored API key${removed === 1 ? "" : "s"}.` : "No API keys were stored.");
    if (removed) {
      scheduleRestart("API keys removed");
    }
  });
  context.subscriptions.push(keys.onDidChange(() => scheduleRestart("API keys changed")));

  register("tuneline.restartServer", () => server.restart("requested by the user"));
  register("tuneline.showLogs", () => server.log.show());

  /**
   * Asks the server about every registry (`tuneline.runs`): which runs this user started on this machine. Never in
   * Restricted Mode — the call also lets the server pick up unfinished runs of this user whose worker died.
   */
  let syncing: Promise<void> | undefined;
  const syncRuns = (): Promise<void> => {
    if (!vscode.workspace.isTrusted || !server.current || !server.info?.trusted) {
      return runs.refresh(); // no server, or one started in Restricted Mode (a restart after trust follows)
    }
    syncing ??= (async () => {
      for (const { root, project } of runs.queries) {
        try {
          runs.setServerAnswer(root, await server.executeCommand("tuneline.runs", [{ uri: vscode.Uri.file(project).toString() }]));
        } catch (err) {
          server.log.warn(`Listing runs of ${root}: ${errorText(err)}`);
        }
      }
      await runs.refresh();
    })().finally(() => (syncing = undefined));
    return syncing;
  };

  /** Cancel and Resume act only on runs the server reports as this user's (or this window's), and never in Restricted Mode. */
  const controllable = (run: RunInfo, verb: string): boolean => {
    if (refuseUntrusted()) {
      return false;
    }
    if (!runs.startedHere(run)) {
      void vscode.window.showWarningMessage(
        `Run ${run.id} was not started here (it was found on disk, not created by you on this machine), so tuneline does not ${verb} it.`,
      );
      return false;
    }
    return true;
  };
  const runArgument = (run: RunInfo) => {
    const project = runs.projectOf(run);
    return project ? { runId: run.id, uri: vscode.Uri.file(project).toString() } : run.id;
  };

  registerEvaluation(register, { executeCommand: (command, args) => server.executeCommand(command, args), runFor, argumentFor: (run, verb) => (controllable(run, verb) ? runArgument(run) : undefined) });
  registerAskTuned(register, { executeCommand: (command, args) => server.executeCommand(command, args) });
  register("tuneline.runs.refresh", () => syncRuns());
  register("tuneline.runs.openFolder", async (arg) => {
    const run = runFor(arg);
    if (!run) {
      return;
    }
    const folderUri = vscode.Uri.file(run.folder);
    if (vscode.workspace.getWorkspaceFolder(folderUri)) {
      await vscode.commands.executeCommand("revealInExplorer", folderUri);
      await vscode.window.showTextDocument(vscode.Uri.file(path.join(run.folder, "run.json")), { preview: true });
    } else {
      await vscode.commands.executeCommand("revealFileInOS", folderUri);
    }
  });
  register("tuneline.runs.showMetrics", (arg) => {
    const run = runFor(arg);
    if (run) {
      charts.show(run);
    }
  });
  register("tuneline.runs.cancel", async (arg) => {
    const run = runFor(arg);
    if (!run || !controllable(run, "cancel")) {
      return;
    }
    const hosted = run.backend !== "local";
    const answer = await vscode.window.showWarningMessage(
      `Cancel the ${run.model} run?`,
      { modal: true, detail: hosted ? "The job is cancelled at the provider; time already trained may still be billed." : "The local training process is stopped." },
      "Cancel Run",
    );
    if (answer !== "Cancel Run") {
      return;
    }
    try {
      const result = await server.executeCommand<{ status?: string }>("tuneline.cancelRun", [runArgument(run)]);
      void vscode.window.showInformationMessage(`Run ${run.id}: ${result?.status ?? "cancel requested"}.`);
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not cancel the run: ${errorText(err)}`);
    }
    await runs.refresh();
  });
  register("tuneline.runs.resume", async (arg) => {
    const run = runFor(arg);
    if (!run || !controllable(run, "resume")) {
      return;
    }
    try {
      const result = await server.executeCommand<{ runId?: string }>("tuneline.resumeRun", [runArgument(run)]);
      void vscode.window.showInformationMessage(`Resumed as run ${result?.runId ?? run.id}.`);
      if (result?.runId) {
        void revealRun(result.runId, path.dirname(run.folder));
      }
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not resume the run: ${errorText(err)}`);
    }
  });

  context.subscriptions.push(
    runs.onDidFinish((run) => {
      if (runs.startedInWindow(run) || !run.startedHere) {
        return; // the server that started it reports how it ended; runs from elsewhere are only shown
      }
      const done = run.status === "succeeded";
      const text = done
        ? `Training finished: ${run.resultModel ?? run.model}.`
        : `Training ${run.status}: ${run.model}${run.error ? ` — ${run.error}` : "."}`;
      const show = done ? vscode.window.showInformationMessage : vscode.window.showWarningMessage;
      void show(text, "Show Loss Chart").then((pick) => pick && charts.show(run));
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      const impact = changeImpact((section) => event.affectsConfiguration(section));
      if (impact === "restart") {
        scheduleRestart("interpreter settings changed");
      } else if (impact === "push") {
        server.pushSettings();
      }
      if (event.affectsConfiguration(`${SECTION}.training.runsDirectory`)) {
        runs.watch();
      }
    }),
    vscode.workspace.onDidChangeWorkspaceFolders(() => runs.watch()),
    // Asking the server for the runs tells which are this user's, and makes it pick up this user's unfinished runs
    // whose worker died (docs/training.md). Not in Restricted Mode: there the view stays read-only.
    server.onDidChangeClient((client) => {
      if (client && vscode.workspace.isTrusted) {
        void syncRuns();
      }
    }),
    runs.onDidFindUnknownRuns(() => {
      if (vscode.workspace.isTrusted) {
        void syncRuns();
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      // The server restarts with the folder's settings and API keys; the view gets its actions (docs/security.md).
      runs.reset();
      scheduleRestart("workspace trusted");
    }),
    await onPythonInterpreterChanged(() => {
      if (!vscode.workspace.getConfiguration(SECTION).get<string>("interpreter")) {
        scheduleRestart("the Python extension's interpreter changed");
      }
    }),
  );

  void server.start();
}

export function deactivate(): Promise<void> | undefined {
  return activeServer?.stop();
}
