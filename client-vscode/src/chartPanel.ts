/**
 * A webview per run plotting training and eval loss as `metrics.jsonl` grows. The extension tails the file and
 * sends a ready-made SVG (pure/chart.ts); the page only swaps it in.
 */
import { randomBytes } from "crypto";
import * as path from "path";
import * as vscode from "vscode";
import { renderLossChart } from "./pure/chart";
import { describeRun, formatTokens } from "./pure/format";
import { isActive, MetricPoint, MetricsTail, RunInfo } from "./pure/runs";

const WIDTH = 800;
const HEIGHT = 380;

function escapeHtml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

class ChartPanel implements vscode.Disposable {
  private readonly tail = new MetricsTail();
  private points: MetricPoint[] = [];
  private timer: NodeJS.Timeout;
  private watcher: vscode.FileSystemWatcher;
  private disposed = false;

  constructor(
    readonly panel: vscode.WebviewPanel,
    private run: RunInfo,
    private readonly lookup: (id: string) => RunInfo | undefined,
    onDispose: () => void,
  ) {
    const nonce = randomBytes(16).toString("base64");
    panel.webview.html = this.html(nonce);
    this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(run.folder), "metrics.jsonl"));
    this.watcher.onDidChange(() => void this.update());
    this.watcher.onDidCreate(() => void this.update());
    this.timer = setInterval(() => {
      if (this.panel.visible) {
        void this.update();
      }
    }, 1000);
    panel.onDidDispose(() => {
      this.dispose();
      onDispose();
    });
    // A hidden webview is reloaded from its initial HTML: it says when it is ready for the current data.
    panel.webview.onDidReceiveMessage((msg: { type?: string }) => {
      if (msg?.type === "ready") {
        void this.update(true);
      }
    });
    void this.update(true);
  }

  private get metricsFile(): string {
    return path.join(this.run.folder, "metrics.jsonl");
  }

  private header(): string {
    const line = describeRun(this.run);
    const last = this.points[this.points.length - 1];
    const facts = [
      line.description,
      last?.learningRate !== undefined ? `lr ${last.learningRate.toExponential(2)}` : "",
      last?.tokensPerSecond !== undefined ? `${formatTokens(last.tokensPerSecond)} tok/s` : "",
      `${this.points.length} metric point${this.points.length === 1 ? "" : "s"}`,
    ].filter((f) => f.length > 0);
    return `<h2>${escapeHtml(this.run.model)} <span class="id">${escapeHtml(this.run.id)}</span></h2><p>${escapeHtml(facts.join(" · "))}</p>${
      this.run.error ? `<p class="error">${escapeHtml(this.run.error)}</p>` : ""
    }`;
  }

  /** Reads what was appended to metrics.jsonl and redraws when something changed (or when forced). */
  async update(force = false): Promise<void> {
    if (this.disposed) {
      return;
    }
    const fresh = this.lookup(this.run.id);
    const runChanged = fresh !== undefined && (fresh.status !== this.run.status || fresh.updatedAt !== this.run.updatedAt);
    if (fresh) {
      this.run = fresh;
    }
    const { points, restarted } = await this.tail.readFrom(this.metricsFile);
    if (restarted) {
      this.points = [];
    }
    if (points.length === 0 && !restarted && !runChanged && !force) {
      return;
    }
    this.points.push(...points);
    this.panel.title = `Loss · ${this.run.model}${isActive(this.run) ? " (live)" : ""}`;
    void this.panel.webview.postMessage({
      type: "update",
      svg: renderLossChart(this.points, { width: WIDTH, height: HEIGHT }),
      header: this.header(),
    });
  }

  private html(nonce: string): string {
    const csp = [
      "default-src 'none'",
      `style-src ${this.panel.webview.cspSource} 'nonce-${nonce}'`,
      `script-src 'nonce-${nonce}'`,
    ].join("; ");
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 8px 16px; }
  h2 { font-weight: 600; margin: 8px 0 2px; }
  h2 .id { font-weight: normal; font-size: 0.8em; color: var(--vscode-descriptionForeground); }
  p { margin: 2px 0 8px; color: var(--vscode-descriptionForeground); }
  p.error { color: var(--vscode-errorForeground); }
  #chart svg { width: 100%; max-width: ${WIDTH * 1.5}px; height: auto; }
  .grid { stroke: var(--vscode-editorWidget-border, #8884); stroke-width: 1; stroke-dasharray: 2 3; }
  .axis, .axis-tick { stroke: var(--vscode-foreground); stroke-opacity: 0.6; }
  .tick, .label, .legend, .empty { fill: var(--vscode-foreground); font-size: 12px; }
  .label { fill-opacity: 0.8; }
  .train { stroke: var(--vscode-charts-blue, #3794ff); stroke-width: 2; }
  .eval { stroke: var(--vscode-charts-orange, #d18616); stroke-width: 2; }
  .eval-dot { fill: var(--vscode-charts-orange, #d18616); }
  .train-key { fill: var(--vscode-charts-blue, #3794ff); }
  .eval-key { fill: var(--vscode-charts-orange, #d18616); }
</style>
</head>
<body>
<div id="header">${this.header()}</div>
<div id="chart">${renderLossChart(this.points, { width: WIDTH, height: HEIGHT })}</div>
<script nonce="${nonce}">
  const header = document.getElementById("header");
  const chart = document.getElementById("chart");
  const vscodeApi = acquireVsCodeApi();
  window.addEventListener("message", (event) => {
    const msg = event.data;
    if (msg && msg.type === "update") {
      header.innerHTML = msg.header;
      chart.innerHTML = msg.svg;
    }
  });
  vscodeApi.postMessage({ type: "ready" });
</script>
</body>
</html>`;
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    clearInterval(this.timer);
    this.watcher.dispose();
  }
}

export class ChartPanels implements vscode.Disposable {
  private readonly panels = new Map<string, ChartPanel>();

  constructor(private readonly lookup: (id: string) => RunInfo | undefined) {}

  show(run: RunInfo): void {
    const existing = this.panels.get(run.id);
    if (existing) {
      existing.panel.reveal();
      return;
    }
    const panel = vscode.window.createWebviewPanel("tuneline.lossChart", `Loss · ${run.model}`, vscode.ViewColumn.Active, {
      enableScripts: true,
      localResourceRoots: [],
      retainContextWhenHidden: false,
    });
    this.panels.set(run.id, new ChartPanel(panel, run, this.lookup, () => this.panels.delete(run.id)));
  }

  dispose(): void {
    for (const chart of this.panels.values()) {
      chart.panel.dispose();
    }
    this.panels.clear();
  }
}
