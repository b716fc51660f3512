import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import {
  isActive,
  isResumable,
  MetricsTail,
  parseMetrics,
  parseRunJson,
  projectForRegistry,
  projectRoot,
  readRuns,
  registryRoot,
  runAccess,
  RunInfo,
  splitJsonLines,
  startedHereFolders,
} from "../src/pure/runs";
import { describeRun, runDetails } from "../src/pure/format";

const REPO = path.resolve(__dirname, "..", "..", "..");
const PYTHON = process.env.TUNELINE_TEST_PYTHON ?? path.join(REPO, ".venv", "bin", "python");

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "tuneline-runs-"));
}

const RUN = {
  id: "20250101-120000-openai-abc123",
  backend: "openai",
  model: "gpt-4o-mini-2024-07-18",
  status: "running",
  created_at: "2025-01-01T12:00:00Z",
  updated_at: "2025-01-01T12:05:00Z",
  dataset: { path: "/data/train.jsonl", sha256: "00", examples: 120, tokens: 45000 },
  validation: null,
  hyperparameters: { n_epochs: 3 },
  remote: { job_id: "ftjob-1", training_file_id: "file-1", validation_file_id: null },
  result_model: null,
  cost_estimate_usd: 0.42,
  progress: { step: 30, total_steps: 120, epoch: 0.75 },
  error: null,
  pid: 1234,
};

test("run.json is read into a RunInfo", () => {
  const run = parseRunJson(JSON.stringify(RUN), "/p/.tuneline/runs/x");
  assert.ok(run);
  assert.equal(run.id, RUN.id);
  assert.equal(run.status, "running");
  assert.equal(run.examples, 120);
  assert.equal(run.costEstimateUsd, 0.42);
  assert.equal(run.step, 30);
  assert.equal(run.totalSteps, 120);
  assert.equal(run.remoteJobId, "ftjob-1");
  assert.equal(run.error, undefined);
  assert.ok(isActive(run));
  assert.ok(!isResumable(run));
});

test("broken or foreign run.json files are skipped, odd fields tolerated", () => {
  assert.equal(parseRunJson("{", "/f"), undefined);
  assert.equal(parseRunJson("[]", "/f"), undefined);
  assert.equal(parseRunJson("{}", "/f"), undefined);
  const odd = parseRunJson(JSON.stringify({ backend: "local", status: "exploded", progress: "lots", dataset: null }), "/r/run-7");
  assert.ok(odd);
  assert.equal(odd.id, "run-7");
  assert.equal(odd.status, "unknown");
  assert.equal(odd.step, undefined);
  assert.ok(!isActive(odd));
});

test("the registry lists runs newest first and ignores junk folders", async () => {
  const root = await tempDir();
  const write = async (name: string, body: string) => {
    await fs.mkdir(path.join(root, name), { recursive: true });
    await fs.writeFile(path.join(root, name, "run.json"), body);
  };
  await write("old", JSON.stringify({ ...RUN, id: "old", created_at: "2024-12-31T00:00:00Z", status: "succeeded" }));
  await write("new", JSON.stringify({ ...RUN, id: "new", created_at: "2025-02-01T00:00:00Z", status: "failed", error: "The job failed." }));
  await write("half", '{"id": "half", "backend": "ope');
  await write(".tmp", JSON.stringify(RUN));
  await fs.mkdir(path.join(root, "empty"));
  await fs.writeFile(path.join(root, "stray.txt"), "not a run");
  const runs = await readRuns(root);
  assert.deepEqual(runs.map((r) => r.id), ["new", "old"]);
  assert.ok(isResumable(runs[0]));
  assert.deepEqual(await readRuns(path.join(root, "missing")), []);
});

test("runs written by the Python run registry are read back", async (t) => {
  if (!existsSync(PYTHON)) {
    t.skip(`no tuneline Python at ${PYTHON} (set TUNELINE_TEST_PYTHON)`);
    return;
  }
  const project = await tempDir();
  const script = [
    "import sys",
    "from pathlib import Path",
    "from tuneline.training.runs import RunRecord, RunRegistry",
    "reg = RunRegistry.for_project(Path(sys.argv[1]))",
    "rec = reg.create(RunRecord(id='r1', backend='local', model='tiny', dataset={'path': 'd.jsonl', 'examples': 5, 'tokens': 99}))",
    "reg.update('r1', status='running', progress={'step': 2, 'total_steps': 10, 'epoch': 0.2}, cost_estimate_usd=0.0)",
    "reg.append('r1', 'metrics', {'step': 1, 'loss': 2.5})",
    "reg.append('r1', 'metrics', {'step': 2, 'loss': 2.1, 'eval_loss': 2.3})",
  ].join("\n");
  await promisify(execFile)(PYTHON, ["-c", script, project], { timeout: 60000 });
  const runs = await readRuns(path.join(project, ".tuneline", "runs"));
  assert.equal(runs.length, 1);
  assert.equal(runs[0].status, "running");
  assert.equal(runs[0].totalSteps, 10);
  assert.equal(runs[0].examples, 5);
  const metrics = parseMetrics(await fs.readFile(path.join(runs[0].folder, "metrics.jsonl"), "utf8"));
  assert.deepEqual(metrics.map((m) => [m.step, m.loss, m.evalLoss]), [[1, 2.5, undefined], [2, 2.1, 2.3]]);
  assert.equal(describeRun(runs[0], "control").description, "running · 20% · local");
});

