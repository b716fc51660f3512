/**
 * The target (provider + model + method) as the editor shows and picks it, without `vscode`, so it is unit-tested.
 *
 * The server owns the provider table (providers.toml, models.toml): the status bar reads the target from
 * `tuneline/summary`, and the Select Target QuickPick lists what `tuneline.targets` returns. Nothing here knows a
 * provider fact; it only shapes text and picks.
 */
import { Backend, BACKENDS, TrainingDefaults } from "./settings";

export interface Target {
  provider: string;
  model: string;
  method?: string;
}

export interface ProviderChoice {
  provider: string;
  title: string;
  backend?: Backend;
  methods: string[];
  models: string[];
}

export interface TargetsAnswer {
  providers: ProviderChoice[];
  current?: Target;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : []);

/** `{"provider","model","method"}` from the server (summary or targets answer), or undefined if it is not one. */
export function parseTarget(value: unknown): Target | undefined {
  if (!isObject(value) || typeof value.provider !== "string" || typeof value.model !== "string") {
    return undefined;
  }
  if (!value.provider || !value.model) {
    return undefined;
  }
  return { provider: value.provider, model: value.model, method: typeof value.method === "string" ? value.method : undefined };
}

/** Whether the summary's token counts are exact (`tokensExact`); a server that does not say is taken as exact. */
export function parseTokensExact(value: unknown): boolean {
  return !(isObject(value) && (value.tokensExact === false || value.tokens_exact === false));
}

/** The `tuneline.targets` answer; entries that are not providers are dropped, so a bad reply lists nothing. */
export function parseTargets(value: unknown): TargetsAnswer {
  if (!isObject(value) || !Array.isArray(value.providers)) {
    return { providers: [] };
  }
  const providers: ProviderChoice[] = [];
  for (const p of value.providers) {
    if (!isObject(p) || typeof p.provider !== "string" || !p.provider) {
      continue;
    }
    const backend = typeof p.backend === "string" && (BACKENDS as readonly string[]).includes(p.backend) ? (p.backend as Backend) : undefined;
    providers.push({
      provider: p.provider,
      title: typeof p.title === "string" && p.title ? p.title : p.provider,
      backend,
      methods: strings(p.methods),
      models: strings(p.models),
    });
  }
  return { providers, current: parseTarget(value.current) };
}

/**
 * A model name short enough for the status bar: the last path part, without an organisation prefix, the
 * `-Instruct`/`-Reference` tails and an OpenAI snapshot date. `meta-llama/Meta-Llama-3.1-8B-Instruct-Reference`
 * → `Llama-3.1-8B`; `gpt-4o-mini-2024-07-18` → `gpt-4o-mini`; a local folder → its name.
 */
export function shortModel(model: string): string {
  const trimmed = model.trim().replace(/[\\/]+$/, "");
  let name = trimmed.split(/[\\/]/).pop() || trimmed;
  if (name.startsWith("ft:")) {
    name = name.split(":")[1] || name;
  }
  name = name.replace(/^Meta-(?=Llama)/i, "");
  name = name.replace(/-\d{4}-\d{2}-\d{2}$/, "");
  for (;;) {
    const next = name.replace(/-(Instruct|Reference|Chat|hf|instruct|chat)$/, "");
    if (next === name || !next) {
      break;
    }
    name = next;
  }
  return name.length > 32 ? `${name.slice(0, 31)}…` : name;
}

/** The status bar's target text: `→ together · Llama-3.1-8B` (the method only when it is not supervised). */
export function targetText(target: Target): string {
  const method = target.method && target.method !== "sft" ? ` · ${target.method}` : "";
  return `→ ${target.provider} · ${shortModel(target.model)}${method}`;
}

export function targetTooltip(target: Target, exact: boolean): string {
  const lines = [
    `Checked for ${target.provider}:${target.model}${target.method ? ` (${target.method})` : ""}`,
    exact ? "Token counts use this target's tokenizer." : "Token counts are estimates (≈): this target's tokenizer is not available here.",
    "Click to select another target for this workspace",
  ];
  return lines.join("\n");
}

/** The summary text with `≈` before the token count when the counts are estimates. */
export function markEstimate(text: string, exact: boolean): string {
  return exact ? text : text.replace(/(^|· )([^·≈]*? tok)\b/, "$1≈ $2");
}

/** `PROVIDER:MODEL`, the value of the `tuneline.target` setting. */
export function targetSetting(provider: string, model: string): string {
  return `${provider}:${model.trim()}`;
}

export interface TargetPickItem {
  label: string;
  description?: string;
  detail?: string;
  kind: "separator" | "model" | "other" | "clear";
  provider?: string;
  model?: string;
}

/**
 * The Select Target QuickPick: one section per provider with its models (the current target marked and put
 * first), an "Other model…" entry per provider, and an entry that removes the workspace's choice.
 */
export function targetItems(answer: TargetsAnswer): TargetPickItem[] {
  const current = answer.current;
  const items: TargetPickItem[] = [];
  const ordered = [...answer.providers].sort((a, b) => (a.provider === current?.provider ? -1 : b.provider === current?.provider ? 1 : 0));
  for (const p of ordered) {
    items.push({ label: p.title, kind: "separator" });
    const models = current?.provider === p.provider ? [current.model, ...p.models.filter((m) => m !== current.model)] : p.models;
    for (const model of models) {
      const isCurrent = current?.provider === p.provider && current.model === model;
      items.push({
        label: model,
        description: [isCurrent ? "current" : "", p.provider, p.methods.join(", ")].filter(Boolean).join(" · "),
        kind: "model",
        provider: p.provider,
        model,
      });
    }
    items.push({
      label: p.provider === "local" ? "$(folder) Local model folder…" : `$(edit) Other ${p.title} model…`,
      description: p.methods.join(", "),
      kind: "other",
      provider: p.provider,
    });
  }
  items.push({ label: "$(discard) Use the project's target", detail: "Remove tuneline.target from this workspace's settings (tuneline.toml or the default applies)", kind: "clear" });
  return items;
}

/**
 * What "Train on this file" preselects: a backend the user set explicitly wins; otherwise the target's backend
 * and model, so training goes where the file was checked for; otherwise the training defaults.
 */
export function trainingPreselection(
  target: Target | undefined,
  providers: readonly ProviderChoice[],
  defaults: TrainingDefaults,
  backendExplicit: boolean,
): { backend: Backend; model?: string } {
  if (backendExplicit || !target) {
    return { backend: defaults.backend };
  }
  const backend =
    providers.find((p) => p.provider === target.provider)?.backend ??
    ((BACKENDS as readonly string[]).includes(target.provider) ? (target.provider as Backend) : undefined);
  return backend ? { backend, model: target.model } : { backend: defaults.backend };
}
