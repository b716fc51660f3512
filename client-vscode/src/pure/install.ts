/**
 * The private server environment: `python -m venv <storage>/venv`, `pip install <bundled wheel>[lsp]`, then the
 * probe; the wheel inside the extension, the install record, the lock between windows, the first suitable Python,
 * and the check for a training backend's extra. No `vscode` import, so it is tested with a real venv and a real pip;
 * the extension supplies the log and the progress reporting. The rules are in privateEnv.ts.
 */
import { execFile, spawn } from "child_process";
import { createHash } from "crypto";
import { constants, promises as fs } from "fs";
import * as path from "path";
import {
  checkCompatibility,
  Compatibility,
  compareVersions,
  MIN_PYTHON,
  parseProbe,
  pipFailureSummary,
  PROBE_SCRIPT,
  ProbeResult,
  venvPython,
} from "./interpreter";
import {
  BundledWheel,
  EXTRA_PROBE_SCRIPT,
  ExtraProbe,
  InstallRecord,
  parseExtraProbe,
  parseRecord,
  pipProgressLine,
  RECORD_FILE,
  requirementFor,
  wheelVersion,
} from "./privateEnv";
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
    let partial = "";
    const take = (data: Buffer) => {
      const text = data.toString();
      output += text;
      hooks.log(text);
      const lines = (partial + text).split(/\r?\n/);
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const step = pipProgressLine(line);
        if (step) {
          hooks.progress(step, 0);
        }
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) => resolve({ code: -1, output: output + `\nERROR: ${err.message}` }));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

export interface InstallOptions {
  /** What pip installs from: a wheel or checkout path, or "" for the package index (privateEnv.installSource). */
  source: string;
  /** tuneline's extras to install (`lsp` first). */
  extras: string[];
  /**
   * Reinstall tuneline itself even if pip sees the same version (an extension update, a rebuilt wheel); its
   * dependencies are only added or upgraded as the new version asks.
   */
  reinstall?: boolean;
}

