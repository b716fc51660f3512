import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { probeInterpreter, whichOnPath } from "../src/pure/install";
import { isInside, neutralCwd, pythonCommand, serverEnvironment } from "../src/pure/spawn";
import { hostileFolder, planted } from "./hostile";

const REPO = path.resolve(__dirname, "..", "..", "..");
const REPO_PYTHON = process.env.TUNELINE_TEST_PYTHON ?? path.join(REPO, ".venv", "bin", "python");
const run = promisify(execFile);


test("the command line: -P only where the interpreter has it, our folder as cwd, PYTHONSAFEPATH=1", () => {
  const base = { PATH: "/usr/bin", PYTHONPATH: "/user/lib" };
  const safe = pythonCommand("/py", ["-m", "tuneline", "serve"], { cwd: "/store/cwd", safePath: true }, base);
  assert.deepEqual(safe, {
    command: "/py",
    args: ["-P", "-m", "tuneline", "serve"],
    cwd: "/store/cwd",
    env: { PATH: "/usr/bin", PYTHONPATH: "/user/lib", PYTHONSAFEPATH: "1" },
  });
  const old = pythonCommand("/py310", ["-c", "print(1)"], { cwd: "/store/cwd", safePath: false }, base);
  assert.deepEqual(old.args, ["-c", "print(1)"]);
  assert.equal(old.env.PYTHONSAFEPATH, "1");
  assert.deepEqual(base, { PATH: "/usr/bin", PYTHONPATH: "/user/lib" }, "the caller's environment is not changed");
  assert.equal(neutralCwd("/home/u/.config/Code/User/globalStorage/tuneline.tuneline"), "/home/u/.config/Code/User/globalStorage/tuneline.tuneline/cwd");
});

test("inside a folder or not", () => {
  assert.equal(isInside("/ws/.venv/bin/python", "/ws"), true);
  assert.equal(isInside("/ws", "/ws/"), true);
  assert.equal(isInside("/ws/../other/python", "/ws"), false);
  assert.equal(isInside("/wsx/python", "/ws"), false);
  assert.equal(isInside("/usr/bin/python3", "/ws"), false);
});

test("the server's environment: keys only when trusted, never inherited keys in Restricted Mode", () => {
  const base = { PATH: "/usr/bin", OPENAI_API_KEY: "sk-inherited", TOGETHER_API_KEY: "tgp_inherited", HOME: "/h" };
  const stored = { OPENAI_API_KEY: "sk-stored" };
  const trusted = serverEnvironment({ base, storedKeys: stored, runsDirectory: "/runs", trusted: true });
  assert.equal(trusted.OPENAI_API_KEY, "sk-stored");
  assert.equal(trusted.TOGETHER_API_KEY, "tgp_inherited");
  assert.equal(trusted.TUNELINE_RUNS_DIR, "/runs");
  assert.equal(trusted.PYTHONUNBUFFERED, "1");
  const untrusted = serverEnvironment({ base, storedKeys: stored, trusted: false });
  assert.equal(untrusted.OPENAI_API_KEY, undefined);
  assert.equal(untrusted.TOGETHER_API_KEY, undefined);
  assert.equal(untrusted.TUNELINE_RUNS_DIR, undefined);
  assert.equal(untrusted.HOME, "/h");
  assert.equal(base.OPENAI_API_KEY, "sk-inherited", "the extension host's environment is not changed");
});

test("relative PATH entries are never searched", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "tuneline-path-"));
  await fs.mkdir(path.join(dir, "bin"));
  await fs.writeFile(path.join(dir, "bin", "python3"), "#!/bin/sh\n", { mode: 0o755 });
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    assert.equal(await whichOnPath("python3", { PATH: ["bin", "./bin"].join(path.delimiter) }), undefined);
    assert.equal(await whichOnPath("python3", { PATH: path.join(dir, "bin") }), path.join(dir, "bin", "python3"));
  } finally {
    process.chdir(cwd);
  }
});

/** Runs `python ARGS`; a non-zero exit is fine (a module the folder planted may be missing elsewhere). */
async function attempt(python: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  await run(python, args, { cwd, env }).catch(() => undefined);
}

test("a hostile folder proves its point: without the measures, python -m tuneline and -c 'import json' run its code", async () => {
  const python3 = (await whichOnPath("python3"))!;
  const { dir, markers } = await hostileFolder();
  const env = { ...process.env };
  delete env.PYTHONSAFEPATH;
  await attempt(python3, ["-m", "tuneline", "--version"], dir, env);
  await attempt(python3, ["-c", "import json"], dir, env);
  assert.deepEqual(await planted(markers), ["json.py", "tuneline.__init__", "tuneline.__main__"]);
});

test("with the measures, the same commands in the same folder import nothing from it", async (t) => {
  const python3 = (await whichOnPath("python3"))!;
  const probe = await probeInterpreter(python3, { cwd: path.join(os.tmpdir(), "tuneline-test-cwd") });
  assert.ok("probe" in probe);
  if (!probe.probe.safePath) {
    t.skip(`${python3} is Python ${probe.probe.python}: without -P only the neutral cwd protects it`);
    return;
  }
  const { dir, markers } = await hostileFolder();
  for (const args of [["-m", "tuneline", "--version"], ["-c", "import json"]]) {
    const cmd = pythonCommand(python3, args, { cwd: dir, safePath: true }, process.env);
    await attempt(cmd.command, cmd.args, cmd.cwd, cmd.env);
    // A child of the server (a training worker: `python -m tuneline.training.worker`, cwd = the run folder)
    // inherits PYTHONSAFEPATH=1 without being given -P.
    await attempt(python3, args, dir, cmd.env);
  }
  assert.deepEqual(await planted(markers), []);
});

test("the probe imports nothing from the folder it runs in, even on a Python without safe-path mode", async (t) => {
  if (!existsSync(REPO_PYTHON)) {
    t.skip(`no tuneline Python at ${REPO_PYTHON}`);
    return;
  }
  const { dir, markers } = await hostileFolder();
  // Worst case: started in the hostile folder itself, and with PYTHONSAFEPATH unset by the environment's owner
  // (the probe script must hold on its own, as on Python 3.10).
  const outcome = await probeInterpreter(REPO_PYTHON, { cwd: dir }, { ...process.env, PYTHONSAFEPATH: "" });
  assert.ok("probe" in outcome, JSON.stringify(outcome));
  assert.equal(outcome.probe.tuneline, "0.1.0", "the installed tuneline, not the folder's");
  assert.equal(outcome.probe.safePath, /^3\.(1[1-9]|[2-9]\d)\./.test(outcome.probe.python));
  assert.deepEqual(await planted(markers), []);
});

test("the server's command line runs the installed tuneline, even started inside the folder", async (t) => {
  if (!existsSync(REPO_PYTHON)) {
    t.skip(`no tuneline Python at ${REPO_PYTHON}`);
    return;
  }
  const { dir, markers } = await hostileFolder();
  const probe = await probeInterpreter(REPO_PYTHON, { cwd: path.join(dir, "..", "cwd") });
  assert.ok("probe" in probe);
  const cmd = pythonCommand(REPO_PYTHON, ["-m", "tuneline", "--version"], { cwd: dir, safePath: probe.probe.safePath }, process.env);
  const { stdout } = await run(cmd.command, cmd.args, { cwd: cmd.cwd, env: cmd.env });
  assert.match(stdout, /^tuneline 0\.1\./);
  assert.deepEqual(await planted(markers), []);
});
