import assert from "node:assert/strict";
import { test } from "node:test";
import { trainingDefaults } from "../src/pure/settings";
import {
  markEstimate,
  parseTarget,
  parseTargets,
  parseTokensExact,
  shortModel,
  targetItems,
  targetSetting,
  targetText,
  trainingPreselection,
} from "../src/pure/target";

const ANSWER = {
  providers: [
    { provider: "openai", title: "OpenAI", backend: "openai", methods: ["sft", "dpo", "rft"], models: ["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18"] },
    { provider: "together", title: "Together AI", backend: "together", methods: ["sft", "dpo"], models: ["Qwen/Qwen2.5-7B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"] },
    { provider: "local", title: "Local", backend: "local", methods: ["sft", "dpo"], models: [] },
  ],
  current: { provider: "together", model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", method: null },
};

test("the status bar's target text is short: provider · model without org, tails and snapshot date", () => {
  assert.equal(targetText({ provider: "together", model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" }), "→ together · Llama-3.1-8B");
  assert.equal(targetText({ provider: "openai", model: "gpt-4o-mini-2024-07-18", method: "sft" }), "→ openai · gpt-4o-mini");
  assert.equal(targetText({ provider: "openai", model: "gpt-4.1-2025-04-14", method: "rft" }), "→ openai · gpt-4.1 · rft");
  assert.equal(shortModel("accounts/fireworks/models/llama-v3p1-8b-instruct"), "llama-v3p1-8b");
  assert.equal(shortModel("/home/me/models/tiny-qwen/"), "tiny-qwen");
  assert.equal(shortModel("C:\\models\\Qwen2.5-0.5B-Instruct"), "Qwen2.5-0.5B");
  assert.equal(shortModel("ft:gpt-4o-mini-2024-07-18:org::abc"), "gpt-4o-mini");
  assert.equal(shortModel("Instruct"), "Instruct"); // never empty
  assert.ok(shortModel("x".repeat(200)).length <= 32);
});

test("summary fields: the target and whether counts are exact; anything else is ignored", () => {
  assert.deepEqual(parseTarget(ANSWER.current), { provider: "together", model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", method: undefined });
  for (const bad of [null, undefined, 3, "together:x", [], { provider: "together" }, { provider: "", model: "m" }, { provider: 1, model: "m" }]) {
    assert.equal(parseTarget(bad), undefined);
  }
  assert.equal(parseTokensExact({ tokensExact: false }), false);
  assert.equal(parseTokensExact({ tokens_exact: false }), false);
  assert.equal(parseTokensExact({ tokensExact: true }), true);
  assert.equal(parseTokensExact({}), true); // an older server says nothing: no ≈
  assert.equal(parseTokensExact(null), true);
});

test("≈ goes before the token count only when counts are estimates", () => {
  assert.equal(markEstimate("12 ex · 3.4k tok · ≈ $0.12", false), "12 ex · ≈ 3.4k tok · ≈ $0.12");
  assert.equal(markEstimate("12 ex · 3.4k tok", true), "12 ex · 3.4k tok");
  assert.equal(markEstimate(markEstimate("1 ex · 9 tok", false), false), "1 ex · ≈ 9 tok");
});

test("the targets answer: bad entries are dropped, a bad reply lists nothing", () => {
  const parsed = parseTargets({ providers: [...ANSWER.providers, null, { provider: "" }, { provider: "x", backend: "nope", models: [1, "m"] }], current: "bad" });
  assert.deepEqual(parsed.providers.map((p) => p.provider), ["openai", "together", "local", "x"]);
  assert.equal(parsed.providers[3].backend, undefined);
  assert.deepEqual(parsed.providers[3].models, ["m"]);
  assert.equal(parsed.providers[3].title, "x");
  assert.equal(parsed.current, undefined);
  for (const bad of [null, 1, "x", {}, { providers: "x" }]) {
    assert.deepEqual(parseTargets(bad), { providers: [] });
  }
});

test("the QuickPick: the current provider first with its current model marked, other-model entries, a clear entry", () => {
  const items = targetItems(parseTargets(ANSWER));
  assert.deepEqual(
    items.map((i) => [i.kind, i.provider ?? "", i.model ?? ""]),
    [
      ["separator", "", ""],
      ["model", "together", "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"],
      ["model", "together", "Qwen/Qwen2.5-7B-Instruct"],
      ["other", "together", ""],
      ["separator", "", ""],
      ["model", "openai", "gpt-4.1-mini-2025-04-14"],
      ["model", "openai", "gpt-4o-mini-2024-07-18"],
      ["other", "openai", ""],
      ["separator", "", ""],
      ["other", "local", ""],
      ["clear", "", ""],
    ],
  );
  assert.match(items[1].description ?? "", /^current · together · sft, dpo$/);
  assert.equal(items[0].label, "Together AI");
  assert.match(items[9].label, /folder/);
  // A current model the server's table does not list (typed earlier) is still shown, first.
  const typed = targetItems(parseTargets({ ...ANSWER, current: { provider: "openai", model: "ft:gpt-4o-mini:org::x" } }));
  assert.equal(typed[1].model, "ft:gpt-4o-mini:org::x");
  assert.equal(targetSetting("together", " Qwen/Qwen2.5-7B-Instruct "), "together:Qwen/Qwen2.5-7B-Instruct");
});

test("Train on this file preselects the target's backend and model unless a backend was chosen explicitly", () => {
  const providers = parseTargets(ANSWER).providers;
  const target = parseTargets(ANSWER).current;
  const defaults = trainingDefaults((k) => (k === "training.backend" ? "openai" : undefined));
  assert.deepEqual(trainingPreselection(target, providers, defaults, false), {
    backend: "together",
    model: "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
  });
  assert.deepEqual(trainingPreselection(target, providers, defaults, true), { backend: "openai" });
  assert.deepEqual(trainingPreselection(undefined, providers, defaults, false), { backend: "openai" });
  // A provider the server did not list: its name is used when it is a backend, else the default stays.
  assert.deepEqual(trainingPreselection({ provider: "fireworks", model: "m" }, [], defaults, false), { backend: "fireworks", model: "m" });
  assert.deepEqual(trainingPreselection({ provider: "nowhere", model: "m" }, [], defaults, false), { backend: "openai" });
});
