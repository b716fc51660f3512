import { test } from "node:test";
import * as assert from "node:assert/strict";
import {
  changeImpact,
  explicitValue,
  Inspected,
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
    }),
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(Object.keys(settings).sort(), [...SERVER_KEYS].sort());
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
  const junk: Record<string, unknown> = { "training.backend": "azure", "training.validationSplit": 0.9, "training.runsDirectory": "runs" };
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
