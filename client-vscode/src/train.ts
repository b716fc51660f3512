/**
 * "Train on This File": backend → model → options, then the server's pre-flight (validation, cost estimate) in a
 * modal that must be confirmed before anything that costs money starts, then a progress notification.
 */
import * as path from "path";
import * as vscode from "vscode";
import { ApiKeys, keySpecFor } from "./keys";
import { formatUsd, markdownToPlain } from "./pure/format";
import { isActive, readRuns, RunInfo } from "./pure/runs";
import { Backend, BACKENDS, explicitValue, MAX_EPOCHS, MIN_EPOCHS, parseEpochs, preferredModel, SUGGESTED_MODELS, trainingDefaults } from "./pure/settings";
import { trainingPreselection } from "./pure/target";
import { clientSetting, SECTION, ServerManager } from "./server";
import { fetchTargets } from "./targetPick";

export interface TrainRequest {
  uri: string;
  backend: Backend;
  model: string;
  epochs?: number;
  validationFile?: string;
  split?: number;
}

interface PreflightResult {
  ok: boolean;
  markdown: string;
  costUsd: number | null;
  examples: number;
  tokens: number;
  errors: { line: number | null; code: string; message: string }[];
}

const BACKEND_LABELS: Record<Backend, { label: string; detail: string }> = {
  openai: { label: "OpenAI", detail: "Fine-tuning API; billed per trained token. No new jobs from 2027-01-06." },
  together: { label: "Together AI", detail: "Fine-tuning API for open models; billed per trained token." },
  fireworks: { label: "Fireworks AI", detail: "LoRA fine-tuning of open models (SFT, DPO); key FIREWORKS_API_KEY." },
  azure: { label: "Azure OpenAI", detail: "OpenAI's models on your Azure resource (SFT, DPO); key + endpoint; deploy the result yourself." },
  "openai-compatible": { label: "OpenAI-compatible endpoint", detail: "Any endpoint with OpenAI's fine-tuning API (e.g. Nebius); key + base URL." },
  local: { label: "Local (LoRA)", detail: "transformers + peft + trl on this machine; no cost, needs the 'local' extra." },
};

/** The dataset a command was invoked on: an explorer/editor Uri, a code lens `{uri}`, or the active editor. */
export function targetUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) {
    return arg;
  }
  if (typeof arg === "string") {
    return vscode.Uri.parse(arg);
  }
  if (arg && typeof arg === "object" && typeof (arg as { uri?: unknown }).uri === "string") {
    return vscode.Uri.parse((arg as { uri: string }).uri);
  }
  return vscode.window.activeTextEditor?.document.uri;
}

async function pickBackend(keys: ApiKeys, preselected: Backend): Promise<Backend | undefined> {
  const items = await Promise.all(
    BACKENDS.map(async (backend) => {
      const key = await keys.has(backend);
      const keyNote = key === "stored" ? "key stored" : key === "environment" ? "key from the environment" : key === "missing" ? "no API key yet" : "";
      return {
        backend,
        label: BACKEND_LABELS[backend].label,
        description: [backend === preselected ? "default" : "", keyNote].filter(Boolean).join(" · "),
        detail: BACKEND_LABELS[backend].detail,
      };
    }),
  );
  items.sort((a, b) => (a.backend === preselected ? -1 : b.backend === preselected ? 1 : 0));
  const pick = await vscode.window.showQuickPick(items, {
    title: "Train on this file (1/3): backend",
    placeHolder: "Where should the model be trained?",
    ignoreFocusOut: true,
  });
  return pick?.backend;
}

