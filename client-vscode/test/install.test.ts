import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  findBundledWheel,
  firstSuitablePython,
  installServer,
  installSpeedExtras,
  probeExtra,
  probeInterpreter,
  readRecord,
  whichOnPath,
  withInstallLock,
  writeRecord,
} from "../src/pure/install";
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
  // Steps are the messages that move the bar; pip's "collecting …" lines (increment 0) are details.
  const progress = (m: string, increment: number) => (increment > 0 ? steps.push(m) : undefined);
  return { logs, steps, hooks: { log: (t: string) => logs.push(t), progress, launch: await launch() } };
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
  await assert.rejects(installServer(dir, "/bin/false", { source: "", extras: ["lsp"] }, hooks), (err: Error) => {
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
  await assert.rejects(installServer(dir, python3, { source: "", extras: ["lsp"] }, { ...first.hooks, env: offline }), (err: Error) => {
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
  await assert.rejects(installServer(dir, python3, { source: "/nonexistent/tuneline", extras: ["lsp"], reinstall: true }, { ...second.hooks, env: offline }), /pip could not reinstall \/nonexistent\/tuneline: /);
  assert.deepEqual(second.steps, ["reinstalling /nonexistent/tuneline…"]);
});

test("tuneline installs from a checkout into a private environment and passes the probe", { timeout: 600000 }, async (t) => {
  if (process.env.TUNELINE_TEST_PIP_INSTALL !== "1") {
    t.skip("set TUNELINE_TEST_PIP_INSTALL=1 to pip-install the checkout with its dependencies from the package index");
    return;
  }
  const python3 = (await whichOnPath("python3"))!;
  const { hooks, steps } = await recorder();
  const dir = path.join(await tempDir(), "venv");
  const result = await installServer(dir, python3, { source: REPO, extras: ["lsp"] }, hooks);
  assert.equal(result.python, path.join(dir, "bin", "python"));
  assert.match(result.version, /^0\.1\./);
  assert.deepEqual(steps.slice(2), [`pip install ${"rs-bpe==0.1.0"} (faster token counts)…`, "checking the installation…"]);
});

test("the bundled wheel is found with its sha256; no wheel is no bundle", async () => {
  const dir = await tempDir();
  assert.equal(await findBundledWheel(path.join(dir, "absent")), undefined);
  assert.equal(await findBundledWheel(dir), undefined);
  await fs.writeFile(path.join(dir, "tuneline-0.1.0-py3-none-any.whl"), "wheel bytes");
  await fs.writeFile(path.join(dir, "notes.txt"), "x");
  const wheel = await findBundledWheel(dir);
  assert.deepEqual(wheel, {
    path: path.join(dir, "tuneline-0.1.0-py3-none-any.whl"),
    version: "0.1.0",
    sha256: createHash("sha256").update("wheel bytes").digest("hex"),
  });
});

test("the install record is written atomically and read back", async () => {
  const dir = await tempDir();
  assert.equal(await readRecord(dir), undefined);
  const record = { extension: "0.1.0", source: "/w.whl", sha256: "ab", extras: ["lsp"], basePython: "/usr/bin/python3", seconds: 12.3 };
  await writeRecord(dir, record);
  assert.deepEqual(await readRecord(dir), record);
  assert.deepEqual((await fs.readdir(dir)).sort(), ["tuneline-install.json"]);
});

test("the install lock lets one window install at a time and takes over a stale lock", async () => {
  const lock = path.join(await tempDir(), "storage", "install.lock");
  const order: string[] = [];
  let waited = 0;
  const slow = withInstallLock(lock, async () => {
    order.push("first starts");
    await new Promise((r) => setTimeout(r, 300));
    order.push("first ends");
  });
  await new Promise((r) => setTimeout(r, 50));
  const second = withInstallLock(lock, async () => order.push("second runs"), { pollMs: 50, onWait: () => waited++ });
  await Promise.all([slow, second]);
  assert.deepEqual(order, ["first starts", "first ends", "second runs"]);
  assert.equal(waited, 1);
  assert.equal(existsSync(lock), false);
  // A lock left by a window that died: older than staleMs, taken over at once.
  await fs.mkdir(lock);
  const past = new Date(Date.now() - 60000);
  await fs.utimes(lock, past, past);
  assert.equal(await withInstallLock(lock, async () => "ran", { staleMs: 1000, pollMs: 10 }), "ran");
  // A live lock held past the wait: one sentence.
  await fs.mkdir(lock);
  await assert.rejects(withInstallLock(lock, async () => "never", { waitMs: 100, pollMs: 20 }), /^Error: Another VS Code window is still installing tuneline/);
});

test("the first Python 3.10+ among the candidates creates the environment", async () => {
  const python3 = (await whichOnPath("python3"))!;
  const rejected: string[] = [];
  const found = await firstSuitablePython(["/nonexistent/python3", "/bin/false", python3], await launch(), (c, reason) => rejected.push(`${c}: ${reason}`));
  assert.equal(found?.python, python3);
  assert.deepEqual(
    rejected.map((r) => r.split(":")[0]),
    ["/nonexistent/python3", "/bin/false"],
  );
  assert.equal(await firstSuitablePython(["/bin/false"], await launch(), () => undefined), undefined);
});

test("the extra probe reads tuneline's own metadata for what an extra lacks", async (t) => {
  // A fake installed tuneline whose "openai" extra needs a package that is surely not installed.
  const site = await tempDir();
  const info = path.join(site, "tuneline-0.1.0.dist-info");
  await fs.mkdir(info);
  await fs.writeFile(
    path.join(info, "METADATA"),
    'Metadata-Version: 2.1\nName: tuneline\nVersion: 0.1.0\nProvides-Extra: openai\nRequires-Dist: surely-not-installed-pkg>=1; extra == "openai"\nRequires-Dist: json5; extra == "other"\n',
  );
  const python3 = (await whichOnPath("python3"))!;
  const saved = process.env.PYTHONPATH;
  process.env.PYTHONPATH = site;
  try {
    assert.deepEqual(await probeExtra(python3, "openai", await launch()), {
      declared: true,
      missing: ["surely-not-installed-pkg"],
      requirements: ["surely-not-installed-pkg>=1"],
    });
    assert.deepEqual(await probeExtra(python3, "local", await launch()), { declared: false, missing: [], requirements: [] });
  } finally {
    if (saved === undefined) {
      delete process.env.PYTHONPATH;
    } else {
      process.env.PYTHONPATH = saved;
    }
  }
  if (!existsSync(REPO_PYTHON)) {
    t.skip(`no tuneline Python at ${REPO_PYTHON}`);
    return;
  }
  assert.deepEqual(await probeExtra(REPO_PYTHON, "lsp", await launch()), { declared: true, missing: [], requirements: [] });
});

test("speed extras install from wheels only, and a missing wheel costs a log line, not the install", { timeout: 120000 }, async () => {
  const python3 = (await whichOnPath("python3"))!;
  const root = await tempDir();
  const venv = path.join(root, "venv");
  const made = await new Promise<number>((resolve) =>
    execFile(python3, ["-m", "venv", venv], (error) => resolve(error ? 1 : 0)),
  );
  assert.equal(made, 0, "python3 -m venv");
  const python = path.join(venv, "bin", "python");
  // tuneline's metadata as the environment sees it: the fast extra needs one package that has a wheel in the local
  // index folder and one that has none anywhere.
  const site = path.join(root, "site");
  const info = path.join(site, "tuneline-0.1.0.dist-info");
  await fs.mkdir(info, { recursive: true });
  await fs.writeFile(
    path.join(info, "METADATA"),
    "Metadata-Version: 2.1\nName: tuneline\nVersion: 0.1.0\nProvides-Extra: fast\n" +
      'Requires-Dist: tl-speed-probe==1.0; extra == "fast"\nRequires-Dist: json5; extra == "other"\n',
  );
  const wheels = path.join(root, "wheels");
  await fs.mkdir(wheels);
  const wheel = [
    "import sys, zipfile",
    "name = 'tl_speed_probe-1.0.dist-info'",
    "with zipfile.ZipFile(sys.argv[1] + '/tl_speed_probe-1.0-py3-none-any.whl', 'w') as z:",
    "    z.writestr('tl_speed_probe.py', 'FAST = True\\n')",
    "    z.writestr(name + '/METADATA', 'Metadata-Version: 2.1\\nName: tl-speed-probe\\nVersion: 1.0\\n')",
    "    z.writestr(name + '/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')",
    "    z.writestr(name + '/RECORD', '')",
  ].join("\n");
  await new Promise<void>((resolve, reject) => execFile(python3, ["-c", wheel, wheels], (error) => (error ? reject(error) : resolve())));

  const ok = await recorder();
  const env = { PYTHONPATH: site, PIP_NO_INDEX: "1", PIP_FIND_LINKS: wheels };
  assert.deepEqual(await installSpeedExtras(python, { ...ok.hooks, env }), ["tl-speed-probe==1.0"]);
  assert.deepEqual(ok.steps, ["pip install tl-speed-probe==1.0 (faster token counts)…"]);
  assert.match(ok.logs.join(""), /-m pip install --only-binary=:all: tl-speed-probe==1\.0/);
  // Installed now: a second call has nothing to do.
  const again = await recorder();
  assert.deepEqual(await installSpeedExtras(python, { ...again.hooks, env }), []);
  assert.deepEqual(again.steps, []);

  // No wheel for it (no index, an empty folder): nothing installed, one log line, no error.
  await fs.writeFile(
    path.join(info, "METADATA"),
    'Metadata-Version: 2.1\nName: tuneline\nVersion: 0.1.0\nProvides-Extra: fast\nRequires-Dist: surely-not-installed-pkg==1.0; extra == "fast"\n',
  );
  const none = await recorder();
  const empty = path.join(root, "empty");
  await fs.mkdir(empty);
  assert.deepEqual(await installSpeedExtras(python, { ...none.hooks, env: { ...env, PIP_FIND_LINKS: empty } }), []);
  assert.match(
    none.logs.join(""),
    /Not installed: surely-not-installed-pkg==1\.0 \(No matching distribution found for surely-not-installed-pkg==1\.0\)\. tuneline works without it: the same results, faster token counts missed\./,
  );
});
