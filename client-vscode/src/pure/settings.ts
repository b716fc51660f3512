/**
 * VS Code's `tuneline.*` configuration → the settings object the server takes (docs/contracts.md:
 * camelCase keys, in `initializationOptions.settings` and in `workspace/didChangeConfiguration`).
 *
 * Only values the user set somewhere (user, workspace, folder, or a `[jsonl]` block) are sent: the server layers
 * them over the project's `tuneline.toml`, so an editor default must never hide a project setting.
 */

/** What `WorkspaceConfiguration.inspect(key)` returns, reduced to what matters here. */
export interface Inspected {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
  globalLanguageValue?: unknown;
  workspaceLanguageValue?: unknown;
  workspaceFolderLanguageValue?: unknown;
}

export type Inspect = (key: string) => Inspected | undefined;

export type Epochs = "auto" | number;
export type Severity = "error" | "warning" | "info" | "hint";
export type NearDuplicates = "off" | "lexical" | "semantic";

export interface ServerSettings {
  model?: string;
  /** `PROVIDER:MODEL` (docs/targets.md); beside `model`, the target wins on the server. */
  target?: string;
  epochs?: Epochs;
  select?: string[];
  ignore?: string[];
  severity?: Record<string, Severity>;
  inlayHints?: boolean;
  nearDuplicates?: NearDuplicates;
  nearDuplicateThreshold?: number;
  embeddingModel?: string;
  validationFile?: string;
  secrets?: boolean;
  /** An open model's tokenizer: a folder (relative to the workspace) or a Hugging Face repo id in the user's cache. */
  tokenizer?: string;
}

/** Keys under `tuneline.` that the server reads (the contract's list, in its order). */
export const SERVER_KEYS = [
  "model",
  "target",
  "epochs",
  "select",
  "ignore",
  "severity",
  "inlayHints",
  "nearDuplicates",
  "nearDuplicateThreshold",
  "embeddingModel",
  "validationFile",
  "secrets",
  "tokenizer",
] as const;

/**
 * Settings that name a program, a path, a directory, or a model that is loaded from disk. In an untrusted
 * workspace only the user's own values of these count (workspace and folder values are ignored, by VS Code
 * through the manifest's `restrictedConfigurations` — which must list exactly these — and by this client, which
 * never forwards them). `model` (a name looked up in tuneline's price table) and the rule settings are harmless
 * and stay. docs/security.md explains each.
 */
export const RESTRICTED_KEYS = [
  "interpreter",
  "installSource",
  "validationFile",
  "embeddingModel",
  "tokenizer",
  "training.model",
  "training.runsDirectory",
] as const;

export function isRestricted(key: string): boolean {
  return (RESTRICTED_KEYS as readonly string[]).includes(key);
}

/** Changing these needs a new server process (another Python, another install, another run registry). */
export const RESTART_KEYS = ["interpreter", "installSource", "install", "training.runsDirectory"] as const;

/** Scopes that hold the user's own values, as opposed to the opened folder's. */
const USER_SCOPES: readonly (keyof Inspected)[] = ["globalLanguageValue", "globalValue"];

/**
 * The value the user chose, most specific scope first; undefined when only the default applies. With
 * `userOnly`, workspace and folder values are passed over (an untrusted workspace's restricted settings).
 */
export function explicitValue(inspected: Inspected | undefined, userOnly = false): unknown {
  if (!inspected) {
    return undefined;
  }
  const order: (keyof Inspected)[] = [
    "workspaceFolderLanguageValue",
    "workspaceLanguageValue",
    "globalLanguageValue",
    "workspaceFolderValue",
    "workspaceValue",
    "globalValue",
  ];
  for (const scope of order) {
    if (userOnly && !USER_SCOPES.includes(scope)) {
      continue;
    }
    if (inspected[scope] !== undefined) {
      return inspected[scope];
    }
  }
  return undefined;
}

/**
 * A client-side setting the way `WorkspaceConfiguration.get` reads it (folder, workspace, user, default), except
 * that in an untrusted workspace a restricted setting takes only the user's value or the default.
 */