async function pickModel(backend: Backend, preselected: string): Promise<string | undefined> {
  const names = [preselected, ...SUGGESTED_MODELS[backend].filter((m) => m !== preselected)];
  const other = { label: "$(edit) Other model…", model: "" };
  const items = [...names.map((m) => ({ label: m, model: m, description: m === preselected ? "preselected" : "" })), other];
  const pick = await vscode.window.showQuickPick(items, {
    title: "Train on this file (2/3): base model",
    placeHolder: `Base model for ${BACKEND_LABELS[backend].label}`,
    ignoreFocusOut: true,
  });
  if (!pick) {
    return undefined;
  }
  if (pick.model) {
    return pick.model;
  }
  const typed = await vscode.window.showInputBox({
    title: "Base model",
    prompt: backend === "local" ? "A Hugging Face model id available offline, or a local folder" : "The provider's model name",
    ignoreFocusOut: true,
    validateInput: (v) => (v.trim() ? undefined : "Type a model name."),
  });
  return typed?.trim() || undefined;
}

interface Options {
  epochs?: number;
  validationFile?: string;
  split?: number;
}

function describeValidation(o: Options): string {
  if (o.validationFile) {
    return vscode.workspace.asRelativePath(o.validationFile);
  }
  return o.split ? `hold out ${Math.round(o.split * 100)}% of the examples` : "none";
}

async function pickValidation(dataset: vscode.Uri, current: Options): Promise<Options | undefined> {
  const folder = vscode.workspace.getWorkspaceFolder(dataset);
  const files = folder ? await vscode.workspace.findFiles(new vscode.RelativePattern(folder, "**/*.jsonl"), "**/{node_modules,.tuneline,.git}/**", 200) : [];
  const items: (vscode.QuickPickItem & { apply: () => Promise<Options | undefined> })[] = [
    { label: "None", apply: async () => ({ ...current, validationFile: undefined, split: undefined }) },
    {
      label: "Hold out a share of this file…",
      apply: async () => {
        const value = await vscode.window.showInputBox({
          title: "Validation split",
          prompt: "Percentage of examples to hold out for evaluation (1–50)",
          value: String(Math.round((current.split ?? 0.1) * 100)),
          validateInput: (v) => (/^\d+(\.\d+)?$/.test(v.trim()) && Number(v) >= 1 && Number(v) <= 50 ? undefined : "A number from 1 to 50."),
        });
        return value === undefined ? undefined : { ...current, validationFile: undefined, split: Number(value) / 100 };
      },
    },
    ...files
      .filter((f) => f.toString() !== dataset.toString())
      .map((f) => ({
        label: `$(file) ${vscode.workspace.asRelativePath(f)}`,
        apply: async () => ({ ...current, validationFile: f.fsPath, split: undefined }),
      })),
  ];
  const pick = await vscode.window.showQuickPick(items, { title: "Validation data", ignoreFocusOut: true });
  return pick ? pick.apply() : current;
}

/** The options step: confirm the shown options, or change one and come back. */
async function pickOptions(dataset: vscode.Uri, initial: Options): Promise<Options | undefined> {
  let options = { ...initial };
  for (;;) {
    const items = [
      { label: "$(check) Continue to the pre-flight check", id: "go", description: "validation and cost estimate" },
      { label: "Epochs", id: "epochs", description: options.epochs ? String(options.epochs) : "auto" },
      { label: "Validation", id: "validation", description: describeValidation(options) },
    ];
    const pick = await vscode.window.showQuickPick(items, {
      title: "Train on this file (3/3): options",
      placeHolder: "Change an option, or continue",
      ignoreFocusOut: true,
    });
    if (!pick) {
      return undefined;
    }
    if (pick.id === "go") {
      return options;
    }
    if (pick.id === "epochs") {
      const value = await vscode.window.showInputBox({
        title: "Epochs",
        prompt: '"auto" (chosen from the dataset size) or a number of epochs',
        value: options.epochs ? String(options.epochs) : "auto",
        validateInput: (v) => (parseEpochs(v.trim()) === undefined ? `Type "auto" or a whole number from ${MIN_EPOCHS} to ${MAX_EPOCHS}.` : undefined),
      });
      if (value !== undefined) {
        const epochs = parseEpochs(value.trim());
        options = { ...options, epochs: epochs === "auto" ? undefined : epochs };
      }
    } else {
      options = (await pickValidation(dataset, options)) ?? options;
    }
  }
}

