import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
  checkCompatibility,
  compareVersions,
  expandVariables,
  parseProbe,
  pipFailureSummary,
  PROBE_SCRIPT,
  ProbeResult,
  resolveInterpreter,
  venvPython,
} from "../src/pure/interpreter";

const onPath = (names: Record<string, string>) => async (name: string) => names[name];

test("the setting wins over the Python extension and PATH", async () => {
  const choice = await resolveInterpreter({
    setting: "/opt/py/bin/python",
    pythonExtension: async () => "/ext/python",
    which: onPath({ python3: "/usr/bin/python3" }),
  });
  assert.deepEqual(choice, { path: "/opt/py/bin/python", source: "setting" });
});

test("a relative setting is resolved against the workspace folder and variables are expanded", async () => {
  assert.deepEqual(
    await resolveInterpreter({ setting: ".venv/bin/python", workspaceFolder: "/proj", which: onPath({}) }),
    { path: "/proj/.venv/bin/python", source: "setting" },
  );
  assert.deepEqual(
    await resolveInterpreter({ setting: "${workspaceFolder}/env/bin/python", workspaceFolder: "/w", which: onPath({}) }),
    { path: "/w/env/bin/python", source: "setting" },
  );
  assert.equal(expandVariables("~/venv/bin/python", { home: "/home/ada" }), "/home/ada/venv/bin/python");
  assert.equal(expandVariables("${env:VENV}/bin/python", { env: { VENV: "/v" } }), "/v/bin/python");
  assert.equal(expandVariables("${userHome}/x", { home: "/h" }), "/h/x");
});

test("a bare name in the setting is looked up on PATH", async () => {
  const choice = await resolveInterpreter({ setting: "python3.12", which: onPath({ "python3.12": "/usr/bin/python3.12" }) });
  assert.deepEqual(choice, { path: "/usr/bin/python3.12", source: "setting" });
});

test("without a setting the Python extension's interpreter is used", async () => {
  const choice = await resolveInterpreter({
    setting: "  ",
    pythonExtension: async () => "/ext/venv/bin/python",
    which: onPath({ python3: "/usr/bin/python3" }),
  });
  assert.deepEqual(choice, { path: "/ext/venv/bin/python", source: "python-extension" });
});

test("a failing or silent Python extension falls through to python3 on PATH", async () => {
  for (const pythonExtension of [async () => undefined, async () => Promise.reject(new Error("boom"))]) {
    const choice = await resolveInterpreter({ pythonExtension, which: onPath({ python3: "/usr/bin/python3", python: "/usr/bin/python" }) });
    assert.deepEqual(choice, { path: "/usr/bin/python3", source: "path" });
  }
  assert.deepEqual(await resolveInterpreter({ which: onPath({ python: "/bin/python" }) }), { path: "/bin/python", source: "path" });
  assert.equal(await resolveInterpreter({ which: onPath({}) }), undefined);
});

test("an untrusted folder cannot pick the interpreter: nothing inside it is used, from any source", async () => {
  const skipped: string[] = [];
  const base = {
    workspaceFolder: "/ws",
    workspaceFolders: ["/ws", "/second"],
    trusted: false,
    skipped: (candidate: string) => skipped.push(candidate),
  };
  // A user setting pointing into the folder, the Python extension's pick of the folder's .venv, PATH into it:
  assert.deepEqual(
    await resolveInterpreter({
      ...base,
      setting: "${workspaceFolder}/.venv/bin/python",
      pythonExtension: async () => "/second/.venv/bin/python",
      which: onPath({ python3: "/ws/bin/python3", python: "/usr/bin/python" }),
    }),
    { path: "/usr/bin/python", source: "path" },
  );
  assert.deepEqual(skipped, ["/ws/.venv/bin/python", "/second/.venv/bin/python", "/ws/bin/python3"]);
  assert.deepEqual(await resolveInterpreter({ ...base, setting: "env/bin/python", which: onPath({}) }), undefined);
  // Outside the folder, the usual order holds; trusted, the folder's own interpreter is fine.
  assert.deepEqual(
    await resolveInterpreter({ ...base, setting: "/opt/py/bin/python", which: onPath({}) }),
    { path: "/opt/py/bin/python", source: "setting" },
  );
  assert.deepEqual(
    await resolveInterpreter({ ...base, trusted: true, setting: ".venv/bin/python", which: onPath({}) }),
    { path: "/ws/.venv/bin/python", source: "setting" },
  );
});

