/**
 * The Runs view: every run in the workspace's run registries, read from disk (so runs started from the CLI show
 * too), refreshed by a file watcher and, while runs are active or the view is open, a short poll.
 *
 * What is on disk is only shown. Whether a run may be cancelled or resumed comes from the server's
 * `tuneline.runs` answer (`startedHere`: this user created it on this machine) or from this window having
 * started it; everything else — a run that came with a cloned folder, any run in Restricted Mode — is read-only.
 */
import * as path from "path";
import * as vscode from "vscode";
import { describeRun, runDetails } from "./pure/format";
import { isActive, projectForRegistry, projectRoot, readRuns, registryRoot, runAccess, RunInfo, ServerVerdict, startedHereFolders } from "./pure/runs";
import { clientSetting } from "./server";

const POLL_MS = 2000;

/** `tuneline.training.runsDirectory` for a resource (relative to the project, or absolute; the user's own value
 * in Restricted Mode). */
export function runsDirectory(scope?: vscode.Uri): string {
  const value = clientSetting<string>("training.runsDirectory", scope);
  return typeof value === "string" && value.trim() ? value.trim() : ".tuneline/runs";
}

/** The registry that runs of `dataset` are written to (same rule as the training code). */
export async function registryFor(dataset: vscode.Uri): Promise<{ root: string; project: string }> {
  const project = await projectRoot(dataset.fsPath);
  return { root: registryRoot(project, runsDirectory(dataset)), project };
}

function signature(runs: RunInfo[]): string {
  return runs.map((r) => `${r.folder}:${r.status}:${r.updatedAt}:${r.step}:${r.costEstimateUsd}:${r.startedHere}:${r.origin}`).join("|");
}

/** A registry to ask the server about: its folder, and the project folder the server takes as `uri`. */
export interface RegistryQuery {
  root: string;
  project: string;
}

/** A row under a run: one fact about it. */
export interface RunDetail {
  run: RunInfo;
  label: string;
  value: string;
}

export type RunsNode = RunInfo | RunDetail;

function isDetail(node: RunsNode): node is RunDetail {
  return "run" in node;
}

