/**
 * Which Python runs the language server, and whether tuneline there is usable.
 *
 * Pure (no `vscode` import) so the order of preference and the version rule are unit-tested:
 * the `tuneline.interpreter` setting, then the Python extension's active interpreter, then `python3` on PATH.
 */
import * as path from "path";
import { isInside } from "./spawn";

export type InterpreterSource = "setting" | "python-extension" | "path" | "private-venv";

export interface InterpreterChoice {
  path: string;
  source: InterpreterSource;
}

export interface ResolveInputs {
  /** `tuneline.interpreter` as configured (may hold `~`, `${workspaceFolder}`, `${env:NAME}` or a bare name). */
  setting?: string;
  /** Asks the Python extension for its active interpreter; undefined when it is absent or has none. */
  pythonExtension?: () => Promise<string | undefined>;
  /** Looks a program up on PATH (like `which`); undefined when not found. */
  which: (name: string) => Promise<string | undefined>;
  workspaceFolder?: string;
  home?: string;
  env?: Record<string, string | undefined>;
  /**
   * False in an untrusted workspace: then no interpreter inside a workspace folder is used, whoever names it (a
   * user setting with `${workspaceFolder}`, the Python extension's pick of a `.venv` in the folder, a PATH entry),
   * because a folder's own Python and its site-packages are the folder's code.
   */
  trusted?: boolean;
  /** Every workspace folder (for the rule above); defaults to `workspaceFolder`. */
  workspaceFolders?: readonly string[];
  /** Told about each candidate skipped by that rule (for the log). */
  skipped?: (candidate: string, reason: string) => void;
}

/** `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`, as VS Code users write them. */
export function expandVariables(value: string, inputs: Pick<ResolveInputs, "workspaceFolder" | "home" | "env">): string {
  let out = value.trim();
  const env = inputs.env ?? {};
  out = out.replace(/\$\{env:([^}]+)\}/g, (_m, name: string) => env[name] ?? "");
  if (inputs.workspaceFolder !== undefined) {
    out = out.replace(/\$\{workspaceFolder\}/g, inputs.workspaceFolder);
  }
  if (inputs.home !== undefined) {
    out = out.replace(/\$\{userHome\}/g, inputs.home);
    if (out === "~" || out.startsWith("~/")) {
      out = inputs.home + out.slice(1);
    }
  }
  return out;
}

function isBareName(value: string): boolean {
  return !value.includes("/") && !value.includes("\\");
}

/** The interpreter to use, or undefined when none of the three places names one. */
export async function resolveInterpreter(inputs: ResolveInputs): Promise<InterpreterChoice | undefined> {
  const folders = inputs.workspaceFolders ?? (inputs.workspaceFolder !== undefined ? [inputs.workspaceFolder] : []);
  const allowed = (candidate: string, source: InterpreterSource): boolean => {
    if (inputs.trusted !== false) {
      return true;
    }
    const folder = folders.find((f) => isInside(candidate, f));
    if (folder === undefined) {
      return true;
    }
    inputs.skipped?.(candidate, `${source === "setting" ? "the setting names" : source === "python-extension" ? "the Python extension chose" : "PATH leads to"} an interpreter inside the untrusted folder ${folder}`);
    return false;
  };
  const configured = inputs.setting ? expandVariables(inputs.setting, inputs) : "";
  if (configured) {
    let candidate: string;
    if (isBareName(configured)) {
      candidate = (await inputs.which(configured)) ?? configured;
    } else {
      candidate =
        path.isAbsolute(configured) || inputs.workspaceFolder === undefined ? configured : path.join(inputs.workspaceFolder, configured);
    }
    if (allowed(candidate, "setting")) {
      return { path: candidate, source: "setting" };
    }
  }
  if (inputs.pythonExtension) {
    let fromExtension: string | undefined;
    try {
      fromExtension = await inputs.pythonExtension();
    } catch {
      fromExtension = undefined; // an extension failure must not stop the server from starting
    }
    if (fromExtension && allowed(fromExtension, "python-extension")) {
      return { path: fromExtension, source: "python-extension" };
    }
  }
  for (const name of ["python3", "python"]) {
    const found = await inputs.which(name);
    if (found && allowed(found, "path")) {
      return { path: found, source: "path" };
    }
  }
  return undefined;
}

/**
 * Runs inside the candidate interpreter; prints one JSON line and never raises.
 *
 * `python -c` puts the current directory first on `sys.path` (unless safe-path mode is on), so the first thing
 * the script does — before importing anything that is not built in — is to drop that entry: even run in a folder
 * holding a `json.py`, the probe imports the standard library's. (It is also started in a folder of the
 * extension's own and with PYTHONSAFEPATH=1; see spawn.ts.)
 */
