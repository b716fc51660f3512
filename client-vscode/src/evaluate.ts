/**
 * "Evaluate This Run" and "Show Evaluation Report" in the Runs view (docs/eval.md). The server does the work:
 * `tuneline.evaluate` plans, asks with the cost in the question, runs the evaluation in its own process with
 * work-done progress and returns the HTML report; `tuneline.evalReport` returns the newest stored one. This module
 * only shows the page: a webview with scripts limited by the page's own content security policy (its one inline
 * script carries a nonce; everything the models and the data wrote is escaped on the server) and no local resources.
 */
import * as vscode from "vscode";
import type { RunInfo } from "./pure/runs";

interface EvalResult {
  ok?: boolean;
  eval?: string;
  html?: string;
  refused?: string;
}

export interface EvaluationDeps {
  /** `workspace/executeCommand` on the server. */
  executeCommand<T>(command: string, args: unknown[]): Promise<T>;
  /** The run a command was invoked on (the view's own record of it). */
  runFor(arg: unknown): RunInfo | undefined;
  /** The server argument for a run this user may act on, or undefined (the reason was shown). */
  argumentFor(run: RunInfo, verb: string): unknown;
}

const panels = new Map<string, vscode.WebviewPanel>();

function show(run: RunInfo, result: EvalResult): void {
  if (!result.html) {
    return;
  }
  let panel = panels.get(run.id);
  if (!panel) {
    panel = vscode.window.createWebviewPanel("tuneline.evaluation", `Evaluation: ${run.id}`, vscode.ViewColumn.Active, {
      enableScripts: true, // the report's "tuned worse than base" filter; its CSP admits only its own nonce'd script
      localResourceRoots: [],
    });
    panels.set(run.id, panel);
    panel.onDidDispose(() => panels.delete(run.id));
  }
  panel.webview.html = result.html;
  panel.reveal();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function registerEvaluation(register: (id: string, fn: (...args: unknown[]) => unknown) => void, deps: EvaluationDeps): void {
  register("tuneline.runs.evaluate", async (arg) => {
    const run = deps.runFor(arg);
    if (!run) {
      return;
    }
    if (run.status !== "succeeded") {
      void vscode.window.showWarningMessage(`Run ${run.id} is ${run.status}: evaluate it once it has succeeded.`);
      return;
    }
    const argument = deps.argumentFor(run, "evaluate");
    if (argument === undefined) {
      return;
    }
    const options = typeof argument === "string" ? { runId: argument } : (argument as object);
    try {
      // The server asks before anything costs money, reports progress, and shows refusals itself.
      const result = await deps.executeCommand<EvalResult | null>("tuneline.evaluate", [options]);
      if (result?.ok) {
        show(run, result);
      }
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not evaluate the run: ${errorText(err)}`);
    }
  });

  register("tuneline.runs.showEvaluation", async (arg) => {
    const run = deps.runFor(arg);
    if (!run) {
      return;
    }
    const argument = deps.argumentFor(run, "show the evaluation of");
    if (argument === undefined) {
      return;
    }
    const options = typeof argument === "string" ? { runId: argument } : (argument as object);
    try {
      const result = await deps.executeCommand<EvalResult>("tuneline.evalReport", [options]);
      if (result?.ok) {
        show(run, result);
      } else {
        const pick = await vscode.window.showInformationMessage(result?.refused ?? "No evaluation of this run yet.", "Evaluate This Run");
        if (pick) {
          await vscode.commands.executeCommand("tuneline.runs.evaluate", run);
        }
      }
    } catch (err) {
      void vscode.window.showErrorMessage(`Could not show the evaluation: ${errorText(err)}`);
    }
  });
}