/** A short name for the requirement in messages: the wheel's file name rather than its path inside the extension. */
function describe(requirement: string): string {
  return /\.whl(\[|$)/.test(requirement) ? path.basename(requirement) : requirement;
}

async function exists(file: string): Promise<boolean> {
  return fs
    .access(file)
    .then(() => true)
    .catch(() => false);
}

/**
 * Creates (or reuses) the virtual environment `dir` with `basePython` and pip-installs tuneline into it. An
 * environment whose Python no longer runs (its base Python was removed or upgraded) is made anew; only a folder
 * that is a virtual environment (it has `pyvenv.cfg`) is ever removed.
 * Returns the environment's interpreter and tuneline's version, or throws an Error whose message is one sentence.
 */
export async function installServer(
  dir: string,
  basePython: string,
  options: InstallOptions,
  hooks: InstallHooks,
): Promise<{ python: string; version: string }> {
  const python = venvPython(dir);
  await fs.mkdir(path.dirname(dir), { recursive: true });
  await fs.mkdir(hooks.launch.cwd, { recursive: true });
  let fresh = false;
  if ((await exists(python)) && (await run(python, ["-c", "pass"], hooks)).code !== 0 && (await exists(path.join(dir, "pyvenv.cfg")))) {
    hooks.log(`The environment's Python does not run any more; making ${dir} anew.\n`);
    await fs.rm(dir, { recursive: true, force: true });
  }
  if (!(await exists(python))) {
    fresh = true;
    hooks.progress("creating a virtual environment…", 10);
    const venv = await run(basePython, ["-m", "venv", dir], hooks);
    if (venv.code !== 0) {
      const hint = /ensurepip|venv/.test(venv.output) ? " (on Debian or Ubuntu: apt install python3-venv)" : "";
      throw new Error(`Could not create a virtual environment with ${basePython}: ${pipFailureSummary(venv.output)}${hint}.`);
    }
  }
  const requirement = requirementFor(options.source, options.extras);
  if (options.reinstall && !fresh && options.source) {
    hooks.progress(`reinstalling ${describe(requirementFor(options.source, []))}…`, 10);
    const again = await run(python, ["-m", "pip", "install", "--force-reinstall", "--no-deps", requirementFor(options.source, [])], hooks);
    if (again.code !== 0) {
      throw new Error(`pip could not reinstall ${describe(requirementFor(options.source, []))}: ${pipFailureSummary(again.output)}`);
    }
  }
  hooks.progress(`pip install ${describe(requirement)}…`, 20);
  const pip = await run(python, ["-m", "pip", "install", "--upgrade", requirement], hooks);
  if (pip.code !== 0) {
    throw new Error(`pip could not install ${describe(requirement)}: ${pipFailureSummary(pip.output)}`);
  }
  await installSpeedExtras(python, hooks);
  hooks.progress("checking the installation…", 50);
  const outcome = await probeInterpreter(python, hooks.launch, { ...process.env, ...hooks.env });
  if ("failure" in outcome) {
    throw new Error(`tuneline was installed but its Python does not start: ${outcome.failure}.`);
  }
  if (!outcome.compatibility.ok) {
    throw new Error(`After installing, ${outcome.compatibility.message}`);
  }
  return { python, version: outcome.compatibility.version };
}

/** Extras that only make tuneline faster, with what they give, for the progress notification. */
const SPEED_EXTRAS: Record<string, string> = { fast: "faster token counts" };

/**
 * Installs the speed extras' packages the environment lacks (rs-bpe for `fast`), from wheels alone
 * (`--only-binary=:all:`, never a build that would need a Rust toolchain). Their pins come from the installed
 * tuneline's own metadata. Without them every result is the same (tiktoken counts the same tokens, ~1.5× slower),
 * so a platform without a wheel, or no network for it, costs a log line and never the install.
 * Returns the requirements that were installed.
 */
export async function installSpeedExtras(python: string, hooks: InstallHooks): Promise<string[]> {
  const installed: string[] = [];
  for (const [extra, gives] of Object.entries(SPEED_EXTRAS)) {
    const probe = await probeExtra(python, extra, hooks.launch, { ...process.env, ...hooks.env });
    if ("failure" in probe || probe.requirements.length === 0) {
      continue;
    }
    const wanted = probe.requirements.join(" ");
    hooks.progress(`pip install ${wanted} (${gives})…`, 10);
    const pip = await run(python, ["-m", "pip", "install", "--only-binary=:all:", ...probe.requirements], hooks);
    if (pip.code === 0) {
      installed.push(...probe.requirements);
    } else {
      hooks.log(`Not installed: ${wanted} (${pipFailureSummary(pip.output)}). tuneline works without it: the same results, ${gives} missed.\n`);
    }
  }
  return installed;
}

/** The tuneline wheel in `folder` (the extension's `dist/wheels`), with its sha256; undefined when there is none. */
export async function findBundledWheel(folder: string): Promise<BundledWheel | undefined> {
  let names: string[];
  try {
    names = await fs.readdir(folder);
  } catch {
    return undefined;
  }
  const wheels = names.filter((n) => wheelVersion(n) !== undefined).sort();
  const name = wheels[wheels.length - 1];
  if (!name) {
    return undefined;
  }
  const file = path.join(folder, name);
  const sha256 = createHash("sha256")
    .update(await fs.readFile(file))
    .digest("hex");
  return { path: file, version: wheelVersion(name)!, sha256 };
}

export async function readRecord(dir: string): Promise<InstallRecord | undefined> {
  try {
    return parseRecord(await fs.readFile(path.join(dir, RECORD_FILE), "utf8"));
  } catch {
    return undefined;
  }
}

/** Writes the record beside the environment, atomically (a half-written record would read as "not installed"). */
export async function writeRecord(dir: string, record: InstallRecord): Promise<void> {
  const file = path.join(dir, RECORD_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, JSON.stringify(record, null, 2) + "\n", "utf8");
  await fs.rename(temp, file);
}

/**
 * The first of `candidates` that runs and is Python 3.10 or newer, probed in `launch.cwd`; or undefined, with each
 * rejected candidate's reason given to `rejected` (for the log and the one-sentence error).
 */
export async function firstSuitablePython(
  candidates: readonly string[],
  launch: Pick<PythonLaunch, "cwd">,
  rejected: (candidate: string, reason: string) => void,
): Promise<{ python: string; probe: ProbeResult } | undefined> {
  for (const candidate of candidates) {
    const outcome = await probeInterpreter(candidate, launch);
    if ("failure" in outcome) {
      rejected(candidate, outcome.failure);
    } else if (compareVersions(outcome.probe.python, MIN_PYTHON) < 0) {
      rejected(candidate, `Python ${outcome.probe.python} is older than ${MIN_PYTHON}`);
    } else {
      return { python: candidate, probe: outcome.probe };
    }
  }
  return undefined;
}

/** Which of `extra`'s packages the environment's Python lacks (from tuneline's own metadata), or a failure. */
export async function probeExtra(
  python: string,
  extra: string,
  launch: PythonLaunch,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ExtraProbe | { failure: string }> {
  const cmd = pythonCommand(python, ["-c", EXTRA_PROBE_SCRIPT, extra], launch, env);
  await fs.mkdir(cmd.cwd, { recursive: true });
  return new Promise((resolve) => {
    execFile(cmd.command, cmd.args, { timeout: 30000, cwd: cmd.cwd, env: cmd.env, windowsHide: true }, (error, stdout, stderr) => {
      const parsed = parseExtraProbe(stdout ?? "");
      resolve(parsed ?? { failure: `${python} could not list its packages: ${(stderr || error?.message || "no output").trim().split(/\r?\n/).pop()}` });
    });
  });
}

/**
 * Runs `fn` while holding `lockDir` (made with mkdir, which only one process can do), so two VS Code windows never
 * run pip in the same environment at once. A lock older than `staleMs` is left over by a window that died and is
 * taken over; `onWait` is called once when another window holds it.
 */
export async function withInstallLock<T>(
  lockDir: string,
  fn: () => Promise<T>,
  options: { staleMs?: number; waitMs?: number; pollMs?: number; onWait?: () => void } = {},
): Promise<T> {
  const staleMs = options.staleMs ?? 15 * 60 * 1000;
  const deadline = Date.now() + (options.waitMs ?? 15 * 60 * 1000);
  let told = false;
  await fs.mkdir(path.dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new Error(`Could not create the install lock ${lockDir}: ${(err as Error).message}.`);
      }
      const age = await fs
        .stat(lockDir)
        .then((s) => Date.now() - s.mtimeMs)
        .catch(() => 0);
      if (age > staleMs) {
        await fs.rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error("Another VS Code window is still installing tuneline; try again when it has finished.");
      }
      if (!told) {
        told = true;
        options.onWait?.();
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockDir, { recursive: true, force: true });
  }
}