test("metrics: a partial last line is left for later, bad lines skipped", () => {
  const text = '{"step": 1, "loss": 2.0}\nnot json\n{"step": 2, "loss": 1.8, "eval_loss": 1.9}\n{"step": 3, "lo';
  const split = splitJsonLines(text);
  assert.equal(split.records.length, 2);
  assert.equal(split.skipped, 1);
  assert.equal(split.rest, '{"step": 3, "lo');
  assert.deepEqual(parseMetrics(text).map((p) => p.step), [1, 2]);
  assert.deepEqual(parseMetrics('{"step": 1, "loss": 2.0}\n{"step": 2, "loss": 1.5}').map((p) => p.step), [1, 2]);
  assert.deepEqual(parseMetrics('{"loss": 1}\n{"step": "x"}\n'), []);
});

test("the metrics tail follows a growing file, across split lines and split UTF-8 characters", async () => {
  const dir = await tempDir();
  const file = path.join(dir, "metrics.jsonl");
  const tail = new MetricsTail();
  assert.deepEqual((await tail.readFrom(file)).points, []); // not there yet
  await fs.writeFile(file, '{"step": 1, "loss": 3.0}\n{"step": 2, "lo');
  assert.deepEqual((await tail.readFrom(file)).points.map((p) => p.step), [1]);
  await fs.appendFile(file, 'ss": 2.5, "note": "caf');
  assert.deepEqual((await tail.readFrom(file)).points, []);
  const bytes = Buffer.from('é"}\n{"step": 3, "loss": 2.2, "eval_loss": 2.4}\n', "utf8");
  await fs.appendFile(file, bytes.subarray(0, 1)); // half of "é"
  assert.deepEqual((await tail.readFrom(file)).points, []);
  await fs.appendFile(file, bytes.subarray(1));
  const points = (await tail.readFrom(file)).points;
  assert.deepEqual(points.map((p) => [p.step, p.loss, p.evalLoss]), [[2, 2.5, undefined], [3, 2.2, 2.4]]);
  await fs.writeFile(file, '{"step": 1, "loss": 9}\n'); // replaced by a new run: shorter
  const again = await tail.readFrom(file);
  assert.equal(again.restarted, true);
  assert.deepEqual(again.points.map((p) => p.loss), [9]);
});

test("a run's line in the view: label, description, icon and actions by status", () => {
  const mine = (over: object): RunInfo => ({ ...parseRunJson(JSON.stringify({ ...RUN, ...over }), "/f")!, startedHere: true });
  const running = describeRun(mine({}));
  assert.equal(running.label, "gpt-4o-mini-2024-07-18");
  assert.equal(running.description, "running · 25% · ≈ $0.42");
  assert.equal(running.icon.id, "sync~spin");
  assert.equal(running.contextValue, "run active");
  assert.match(running.tooltip, /Job: ftjob-1/);
  const failed = describeRun(mine({ status: "failed", error: "Quota exceeded." }));
  assert.equal(failed.contextValue, "run resumable");
  assert.equal(failed.icon.id, "error");
  assert.match(failed.tooltip, /Error: Quota exceeded\./);
  const done = describeRun(mine({ status: "succeeded", result_model: "ft:gpt-4o-mini:x" }));
  assert.equal(done.description, "succeeded · ≈ $0.42");
  assert.equal(done.contextValue, "run");
  assert.doesNotMatch(JSON.stringify([running, failed, done]), /sk-/);
  // A run whose worker is gone: it stopped, and it can be resumed.
  const stalled = describeRun(mine({ status: "stalled", error: "the worker is gone; run: tuneline runs resume x" }));
  assert.equal(stalled.contextValue, "run resumable");
  assert.equal(stalled.icon.id, "warning");
  assert.equal(stalled.description, "stalled · 25% · ≈ $0.42");
});

test("runs not started here, and every run in Restricted Mode, are read-only", () => {
  const found = parseRunJson(JSON.stringify(RUN), "/ws/.tuneline/runs/x")!; // no startedHere: found on disk
  assert.equal(runAccess(found, true), "foreign");
  assert.equal(runAccess({ ...found, startedHere: true }, true), "control");
  assert.equal(runAccess({ ...found, startedHere: true }, false), "restricted");
  const foreign = describeRun(found);
  assert.equal(foreign.contextValue, "run readonly");
  assert.equal(foreign.icon.id, "sync");
  assert.equal(foreign.description, "running · 25% · ≈ $0.42 · not started here");
  assert.match(foreign.tooltip, /Not started here: .* never resumed\./);
  const explained = describeRun({ ...found, origin: "started in another folder" });
  assert.match(explained.tooltip, /\nWhy: started in another folder$/);
  const failedForeign = describeRun({ ...found, status: "failed" }, "foreign");
  assert.doesNotMatch(failedForeign.contextValue, /resumable|active/);
  const restricted = describeRun({ ...found, startedHere: true }, "restricted");
  assert.equal(restricted.contextValue, "run readonly");
  assert.match(restricted.description, /Restricted Mode$/);
  // The manifest's menus key Cancel on /active/ and Resume on /resumable/: a read-only run matches neither.
  for (const line of [foreign, failedForeign, restricted]) {
    assert.doesNotMatch(line.contextValue, /active|resumable/);
    assert.match(line.contextValue, /^run/);
  }
});

