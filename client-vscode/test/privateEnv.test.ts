import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  extraForBackend,
  installPolicy,
  installSource,
  parseExtraProbe,
  parseRecord,
  pipProgressLine,
  privateAction,
  requirementFor,
  staleReason,
  uniqueCandidates,
  wheelVersion,
  withExtra,
} from "../src/pure/privateEnv";

const WHEEL = { path: "/ext/dist/wheels/tuneline-0.1.0-py3-none-any.whl", version: "0.1.0", sha256: "ab" };

test("tuneline.install: auto unless ask or never", () => {
  assert.equal(installPolicy(undefined), "auto");
  assert.equal(installPolicy("auto"), "auto");
  assert.equal(installPolicy("ask"), "ask");
  assert.equal(installPolicy("never"), "never");
  assert.equal(installPolicy("sometimes"), "auto");
});

test("a wheel's version comes from its file name", () => {
  assert.equal(wheelVersion("tuneline-0.1.0-py3-none-any.whl"), "0.1.0");
  assert.equal(wheelVersion("tuneline-0.2.0.dev3-py3-none-any.whl"), "0.2.0.dev3");
  assert.equal(wheelVersion("tuneline-0.1.0.tar.gz"), undefined);
  assert.equal(wheelVersion("other-0.1.0-py3-none-any.whl"), undefined);
});

test("the source is the user's installSource, else the bundled wheel, else the package index", () => {
  assert.equal(installSource("", WHEEL), WHEEL.path);
  assert.equal(installSource("  /src/tuneline ", WHEEL), "/src/tuneline");
  assert.equal(installSource(undefined, undefined), "");
});

test("pip requirements carry the extras", () => {
  assert.equal(requirementFor("", ["lsp"]), "tuneline[lsp]>=0.1.0,<0.2.0");
  assert.equal(requirementFor(WHEEL.path, ["lsp", "openai"]), `${WHEEL.path}[lsp,openai]`);
  assert.equal(requirementFor("/src/tuneline", []), "/src/tuneline");
  assert.equal(requirementFor("/src/tuneline[all]", ["lsp"]), "/src/tuneline[all]");
  assert.deepEqual(withExtra([]), ["lsp"]);
  assert.deepEqual(withExtra(["openai", "lsp"], "local"), ["lsp", "openai", "local"]);
  assert.deepEqual(withExtra(["lsp", "openai"], "openai"), ["lsp", "openai"]);
});

test("an install is stale when the extension, the source or the wheel changed", () => {
  const record = parseRecord(JSON.stringify({ extension: "0.1.0", source: WHEEL.path, sha256: "ab", extras: ["lsp", "openai"], basePython: "/usr/bin/python3", seconds: 21.5 }));
  assert.ok(record);
  assert.deepEqual(record.extras, ["lsp", "openai"]);
  const wanted = { extension: "0.1.0", source: WHEEL.path, sha256: "ab" };
  assert.equal(staleReason(record, wanted), undefined);
  assert.match(staleReason(record, { ...wanted, extension: "0.1.1" })!, /installed by version 0\.1\.0 of the extension \(this is 0\.1\.1\)/);
  assert.match(staleReason(record, { ...wanted, source: "/src/tuneline" })!, /installed from .*tuneline-0\.1\.0-py3-none-any\.whl, not \/src\/tuneline/);
  assert.equal(staleReason(record, { ...wanted, sha256: "cd" }), "the bundled wheel changed");
  assert.equal(staleReason(undefined, wanted), "it was not installed by this extension");
  assert.equal(parseRecord("{not json"), undefined);
  assert.equal(parseRecord(JSON.stringify({ extension: 1 })), undefined);
});

test("each training backend maps to the extra it needs", () => {
  assert.equal(extraForBackend("openai"), "openai");
  assert.equal(extraForBackend("azure"), "openai");
  assert.equal(extraForBackend("openai-compatible"), "openai");
  assert.equal(extraForBackend("together"), "together");
  assert.equal(extraForBackend("local"), "local");
  assert.equal(extraForBackend("toString"), undefined);
  assert.equal(extraForBackend(undefined), undefined);
});

test("pip's output becomes short progress messages; the extra probe's line is read defensively", () => {
  assert.equal(pipProgressLine("Collecting tiktoken>=0.8 (from tuneline==0.1.0)"), "collecting tiktoken…");
  assert.equal(pipProgressLine("Processing /ext/dist/wheels/tuneline-0.1.0-py3-none-any.whl"), "processing tuneline-0.1.0-py3-none-any.whl…");
  assert.equal(pipProgressLine("Installing collected packages: regex, tiktoken"), "installing the packages…");
  assert.equal(pipProgressLine("  Downloading foo.whl (3 kB)"), undefined);
  assert.deepEqual(parseExtraProbe('noise\n{"declared": true, "missing": ["openai", 3]}\n'), { declared: true, missing: ["openai"], requirements: [] });
  assert.deepEqual(parseExtraProbe('{"declared": true, "missing": ["rs-bpe"], "requirements": ["rs-bpe==0.1.0", null]}'), {
    declared: true,
    missing: ["rs-bpe"],
    requirements: ["rs-bpe==0.1.0"],
  });
  assert.equal(parseExtraProbe("Traceback"), undefined);
  assert.deepEqual(uniqueCandidates(["/a", undefined, "/b", "/a", ""]), ["/a", "/b"]);
});

test("the private environment is used, installed, asked about or refused by tuneline.install", () => {
  const missing = { ok: false };
  const current = { ok: true };
  const stale = { ok: true, stale: "the bundled wheel changed" };
  assert.equal(privateAction("auto", missing), "install");
  assert.equal(privateAction("auto", current), "use");
  assert.equal(privateAction("auto", stale), "install");
  assert.equal(privateAction("ask", missing), "ask");
  assert.equal(privateAction("ask", current), "use");
  assert.equal(privateAction("ask", stale), "ask");
  assert.equal(privateAction("never", missing), "refuse");
  assert.equal(privateAction("never", current), "use");
  assert.equal(privateAction("never", stale), "use");
});
