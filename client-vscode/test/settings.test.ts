import { test } from "node:test";
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import {
  changeImpact,
  explicitValue,
  initializationOptions,
  Inspected,
  RESTRICTED_KEYS,
  settingValue,
  preferredModel,
  SERVER_KEYS,
  toServerSettings,
  trainingDefaults,
} from "../src/pure/settings";

/** A fake `inspect` over a table of key → scopes, with the manifest's defaults for every key. */
function inspector(values: Record<string, Inspected>) {
  return (key: string): Inspected => ({ defaultValue: "<default>", ...values[key] });
}

test("only values the user set are sent, camelCase, most specific scope first", () => {
  const { settings, problems } = toServerSettings(
    inspector({
      model: { globalValue: "gpt-4.1-mini-2025-04-14", workspaceValue: "gpt-4o-mini-2024-07-18" },
      inlayHints: { globalValue: false },
      nearDuplicateThreshold: { workspaceFolderValue: 0.9, globalValue: 0.99 },
      ignore: { globalLanguageValue: ["TL305"], globalValue: ["TL1"] },
    }),
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(settings, {
    model: "gpt-4o-mini-2024-07-18",
    inlayHints: false,
    nearDuplicateThreshold: 0.9,
    ignore: ["TL305"],
  });
});

test("defaults alone produce an empty object, so tuneline.toml keeps the last word", () => {
  assert.deepEqual(toServerSettings(inspector({})), { settings: {}, problems: [] });
  assert.equal(explicitValue({ defaultValue: 3 }), undefined);
  assert.equal(explicitValue(undefined), undefined);
});

test("every server key of the contract is mapped", () => {
  const { settings, problems } = toServerSettings(
    inspector({
      model: { globalValue: "gpt-4o-2024-08-06" },
      epochs: { globalValue: "3" },
      select: { globalValue: "TL1, TL2" },
      ignore: { globalValue: ["TL305"] },
      severity: { globalValue: { TL305: "hint" } },
      inlayHints: { globalValue: true },
      nearDuplicates: { globalValue: "lexical" },
      nearDuplicateThreshold: { globalValue: 0.93 },
      embeddingModel: { globalValue: " /models/minilm " },
      validationFile: { globalValue: "data/valid.jsonl" },
      secrets: { globalValue: false },
      target: { workspaceValue: "together:Qwen/Qwen2.5-7B-Instruct" },
      tokenizer: { globalValue: " ./tokenizers/qwen " },
    }),
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(Object.keys(settings).sort(), [...SERVER_KEYS].sort());
  assert.equal(settings.tokenizer, "./tokenizers/qwen");
  assert.equal(settings.epochs, 3);
  assert.deepEqual(settings.select, ["TL1", "TL2"]);
  assert.equal(settings.embeddingModel, "/models/minilm");
});

test("epochs: auto, numbers and numeric strings", () => {
  for (const [raw, expected] of [["auto", "auto"], [4, 4], ["12", 12], [50, 50]] as const) {
    assert.equal(toServerSettings(inspector({ epochs: { globalValue: raw } })).settings.epochs, expected);
  }
});

test("unusable values are reported in one sentence and left to the server's default", () => {
  const { settings, problems } = toServerSettings(
    inspector({
      epochs: { globalValue: 51 },
      severity: { globalValue: { TL101: "fatal" } },
      nearDuplicates: { globalValue: "fuzzy" },
      nearDuplicateThreshold: { globalValue: 2 },
      inlayHints: { globalValue: "yes" },
      select: { globalValue: [1, 2] },
    }),
  );
  assert.deepEqual(settings, {});
  assert.equal(problems.length, 6);
  for (const p of problems) {
    assert.match(p, /^tuneline\.\w+ must be .+; using the default\.$/);
  }
});

test("empty strings mean 'not set'", () => {
  const { settings } = toServerSettings(inspector({ embeddingModel: { globalValue: "" }, validationFile: { workspaceValue: "  " } }));
  assert.deepEqual(settings, {});
});

test("which changes restart the server, which are pushed, which are the client's own", () => {
  const affects = (keys: string[]) => (section: string) => keys.includes(section);
  assert.equal(changeImpact(affects(["tuneline.interpreter"])), "restart");
  assert.equal(changeImpact(affects(["tuneline.installSource", "tuneline.model"])), "restart");
  assert.equal(changeImpact(affects(["tuneline.model"])), "push");
  assert.equal(changeImpact(affects(["tuneline.nearDuplicateThreshold"])), "push");
  assert.equal(changeImpact(affects(["tuneline.training.runsDirectory"])), "restart");
  assert.equal(changeImpact(affects(["tuneline.training.backend"])), "none");
  assert.equal(changeImpact(affects(["editor.fontSize"])), "none");
});

test("training defaults are validated and fall back", () => {
  const table: Record<string, unknown> = { "training.backend": "together", "training.model": " Qwen/Qwen2.5-7B-Instruct ", "training.validationSplit": 0.1 };
  assert.deepEqual(trainingDefaults((k) => table[k]), {
    backend: "together",
    model: "Qwen/Qwen2.5-7B-Instruct",
    validationSplit: 0.1,
    runsDirectory: ".tuneline/runs",
  });
  const junk: Record<string, unknown> = { "training.backend": "vertex", "training.validationSplit": 0.9, "training.runsDirectory": "runs" };
  assert.deepEqual(trainingDefaults((k) => junk[k]), { backend: "openai", model: undefined, validationSplit: 0, runsDirectory: "runs" });
});

test("the preselected model follows the training default, then the analysis model, then the first suggestion", () => {
  const defaults = trainingDefaults(() => undefined);
  assert.equal(preferredModel("openai", defaults, "gpt-4.1-mini-2025-04-14"), "gpt-4.1-mini-2025-04-14");
  assert.equal(preferredModel("openai", defaults, "not-a-model"), "gpt-4o-mini-2024-07-18");
  assert.equal(preferredModel("together", defaults, "gpt-4.1-mini-2025-04-14"), "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference");
  const local = { ...defaults, backend: "local" as const, model: "/models/tiny" };
  assert.equal(preferredModel("local", local, undefined), "/models/tiny");
  assert.equal(preferredModel("openai", local, undefined), "gpt-4o-mini-2024-07-18");
});

test("an untrusted workspace's paths and models never reach the server; the user's own values and harmless ones do", () => {
  const table = inspector({
    validationFile: { workspaceValue: "/home/u/.ssh/id_rsa", globalValue: "data/valid.jsonl" },
    embeddingModel: { workspaceFolderValue: "./evil-model", workspaceLanguageValue: "./evil-too" },
    tokenizer: { workspaceValue: "./evil-tokenizer" },
    model: { workspaceValue: "gpt-4.1-mini-2025-04-14" },
    select: { workspaceValue: ["TL1"] },
    nearDuplicates: { workspaceValue: "semantic" },
  });
  const untrusted = toServerSettings(table, { trusted: false });
  assert.deepEqual(untrusted.settings, {
    validationFile: "data/valid.jsonl",
    model: "gpt-4.1-mini-2025-04-14",
    select: ["TL1"],
    nearDuplicates: "semantic",
  });
  const trusted = toServerSettings(table, { trusted: true });
  assert.equal(trusted.settings.validationFile, "/home/u/.ssh/id_rsa");
  assert.equal(trusted.settings.embeddingModel, "./evil-too");
  assert.equal(trusted.settings.tokenizer, "./evil-tokenizer");
  assert.deepEqual(toServerSettings(table).settings, trusted.settings, "trusted unless told otherwise");
  assert.equal(explicitValue({ workspaceValue: "w", globalLanguageValue: "g" }, true), "g");
  assert.equal(explicitValue({ workspaceFolderLanguageValue: "w" }, true), undefined);
});

test("client settings in Restricted Mode: restricted ones take only the user's value or the default", () => {
  const interpreter = { defaultValue: "", workspaceValue: "./evil-python", globalValue: "/usr/bin/python3.12" };
  assert.equal(settingValue(interpreter, "interpreter", true), "./evil-python");
  assert.equal(settingValue(interpreter, "interpreter", false), "/usr/bin/python3.12");
  const runsDir = { defaultValue: ".tuneline/runs", workspaceFolderValue: "/home/u/other-project/.tuneline/runs" };
  assert.equal(settingValue(runsDir, "training.runsDirectory", false), ".tuneline/runs");
  assert.equal(settingValue(runsDir, "training.runsDirectory", true), "/home/u/other-project/.tuneline/runs");
  assert.equal(settingValue({ defaultValue: "openai", workspaceValue: "local" }, "training.backend", false), "local");
  assert.equal(settingValue({ defaultValue: "", workspaceValue: "/models/x" }, "training.model", false), "");
  assert.equal(settingValue(undefined, "interpreter", false), undefined);
});

test("the restricted settings are the manifest's restrictedConfigurations, and each one exists", () => {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const restricted: string[] = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
  assert.deepEqual([...restricted].sort(), RESTRICTED_KEYS.map((k) => `tuneline.${k}`).sort());
  for (const key of restricted) {
    assert.ok(manifest.contributes.configuration.properties[key], `${key} is a setting`);
  }
  assert.equal(manifest.capabilities.untrustedWorkspaces.supported, "limited");
});

test("initialize tells the server whether the workspace is trusted", () => {
  assert.deepEqual(initializationOptions({ model: "m" }, false), { settings: { model: "m" }, trusted: false });
  assert.deepEqual(initializationOptions({}, true), { settings: {}, trusted: true });
});

test("the manifest hides training and run control in Restricted Mode", () => {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const menus: Record<string, { command: string; when?: string }[]> = manifest.contributes.menus;
  const gated = Object.values(menus)
    .flat()
    .filter((m) => ["tuneline.trainOnFile", "tuneline.runs.cancel", "tuneline.runs.resume"].includes(m.command) && m.when !== "false");
  assert.ok(gated.length >= 8, `${gated.length} menu entries`);
  for (const entry of gated) {
    assert.match(entry.when ?? "", /(^|&& )isWorkspaceTrusted($| &&)/, `${entry.command} in a menu without isWorkspaceTrusted`);
  }
  const welcome: { contents: string; when?: string }[] = manifest.contributes.viewsWelcome;
  for (const w of welcome.filter((v) => v.contents.includes("command:tuneline.trainOnFile"))) {
    assert.equal(w.when, "isWorkspaceTrusted");
  }
});
