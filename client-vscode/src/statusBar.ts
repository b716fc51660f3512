/**
 * The status bar summary of the active dataset: `N ex · T tok · ≈ $X`; a click shows `tuneline.stats`. Beside it,
 * the target the file is checked for (`→ together · Llama-3.1-8B`); a click runs "Select Target". Token counts
 * that are estimates (the target's tokenizer is not available) read `≈ T tok`.
 *
 * The numbers come from the server's `tuneline/summary` request; a server without it is asked for the line-1
 * code lens instead, whose title carries the same numbers.
 */
import * as vscode from "vscode";
import { CodeLensRequest, ResponseError } from "vscode-languageclient/node";
import { DatasetSummary, parseLensTitle, parseSummary, statusBarText, statusBarTooltip } from "./pure/format";
import { markEstimate, parseTarget, parseTokensExact, Target, targetText, targetTooltip } from "./pure/target";
import { ServerManager } from "./server";

const METHOD_NOT_FOUND = -32601;
export const SUMMARY_REQUEST = "tuneline/summary";

export class DatasetStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly targetItem: vscode.StatusBarItem;
  /** From the last `tuneline/summary` answer: the target and whether its token counts are exact. */
  private target: { target?: Target; exact: boolean } = { exact: true };
  private readonly subscriptions: vscode.Disposable[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private summaryRequest = true;
  private generation = 0;

  constructor(private readonly server: ServerManager) {
    this.item = vscode.window.createStatusBarItem("tuneline.summary", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "tuneline dataset summary";
    this.item.command = "tuneline.showStats";
    this.targetItem = vscode.window.createStatusBarItem("tuneline.target", vscode.StatusBarAlignment.Right, 99);
    this.targetItem.name = "tuneline target";
    this.targetItem.command = "tuneline.selectTarget";
    this.subscriptions.push(
      vscode.window.onDidChangeActiveTextEditor(() => this.schedule(0)),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document === vscode.window.activeTextEditor?.document) {
          this.schedule(800);
        }
      }),
      vscode.languages.onDidChangeDiagnostics((e) => {
        const active = vscode.window.activeTextEditor?.document.uri.toString();
        if (active && e.uris.some((u) => u.toString() === active)) {
          this.schedule(100);
        }
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("tuneline")) {
          this.schedule(1500);
        }
      }),
      server.onDidChangeClient(() => {
        this.summaryRequest = true;
        this.schedule(500);
      }),
    );
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.debounce) {
      clearTimeout(this.debounce);
    }
    this.debounce = setTimeout(() => void this.update(), delay);
  }

  private async summary(uri: string): Promise<DatasetSummary | undefined> {
    const client = this.server.current;
    if (!client) {
      return undefined;
    }
    this.target = { exact: true };
    if (this.summaryRequest) {
      try {
        const answer = await client.sendRequest(SUMMARY_REQUEST, { uri });
        this.target = { target: parseTarget((answer as { target?: unknown } | null)?.target), exact: parseTokensExact(answer) };
        return parseSummary(answer);
      } catch (err) {
        if (!(err instanceof ResponseError && err.code === METHOD_NOT_FOUND)) {
          throw err;
        }
        this.summaryRequest = false;
        this.server.log.info(`The server has no ${SUMMARY_REQUEST} request; the status bar reads the code lens instead.`);
      }
    }
    const lenses = await client.sendRequest(CodeLensRequest.type, { textDocument: { uri } });
    for (const lens of lenses ?? []) {
      const parsed = lens.command ? parseLensTitle(lens.command.title) : undefined;
      if (parsed) {
        return parsed;
      }
    }
    return undefined;
  }

  private async update(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document.languageId !== "jsonl") {
      this.item.hide();
      this.targetItem.hide();
      return;
    }
    const generation = ++this.generation;
    let summary: DatasetSummary | undefined;
    try {
      summary = await this.summary(editor.document.uri.toString());
    } catch (err) {
      this.server.log.warn(`Dataset summary: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (generation !== this.generation) {
      return; // a newer update is on its way
    }
    if (!summary) {
      this.item.text = "$(database) tuneline";
      this.item.tooltip = this.server.current ? "Analysing…" : "The tuneline language server is not running";
    } else {
      this.item.text = `$(database) ${markEstimate(statusBarText(summary), this.target.exact)}`;
      this.item.tooltip = statusBarTooltip(summary) + (this.target.exact ? "" : "\n≈: token counts are estimates for this target");
    }
    this.item.show();
    const target = summary ? this.target.target : undefined;
    if (target) {
      this.targetItem.text = targetText(target);
      this.targetItem.tooltip = targetTooltip(target, this.target.exact);
      this.targetItem.show();
    } else {
      this.targetItem.hide();
    }
  }

  dispose(): void {
    if (this.debounce) {
      clearTimeout(this.debounce);
    }
    this.subscriptions.forEach((s) => s.dispose());
    this.item.dispose();
    this.targetItem.dispose();
  }
}
