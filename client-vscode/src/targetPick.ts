/**
 * "tuneline: Select Target": a QuickPick of the providers and models the server knows (`tuneline.targets`), which
 * writes `tuneline.target` to the workspace settings, so every file in the workspace is checked, counted and priced
 * for that platform and "Train on this file" preselects it. The server re-lints on the configuration change.
 */
import * as path from "path";
import * as vscode from "vscode";
import { parseTargets, ProviderChoice, Target, targetItems, TargetPickItem, targetSetting, TargetsAnswer } from "./pure/target";
import { SECTION, ServerManager } from "./server";

/** The providers and the target a document is checked for, from the server; undefined when it cannot say. */
export async function fetchTargets(server: ServerManager, uri: vscode.Uri | undefined): Promise<TargetsAnswer | undefined> {
  try {
    return parseTargets(await server.executeCommand("tuneline.targets", uri ? [uri.toString()] : []));
  } catch (err) {
    server.log.warn(`tuneline.targets: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

async function otherModel(provider: ProviderChoice): Promise<string | undefined> {
  if (provider.provider === "local") {
    const folder = await vscode.window.showOpenDialog({
      canSelectFiles: false,
      canSelectFolders: true,
      canSelectMany: false,
      openLabel: "Use This Model Folder",
      title: "A local Hugging Face model folder (its tokenizer and chat template are read offline)",
    });
    return folder?.[0]?.fsPath;
  }
  const typed = await vscode.window.showInputBox({
    title: `${provider.title} model`,
    prompt: `The model name as ${provider.title} spells it`,
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : "Type a model name."),
  });
  return typed?.trim() || undefined;
}

/** Relative to the workspace folder when inside it, so the setting stays valid for colleagues. */
function localModelValue(fsPath: string, folder: vscode.WorkspaceFolder | undefined): string {
  if (folder) {
    const rel = path.relative(folder.uri.fsPath, fsPath);
    if (rel && !rel.startsWith("..") && !path.isAbsolute(rel)) {
      return rel;
    }
  }
  return fsPath;
}

export async function selectTarget(server: ServerManager, arg: unknown): Promise<Target | undefined> {
  const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  const answer = await fetchTargets(server, uri);
  if (!answer || answer.providers.length === 0) {
    void vscode.window.showErrorMessage("tuneline: the language server did not list any targets; see tuneline: Show Logs.");
    return undefined;
  }
  type Item = vscode.QuickPickItem & { item: TargetPickItem };
  const items: Item[] = targetItems(answer).map((item) => ({
    label: item.label,
    description: item.description,
    detail: item.detail,
    kind: item.kind === "separator" ? vscode.QuickPickItemKind.Separator : vscode.QuickPickItemKind.Default,
    item,
  }));
  const pick = await vscode.window.showQuickPick(items, {
    title: "tuneline: target for this workspace",
    placeHolder: answer.current ? `Now: ${answer.current.provider}:${answer.current.model}` : "Where will these files train?",
    matchOnDescription: true,
  });
  if (!pick) {
    return undefined;
  }
  const config = vscode.workspace.getConfiguration(SECTION, uri);
  if (pick.item.kind === "clear") {
    await config.update("target", undefined, vscode.ConfigurationTarget.Workspace);
    void vscode.window.showInformationMessage("tuneline: this workspace no longer sets a target.");
    return undefined;
  }
  const provider = answer.providers.find((p) => p.provider === pick.item.provider);
  if (!provider) {
    return undefined;
  }
  let model = pick.item.model;
  if (pick.item.kind === "other") {
    const chosen = await otherModel(provider);
    model = chosen && provider.provider === "local" ? localModelValue(chosen, uri && vscode.workspace.getWorkspaceFolder(uri)) : chosen;
  }
  if (!model) {
    return undefined;
  }
  if (!vscode.workspace.workspaceFolders?.length) {
    void vscode.window.showWarningMessage("tuneline: open a folder to choose a target per workspace (the setting is saved in the workspace).");
    return undefined;
  }
  await config.update("target", targetSetting(provider.provider, model), vscode.ConfigurationTarget.Workspace);
  return { provider: provider.provider, model };
}