async function ensureKey(keys: ApiKeys, backend: Backend, onStored: (reason: string) => void): Promise<boolean> {
  const spec = keySpecFor(backend);
  if (!spec || (await keys.has(backend)) !== "missing") {
    return true;
  }
  const what = spec.endpoint ? "an address and an API key" : "an API key";
  const answer = await vscode.window.showWarningMessage(
    `Training on ${spec.provider} needs ${what}. They are kept in VS Code's secret storage and passed only to the training process.`,
    { modal: true },
    `Set ${spec.provider} API Key`,
  );
  if (!answer || backend === "local" || !(await keys.prompt(backend))) {
    return false;
  }
  onStored(`${spec.provider} API key set`); // the server restarts so its environment carries the key
  return true;
}

function requestArgs(r: TrainRequest): Record<string, unknown> {
  const out: Record<string, unknown> = { uri: r.uri, backend: r.backend, model: r.model };
  if (r.epochs) {
    out.epochs = r.epochs;
  }
  if (r.validationFile) {
    out.validationFile = r.validationFile;
  }
  if (r.split) {
    out.split = r.split;
  }
  return out;
}

/** Follows a new run in a progress notification until it is training (or finished), then hands over to the view. */
async function followStart(runsRoot: string | undefined, runId: string, model: string, onRunning: (run: RunInfo) => void): Promise<void> {
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Training ${model}`, cancellable: true },
    async (progress, token) => {
      progress.report({ message: "starting…" });
      const deadline = Date.now() + 10 * 60 * 1000;
      let last = "";
      while (!token.isCancellationRequested && Date.now() < deadline) {
        const run = runsRoot ? (await readRuns(runsRoot)).find((r) => r.id === runId) : undefined;
        if (run && run.status !== last) {
          last = run.status;
          progress.report({ message: `${run.status}${run.remoteJobId ? ` (${run.remoteJobId})` : ""}` });
        }
        if (run && (run.status === "running" || !isActive(run))) {
          onRunning(run);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
  );
}

export interface TrainDeps {
  server: ServerManager;
  keys: ApiKeys;
  restartServer: (reason: string) => void;
  runsRootFor: (uri: vscode.Uri) => Promise<string | undefined>;
  /** Shows a run this window started; `root` is its registry. */
  revealRun: (runId: string, root: string | undefined) => void;
  showChart: (runId: string) => void;
}

export async function trainOnFile(arg: unknown, deps: TrainDeps): Promise<void> {
  const uri = targetUri(arg);
  if (!uri || !uri.path.endsWith(".jsonl")) {
    void vscode.window.showWarningMessage("Open a .jsonl dataset to train on it.");
    return;
  }
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open?.isDirty) {
    const save = await vscode.window.showWarningMessage(
      `${path.basename(uri.fsPath)} has unsaved changes; training uses the file on disk.`,
      { modal: true },
      "Save and Continue",
    );
    if (!save || !(await open.save())) {
      return;
    }
  }
  if (!vscode.workspace.isTrusted) {
    return; // extension.ts refuses with a message before this; kept so no caller can start training untrusted
  }
  const config = vscode.workspace.getConfiguration(SECTION, uri);
  const defaults = trainingDefaults((k) => clientSetting(k, uri));
  // The file's target (tuneline.target, tuneline.toml) is where it was checked for: preselect its backend and model,
  // unless the user chose a training backend explicitly.
  const targets = await fetchTargets(deps.server, uri);
  const preselect = trainingPreselection(targets?.current, targets?.providers ?? [], defaults, explicitValue(config.inspect("training.backend")) !== undefined);
  const backend = await pickBackend(deps.keys, preselect.backend);
  if (!backend || !(await ensureKey(deps.keys, backend, deps.restartServer))) {
    return;
  }
  const model = await pickModel(
    backend,
    backend === preselect.backend && preselect.model ? preselect.model : preferredModel(backend, defaults, config.get<string>("model")),
  );
  if (!model) {
    return;
  }
  const configuredEpochs = parseEpochs(config.get("epochs"));
  const validationSetting = (clientSetting<string>("validationFile", uri) ?? "").trim();
  const options = await pickOptions(uri, {
    epochs: typeof configuredEpochs === "number" ? configuredEpochs : undefined,
    validationFile: validationSetting
      ? path.resolve(vscode.workspace.getWorkspaceFolder(uri)?.uri.fsPath ?? path.dirname(uri.fsPath), validationSetting)
      : undefined,
    split: defaults.validationSplit || undefined,
  });
  if (!options) {
    return;
  }
  const request: TrainRequest = { uri: uri.toString(), backend, model, ...options };

  let preflight: PreflightResult;
  try {
    preflight = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Checking ${path.basename(uri.fsPath)} for ${model}…` },
      () => deps.server.executeCommand<PreflightResult>("tuneline.preflight", [requestArgs(request)]),
    );
  } catch (err) {
    void vscode.window.showErrorMessage(`The pre-flight check failed: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  if (!preflight || typeof preflight !== "object") {
    void vscode.window.showErrorMessage("The pre-flight check returned nothing; see tuneline: Show Logs.");
    return;
  }
  const detail = markdownToPlain(preflight.markdown ?? "");
  if (!preflight.ok) {
    const errors = (preflight.errors ?? [])
      .slice(0, 8)
      .map((e) => `${e.line !== null && e.line !== undefined ? `line ${e.line + 1}: ` : ""}${e.code} ${e.message}`);
    const more = (preflight.errors?.length ?? 0) > 8 ? [`… and ${preflight.errors.length - 8} more`] : [];
    const pick = await vscode.window.showErrorMessage(
      `${path.basename(uri.fsPath)} cannot be trained on ${model} yet.`,
      { modal: true, detail: [...errors, ...more, "", detail].join("\n").trim() },
      "Show Problems",
    );
    if (pick) {
      void vscode.commands.executeCommand("workbench.actions.view.problems");
    }
    return;
  }
  const cost = typeof preflight.costUsd === "number" ? formatUsd(preflight.costUsd) : undefined;
  const startLabel = backend === "local" ? "Start Training" : cost ? `Start Training (≈ ${cost})` : "Start Training";
  const question =
    backend === "local"
      ? `Train ${model} locally on ${path.basename(uri.fsPath)}?`
      : `Start ${/^[AEIOU]/.test(BACKEND_LABELS[backend].label) ? "an" : "a"} ${BACKEND_LABELS[backend].label} fine-tuning job for ${model}?${cost ? ` Estimated cost: ${cost}.` : " The cost could not be estimated."}`;
  const confirm = await vscode.window.showInformationMessage(question, { modal: true, detail }, startLabel);
  if (confirm !== startLabel) {
    return;
  }
  let result: { runId?: string } | null;
  try {
    result = await deps.server.executeCommand<{ runId?: string } | null>("tuneline.train", [{ ...requestArgs(request), confirmed: true }]);
  } catch (err) {
    void vscode.window.showErrorMessage(`Training did not start: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  const runId = result?.runId;
  if (!runId) {
    void vscode.window.showWarningMessage("Training did not start (the server returned no run); see tuneline: Show Logs.");
    return;
  }
  const runsRoot = await deps.runsRootFor(uri);
  deps.revealRun(runId, runsRoot);
  void followStart(runsRoot, runId, model, (run) => {
    if (run.status === "running") {
      void vscode.window.showInformationMessage(`Training ${model} is running. Follow it in the Runs view.`, "Show Loss Chart").then((pick) => {
        if (pick) {
          deps.showChart(runId);
        }
      });
    }
  });
}