export class RunsProvider implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private runs: RunInfo[] = [];
  private lastSignature = "";
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly finishedEmitter = new vscode.EventEmitter<RunInfo>();
  /** A run seen active in this session reached succeeded, failed or cancelled. */
  readonly onDidFinish = this.finishedEmitter.event;
  private watchers: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  view: vscode.TreeView<RunsNode> | undefined;

  constructor() {
    this.watch();
    this.timer = setInterval(() => {
      if (this.view?.visible || this.runs.some(isActive)) {
        void this.refresh();
      }
    }, POLL_MS);
  }

  /** Registry folder → its project folder (undefined: an absolute runs directory, asked through a workspace folder). */
  private roots = new Map<string, string | undefined>();
  private extraRoots = new Map<string, string>();
  /** Run folder → what the server said about it (`startedHere`, `origin`). */
  private serverSays = new Map<string, ServerVerdict>();
  /** Run folders this window started or resumed (the server returned their id). */
  private windowRuns = new Set<string>();
  /** Run folders already reported through onDidFindUnknownRuns. */
  private announced = new Set<string>();
  private readonly unknownEmitter = new vscode.EventEmitter<void>();
  /** Runs appeared on disk that the server has not been asked about (trusted workspaces only). */
  readonly onDidFindUnknownRuns = this.unknownEmitter.event;

  /**
   * Finds the registries to show — each workspace folder's project registry, any `.tuneline/runs` inside the
   * workspace, and those of datasets trained from this window — and watches them.
   */
  watch(): void {
    void this.findRoots().then((roots) => {
      this.roots = roots;
      this.watchers.forEach((w) => w.dispose());
      this.watchers = [];
      for (const root of roots.keys()) {
        const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(root), "*/run.json"));
        const poke = () => void this.refresh();
        watcher.onDidCreate(poke);
        watcher.onDidChange(poke);
        watcher.onDidDelete(poke);
        this.watchers.push(watcher);
      }
      void this.refresh();
    });
  }

  private async findRoots(): Promise<Map<string, string | undefined>> {
    const roots = new Map<string, string | undefined>(this.extraRoots);
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const dir = runsDirectory(folder.uri);
      const project = await projectRoot(folder.uri.fsPath);
      roots.set(registryRoot(project, dir), path.isAbsolute(dir) ? folder.uri.fsPath : project);
      if (!path.isAbsolute(dir)) {
        const pattern = new vscode.RelativePattern(folder, `**/${dir.replace(/\\/g, "/").replace(/^\.\//, "")}/*/run.json`);
        for (const file of await vscode.workspace.findFiles(pattern, "**/node_modules/**", 200)) {
          const root = path.dirname(path.dirname(file.fsPath));
          if (!roots.has(root)) {
            roots.set(root, projectForRegistry(root, dir));
          }
        }
      }
    }
    return roots;
  }

  /** Shows the registry of a dataset trained from this window, wherever its project is. */
  addRoot(root: string, project: string): void {
    if (!this.roots.has(root)) {
      this.extraRoots.set(root, project);
      this.watch();
    }
  }

  /** The registries whose runs the server can tell about (`tuneline.runs` with the project as `uri`). */
  get queries(): RegistryQuery[] {
    return [...this.roots].filter((e): e is [string, string] => e[1] !== undefined).map(([root, project]) => ({ root, project }));
  }

  /** The server's `tuneline.runs` answer for the registry `root`. */
  setServerAnswer(root: string, answer: unknown): void {
    const prefix = root.endsWith(path.sep) ? root : root + path.sep;
    for (const folder of [...this.serverSays.keys()]) {
      if (folder.startsWith(prefix)) {
        this.serverSays.delete(folder);
      }
    }
    for (const [folder, verdict] of startedHereFolders(root, answer)) {
      this.serverSays.set(folder, verdict);
    }
    void this.refresh();
  }

  /** A run this window started or resumed: it may be controlled from here even before the server is asked. */
  markStartedInWindow(folder: string): void {
    this.windowRuns.add(folder);
  }

  startedInWindow(run: RunInfo): boolean {
    return this.windowRuns.has(run.folder);
  }

  /** The project folder the server takes as `uri` for a run's registry (undefined: the server's default). */
  projectOf(run: RunInfo): string | undefined {
    return this.roots.get(path.dirname(run.folder));
  }

  startedHere(run: RunInfo): boolean {
    return this.serverSays.get(run.folder)?.startedHere === true || this.windowRuns.has(run.folder);
  }

  /** Trust was granted (or the server restarted): the tree re-renders its actions, and unknown runs are announced again. */
  reset(): void {
    this.announced.clear();
    this.lastSignature = "";
    this.watch();
  }

  get all(): readonly RunInfo[] {
    return this.runs;
  }

  find(runId: string): RunInfo | undefined {
    return this.runs.find((r) => r.id === runId);
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const lists = await Promise.all([...this.roots.keys()].map((root) => readRuns(root)));
    const runs = lists.flat().sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    for (const run of runs) {
      run.startedHere = this.startedHere(run);
      run.origin = run.startedHere ? undefined : this.serverSays.get(run.folder)?.origin;
    }
    const unknown = runs.filter((r) => !this.serverSays.has(r.folder) && !this.announced.has(r.folder));
    if (unknown.length > 0) {
      unknown.forEach((r) => this.announced.add(r.folder));
      this.unknownEmitter.fire();
    }
    const sig = signature(runs);
    if (sig === this.lastSignature) {
      return;
    }
    const before = new Map(this.runs.map((r) => [r.id, r]));
    this.runs = runs;
    this.lastSignature = sig;
    for (const run of runs) {
      const previous = before.get(run.id);
      if (previous && isActive(previous) && !isActive(run)) {
        this.finishedEmitter.fire(run);
      }
    }
    if (this.view) {
      const active = runs.filter((r) => isActive(r) && r.startedHere).length; // not a planted "running" run
      this.view.badge = active > 0 ? { value: active, tooltip: `${active} run${active === 1 ? "" : "s"} in progress` } : undefined;
    }
    this.changed.fire(undefined);
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (isDetail(node)) {
      const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
      item.id = `${node.run.id}/${node.label}`;
      item.description = node.value;
      item.tooltip = `${node.label}: ${node.value}`;
      item.contextValue = "detail";
      return item;
    }
    const run = node;
    const line = describeRun(run, runAccess(run, vscode.workspace.isTrusted));
    const item = new vscode.TreeItem(line.label, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = run.id;
    item.description = line.description;
    item.tooltip = line.tooltip;
    item.iconPath = new vscode.ThemeIcon(line.icon.id, line.icon.color ? new vscode.ThemeColor(line.icon.color) : undefined);
    item.contextValue = line.contextValue;
    item.command = { title: "Show Loss Chart", command: "tuneline.runs.showMetrics", arguments: [run] };
    return item;
  }

  getChildren(node?: RunsNode): RunsNode[] {
    if (!node) {
      return this.runs;
    }
    if (isDetail(node)) {
      return [];
    }
    const current = this.find(node.id) ?? node;
    return runDetails(current).map((d) => ({ run: current, ...d }));
  }

  getParent(node: RunsNode): RunsNode | undefined {
    return isDetail(node) ? node.run : undefined;
  }

  dispose(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
    this.watchers.forEach((w) => w.dispose());
    this.changed.dispose();
    this.finishedEmitter.dispose();
    this.unknownEmitter.dispose();
  }
}
