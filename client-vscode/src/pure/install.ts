/**
 * The private server environment: `python -m venv <storage>/venv`, `pip install tuneline[lsp]`, then the probe.
 * No `vscode` import, so it is tested with a real venv and a real pip; the extension supplies the log and the
 * progress reporting.
 */
import { execFile, spawn } from "child_process";
import { constants, promises as fs } from "fs";
import * as path from "path";
import {
  checkCompatibility,
  Compatibility,
  installRequirement,
  parseProbe,
  pipFailureSummary,
  PROBE_SCRIPT,
  ProbeResult,
  venvPython,
} from "./interpreter";
import { PythonLaunch, pythonCommand } from "./spawn";

/**
 * `which`: the first executable called `name` on PATH (with PATHEXT on Windows). Relative PATH entries (`.`,
 * `bin`) are skipped: they mean "wherever the process happens to be", which could be an opened folder.
 */
export async function whichOnPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const dirs = (env.PATH ?? "").split(path.delimiter).filter((d) => d.length > 0 && path.isAbsolute(d));
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

export type ProbeOutcome = { probe: ProbeResult; compatibility: Compatibility } | { failure: string };

/**
 * Runs the probe script in `python`: which Python it is and which tuneline it can import. It runs in
 * `launch.cwd` (never a workspace folder) with PYTHONSAFEPATH=1; `-P` is not passed, because the probe is what
 * finds out whether this Python has it (the script itself drops the current directory from `sys.path`).
 */
export async function probeInterpreter(
  python: string,
  launch: Pick<PythonLaunch, "cwd">,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProbeOutcome> {
  const cmd = pythonCommand(python, ["-c", PROBE_SCRIPT], { cwd: launch.cwd, safePath: false }, env);
  try {
    await fs.mkdir(cmd.cwd, { recursive: true }); // a missing cwd would look like a missing Python (ENOENT)
  } catch (err) {
    return { failure: `cannot create the folder ${cmd.cwd} to run ${python} in: ${(err as Error).message}` };
  }
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { timeout: 30000, cwd: cmd.cwd, env: cmd.env, windowsHide: true }, (error, stdout, stderr) => {
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

export interface InstallHooks {
  /** Every line pip and venv print, for the extension's log. */
  log: (text: string) => void;
  /** A short step description with a share of the work done (percent). */
  progress: (message: string, increment: number) => void;
  /** Extra environment for pip (tests point it at an offline index). */
  env?: NodeJS.ProcessEnv;
  /** Where and how the base Python and the environment's Python run (spawn.ts). */
  launch: PythonLaunch;
}

function run(python: string, args: string[], hooks: InstallHooks): Promise<{ code: number; output: string }> {
  const cmd = pythonCommand(python, args, hooks.launch, { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", ...hooks.env });
  hooks.log(`> ${cmd.command} ${cmd.args.join(" ")}\n`);
  return new Promise((resolve) => {
    const child = spawn(cmd.command, cmd.args, { windowsHide: true, cwd: cmd.cwd, env: cmd.env });
    let output = "";
    const take = (data: Buffer) => {
      const text = data.toString();
      output += text;
      hooks.log(text);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) => resolve({ code: -1, output: output + `\nERROR: ${err.message}` }));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

/**
 * Creates (or reuses) the virtual environment `dir` with `basePython` and pip-installs tuneline into it.
 * Returns the environment's interpreter and tuneline's version, or throws an Error whose message is one sentence.
 */
export async function installServer(
  dir: string,
  basePython: string,
  source: string | undefined,
  hooks: InstallHooks,
): Promise<{ python: string; version: string }> {
  const python = venvPython(dir);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  await fs.mkdir(hooks.launch.cwd, { recursive: true });
  const exists = await fs
    .access(python)
    .then(() => true)
    .catch(() => false);
  if (!exists) {
    hooks.progress("creating a virtual environment…", 10);
    const venv = await run(basePython, ["-m", "venv", dir], hooks);
    if (venv.code !== 0) {
      const hint = /ensurepip|venv/.test(venv.output) ? " (on Debian or Ubuntu: apt install python3-venv)" : "";
      throw new Error(`Could not create a virtual environment with ${basePython}: ${pipFailureSummary(venv.output)}${hint}.`);
    }
  }
  const requirement = installRequirement(source);
  hooks.progress(`pip install ${requirement}…`, 20);
  const pip = await run(python, ["-m", "pip", "install", "--upgrade", requirement], hooks);
  if (pip.code !== 0) {
    throw new Error(`pip could not install ${requirement}: ${pipFailureSummary(pip.output)}`);
  }
  hooks.progress("checking the installation…", 60);
  const outcome = await probeInterpreter(python, hooks.launch, { ...process.env, ...hooks.env });
  if ("failure" in outcome) {
    throw new Error(`tuneline was installed but its Python does not start: ${outcome.failure}.`);
  }
  if (!outcome.compatibility.ok) {
    throw new Error(`After installing, ${outcome.compatibility.message}`);
  }
  return { python, version: outcome.compatibility.version };
}