export function settingValue(inspected: Inspected | undefined, key: string, trusted: boolean): unknown {
  if (!inspected) {
    return undefined;
  }
  const scopes: (keyof Inspected)[] =
    trusted || !isRestricted(key) ? ["workspaceFolderValue", "workspaceValue", "globalValue"] : ["globalValue"];
  for (const scope of scopes) {
    if (inspected[scope] !== undefined) {
      return inspected[scope];
    }
  }
  return inspected.defaultValue;
}

const SEVERITIES: readonly string[] = ["error", "warning", "info", "hint"];
const NEAR_DUPLICATES: readonly string[] = ["off", "lexical", "semantic"];

function codeList(value: unknown): string[] | undefined {
  if (typeof value === "string") {
    return value.split(/[,\s]+/).filter((v) => v.length > 0);
  }
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    return value.map((v: string) => v.trim()).filter((v) => v.length > 0);
  }
  return undefined;
}

/**
 * The epochs bounds, mirrored from the one rule in server/analysis/epochs.py (MIN_EPOCHS, MAX_EPOCHS; a Python
 * test keeps these equal). The client checks only to warn early; the server's answer is the one that counts.
 */
export const MIN_EPOCHS = 1;
export const MAX_EPOCHS = 50;

export function parseEpochs(value: unknown): Epochs | undefined {
  if (value === "auto") {
    return "auto";
  }
  const n = typeof value === "number" ? value : typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(n) && n >= MIN_EPOCHS && n <= MAX_EPOCHS ? n : undefined;
}

type Converter = (value: unknown) => { ok: true; value: unknown; skip?: boolean } | { ok: false; expected: string };

const ok = (value: unknown) => ({ ok: true as const, value });
const skip = () => ({ ok: true as const, value: undefined, skip: true });
const bad = (expected: string) => ({ ok: false as const, expected });

const nonEmptyString: Converter = (v) =>
  typeof v !== "string" ? bad("a string") : v.trim() === "" ? skip() : ok(v.trim());
const bool: Converter = (v) => (typeof v === "boolean" ? ok(v) : bad("true or false"));
const codes: Converter = (v) => {
  const list = codeList(v);
  return list ? ok(list) : bad("a list of rule codes, names or prefixes");
};

const CONVERTERS: Record<(typeof SERVER_KEYS)[number], Converter> = {
  model: nonEmptyString,
  target: nonEmptyString,
  epochs: (v) => {
    const epochs = parseEpochs(v);
    return epochs === undefined ? bad(`"auto" or a whole number from ${MIN_EPOCHS} to ${MAX_EPOCHS}`) : ok(epochs);
  },
  select: codes,
  ignore: codes,
  severity: (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      return bad("an object mapping rule codes to error, warning, info or hint");
    }
    const out: Record<string, Severity> = {};
    for (const [code, level] of Object.entries(v as Record<string, unknown>)) {
      if (typeof level !== "string" || !SEVERITIES.includes(level)) {
        return bad(`error, warning, info or hint for ${code}`);
      }
      out[code] = level as Severity;
    }
    return ok(out);
  },
  inlayHints: bool,
  nearDuplicates: (v) => (typeof v === "string" && NEAR_DUPLICATES.includes(v) ? ok(v) : bad("off, lexical or semantic")),
  nearDuplicateThreshold: (v) =>
    typeof v === "number" && Number.isFinite(v) && v > 0 && v <= 1 ? ok(v) : bad("a number between 0 and 1"),
  embeddingModel: nonEmptyString,
  validationFile: nonEmptyString,
  secrets: bool,
  tokenizer: nonEmptyString,
};

export interface MappedSettings {
  settings: ServerSettings;
  /** One sentence per unusable value, shown to the user; the key is left out so the server's default applies. */
  problems: string[];
}

/**
 * The settings for the server. `trusted: false` (an untrusted workspace) leaves out workspace and folder values
 * of the restricted keys, so a folder cannot make the server read a file or load a model of its choosing.
 */
