import { test } from "node:test";
import * as assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { installServer, probeInterpreter, whichOnPath } from "../src/pure/install";
import { hostileFolder, planted } from "./hostile";

const REPO = path.resolve(__dirname, "..", "..", "..");
const REPO_PYTHON = process.env.TUNELINE_TEST_PYTHON ?? path.join(REPO, ".venv", "bin", "python");

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "tuneline-install-"));
}

/** Where the tests' Pythons run: a fresh folder, as the extension's own `…/globalStorage/…/cwd`. */
async function launch(safePath = false) {
  return { cwd: path.join(await tempDir(), "cwd"), safePath };
}

async function recorder() {
  const logs: string[] = [];
  const steps: string[] = [];
  return { logs, steps, hooks: { log: (t: string) => logs.push(t), progress: (m: string) => steps.push(m), launch: await launch() } };
}

test("PATH lookup finds executables and skips what is not one", async () => {
  const dir = await tempDir();
  await fs.writeFile(path.join(dir, "runme"), "#!/bin/sh\n", { mode: 0o755 });
  await fs.writeFile(path.join(dir, "readme"), "text", { mode: 0o644 });
  const env = { PATH: ["/nonexistent", dir].join(path.delimiter) };
  assert.equal(await whichOnPath("runme", env), path.join(dir, "runme"));
  assert.equal(await whichOnPath("readme", env), undefined);
  assert.equal(await whichOnPath("absent", env), undefined);
  assert.equal(await whichOnPath("runme", {}), undefined);
});

test("the probe tells a Python without tuneline from none at all", async () => {
  const none = await probeInterpreter("/nonexistent/bin/python", await launch());
  assert.deepEqual(none, { failure: "no Python at /nonexistent/bin/python" });
  const notPython = await probeInterpreter("/bin/false", await launch());
  assert.ok("failure" in notPython && /could not run/.test(notPython.failure));
  const python3 = await whichOnPath("python3");
  assert.ok(python3, "python3 on PATH");
  const plain = await probeInterpreter(python3, await launch());
  assert.ok("probe" in plain);
  if (plain.probe.tuneline === null) {
    assert.deepEqual(plain.compatibility, { ok: false, reason: "missing", message: "tuneline is not installed for this Python." });
  }
});

test("the probe accepts the repository's own environment", async (t) => {
  if (!existsSync(REPO_PYTHON)) {
    t.skip(`no tuneline Python at ${REPO_PYTHON}`);
    return;
  }
  const outcome = await probeInterpreter(REPO_PYTHON, await launch());
  assert.ok("probe" in outcome, JSON.stringify(outcome));
  assert.equal(outcome.probe.lsp, true);
  assert.deepEqual(outcome.compatibility, { ok: true, version: outcome.probe.tuneline });
});

test("a base interpreter that cannot make a venv gives one clear sentence", async () => {
  const { hooks } = await recorder();
  const dir = path.join(await tempDir(), "venv");
  await assert.rejects(installServer(dir, "/bin/false", undefined, hooks), (err: Error) => {
    assert.match(err.message, /^Could not create a virtual environment with \/bin\/false: .+\.$/);
    return true;
  });
});

test("a failing pip install is reported by its last ERROR line, and the venv is reused next time", async () => {
  const python3 = (await whichOnPath("python3"))!;
  const base = await probeInterpreter(python3, await launch());
  assert.ok("probe" in base);
  // venv and pip run with -P where the Python has it: even started in a folder that plants `venv/` and `pip/`
  // packages (the extension starts them in a folder of its own), they import the real ones.
  const { dir: hostile, markers } = await hostileFolder();
  const first = await recorder();
  first.hooks.launch = { cwd: hostile, safePath: base.probe.safePath };
  const dir = path.join(await tempDir(), "venv");
  const offline = { PIP_NO_INDEX: "1", PIP_FIND_LINKS: "" };
  await assert.rejects(installServer(dir, python3, "", { ...first.hooks, env: offline }), (err: Error) => {
    assert.match(err.message, /^pip could not install tuneline\[lsp\]>=0\.1\.0,<0\.2\.0: No matching distribution found for tuneline/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  assert.deepEqual(first.steps, ["creating a virtual environment…", "pip install tuneline[lsp]>=0.1.0,<0.2.0…"]);
  const P = base.probe.safePath ? "-P " : "";
  assert.match(first.logs.join(""), new RegExp(`> .*python3 ${P}-m venv `));
  assert.match(first.logs.join(""), new RegExp(`> .*python ${P}-m pip install --upgrade tuneline\\[lsp\\]`));
  if (base.probe.safePath) {
    assert.deepEqual(await planted(markers), []);
  }
  const second = await recorder();
  await assert.rejects(installServer(dir, python3, "/nonexistent/tuneline", { ...second.hooks, env: offline }), /pip could not install \/nonexistent\/tuneline\[lsp\]/);
  assert.deepEqual(second.steps, ["pip install /nonexistent/tuneline[lsp]…"]);
});

test("tuneline installs from a checkout into a private environment and passes the probe", { timeout: 600000 }, async (t) => {
  if (process.env.TUNELINE_TEST_PIP_INSTALL !== "1") {
    t.skip("set TUNELINE_TEST_PIP_INSTALL=1 to pip-install the checkout with its dependencies from the package index");
    return;
  }
  const python3 = (await whichOnPath("python3"))!;
  const { hooks, steps } = await recorder();
  const dir = path.join(await tempDir(), "venv");
  const result = await installServer(dir, python3, REPO, hooks);
  assert.equal(result.python, path.join(dir, "bin", "python"));
  assert.match(result.version, /^0\.1\./);
  assert.equal(steps.length, 3);
});
