import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatTokens, formatUsd, markdownToPlain, parseLensTitle, parseSummary, statusBarText, statusBarTooltip } from "../src/pure/format";

test("token counts are short", () => {
  assert.equal(formatTokens(950), "950");
  assert.equal(formatTokens(1000), "1k");
  assert.equal(formatTokens(12345), "12.3k");
  assert.equal(formatTokens(123456), "123k");
  assert.equal(formatTokens(4560000), "4.56M");
});

test("dollars keep a non-zero digit for tiny amounts", () => {
  assert.equal(formatUsd(0), "$0");
  assert.equal(formatUsd(0.0042), "$0.0042");
  assert.equal(formatUsd(0.423), "$0.42");
  assert.equal(formatUsd(1234.5), "$1,234.50");
});

test("the status bar reads N ex · T tok · ≈ $X", () => {
  assert.equal(statusBarText({ examples: 1200, tokens: 345678, costUsd: 3.1 }), "1,200 ex · 346k tok · ≈ $3.10");
  assert.equal(statusBarText({ examples: 3, tokens: 99, costUsd: null }), "3 ex · 99 tok");
  assert.match(statusBarTooltip({ examples: 3, tokens: 99, costUsd: 0.01, model: "m", epochs: 3 }), /on m for 3 epochs: \$0\.01/);
});

test("summaries from the server are accepted in either case and rejected when incomplete", () => {
  assert.deepEqual(parseSummary({ examples: 2, tokens: 10, costUsd: 0.5, model: "m", epochs: 4 }), {
    examples: 2,
    tokens: 10,
    costUsd: 0.5,
    model: "m",
    epochs: 4,
  });
  assert.deepEqual(parseSummary({ examples: 2, tokens_total: 10, cost_usd: null }), {
    examples: 2,
    tokens: 10,
    costUsd: null,
    model: undefined,
    epochs: undefined,
  });
  assert.equal(parseSummary({ examples: 2 }), undefined);
  assert.equal(parseSummary(null), undefined);
  assert.equal(parseSummary("12 examples"), undefined);
});

test("pre-flight markdown becomes readable plain text for the modal", () => {
  const md = [
    "### Pre-flight: `train.jsonl` → **gpt-4o-mini**",
    "",
    "",
    "| | |",
    "|---|---:|",
    "| Examples | 120 |",
    "| Estimated cost | **$0.42** |",
    "",
    "- 3 epochs ([why](https://example.invalid))",
    "",
  ].join("\n");
  assert.equal(
    markdownToPlain(md),
    ["Pre-flight: train.jsonl → gpt-4o-mini", "", "Examples · 120", "Estimated cost · $0.42", "", "• 3 epochs (why)"].join("\n"),
  );
});

test("the summary can be read back from the server's code lens title", () => {
  assert.deepEqual(parseLensTitle("1,234 examples · 45,678 tokens · ≈ $1,002.50 for 3 epochs on gpt-4o-mini-2024-07-18"), {
    examples: 1234,
    tokens: 45678,
    costUsd: 1002.5,
    epochs: 3,
    model: "gpt-4o-mini-2024-07-18",
  });
  assert.deepEqual(parseLensTitle("1 example · 9 tokens · ≈ $0.0001 for 1 epoch on m"), {
    examples: 1,
    tokens: 9,
    costUsd: 0.0001,
    epochs: 1,
    model: "m",
  });
  assert.equal(parseLensTitle("2 examples · 10 tokens · price unknown for 4 epochs on local")?.costUsd, null);
  assert.equal(parseLensTitle("Train on this file…"), undefined);
});
