/**
 * "Ask the tuned model" (docs/eval.md): the server puts the lens on each example of a held-out file of a finished
 * run started here; clicking it sends that example's prompt to the tuned model once (`tuneline.askTuned`, with
 * `show: false` so the server does not also show a message) and this module shows the answer next to the reference
 * in a side panel. The panel runs no script and loads nothing: every value is escaped here.
 */
import * as vscode from "vscode";

interface ToolCall {
  name?: string;
  arguments?: unknown;
}

interface AskResult {
  ok?: boolean;
  refused?: string;
  run?: string;
  model?: string;
  line?: number;
  prompt?: { role?: string; content?: unknown }[];
  reference?: string;
  referenceToolCalls?: ToolCall[];
  answer?: string | null;
  toolCalls?: ToolCall[];
  completionTokens?: number | null;
  seconds?: number | null;
  error?: string | null;
}

export interface AskTunedDeps {
  /** `workspace/executeCommand` on the server. */
  executeCommand<T>(command: string, args: unknown[]): Promise<T>;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

function withCalls(text: string | null | undefined, calls: ToolCall[] | undefined): string {
  const parts = [text ?? ""];
  for (const call of calls ?? []) {
    parts.push(`calls ${call.name ?? "?"} with ${JSON.stringify(call.arguments)}`);
  }
  return parts.filter((p) => p).join("\n");
}

function lastUser(result: AskResult): string {
  const turn = [...(result.prompt ?? [])].reverse().find((m) => m.role === "user");
  return typeof turn?.content === "string" ? turn.content : JSON.stringify(turn?.content ?? "");
}

export function askPage(result: AskResult): string {
  const tuned = result.error ? `No answer: ${result.error}` : withCalls(result.answer, result.toolCalls);
  const same = !result.error && tuned.trim() === withCalls(result.reference, result.referenceToolCalls).trim();
  const facts = [result.completionTokens != null ? `${result.completionTokens} tokens` : "", result.seconds != null ? `${result.seconds} s` : ""].filter((f) => f);
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:var(--vscode-font-family);padding:0 12px}pre{white-space:pre-wrap;padding:8px;background:var(--vscode-textCodeBlock-background)}.cols{display:grid;grid-template-columns:1fr 1fr;gap:12px}.verdict{font-weight:bold}</style>
</head><body>
<h3>Line ${escape(String(result.line ?? ""))} · ${escape(result.model ?? "")}</h3>
<p>Run ${escape(result.run ?? "")}${facts.length ? ` · ${escape(facts.join(", "))}` : ""}</p>
<h4>Prompt (last user turn)</h4><pre class="prompt">${escape(lastUser(result))}</pre>
<div class="cols"><div><h4>Reference</h4><pre class="reference">${escape(withCalls(result.reference, result.referenceToolCalls))}</pre></div>
<div><h4>Tuned model</h4><pre class="tuned">${escape(tuned)}</pre></div></div>
<p class="verdict">${result.error ? "The tuned model gave no answer." : same ? "Same as the reference." : "Differs from the reference."}</p>
</body></html>`;
}

let panel: vscode.WebviewPanel | undefined;

export function registerAskTuned(register: (id: string, fn: (...args: unknown[]) => unknown) => void, deps: AskTunedDeps): void {
  register("tuneline.askTunedModel", async (arg) => {
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showWarningMessage("tuneline: asking the tuned model is off in Restricted Mode. Trust this folder first.");
      return;
    }
    const options = { ...(arg && typeof arg === "object" ? (arg as object) : {}), show: false };
    try {
      const result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Asking the tuned model…" },
        () => deps.executeCommand<AskResult>("tuneline.askTuned", [options]),
      );
      if (!result || result.refused) {
        void vscode.window.showErrorMessage(`Ask the tuned model: ${result?.refused ?? "the server returned nothing"}`);
        return;
      }
      if (!panel) {
        panel = vscode.window.createWebviewPanel("tuneline.askTuned", "Tuned model", { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
          enableScripts: false,
          localResourceRoots: [],
        });
        panel.onDidDispose(() => (panel = undefined));
      }
      panel.title = `Tuned model: line ${result.line ?? "?"}`;
      panel.webview.html = askPage(result);
      panel.reveal(vscode.ViewColumn.Beside, true);
    } catch (err) {
      void vscode.window.showErrorMessage(`Ask the tuned model: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
}
