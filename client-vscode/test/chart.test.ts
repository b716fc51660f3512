import { test } from "node:test";
import * as assert from "node:assert/strict";
import { downsample, lossSeries, niceTicks, renderLossChart, XY } from "../src/pure/chart";
import { parseMetrics } from "../src/pure/runs";

const METRICS = [
  '{"step": 1, "loss": 2.5, "learning_rate": 0.0002, "epoch": 0.1}',
  '{"step": 2, "loss": 2.1}',
  '{"step": 2, "loss": 2.0}',
  '{"step": 3, "loss": 1.7, "eval_loss": 1.9}',
  '{"step": 4, "loss": null}',
  '{"step": 6, "eval_loss": 1.6}',
].join("\n");

test("loss series by step: latest value wins, missing values skipped", () => {
  const series = lossSeries(parseMetrics(METRICS));
  assert.deepEqual(series.train, [[1, 2.5], [2, 2.0], [3, 1.7]]);
  assert.deepEqual(series.eval, [[3, 1.9], [6, 1.6]]);
});

test("downsampling keeps the ends and the size", () => {
  const pts: XY[] = Array.from({ length: 10000 }, (_, i) => [i, 10000 - i]);
  const small = downsample(pts, 500);
  assert.ok(small.length <= 500 && small.length >= 490, `${small.length}`);
  assert.deepEqual(small[0], [0, 10000]);
  assert.deepEqual(small[small.length - 1], [9999, 1]);
  for (let i = 1; i < small.length; i++) {
    assert.ok(small[i][0] > small[i - 1][0]);
  }
  assert.equal(downsample(pts.slice(0, 10), 500).length, 10);
});

test("ticks are round and cover the range", () => {
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(1.37, 2.61, 3), [1.5, 2, 2.5]);
  assert.deepEqual(niceTicks(1.37, 2.61, 5), [1.5, 1.75, 2, 2.25, 2.5]);
  assert.deepEqual(niceTicks(3, 3), [3]);
  assert.deepEqual(niceTicks(NaN, 1), []);
});

test("the chart draws both curves with coordinates inside the plot", () => {
  const svg = renderLossChart(parseMetrics(METRICS), { width: 600, height: 300 });
  assert.match(svg, /^<svg [^>]*viewBox="0 0 600 300"/);
  assert.match(svg, /<\/svg>$/);
  const train = /<polyline class="train" fill="none" points="([^"]+)"/.exec(svg);
  const evalLine = /<polyline class="eval" fill="none" points="([^"]+)"/.exec(svg);
  assert.ok(train && evalLine);
  const coords = (s: string) => s.split(" ").map((p) => p.split(",").map(Number));
  assert.equal(coords(train[1]).length, 3);
  assert.equal(coords(evalLine[1]).length, 2);
  for (const [x, y] of [...coords(train[1]), ...coords(evalLine[1])]) {
    assert.ok(x >= 56 && x <= 584 && y >= 28 && y <= 260, `${x},${y}`);
  }
  const [first, , last] = coords(train[1]);
  assert.ok(last[1] > first[1], "the falling loss goes down the chart");
  assert.equal((svg.match(/<circle class="eval-dot"/g) ?? []).length, 2);
  assert.match(svg, /train 1\.7000/);
  assert.match(svg, /eval 1\.6000/);
});

test("an empty chart says what it waits for", () => {
  assert.match(renderLossChart([], { width: 300, height: 200 }), /waiting for metrics\.jsonl/);
});
