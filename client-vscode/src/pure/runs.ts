/**
 * Reading the run registry (`<project>/.tuneline/runs/<id>/run.json`, `metrics.jsonl`) straight from disk, as the
 * contract allows, so the runs view works while the server restarts and shows runs started from the CLI.
 *
 * Writers replace `run.json` atomically but append `metrics.jsonl` while we read it: a last line without its
 * newline is a line still being written and is left for the next read.
 */
import { promises as fs } from "fs";
import * as path from "path";

/** `stalled`: the run's worker is gone and nothing happens until the user resumes it (`tuneline runs resume ID`). */
export const RUN_STATUSES = ["created", "validating", "queued", "running", "succeeded", "failed", "cancelled", "stalled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
/** Statuses after which nothing more happens without the user. */
const STOPPED: readonly string[] = ["succeeded", "failed", "cancelled", "stalled"];

export interface RunInfo {
  id: string;
  folder: string;
  backend: string;
  model: string;
  status: RunStatus | "unknown";
  createdAt: string;
  updatedAt: string;
  datasetPath?: string;
  examples?: number;
  tokens?: number;
  costEstimateUsd?: number;
  step?: number;
  totalSteps?: number;
  epoch?: number;
  resultModel?: string;
  error?: string;
  remoteJobId?: string;
  /**
   * The server reports this user created the run on this machine (its own record, which a folder cannot forge),
   * or this window started it. Only such runs can be cancelled or resumed; undefined counts as false.
   */
  startedHere?: boolean;
  /** The server's sentence why a run is read-only (no record here, another folder, request.json changed). */
  origin?: string;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function obj(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A run.json's text → RunInfo; undefined when it is not a run record (unreadable files are skipped, not fatal). */
export function parseRunJson(text: string, folder: string): RunInfo | undefined {
  let data: Record<string, unknown>;
  try {
    data = obj(JSON.parse(text));
  } catch {
    return undefined;
  }
  const id = str(data.id) ?? path.basename(folder);
  if (!str(data.backend) && !str(data.model) && !str(data.status)) {
    return undefined;
  }
  const status = str(data.status);
  const dataset = obj(data.dataset);
  const progress = obj(data.progress);
  const remote = obj(data.remote);
  return {
    id,
    folder,
    backend: str(data.backend) ?? "?",
    model: str(data.model) ?? "?",
    status: status && (RUN_STATUSES as readonly string[]).includes(status) ? (status as RunStatus) : "unknown",
    createdAt: str(data.created_at) ?? "",
    updatedAt: str(data.updated_at) ?? str(data.created_at) ?? "",
    datasetPath: str(dataset.path),
    examples: num(dataset.examples),
    tokens: num(dataset.tokens),
    costEstimateUsd: num(data.cost_estimate_usd),
    step: num(progress.step),
    totalSteps: num(progress.total_steps),
    epoch: num(progress.epoch),
    resultModel: str(data.result_model),
    error: str(data.error),
    remoteJobId: str(remote.job_id),
  };
}

/** What marks a project folder for the training code (training/launch.py `project_root`). */
export const PROJECT_MARKERS = [".tuneline", ".git", "tuneline.toml", "pyproject.toml"] as const;

async function pathExists(p: string): Promise<boolean> {
  return fs
    .access(p)
    .then(() => true)
    .catch(() => false);
}

/**
 * The folder that holds `.tuneline/` for a dataset or folder: the nearest one up with a project marker, else the
 * folder itself — the same rule the training code uses, so the view reads the registry runs are written to.
 */
export async function projectRoot(start: string, exists: (p: string) => Promise<boolean> = pathExists): Promise<string> {
  const resolved = path.resolve(start);
  let folder = resolved;
  try {
    if (!(await fs.stat(resolved)).isDirectory()) {
      folder = path.dirname(resolved);
    }
  } catch {
    folder = path.extname(resolved) ? path.dirname(resolved) : resolved;
  }
  for (let candidate = folder; ; candidate = path.dirname(candidate)) {
    for (const marker of PROJECT_MARKERS) {
      if (await exists(path.join(candidate, marker))) {
        return candidate;
      }
    }
    if (path.dirname(candidate) === candidate) {
      return folder;
    }
  }
}

/** The registry folder of a project: `runsDirectory` (TUNELINE_RUNS_DIR) taken relative to the project. */
export function registryRoot(project: string, runsDirectory = ".tuneline/runs"): string {
  return path.isAbsolute(runsDirectory) ? runsDirectory : path.join(project, runsDirectory);
}

/** Every run under `root`, newest first; a missing root is an empty registry. */
export async function readRuns(root: string): Promise<RunInfo[]> {
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch {
    return [];
  }
  const runs = await Promise.all(
    names
      .filter((n) => !n.startsWith("."))
      .map(async (name) => {
        const folder = path.join(root, name);
        try {
          return parseRunJson(await fs.readFile(path.join(folder, "run.json"), "utf8"), folder);
        } catch {
          return undefined;
        }
      }),
  );
  return runs
    .filter((r): r is RunInfo => r !== undefined)
    .sort((a, b) => (a.createdAt === b.createdAt ? b.id.localeCompare(a.id) : b.createdAt.localeCompare(a.createdAt)));
}

/**
 * The project folder of a registry found on disk (`<project>/<runsDirectory>`), which the server takes as the
 * `uri` of `tuneline.runs`; undefined for an absolute runs directory (one registry for every project).
 */
export function projectForRegistry(root: string, runsDirectory: string): string | undefined {
  if (path.isAbsolute(runsDirectory)) {
    return undefined;
  }
  const parts = path.normalize(runsDirectory).split(path.sep).filter((p) => p && p !== ".");
  let project = path.resolve(root);
  for (let i = 0; i < parts.length; i++) {
    project = path.dirname(project);
  }
  return project;
}

/** What the server says about one run folder (`startedHere`, and `origin`: why it is read-only). */
export interface ServerVerdict {
  startedHere: boolean;
  origin?: string;
}

/**
 * Which run folders of the registry `root` the server reports as started here, from its `tuneline.runs` answer
 * (a list of run.json objects with `startedHere` and `origin`). Anything odd — not a list, no id, a missing or
 * non-true `startedHere`, an id that is not a plain folder name — counts as not started here.
 */
export function startedHereFolders(root: string, answer: unknown): Map<string, ServerVerdict> {
  const out = new Map<string, ServerVerdict>();
  if (!Array.isArray(answer)) {
    return out;
  }
  for (const item of answer) {
    const record = obj(item);
    const id = str(record.id);
    if (!id || id !== path.basename(id) || id.startsWith(".")) {
      continue;
    }
    const folder = path.join(root, id);
    const here = record.startedHere === true && out.get(folder)?.startedHere !== false;
    out.set(folder, here ? { startedHere: true } : { startedHere: false, origin: str(record.origin) ?? out.get(folder)?.origin });
  }
  return out;
}

/** What the runs view lets the user do with a run: control it, or only look (a run from elsewhere, Restricted Mode). */
export type RunAccess = "control" | "foreign" | "restricted";

export function runAccess(run: RunInfo, trusted: boolean): RunAccess {
  return !trusted ? "restricted" : run.startedHere === true ? "control" : "foreign";
}

export function isActive(run: RunInfo): boolean {
  return run.status !== "unknown" && !STOPPED.includes(run.status);
}

/** Runs that `tuneline.resumeRun` can pick up again. */
export function isResumable(run: RunInfo): boolean {
  return run.status === "failed" || run.status === "cancelled" || run.status === "stalled";
}

export interface MetricPoint {
  step: number;
  loss?: number;
  evalLoss?: number;
  learningRate?: number;
  epoch?: number;
  tokensPerSecond?: number;
  time?: string;
}

function metricFrom(record: Record<string, unknown>): MetricPoint | undefined {
  const step = num(record.step);
  if (step === undefined) {
    return undefined;
  }
  return {
    step,
    loss: num(record.loss) ?? num(record.train_loss),
    evalLoss: num(record.eval_loss),
    learningRate: num(record.learning_rate),
    epoch: num(record.epoch),
    tokensPerSecond: num(record.tokens_per_second),
    time: str(record.time),
  };
}

/** Complete lines of a JSONL text parsed; `rest` is an unfinished last line (no newline yet). Bad lines are skipped. */
export function splitJsonLines(text: string): { records: Record<string, unknown>[]; rest: string; skipped: number } {
  const lines = text.split("\n");
  const rest = lines.pop() ?? "";
  const records: Record<string, unknown>[] = [];
  let skipped = 0;
  for (const line of lines) {
    if (!line.trim()) {
      continue;
    }
    try {
      const value = JSON.parse(line);
      if (typeof value === "object" && value !== null && !Array.isArray(value)) {
        records.push(value);
      } else {
        skipped++;
      }
    } catch {
      skipped++;
    }
  }
  return { records, rest, skipped };
}

/** All metric points of a whole metrics.jsonl text (a final line without newline counts if it is whole JSON). */
export function parseMetrics(text: string): MetricPoint[] {
  const { records, rest } = splitJsonLines(text);
  if (rest.trim()) {
    try {
      records.push(obj(JSON.parse(rest)));
    } catch {
      // still being written
    }
  }
  return records.map(metricFrom).filter((p): p is MetricPoint => p !== undefined);
}

/**
 * Follows a growing metrics.jsonl: `feed` takes the bytes appended since the last call and returns the new points.
 * Byte offsets (not characters) are kept so a multi-byte character split across two reads is decoded whole.
 */
export class MetricsTail {
  private pending = Buffer.alloc(0);
  offset = 0;

  feed(chunk: Buffer): MetricPoint[] {
    this.offset += chunk.length;
    this.pending = Buffer.concat([this.pending, chunk]);
    const lastNewline = this.pending.lastIndexOf(0x0a);
    if (lastNewline < 0) {
      return [];
    }
    const complete = this.pending.subarray(0, lastNewline + 1).toString("utf8");
    this.pending = Buffer.from(this.pending.subarray(lastNewline + 1));
    return splitJsonLines(complete)
      .records.map(metricFrom)
      .filter((p): p is MetricPoint => p !== undefined);
  }

  /** The file shrank or was replaced: start again from the beginning. */
  reset(): void {
    this.pending = Buffer.alloc(0);
    this.offset = 0;
  }

  /** Reads what was appended to `file` since the last call. */
  async readFrom(file: string): Promise<{ points: MetricPoint[]; restarted: boolean }> {
    let handle: fs.FileHandle | undefined;
    try {
      handle = await fs.open(file, "r");
      const { size } = await handle.stat();
      let restarted = false;
      if (size < this.offset) {
        this.reset();
        restarted = true;
      }
      if (size === this.offset) {
        return { points: [], restarted };
      }
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.offset);
      return { points: this.feed(buffer.subarray(0, bytesRead)), restarted };
    } catch {
      return { points: [], restarted: false };
    } finally {
      await handle?.close();
    }
  }
}
