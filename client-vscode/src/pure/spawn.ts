/**
 * How the extension starts Python (the probe, the language server, venv and pip) so that an opened folder never
 * lands on that Python's `sys.path` (docs/security.md).
 *
 * `python -c CODE` puts the current directory first on `sys.path`, and `python -m MODULE` puts the current
 * directory there too: started in a workspace, a `json.py` or a `tuneline/` folder of the workspace would be
 * imported instead of the real module — with the user's API keys in the environment. So every Python of ours
 * runs
 *
 * - in a folder of the extension's own (under its global storage), never a workspace folder;
 * - with `-P` when the interpreter has it (3.11+; the probe reports `sys.flags.safe_path`), so nothing is added
 *   to `sys.path` at all;
 * - with `PYTHONSAFEPATH=1` in its environment, which the server's children (training workers) inherit.
 *
 * No `vscode` import: unit-tested.
 */
import * as path from "path";

/** Where and how a Python of ours is started. */
export interface PythonLaunch {
  /** The working directory: a folder the extension created for this, outside every workspace. */
  cwd: string;
  /** The interpreter understands `-P` (Python 3.11+). */
  safePath: boolean;
}

export interface PythonCommand {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** The folder our Pythons run in: an empty folder of our own inside the extension's global storage. */
export function neutralCwd(globalStorage: string): string {
  return path.join(globalStorage, "cwd");
}

/** True when `child` is `parent` or lies inside it (by path, as given: a symlink into a folder counts as inside). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/** The command line, folder and environment for `python ARGS`, with the safe-path measures above applied. */
export function pythonCommand(python: string, args: readonly string[], launch: PythonLaunch, env: NodeJS.ProcessEnv): PythonCommand {
  return {
    command: python,
    args: launch.safePath ? ["-P", ...args] : [...args],
    cwd: launch.cwd,
    env: { ...env, PYTHONSAFEPATH: "1" },
  };
}

/**
 * The environment variables that carry provider API keys (keys.ts stores them; training reads them). The Python
 * side's backend table (training/backends/registry.py) names the same; a test keeps them equal.
 */
export const PROVIDER_KEY_VARS = {
  openai: "OPENAI_API_KEY",
  together: "TOGETHER_API_KEY",
  fireworks: "FIREWORKS_API_KEY",
  azure: "AZURE_OPENAI_API_KEY",
  "openai-compatible": "TUNELINE_API_KEY",
} as const;

/** Where a stored key is sent, for the backends that need an address (stored beside the key, never in settings). */
export const PROVIDER_ENDPOINT_VARS = { azure: "AZURE_OPENAI_ENDPOINT", "openai-compatible": "TUNELINE_BASE_URL" } as const;

export interface ServerEnvironmentInputs {
  /** The extension host's environment. */
  base: NodeJS.ProcessEnv;
  /** Keys from VS Code's secret storage, by environment variable. */
  storedKeys: Record<string, string>;
  /** `tuneline.training.runsDirectory` when the user set it (already filtered for trust). */
  runsDirectory?: string;
  /** `vscode.workspace.isTrusted`. */
  trusted: boolean;
}

/**
 * The language server's environment. In a trusted workspace it carries the stored API keys (training children
 * inherit them). In an untrusted one it carries no provider key at all — neither stored nor inherited — so a
 * server in Restricted Mode cannot spend money whatever a folder contains.
 */
export function serverEnvironment(inputs: ServerEnvironmentInputs): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...inputs.base };
  if (inputs.trusted) {
    Object.assign(env, inputs.storedKeys);
  } else {
    for (const name of [...Object.values(PROVIDER_KEY_VARS), ...Object.values(PROVIDER_ENDPOINT_VARS)]) {
      delete env[name];
    }
  }
  if (inputs.runsDirectory) {
    env.TUNELINE_RUNS_DIR = inputs.runsDirectory;
  }
  env.PYTHONUNBUFFERED = "1";
  return env;
}