export function toServerSettings(inspect: Inspect, options: { trusted?: boolean } = {}): MappedSettings {
  const trusted = options.trusted !== false;
  const settings: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const key of SERVER_KEYS) {
    const raw = explicitValue(inspect(key), !trusted && isRestricted(key));
    if (raw === undefined || raw === null) {
      continue;
    }
    const result = CONVERTERS[key](raw);
    if (!result.ok) {
      problems.push(`tuneline.${key} must be ${result.expected}, not ${JSON.stringify(raw)}; using the default.`);
    } else if (!result.skip) {
      settings[key] = result.value;
    }
  }
  return { settings: settings as ServerSettings, problems };
}

/**
 * What the client sends in `initialize`: the settings, and whether the workspace is trusted. `trusted: false`
 * asks the server for Restricted Mode (docs/security.md): no training, resuming or recovering runs, and no paths
 * or models taken from the folder's own configuration.
 */
export interface InitializationOptions {
  settings: ServerSettings;
  trusted: boolean;
}

export function initializationOptions(settings: ServerSettings, trusted: boolean): InitializationOptions {
  return { settings, trusted };
}

/** Whether a configuration change needs a server restart, a settings push, or nothing. */
export function changeImpact(affects: (section: string) => boolean): "restart" | "push" | "none" {
  if (RESTART_KEYS.some((k) => affects(`tuneline.${k}`))) {
    return "restart";
  }
  if (SERVER_KEYS.some((k) => affects(`tuneline.${k}`))) {
    return "push";
  }
  return "none";
}

/** The training backends, in the order of the Python side's table (training/backends/registry.py; a test keeps them equal). */
export type Backend = "openai" | "together" | "fireworks" | "azure" | "openai-compatible" | "local";
export const BACKENDS: readonly Backend[] = ["openai", "together", "fireworks", "azure", "openai-compatible", "local"];

export interface TrainingDefaults {
  backend: Backend;
  model?: string;
  validationSplit: number;
  runsDirectory: string;
}

/** Client-only `tuneline.training.*` values with their defaults applied (get returns the effective value). */
export function trainingDefaults(get: (key: string) => unknown): TrainingDefaults {
  const backend = get("training.backend");
  const model = get("training.model");
  const split = get("training.validationSplit");
  const runs = get("training.runsDirectory");
  return {
    backend: typeof backend === "string" && (BACKENDS as readonly string[]).includes(backend) ? (backend as Backend) : "openai",
    model: typeof model === "string" && model.trim() ? model.trim() : undefined,
    validationSplit: typeof split === "number" && split >= 0 && split <= 0.5 ? split : 0,
    runsDirectory: typeof runs === "string" && runs.trim() ? runs.trim() : ".tuneline/runs",
  };
}

/** Base models offered in the QuickPick for each backend (any other name can be typed). */
export const SUGGESTED_MODELS: Record<Backend, string[]> = {
  openai: [
    "gpt-4o-mini-2024-07-18",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4.1-2025-04-14",
    "gpt-4o-2024-08-06",
    "gpt-3.5-turbo-0125",
  ],
  together: ["meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", "Qwen/Qwen2.5-7B-Instruct"],
  fireworks: ["accounts/fireworks/models/llama-v3p1-8b-instruct", "accounts/fireworks/models/qwen3-8b"],
  azure: ["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14", "gpt-4o-2024-08-06"],
  "openai-compatible": ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct"],
  local: ["Qwen/Qwen2.5-0.5B-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"],
};

/** The model to preselect: the training default, else the analysis model for OpenAI, else the first suggestion. */
export function preferredModel(backend: Backend, defaults: TrainingDefaults, analysisModel: string | undefined): string {
  if (defaults.model && defaults.backend === backend) {
    return defaults.model;
  }
  if (backend === "openai" && analysisModel && SUGGESTED_MODELS.openai.includes(analysisModel)) {
    return analysisModel;
  }
  return SUGGESTED_MODELS[backend][0];
}