test("probe output is parsed even with noise around it", () => {
  const line = JSON.stringify({ python: "3.11.2", executable: "/p", tuneline: "0.1.0", lsp: true, error: null, safePath: true });
  assert.deepEqual(parseProbe(`warning: something\n${line}\n`), {
    python: "3.11.2",
    executable: "/p",
    tuneline: "0.1.0",
    lsp: true,
    error: null,
    safePath: true,
  });
  // An older probe line (no safePath) means: no -P.
  assert.equal(parseProbe(JSON.stringify({ python: "3.10.1" }))?.safePath, false);
  assert.equal(parseProbe("Traceback (most recent call last):\n"), undefined);
});

test("the real probe script runs in a real Python and reports what it finds", async () => {
  const python = process.env.TUNELINE_TEST_PYTHON ?? "python3";
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(python, ["-c", PROBE_SCRIPT], { timeout: 30000 }));
  } catch (err) {
    assert.fail(`could not run ${python}: ${err}`);
  }
  const probe = parseProbe(stdout);
  assert.ok(probe, `no probe line in ${JSON.stringify(stdout)}`);
  assert.match(probe.python, /^3\.\d+\.\d+$/);
  if (probe.tuneline === null) {
    assert.match(probe.error ?? "", /ModuleNotFoundError|ImportError/);
  }
});

test("versions compare by release numbers", () => {
  assert.equal(compareVersions("0.1.0", "0.1.0"), 0);
  assert.equal(compareVersions("0.1", "0.1.0"), 0);
  assert.equal(compareVersions("0.1.0.dev3+g12ab", "0.1.0"), 0);
  assert.equal(compareVersions("0.10.0", "0.9.9"), 1);
  assert.equal(compareVersions("0.0.9", "0.1.0"), -1);
});

const probe = (over: Partial<ProbeResult>): ProbeResult => ({
  python: "3.11.2",
  executable: "/usr/bin/python3",
  tuneline: "0.1.0",
  lsp: true,
  error: null,
  safePath: true,
  ...over,
});

test("compatibility: missing, old, new, without the lsp extra, old Python, and fine", () => {
  assert.deepEqual(checkCompatibility(probe({})), { ok: true, version: "0.1.0" });
  assert.deepEqual(checkCompatibility(probe({ tuneline: "0.1.7" })), { ok: true, version: "0.1.7" });
  const reasons = [
    [probe({ tuneline: null }), "missing"],
    [probe({ tuneline: "0.0.9" }), "too-old"],
    [probe({ tuneline: "0.2.0" }), "too-new"],
    [probe({ lsp: false }), "no-lsp"],
    [probe({ python: "3.8.10" }), "old-python"],
  ] as const;
  for (const [p, reason] of reasons) {
    const result = checkCompatibility(p);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.equal(result.reason, reason);
      assert.match(result.message, /\.$/);
    }
  }
});

test("private environment paths", () => {
  assert.equal(venvPython("/store/venv", "linux"), "/store/venv/bin/python");
  assert.equal(venvPython("C:\\s\\venv", "win32").endsWith("python.exe"), true);
});

test("pip failures are reduced to their last ERROR line", () => {
  const out = "Collecting tuneline\nERROR: Could not find a version that satisfies the requirement tuneline\nERROR: No matching distribution found for tuneline\n";
  assert.equal(pipFailureSummary(out), "No matching distribution found for tuneline");
  assert.equal(pipFailureSummary("\n  last words \n"), "last words");
  assert.equal(pipFailureSummary(""), "pip printed nothing");
});