export const PROBE_SCRIPT = [
  "import sys",
  "sys.path[:] = [p for p in sys.path if p not in ('', '.')]",
  "import json",
  "out = {'python': '%d.%d.%d' % sys.version_info[:3], 'executable': sys.executable, 'tuneline': None, 'lsp': False, 'error': None, 'safePath': hasattr(sys.flags, 'safe_path')}",
  "try:",
  "    import tuneline",
  "    out['tuneline'] = getattr(tuneline, '__version__', '0')",
  "except Exception as exc:",
  "    out['error'] = '%s: %s' % (type(exc).__name__, exc)",
  "try:",
  "    import pygls, lsprotocol",
  "    out['lsp'] = True",
  "except Exception:",
  "    pass",
  "print(json.dumps(out))",
].join("\n");

export interface ProbeResult {
  python: string;
  executable: string;
  tuneline: string | null;
  lsp: boolean;
  error: string | null;
  /** The interpreter has `-P` / PYTHONSAFEPATH (3.11+). */
  safePath: boolean;
}

/** The probe's JSON line (the last line that parses, so stray prints from sitecustomize don't matter). */
export function parseProbe(stdout: string): ProbeResult | undefined {
  const lines = stdout.split(/\r?\n/).filter((l) => l.trim().startsWith("{"));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const data = JSON.parse(lines[i]) as Partial<ProbeResult>;
      if (typeof data.python === "string") {
        return {
          python: data.python,
          executable: typeof data.executable === "string" ? data.executable : "",
          tuneline: typeof data.tuneline === "string" ? data.tuneline : null,
          lsp: data.lsp === true,
          error: typeof data.error === "string" ? data.error : null,
          safePath: data.safePath === true,
        };
      }
    } catch {
      continue;
    }
  }
  return undefined;
}

/** Numeric release parts of a PEP 440 version: "0.1.0.dev3+g12" → [0, 1, 0]. */
export function releaseParts(version: string): number[] {
  const match = /^\s*v?(\d+(?:\.\d+)*)/.exec(version);
  return match ? match[1].split(".").map((p) => Number(p)) : [];
}

export function compareVersions(a: string, b: string): number {
  const pa = releaseParts(a);
  const pb = releaseParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) {
      return diff < 0 ? -1 : 1;
    }
  }
  return 0;
}

/** The server versions this client speaks to: same minor release while tuneline is below 1.0. */
export interface VersionRange {
  min: string; // inclusive
  below: string; // exclusive
}

export const SUPPORTED_SERVER: VersionRange = { min: "0.1.0", below: "0.2.0" };
export const MIN_PYTHON = "3.10";

export type Compatibility =
  | { ok: true; version: string }
  | { ok: false; reason: "old-python" | "missing" | "no-lsp" | "too-old" | "too-new"; message: string };

export function checkCompatibility(probe: ProbeResult, range: VersionRange = SUPPORTED_SERVER): Compatibility {
  if (compareVersions(probe.python, MIN_PYTHON) < 0) {
    return { ok: false, reason: "old-python", message: `Python ${probe.python} is too old for tuneline (needs ${MIN_PYTHON} or newer).` };
  }
  if (probe.tuneline === null) {
    return { ok: false, reason: "missing", message: "tuneline is not installed for this Python." };
  }
  if (compareVersions(probe.tuneline, range.min) < 0) {
    return {
      ok: false,
      reason: "too-old",
      message: `tuneline ${probe.tuneline} is older than this extension supports (${range.min} or newer, below ${range.below}).`,
    };
  }
  if (compareVersions(probe.tuneline, range.below) >= 0) {
    return {
      ok: false,
      reason: "too-new",
      message: `tuneline ${probe.tuneline} is newer than this extension supports (below ${range.below}); update the extension.`,
    };
  }
  if (!probe.lsp) {
    return {
      ok: false,
      reason: "no-lsp",
      message: `tuneline ${probe.tuneline} is installed without its language-server extra (pip install 'tuneline[lsp]').`,
    };
  }
  return { ok: true, version: probe.tuneline };
}

/** The interpreter inside a virtual environment created by `python -m venv dir`. */
export function venvPython(dir: string, platform: string = process.platform): string {
  return platform === "win32" ? path.join(dir, "Scripts", "python.exe") : path.join(dir, "bin", "python");
}

/** One readable sentence from pip's output: its last ERROR line, or its last non-empty line. */
export function pipFailureSummary(output: string): string {
  const lines = output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const errors = lines.filter((l) => l.startsWith("ERROR:"));
  const pick = errors.length > 0 ? errors[errors.length - 1] : lines[lines.length - 1];
  return (pick ?? "pip printed nothing").replace(/^ERROR:\s*/, "");
}
