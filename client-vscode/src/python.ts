/**
 * Finding a Python with a compatible tuneline, and installing one into a private virtual environment when there
 * is none. The decisions are in `pure/interpreter.ts`; this module does the I/O (PATH, the Python extension,
 * child processes, pip).
 */
import { execFile, spawn } from "child_process";
import { constants, promises as fs } from "fs";
import * as os from "os";
import * as path from "path";
import * as vscode from "vscode";
import {
  checkCompatibility,
  Compatibility,
  installRequirement,
  InterpreterChoice,
  parseProbe,
  pipFailureSummary,
  PROBE_SCRIPT,
  ProbeResult,
  resolveInterpreter,
  venvPython,
} from "./pure/interpreter";

/** `which`: the first executable called `name` on PATH (with PATHEXT on Windows). */
export async function whichOnPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const dirs = (env.PATH ?? "").split(path.delimiter).filter((d) => d.length > 0);
  const exts = process.platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      try {
        await fs.access(candidate, constants.X_OK);
        return candidate;
      } catch {
        continue;
      }
    }
  }
  return undefined;
}

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

export function findInterpreter(setting: string | undefined, folder: vscode.WorkspaceFolder | undefined): Promise<InterpreterChoice | undefined> {
  return resolveInterpreter({
    setting,
    pythonExtension: () => pythonExtensionInterpreter(folder?.uri),
    which: (name) => whichOnPath(name),
    workspaceFolder: folder?.uri.fsPath,
    home: os.homedir(),
    env: process.env,
  });
}

export type ProbeOutcome = { probe: ProbeResult; compatibility: Compatibility } | { failure: string };

/** Runs the probe script in `python`: which Python it is and which tuneline it can import. */
export function probeInterpreter(python: string, cwd?: string): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    execFile(python, ["-c", PROBE_SCRIPT], { timeout: 30000, cwd, windowsHide: true }, (error, stdout, stderr) => {
      const probe = parseProbe(stdout ?? "");
      if (probe) {
        resolve({ probe, compatibility: checkCompatibility(probe) });
      } else if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
        resolve({ failure: `no Python at ${python}` });
      } else {
        const last = (stderr || error?.message || "no output").trim().split(/\r?\n/).pop();
        resolve({ failure: `${python} could not run: ${last}` });
      }
    });
  });
}

/** Where the private environment lives: the extension's global storage, outside any workspace. */
export function privateVenvDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, "venv");
}

function run(command: string, args: string[], log: vscode.OutputChannel): Promise<{ code: number; output: string }> {
  log.appendLine(`> ${command} ${args.join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { windowsHide: true, env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" } });
    let output = "";
    const take = (data: Buffer) => {
      const text = data.toString();
      output += text;
      log.append(text);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) => resolve({ code: -1, output: output + `\nERROR: ${err.message}` }));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

/**
 * Creates (or reuses) the private virtual environment with `basePython` and pip-installs tuneline into it.
 * Returns the environment's interpreter, or throws an Error whose message is one sentence for the user.
 */
export async function installPrivateServer(
  context: vscode.ExtensionContext,
  basePython: string,
  log: vscode.OutputChannel,
  progress: vscode.Progress<{ message?: string; increment?: number }>,
  source: string | undefined,
): Promise<string> {
  const dir = privateVenvDir(context);
  const python = venvPython(dir);
  await fs.mkdir(context.globalStorageUri.fsPath, { recursive: true });
  const exists = await fs
    .access(python)
    .then(() => true)
    .catch(() => false);
  if (!exists) {
    progress.report({ message: "creating a virtual environment…", increment: 10 });
    const venv = await run(basePython, ["-m", "venv", dir], log);
    if (venv.code !== 0) {
      const hint = /ensurepip|venv/.test(venv.output) ? " (on Debian/Ubuntu: apt install python3-venv)" : "";
      throw new Error(`Could not create a virtual environment with ${basePython}: ${pipFailureSummary(venv.output)}${hint}`);
    }
  }
  const requirement = installRequirement(source);
  progress.report({ message: `pip install ${requirement}…`, increment: 20 });
  const pip = await run(python, ["-m", "pip", "install", "--upgrade", requirement], log);
  if (pip.code !== 0) {
    throw new Error(`pip could not install ${requirement}: ${pipFailureSummary(pip.output)}`);
  }
  progress.report({ message: "checking the installation…", increment: 60 });
  const outcome = await probeInterpreter(python);
  if ("failure" in outcome) {
    throw new Error(`tuneline was installed but its Python does not start: ${outcome.failure}.`);
  }
  if (!outcome.compatibility.ok) {
    throw new Error(`After installing, ${outcome.compatibility.message}`);
  }
  return python;
}
