/**
 * The Runs view: every run in the workspace's run registries, read from disk (so runs started from the CLI show
 * too), refreshed by a file watcher and, while runs are active or the view is open, a short poll.
 */
import * as path from "path";
import * as vscode from "vscode";
import { describeRun, runDetails } from "./pure/format";
import { isActive, projectRoot, readRuns, registryRoot, RunInfo } from "./pure/runs";
import { trainingDefaults } from "./pure/settings";
import { SECTION } from "./server";

const POLL_MS = 2000;

/** `tuneline.training.runsDirectory` for a resource (relative to the project, or absolute). */
export function runsDirectory(scope?: vscode.Uri): string {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  return trainingDefaults((k) => config.get(k)).runsDirectory;
}

/** The registry that runs of `dataset` are written to (same rule as the training code). */
export async function registryFor(dataset: vscode.Uri): Promise<string> {
  return registryRoot(await projectRoot(dataset.fsPath), runsDirectory(dataset));
}

function signature(runs: RunInfo[]): string {
  return runs.map((r) => `${r.id}:${r.status}:${r.updatedAt}:${r.step}:${r.costEstimateUsd}`).join("|");
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

  private roots = new Set<string>();
  private extraRoots = new Set<string>();

  /**
   * Finds the registries to show — each workspace folder's project registry, any `.tuneline/runs` inside the
   * workspace, and those of datasets trained from this window — and watches them.
   */
  watch(): void {
    void this.findRoots().then((roots) => {
      this.roots = roots;
      this.watchers.forEach((w) => w.dispose());
      this.watchers = [];
      for (const root of roots) {
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

  private async findRoots(): Promise<Set<string>> {
    const roots = new Set<string>(this.extraRoots);
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const dir = runsDirectory(folder.uri);
      roots.add(registryRoot(await projectRoot(folder.uri.fsPath), dir));
      if (!path.isAbsolute(dir)) {
        const pattern = new vscode.RelativePattern(folder, `**/${dir.replace(/\\/g, "/").replace(/^\.\//, "")}/*/run.json`);
        for (const file of await vscode.workspace.findFiles(pattern, "**/node_modules/**", 200)) {
          roots.add(path.dirname(path.dirname(file.fsPath)));
        }
      }
    }
    return roots;
  }

  /** Shows the registry of a dataset trained from this window, wherever its project is. */
  addRoot(root: string): void {
    if (!this.roots.has(root)) {
      this.extraRoots.add(root);
      this.watch();
    }
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
    const lists = await Promise.all([...this.roots].map((root) => readRuns(root)));
    const runs = lists.flat().sort((a, b) => b.createdAt.localeCompare(a.createdAt));
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
      const active = runs.filter(isActive).length;
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
    const line = describeRun(run);
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
  }
}
