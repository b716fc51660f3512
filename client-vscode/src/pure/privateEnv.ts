/**
 * The rules of the extension's private environment (`<globalStorage>/venv`): whether to install it without asking,
 * what to install (the wheel bundled in the .vsix, a `tuneline.installSource`, or the package index), when an
 * installed one is out of date, which Python creates it, and which extra a training backend needs.
 *
 * Pure (no `vscode` import, no I/O): unit-tested. `install.ts` does the work, `server.ts` the dialogs.
 */
import { SUPPORTED_SERVER, VersionRange } from "./interpreter";

/** `tuneline.install`: install into the private environment without asking, after asking, or never. */
export type InstallPolicy = "auto" | "ask" | "never";

export function installPolicy(value: unknown): InstallPolicy {
  return value === "ask" || value === "never" ? value : "auto";
}

/**
 * What to do when no interpreter found has a matching tuneline: run the private environment as it is, install (or
 * update) it, ask first, or refuse. `installed` says whether the private environment passes the probe and, if so,
 * why it is out of date (undefined: current). An out-of-date environment is still used under `never`.
 */
export function privateAction(policy: InstallPolicy, installed: { ok: boolean; stale?: string }): "use" | "install" | "ask" | "refuse" {
  if (installed.ok && (installed.stale === undefined || policy === "never")) {
    return "use";
  }
  return policy === "never" ? "refuse" : policy === "ask" ? "ask" : "install";
}

/** The tuneline wheel inside the extension (`dist/wheels/`), built from the same commit as the extension. */
export interface BundledWheel {
  path: string;
  version: string;
  sha256: string;
}

/** `tuneline-0.1.0-py3-none-any.whl` → `0.1.0` (a wheel's name is `NAME-VERSION-…`, PEP 427); else undefined. */
export function wheelVersion(fileName: string): string | undefined {
  const match = /^tuneline-([^-]+)-[^-]+-[^-]+-[^-]+\.whl$/.exec(fileName);
  return match ? match[1] : undefined;
}

/** What was installed into the private environment, kept beside it so that a change of any of it reinstalls. */
export interface InstallRecord {
  /** The extension's version that installed it. */
  extension: string;
  /** What pip installed from: the bundled wheel's path, the `installSource` setting, or "" for the package index. */
  source: string;
  /** The bundled wheel's sha256 (null for other sources): a rebuilt wheel of the same version reinstalls too. */
  sha256: string | null;
  /** tuneline's extras installed, `lsp` first, then training backends' extras as they were added. */
  extras: string[];
  /** The Python that created the environment. */
  basePython: string;
  /** How long the install took, in seconds. */
  seconds: number;
}

export const RECORD_FILE = "tuneline-install.json";

export function parseRecord(text: string): InstallRecord | undefined {
  try {
    const data = JSON.parse(text) as Partial<InstallRecord>;
    if (typeof data.extension !== "string" || typeof data.source !== "string") {
      return undefined;
    }
    return {
      extension: data.extension,
      source: data.source,
      sha256: typeof data.sha256 === "string" ? data.sha256 : null,
      extras: Array.isArray(data.extras) ? data.extras.filter((e): e is string => typeof e === "string") : ["lsp"],
      basePython: typeof data.basePython === "string" ? data.basePython : "",
      seconds: typeof data.seconds === "number" ? data.seconds : 0,
    };
  } catch {
    return undefined;
  }
}

/** What the private environment should hold now. */
export interface WantedInstall {
  extension: string;
  source: string;
  sha256: string | null;
}

/**
 * Why an installed private environment must be (re)installed, or undefined when it is current: the extension's
 * version changed (an update brings a new wheel), the source changed, or the bundled wheel was rebuilt.
 */
export function staleReason(record: InstallRecord | undefined, wanted: WantedInstall): string | undefined {
  if (!record) {
    return "it was not installed by this extension";
  }
  if (record.extension !== wanted.extension) {
    return `it was installed by version ${record.extension} of the extension (this is ${wanted.extension})`;
  }
  if (record.source !== wanted.source) {
    return `it was installed from ${record.source || "the package index"}, not ${wanted.source || "the package index"}`;
  }
  if (record.sha256 !== wanted.sha256) {
    return "the bundled wheel changed";
  }
  return undefined;
}

/**
 * The install source: the user's `tuneline.installSource` when set, else the bundled wheel, else "" (the package
 * index, as in a development build of the extension that bundles no wheel).
 */
export function installSource(setting: string | undefined, wheel: BundledWheel | undefined): string {
  const configured = (setting ?? "").trim();
  return configured || wheel?.path || "";
}

/** pip's requirement for `source` with `extras`: `PATH[lsp,openai]`, or `tuneline[lsp]>=0.1.0,<0.2.0` from the index. */
export function requirementFor(source: string, extras: readonly string[], range: VersionRange = SUPPORTED_SERVER): string {
  const list = extras.length > 0 ? `[${extras.join(",")}]` : "";
  if (!source) {
    return `tuneline${list}>=${range.min},<${range.below}`;
  }
  return source.endsWith("]") ? source : `${source}${list}`;
}