test("the server's answer marks runs started here; a missing or odd field means not", () => {
  const root = "/p/.tuneline/runs";
  const answer = [
    { id: "a", startedHere: true },
    { id: "b", startedHere: false },
    { id: "c" },
    { id: "d", startedHere: "yes" },
    { id: "../escape", startedHere: true },
    { id: ".hidden", startedHere: true },
    { startedHere: true },
    "junk",
    null,
  ];
  assert.deepEqual(
    [...startedHereFolders(root, answer)],
    [
      [path.join(root, "a"), { startedHere: true }],
      [path.join(root, "b"), { startedHere: false, origin: undefined }],
      [path.join(root, "c"), { startedHere: false, origin: undefined }],
      [path.join(root, "d"), { startedHere: false, origin: undefined }],
    ],
  );
  assert.deepEqual([...startedHereFolders(root, null)], []);
  assert.deepEqual([...startedHereFolders(root, { a: 1 })], []);
  assert.deepEqual(
    [...startedHereFolders(root, [{ id: "a", startedHere: true }, { id: "a", startedHere: false, origin: "no record of this run here" }])],
    [[path.join(root, "a"), { startedHere: false, origin: "no record of this run here" }]],
  );
});

test("a registry found on disk names its project (the uri the server is asked with)", () => {
  assert.equal(projectForRegistry("/ws/sub/.tuneline/runs", ".tuneline/runs"), "/ws/sub");
  assert.equal(projectForRegistry("/ws/sub/runs", "./runs"), "/ws/sub");
  assert.equal(projectForRegistry("/ws/a/b/c", "b/c/"), "/ws/a");
  assert.equal(projectForRegistry("/abs/runs", "/abs/runs"), undefined);
});

test("a run's detail rows carry what the one-line summary leaves out", () => {
  const run = parseRunJson(JSON.stringify({ ...RUN, status: "failed", error: "Quota exceeded." }), "/f")!;
  assert.deepEqual(runDetails(run), [
    { label: "status", value: "failed" },
    { label: "backend", value: "openai" },
    { label: "dataset", value: "train.jsonl (120 examples, 45k tokens)" },
    { label: "progress", value: "25% (step 30/120)" },
    { label: "estimated cost", value: "$0.42" },
    { label: "job", value: "ftjob-1" },
    { label: "error", value: "Quota exceeded." },
    { label: "started", value: "2025-01-01 12:00:00 UTC" },
    { label: "id", value: "20250101-120000-openai-abc123" },
  ]);
});

test("the project root is found the way the training code finds it", async (t) => {
  const top = await fs.realpath(await tempDir());
  const layout = ["plain/data", "gitrepo/.git", "gitrepo/sub/deeper", "cfg/tuneline.toml", "cfg/data", "py/pyproject.toml", "py/a/b"];
  for (const entry of layout) {
    if (entry.endsWith(".toml")) {
      await fs.mkdir(path.join(top, path.dirname(entry)), { recursive: true });
      await fs.writeFile(path.join(top, entry), "");
    } else {
      await fs.mkdir(path.join(top, entry), { recursive: true });
    }
  }
  await fs.writeFile(path.join(top, "gitrepo/sub/deeper/train.jsonl"), "{}\n");
  const cases: [string, string][] = [
    ["gitrepo/sub/deeper/train.jsonl", "gitrepo"],
    ["gitrepo/sub/deeper", "gitrepo"],
    ["cfg/data", "cfg"],
    ["py/a/b", "py"],
    ["py/a/b/missing.jsonl", "py"],
  ];
  for (const [start, expected] of cases) {
    assert.equal(await projectRoot(path.join(top, start)), path.join(top, expected), start);
  }
  assert.equal(registryRoot("/p"), path.join("/p", ".tuneline", "runs"));
  assert.equal(registryRoot("/p", "runs"), path.join("/p", "runs"));
  assert.equal(registryRoot("/p", "/abs/runs"), "/abs/runs");
  if (!existsSync(PYTHON)) {
    t.skip(`no tuneline Python at ${PYTHON}`);
    return;
  }
  const starts = cases.map(([start]) => path.join(top, start));
  const script = "import sys\nfrom tuneline.training.launch import project_root\nfor a in sys.argv[1:]: print(project_root(a))";
  const { stdout } = await promisify(execFile)(PYTHON, ["-c", script, ...starts], { timeout: 60000 });
  assert.deepEqual(stdout.trim().split("\n"), await Promise.all(starts.map((s) => projectRoot(s))));
});
