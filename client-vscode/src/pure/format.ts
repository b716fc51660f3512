/** Short texts the extension shows: the status bar summary, a run's line in the runs view, the confirmation. */
import * as path from "path";
import { isActive, isResumable, RunAccess, RunInfo } from "./runs";

/** 1234 → "1,234". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** 950 → "950", 12_345 → "12.3k", 4_560_000 → "4.56M". */
export function formatTokens(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) {
    return String(Math.round(n));
  }
  const [value, unit] = abs < 1e6 ? [n / 1e3, "k"] : abs < 1e9 ? [n / 1e6, "M"] : [n / 1e9, "B"];
  const digits = Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0;
  return `${Number(value.toFixed(digits))}${unit}`;
}

/** Dollars with cents, and enough digits to be non-zero for tiny amounts: 0.0042 → "$0.0042". */
export function formatUsd(usd: number): string {
  if (usd === 0) {
    return "$0";
  }
  if (Math.abs(usd) >= 0.01) {
    return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  return `$${Number(usd.toPrecision(2))}`;
}

export interface DatasetSummary {
  examples: number;
  tokens: number;
  costUsd?: number | null;
  model?: string;
  epochs?: number;
}

/** The status bar text: `N ex · T tok · ≈ $X` (the cost is left out when the model has no known price). */
export function statusBarText(s: DatasetSummary): string {
  const parts = [`${formatCount(s.examples)} ex`, `${formatTokens(s.tokens)} tok`];
  if (typeof s.costUsd === "number") {
    parts.push(`≈ ${formatUsd(s.costUsd)}`);
  }
  return parts.join(" · ");
}

export function statusBarTooltip(s: DatasetSummary): string {
  const lines = [`${formatCount(s.examples)} examples, ${formatCount(s.tokens)} tokens`];
  if (typeof s.costUsd === "number") {
    const epochs = s.epochs ? ` for ${s.epochs} epoch${s.epochs === 1 ? "" : "s"}` : "";
    lines.push(`Estimated training cost${s.model ? ` on ${s.model}` : ""}${epochs}: ${formatUsd(s.costUsd)}`);
  }
  lines.push("Click for dataset statistics");
  return lines.join("\n");
}

/** The summary as the server reports it (camelCase or snake_case), or undefined if it is not one. */
export function parseSummary(value: unknown): DatasetSummary | undefined {
  if (typeof value !== "object" || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  const examples = v.examples;
  const tokens = v.tokens ?? v.tokensTotal ?? v.tokens_total;
  if (typeof examples !== "number" || typeof tokens !== "number") {
    return undefined;
  }
  const cost = v.costUsd ?? v.cost_usd;
  return {
    examples,
    tokens,
    costUsd: typeof cost === "number" ? cost : null,
    model: typeof v.model === "string" ? v.model : undefined,
    epochs: typeof v.epochs === "number" ? v.epochs : undefined,
  };
}

const STATUS_WORDS: Record<string, string> = {
  created: "created",
  validating: "validating",
  queued: "queued",
  running: "running",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
  stalled: "stalled",
  unknown: "unknown status",
};

/** "step 120/300 (40%)", "epoch 1.5" or "" — how far a run got. */
export function progressText(run: RunInfo): string {
  if (run.step !== undefined && run.totalSteps) {
    const pct = Math.min(100, Math.floor((100 * run.step) / run.totalSteps));
    return `${pct}% (step ${run.step}/${run.totalSteps})`;
  }
  if (run.step !== undefined && run.step > 0) {
    return `step ${run.step}`;
  }
  if (run.epoch !== undefined && run.epoch > 0) {
    return `epoch ${Number(run.epoch.toFixed(2))}`;
  }
  return "";
}

export interface RunLine {
  label: string;
  description: string;
  tooltip: string;
  icon: { id: string; color?: string };
  contextValue: string;
}

const ICONS: Record<string, { id: string; color?: string }> = {
  created: { id: "circle-outline" },
  validating: { id: "loading~spin" },
  queued: { id: "clock" },
  running: { id: "sync~spin", color: "charts.blue" },
  succeeded: { id: "pass", color: "testing.iconPassed" },
  failed: { id: "error", color: "testing.iconFailed" },
  cancelled: { id: "circle-slash", color: "disabledForeground" },
  stalled: { id: "warning", color: "list.warningForeground" },
  unknown: { id: "question" },
};

function shortProgress(run: RunInfo): string {
  if (run.step !== undefined && run.totalSteps) {
    return `${Math.min(100, Math.floor((100 * run.step) / run.totalSteps))}%`;
  }
  return progressText(run);
}

const ACCESS_NOTES: Record<Exclude<RunAccess, "control">, { short: string; long: string }> = {
  foreign: {
    short: "not started here",
    long: "Not started here: this run was found on disk, not created by you on this machine, so it is shown read-only and never resumed.",
  },
  restricted: {
    short: "Restricted Mode",
    long: "Restricted Mode: runs are shown read-only until you trust this folder.",
  },
};

/**
 * How a run appears in the runs view: the model as label; status, progress and cost after it (short, because
 * side bars are narrow: the run's children and tooltip carry the rest). Cancel and Resume (the `active` and
 * `resumable` context values) are offered only for runs the user may control (`access`, see runs.ts).
 */
export function describeRun(run: RunInfo, access: RunAccess = run.startedHere === true ? "control" : "foreign"): RunLine {
  const cost = run.backend === "local" ? "local" : run.costEstimateUsd !== undefined ? `≈ ${formatUsd(run.costEstimateUsd)}` : "";
  const progress = isActive(run) || isResumable(run) ? shortProgress(run) : "";
  const status = STATUS_WORDS[run.status] ?? run.status;
  const note = access === "control" ? undefined : ACCESS_NOTES[access];
  const why = access === "foreign" && run.origin ? `Why: ${run.origin}` : "";
  const description = [status, progress, cost, note?.short ?? ""].filter((p) => p.length > 0).join(" · ");
  const tooltip = [
    `Run ${run.id}`,
    `${run.backend} · ${run.model} · ${status}`,
    run.datasetPath ? `Dataset: ${run.datasetPath}${run.examples !== undefined ? ` (${formatCount(run.examples)} examples)` : ""}` : "",
    progressText(run) ? `Progress: ${progressText(run)}` : "",
    run.costEstimateUsd !== undefined ? `Estimated cost: ${formatUsd(run.costEstimateUsd)}` : "",
    run.resultModel ? `Result model: ${run.resultModel}` : "",
    run.remoteJobId ? `Job: ${run.remoteJobId}` : "",
    run.error ? `Error: ${run.error}` : "",
    run.createdAt ? `Started: ${run.createdAt}` : "",
    note?.long ?? "",
    why,
  ]
    .filter((l) => l.length > 0)
    .join("\n");
  const control = access === "control";
  const context = [
    "run",
    control && isActive(run) ? "active" : "",
    control && isResumable(run) ? "resumable" : "",
    control ? "" : "readonly",
  ]
    .filter((p) => p.length > 0)
    .join(" ");
  const icon = ICONS[run.status] ?? ICONS.unknown;
  // A read-only run's status is only what its run.json claims: no spinning icon that suggests work in progress.
  return { label: run.model, description, tooltip, icon: control ? icon : { ...icon, id: icon.id.replace("~spin", "") }, contextValue: context };
}

/**
 * The pre-flight markdown as plain text for a modal dialog (which shows no markdown): headings, emphasis, code
 * marks and table rules dropped, table cells joined with " · ".
 */
export function markdownToPlain(markdown: string): string {
  const out: string[] = [];
  for (const raw of markdown.split(/\r?\n/)) {
    let line = raw.trimEnd();
    if (/^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(line)) {
      continue; // a table's separator row
    }
    if (/^\s*\|.*\|\s*$/.test(line)) {
      line = line
        .trim()
        .replace(/^\||\|$/g, "")
        .split("|")
        .map((c) => c.trim())
        .filter((c) => c.length > 0)
        .join(" · ");
    }
    line = line
      .replace(/^#{1,6}\s+/, "")
      .replace(/\*\*(.+?)\*\*/g, "$1")
      .replace(/__(.+?)__/g, "$1")
      .replace(/`([^`]*)`/g, "$1")
      .replace(/\[([^\]]+)\]\([^)]+\)/g, "$1")
      .replace(/^\s*[-*]\s+/, "• ");
    if (line.trim() === "" && (out.length === 0 || out[out.length - 1] === "")) {
      continue;
    }
    out.push(line);
  }
  while (out.length > 0 && out[out.length - 1] === "") {
    out.pop();
  }
  return out.join("\n");
}

/**
 * The summary from the server's line-1 code lens title, `1,234 examples · 45,678 tokens · ≈ $0.42 for 3 epochs on
 * gpt-4o-mini-…` (or `price unknown for …`): the fallback when the server has no `tuneline/summary` request.
 */
export function parseLensTitle(title: string): DatasetSummary | undefined {
  const m =
    /^\s*([\d,]+) examples? · ([\d,]+) tokens? · (?:≈ \$([\d,]*\.?\d+)|price unknown)(?: for (\d+) epochs?)?(?: on (.+?))?\s*$/.exec(
      title,
    );
  if (!m) {
    return undefined;
  }
  const int = (s: string) => Number(s.replace(/,/g, ""));
  return {
    examples: int(m[1]),
    tokens: int(m[2]),
    costUsd: m[3] !== undefined ? Number(m[3].replace(/,/g, "")) : null,
    epochs: m[4] !== undefined ? Number(m[4]) : undefined,
    model: m[5],
  };
}

/** The rows under a run in the runs view: what the one-line summary leaves out. */
export function runDetails(run: RunInfo): { label: string; value: string }[] {
  const rows: { label: string; value: string }[] = [
    { label: "status", value: STATUS_WORDS[run.status] ?? run.status },
    { label: "backend", value: run.backend },
  ];
  if (run.datasetPath) {
    const examples = run.examples !== undefined ? ` (${formatCount(run.examples)} examples${run.tokens !== undefined ? `, ${formatTokens(run.tokens)} tokens` : ""})` : "";
    rows.push({ label: "dataset", value: `${path.basename(run.datasetPath)}${examples}` });
  }
  if (progressText(run)) {
    rows.push({ label: "progress", value: progressText(run) });
  }
  if (run.costEstimateUsd !== undefined) {
    rows.push({ label: "estimated cost", value: formatUsd(run.costEstimateUsd) });
  }
  if (run.remoteJobId) {
    rows.push({ label: "job", value: run.remoteJobId });
  }
  if (run.resultModel) {
    rows.push({ label: "result", value: run.resultModel });
  }
  if (run.error) {
    rows.push({ label: "error", value: run.error });
  }
  if (run.createdAt) {
    rows.push({ label: "started", value: run.createdAt.replace("T", " ").replace(/Z$/, " UTC") });
  }
  rows.push({ label: "id", value: run.id });
  return rows;
}
