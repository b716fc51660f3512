/**
 * Finding a Python with a compatible tuneline, and installing one into a private virtual environment when there
 * is none. The decisions are in `pure/interpreter.ts`; this module does the I/O (PATH, the Python extension,
 * child processes, pip).
 */
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import { findBundledWheel, InstallOptions, installServer, probeInterpreter, ProbeOutcome, whichOnPath } from "./pure/install";
import { InterpreterChoice, resolveInterpreter } from "./pure/interpreter";
import { BundledWheel, uniqueCandidates } from "./pure/privateEnv";
import { isInside, PythonLaunch } from "./pure/spawn";

export { probeInterpreter, whichOnPath };
export type { ProbeOutcome };

interface PythonEnvironmentsApi {
  getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string } | undefined;
  resolveEnvironment(env: { id: string; path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
}

interface PythonExtensionApi {
  environments?: PythonEnvironmentsApi;
}

async function pythonExtensionApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>("ms-python.python");
  if (!extension) {
    return undefined;
  }
  return extension.isActive ? extension.exports : await extension.activate();
}

/** The Python extension's active interpreter for `resource`, if the extension is installed and has one. */
export async function pythonExtensionInterpreter(resource?: vscode.Uri): Promise<string | undefined> {
  const environments = (await pythonExtensionApi())?.environments;
  const active = environments?.getActiveEnvironmentPath(resource);
  if (!environments || !active) {
    return undefined;
  }
  const resolved = await environments.resolveEnvironment(active);
  return resolved?.executable.uri?.fsPath ?? active.path;
}

/** Fires when the Python extension's interpreter changes (a no-op subscription when it is not installed). */
export async function onPythonInterpreterChanged(listener: () => void): Promise<vscode.Disposable> {
  try {
    const environments = (await pythonExtensionApi())?.environments;
    return environments ? environments.onDidChangeActiveEnvironmentPath(() => listener()) : new vscode.Disposable(() => undefined);
  } catch {
    return new vscode.Disposable(() => undefined);
  }
}

/**
 * The interpreter for the server. In an untrusted workspace `setting` must already be the user's own value
 * (server.ts reads it so), and no interpreter inside a workspace folder is taken, from any source.
 */
export function findInterpreter(
  setting: string | undefined,
  folder: vscode.WorkspaceFolder | undefined,
  skipped?: (candidate: string, reason: string) => void,
): Promise<InterpreterChoice | undefined> {
  return resolveInterpreter({
    setting,
    pythonExtension: () => pythonExtensionInterpreter(folder?.uri),
    which: (name) => whichOnPath(name),
    workspaceFolder: folder?.uri.fsPath,
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
    trusted: vscode.workspace.isTrusted,
    skipped,
    home: os.homedir(),
    env: process.env,
  });
}

/** Where the private environment lives: the extension's global storage, outside any workspace. */
export function privateVenvDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, "venv");
}

/** The lock that keeps two windows from running pip in the private environment at once. */
export function installLockDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, "install.lock");
}

/** The tuneline wheel packed into this extension (`npm run package` puts it in dist/wheels), if any. */
export function bundledWheel(context: vscode.ExtensionContext): Promise<BundledWheel | undefined> {
  return findBundledWheel(path.join(context.extensionPath, "dist", "wheels"));
}

export function extensionVersion(context: vscode.ExtensionContext): string {
  return String((context.extension.packageJSON as { version?: unknown }).version ?? "0");
}

/**
 * Pythons that could create the private environment, in order: `first` (the interpreter found for the server,
 * when it is one), then python3, python and python3.X on PATH. In an untrusted workspace none inside a workspace
 * folder (a folder's Python is the folder's code).
 */
export async function basePythonCandidates(first: string | undefined, names: readonly string[]): Promise<string[]> {
  const found = uniqueCandidates([first, ...(await Promise.all(names.map((n) => whichOnPath(n))))]);
  const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  return vscode.workspace.isTrusted ? found : found.filter((c) => !folders.some((f) => isInside(c, f)));
}

/**
 * Installs tuneline into the private environment (see pure/install.ts) with the extension's log and progress.
 * Returns the environment's interpreter, or throws an Error whose message is one sentence for the user.
 */
export async function installPrivateServer(
  context: vscode.ExtensionContext,
  basePython: string,
  log: vscode.OutputChannel,
  progress: vscode.Progress<{ message?: string; increment?: number }>,
  options: InstallOptions,
  launch: PythonLaunch,
): Promise<string> {
  const { python } = await installServer(privateVenvDir(context), basePython, options, {
    log: (text) => log.append(text),
    progress: (message, increment) => progress.report({ message, increment }),
    launch,
  });
  return python;
}