/** `extras` with `extra` added once, `lsp` always first. */
export function withExtra(extras: readonly string[], extra?: string): string[] {
  const out = ["lsp", ...extras.filter((e) => e !== "lsp")];
  if (extra && !out.includes(extra)) {
    out.push(extra);
  }
  return out;
}

/** The tuneline extra each training backend needs (pyproject.toml): Azure and OpenAI-compatible use the OpenAI SDK. */
export const BACKEND_EXTRAS: Readonly<Record<string, string>> = {
  openai: "openai",
  azure: "openai",
  "openai-compatible": "openai",
  together: "together",
  fireworks: "fireworks",
  local: "local",
};

/** What an extra brings, for the confirmation (torch is large). */
export const EXTRA_CONTENTS: Readonly<Record<string, string>> = {
  openai: "the OpenAI SDK (a few MB)",
  together: "the Together SDK (a few MB)",
  fireworks: "the Fireworks SDK (a few MB)",
  local: "torch, transformers, trl and peft (several GB)",
};

export function extraForBackend(backend: unknown): string | undefined {
  return typeof backend === "string" && Object.prototype.hasOwnProperty.call(BACKEND_EXTRAS, backend) ? BACKEND_EXTRAS[backend] : undefined;
}

/** Names tried on PATH, in order, for a Python to create the private environment with (after the one found first). */
export const BASE_PYTHON_NAMES = ["python3", "python", "python3.14", "python3.13", "python3.12", "python3.11", "python3.10"] as const;

/** Candidates without repeats, in order, leaving out nothing but duplicates and empty entries. */
export function uniqueCandidates(candidates: readonly (string | undefined)[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const c of candidates) {
    if (c && !seen.has(c)) {
      seen.add(c);
      out.push(c);
    }
  }
  return out;
}

/**
 * Runs in the private environment's Python with an extra's name as argv[1]; prints the distributions that extra
 * requires and that are not installed, as one JSON line. Reads tuneline's own metadata, so the list of packages is
 * pyproject.toml's, not a copy here. Drops the current folder from sys.path first, like the probe.
 */
export const EXTRA_PROBE_SCRIPT = [
  "import sys",
  "sys.path[:] = [p for p in sys.path if p not in ('', '.')]",
  "import json, re",
  "from importlib import metadata",
  "extra = sys.argv[1]",
  "out = {'declared': False, 'missing': [], 'requirements': []}",
  "try:",
  "    requires = metadata.requires('tuneline') or []",
  "except metadata.PackageNotFoundError:",
  "    requires = []",
  "for req in requires:",
  "    if not re.search(r'extra\\s*==\\s*[\"\\']' + re.escape(extra) + r'[\"\\']', req):",
  "        continue",
  "    out['declared'] = True",
  "    name = re.split(r'[\\s;\\[<>=!~(@]', req, maxsplit=1)[0]",
  "    if name == 'tuneline':",
  "        continue",
  "    try:",
  "        metadata.version(name)",
  "    except metadata.PackageNotFoundError:",
  "        out['missing'].append(name)",
  "        out['requirements'].append(req.split(';', 1)[0].strip())",
  "print(json.dumps(out))",
].join("\n");

export interface ExtraProbe {
  declared: boolean;
  /** The names of the extra's packages the environment lacks. */
  missing: string[];
  /** The same packages as tuneline requires them, version pins included and markers left out (`rs-bpe==0.1.0`). */
  requirements: string[];
}

export function parseExtraProbe(stdout: string): ExtraProbe | undefined {
  const line = stdout
    .split(/\r?\n/)
    .filter((l) => l.trim().startsWith("{"))
    .pop();
  if (!line) {
    return undefined;
  }
  try {
    const data = JSON.parse(line) as Partial<ExtraProbe>;
    const strings = (value: unknown) => (Array.isArray(value) ? value.filter((m): m is string => typeof m === "string") : []);
    return { declared: data.declared === true, missing: strings(data.missing), requirements: strings(data.requirements) };
  } catch {
    return undefined;
  }
}

/** A pip output line worth showing in the progress notification ("Collecting tiktoken"), or undefined. */
export function pipProgressLine(line: string): string | undefined {
  const trimmed = line.trim();
  const collecting = /^(Collecting|Processing) (\S+)/.exec(trimmed);
  if (collecting) {
    const name = collecting[2].split(/[/\\]/).pop() ?? collecting[2];
    return `${collecting[1].toLowerCase()} ${name.replace(/[<>=!~;[].*$/, "")}…`;
  }
  if (trimmed.startsWith("Installing collected packages")) {
    return "installing the packages…";
  }
  return undefined;
}
