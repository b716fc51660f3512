/**
 * The language server's lifecycle: choose the Python, make sure tuneline is there, start
 * `python -P -m tuneline serve --stdio` in a folder of our own (never the workspace: docs/security.md) with the
 * API keys in its environment, restart it on demand, report crashes. In an untrusted workspace the server gets no
 * keys, none of the folder's restricted settings, and `trusted: false` in its initialization options.
 */
import { promises as fs } from "fs";
import * as vscode from "vscode";
import {
  CloseAction,
  DidChangeConfigurationNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  RevealOutputChannelOn,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import { ApiKeys } from "./keys";
import { firstSuitablePython, InstallOptions, probeExtra, readRecord, withInstallLock, writeRecord } from "./pure/install";
import { InterpreterChoice, MIN_PYTHON, venvPython } from "./pure/interpreter";
import {
  BASE_PYTHON_NAMES,
  BundledWheel,
  EXTRA_CONTENTS,
  extraForBackend,
  installPolicy,
  installSource,
  privateAction,
  requirementFor,
  staleReason,
  withExtra,
} from "./pure/privateEnv";
import { initializationOptions, ServerSettings, settingValue, toServerSettings } from "./pure/settings";
import { neutralCwd, PythonLaunch, pythonCommand, serverEnvironment } from "./pure/spawn";
import {
  basePythonCandidates,
  bundledWheel,
  extensionVersion,
  findInterpreter,
  installLockDir,
  installPrivateServer,
  privateVenvDir,
  probeInterpreter,
} from "./python";

export const SECTION = "tuneline";
const CRASH_WINDOW_MS = 3 * 60 * 1000;
const MAX_CRASHES = 3;

/** The settings object for the server, for a resource (folder-scoped settings differ per folder). */
export function serverSettings(scope?: vscode.Uri, warn?: (problem: string) => void): ServerSettings {
  const config = vscode.workspace.getConfiguration(SECTION, scope);
  const { settings, problems } = toServerSettings((key) => config.inspect(key), { trusted: vscode.workspace.isTrusted });
  problems.forEach((p) => warn?.(p));
  return settings;
}

/** A `tuneline.*` client setting as `get` reads it, except that an untrusted workspace's restricted values are ignored. */
export function clientSetting<T>(key: string, scope?: vscode.Uri): T | undefined {
  return settingValue(vscode.workspace.getConfiguration(SECTION, scope).inspect(key), key, vscode.workspace.isTrusted) as T | undefined;
}

export interface RunningServer {
  python: string;
  source: InterpreterChoice["source"];
  version: string;
  /** The interpreter takes `-P` (3.11+). */
  safePath: boolean;
  /** The workspace was trusted when this server started (else it runs in Restricted Mode: no keys, no runs). */
  trusted?: boolean;
}

export class ServerManager implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  private client: LanguageClient | undefined;
  private running: RunningServer | undefined;
  private transition: Promise<void> = Promise.resolve();
  private crashes: number[] = [];
  private readonly status: vscode.LanguageStatusItem;
  private readonly readyEmitter = new vscode.EventEmitter<LanguageClient | undefined>();
  /** Fires with the new client after every (re)start, and with undefined when the server stops. */
  readonly onDidChangeClient = this.readyEmitter.event;
  private warnedProblems = new Set<string>();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly keys: ApiKeys,
    private readonly middleware: LanguageClientOptions["middleware"],
  ) {
    this.log = vscode.window.createOutputChannel("tuneline", { log: true });
    this.status = vscode.languages.createLanguageStatusItem("tuneline.server", { language: "jsonl" });
    this.status.name = "tuneline language server";
    this.status.command = { title: "Show Logs", command: "tuneline.showLogs" };
    this.setStatus("stopped");
  }

  /** Where our Pythons run: an empty folder of the extension's own, never a workspace folder (pure/spawn.ts). */
  private async launch(safePath = false): Promise<PythonLaunch> {
    const cwd = neutralCwd(this.context.globalStorageUri.fsPath);
    await fs.mkdir(cwd, { recursive: true });
    return { cwd, safePath };
  }

  get current(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  get info(): RunningServer | undefined {
    return this.running;
  }

  /** Starts, stops and restarts run one after another, never interleaved. */
  private queue(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step, step);
    return this.transition;
  }

  start(): Promise<void> {
    return this.queue(() => this.doStart());
  }

  restart(reason: string): Promise<void> {
    return this.queue(async () => {
      this.log.info(`Restarting the server: ${reason}`);
      await this.doStop();
      this.crashes = [];
      await this.doStart();
    });
  }

  stop(): Promise<void> {
    return this.queue(() => this.doStop());
  }

  private setStatus(state: "starting" | "running" | "stopped" | "failed", detail?: string): void {
    this.status.busy = state === "starting";
    this.status.severity =
      state === "failed" ? vscode.LanguageStatusSeverity.Error : state === "stopped" ? vscode.LanguageStatusSeverity.Warning : vscode.LanguageStatusSeverity.Information;
    this.status.text = state === "running" ? "$(check) tuneline" : state === "starting" ? "tuneline: starting" : `$(warning) tuneline: ${state}`;
    this.status.detail = detail;
  }

  private warnProblem(problem: string): void {
    if (!this.warnedProblems.has(problem)) {
      this.warnedProblems.add(problem);
      this.log.warn(problem);
      void vscode.window.showWarningMessage(problem);
    }
  }

  /** Pushes the current settings (after a configuration change that needs no restart). */
  pushSettings(): void {
    const client = this.current;
    if (client) {
      const settings = serverSettings(vscode.workspace.workspaceFolders?.[0]?.uri, (p) => this.warnProblem(p));
      void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: settings } });
    }
  }

  /** `workspace/executeCommand` on the server; throws with a readable message when it is not running. */
  async executeCommand<T>(command: string, args: unknown[]): Promise<T> {
    if (command === "tuneline.preflight") {
      await this.ensureBackendExtra(args);
    }
    await this.transition;
    const client = this.current;
    if (!client) {
      throw new Error("The tuneline language server is not running (see tuneline: Show Logs).");
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
  }

  private async chooseInterpreter(folder: vscode.WorkspaceFolder | undefined): Promise<RunningServer | undefined> {
    const setting = clientSetting<string>("interpreter") ?? "";
    const choice = await findInterpreter(setting, folder, (candidate, reason) => this.log.warn(`Not using ${candidate}: ${reason} (Restricted Mode).`));
    const launch = await this.launch();
    let problem = "no Python was found (no tuneline.interpreter setting, no Python extension interpreter, no python3 on PATH)";
    let basePython: string | undefined;
    if (choice) {
      this.log.info(`Python (${choice.source}): ${choice.path}`);
      const outcome = await probeInterpreter(choice.path, launch);
      if ("probe" in outcome && outcome.compatibility.ok) {
        return { python: choice.path, source: choice.source, version: outcome.compatibility.version, safePath: outcome.probe.safePath };
      }
      problem = "failure" in outcome ? outcome.failure : outcome.compatibility.ok ? "" : outcome.compatibility.message.replace(/\.$/, "");
      this.log.warn(`${choice.path}: ${problem}.`);
      if ("probe" in outcome && outcome.compatibility.ok === false && outcome.compatibility.reason !== "old-python") {
        basePython = choice.path;
      }
    }
    // No interpreter found has a matching tuneline: the private environment serves, installed or brought up to date
    // from the bundled wheel as `tuneline.install` allows. The user's own environments are never changed.
    return this.privateServer(choice, problem, basePython);
  }

  /** The private environment's state: its Python when it passes the probe, and what it should hold now. */
  private async privateState(): Promise<{ ok: RunningServer | undefined; stale: string | undefined; options: InstallOptions; wheel: BundledWheel | undefined }> {
    const dir = privateVenvDir(this.context);
    const wheel = await bundledWheel(this.context);
    const source = installSource(clientSetting<string>("installSource"), wheel);
    const record = await readRecord(dir);
    const wanted = { extension: extensionVersion(this.context), source, sha256: source === wheel?.path ? wheel.sha256 : null };
    const existing = await probeInterpreter(venvPython(dir), await this.launch());
    const ok =
      "probe" in existing && existing.compatibility.ok
        ? { python: venvPython(dir), source: "private-venv" as const, version: existing.compatibility.version, safePath: existing.probe.safePath }
        : undefined;
    return { ok, stale: ok ? staleReason(record, wanted) : undefined, options: { source, extras: withExtra(record?.extras ?? []), reinstall: ok !== undefined }, wheel };
  }

  private async privateServer(choice: InterpreterChoice | undefined, problem: string, basePython: string | undefined): Promise<RunningServer | undefined> {
    const policy = installPolicy(clientSetting<string>("install"));
    const state = await this.privateState();
    const named = choice?.source === "setting" ? `The tuneline.interpreter ${choice.path} cannot run the server (${problem}); ` : "";
    const action = privateAction(policy, { ok: state.ok !== undefined, stale: state.stale });
    if (state.ok && action === "use") {
      if (state.stale) {
        this.log.warn(`The private environment is out of date (${state.stale}), but tuneline.install is "never": using it as it is.`);
      }
      this.log.info(`Using the private environment: ${state.ok.python} (tuneline ${state.ok.version})`);
      if (named) {
        this.warnProblem(`${named}using tuneline's private environment instead.`);
      }
      return state.ok;
    }
    const what = state.ok ? `Update tuneline's private environment (${state.stale})?` : `Install tuneline${state.wheel ? ` ${state.wheel.version}` : ""} into a private environment for this extension?`;
    if (action === "refuse") {
      this.log.warn(`tuneline.install is "never": not installing tuneline.`);
      void vscode.window
        .showWarningMessage(
          `The tuneline language server cannot start: ${problem}. Install tuneline[lsp] into a Python (or set tuneline.install to "auto").`,
          "Choose Interpreter",
          "Show Logs",
        )
        .then((answer) => this.answerSetupChoice(answer));
      return undefined;
    }
    if (action === "ask") {
      const why = named ? named.replace(/; $/, ". ") : choice ? `${choice.path}: ${problem}. ` : `${problem[0].toUpperCase()}${problem.slice(1)}. `;
      const answer = await vscode.window.showWarningMessage(`${why}${what}`, "Install tuneline", "Choose Interpreter", "Show Logs");
      if (answer !== "Install tuneline") {
        this.answerSetupChoice(answer);
        return state.ok;
      }
    } else if (named) {
      this.warnProblem(`${named}using tuneline's private environment instead.`);
    }
    if (state.ok && state.stale) {
      this.log.info(`The private environment is out of date (${state.stale}): reinstalling tuneline there.`);
    }
    const installed = await this.installPrivate(basePython, state.options, state.wheel);
    return installed ?? state.ok;
  }

  private answerSetupChoice(answer: string | undefined): void {
    if (answer === "Choose Interpreter") {
      void vscode.commands.executeCommand("workbench.action.openSettings", "tuneline.interpreter");
    } else if (answer === "Show Logs") {
      this.log.show();
    }
  }

  /**
   * Creates or updates the private environment under a lock shared by all windows, with a progress notification;
   * the first suitable Python (3.10+) creates it. Returns the server to run, or undefined after telling the user
   * why not in one sentence (with the log one click away).
   */
  private async installPrivate(firstPython: string | undefined, options: InstallOptions, wheel: BundledWheel | undefined): Promise<RunningServer | undefined> {
    const started = Date.now();
    const label = wheel && options.source === wheel.path ? `tuneline ${wheel.version}` : "tuneline";
    this.setStatus("starting", `Installing ${label} into ${privateVenvDir(this.context)}`);
    try {
      const server = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Installing ${label}`, cancellable: false },
        (progress) =>
          withInstallLock(
            installLockDir(this.context),
            async () => {
              // Another window may have finished the same install while this one waited.
              const now = await this.privateState();
              if (now.ok && !now.stale) {
                return now.ok;
              }
              const candidates = await basePythonCandidates(firstPython, BASE_PYTHON_NAMES);
              const base = await firstSuitablePython(candidates, await this.launch(), (c, reason) => this.log.warn(`Not creating the environment with ${c}: ${reason}.`));
              if (!base) {
                throw new Error(
                  `tuneline needs Python ${MIN_PYTHON} or newer to create its environment, and none was found (tried ${candidates.join(", ") || "python3 and python on PATH"}).`,
                );
              }
              this.log.info(`Installing ${requirementFor(options.source, options.extras)} with ${base.python} (Python ${base.probe.python}) into ${privateVenvDir(this.context)}`);
              const launch = await this.launch(base.probe.safePath);
              const python = await installPrivateServer(this.context, base.python, this.log, progress, { ...options, reinstall: now.ok !== undefined }, launch);
              const outcome = await probeInterpreter(python, launch);
              if (!("probe" in outcome) || !outcome.compatibility.ok) {
                throw new Error("tuneline was installed but does not pass the check; see the log.");
              }
              const seconds = Math.round((Date.now() - started) / 100) / 10;
              await writeRecord(privateVenvDir(this.context), {
                extension: extensionVersion(this.context),
                source: options.source,
                sha256: wheel && options.source === wheel.path ? wheel.sha256 : null,
                extras: options.extras,
                basePython: base.python,
                seconds,
              });
              this.log.info(`Installed tuneline ${outcome.compatibility.version} into ${privateVenvDir(this.context)} in ${seconds} s`);
              return { python, source: "private-venv" as const, version: outcome.compatibility.version, safePath: outcome.probe.safePath };
            },
            { onWait: () => progress.report({ message: "waiting for another window's install…" }) },
          ),
      );
      void vscode.window.showInformationMessage(`tuneline ${server.version} is installed (${privateVenvDir(this.context)}).`);
      return server;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error(message);
      this.setStatus("failed", message);
      void vscode.window.showErrorMessage(message, "Show Logs").then((pick) => pick && this.log.show());
      return undefined;
    }
  }

  /**
   * Before a pre-flight: a training backend whose extra the private environment lacks (the OpenAI SDK, or torch
   * for local training) is installed after a confirmation, and the server restarted to see it. Servers in the
   * user's own environments are left alone: their pre-flight names the missing package.
   */
  private async ensureBackendExtra(args: unknown[]): Promise<void> {
    const backend = (args[0] as { backend?: unknown } | undefined)?.backend;
    const extra = extraForBackend(backend);
    const running = this.running;
    if (!extra || running?.source !== "private-venv") {
      return;
    }
    const launch = await this.launch(running.safePath);
    const probe = await probeExtra(running.python, extra, launch);
    if ("failure" in probe) {
      this.log.warn(probe.failure);
      return;
    }
    if (!probe.declared || probe.missing.length === 0) {
      return;
    }
    const contents = EXTRA_CONTENTS[extra] ?? probe.missing.join(", ");
    const answer = await vscode.window.showInformationMessage(
      `Training with ${String(backend)} needs tuneline's "${extra}" extra: ${contents}. Install it into tuneline's private environment?`,
      { modal: true, detail: `Missing: ${probe.missing.join(", ")}. Your own Python environments are not changed.` },
      "Install",
    );
    if (answer !== "Install") {
      throw new Error(`Training with ${String(backend)} needs tuneline's "${extra}" extra, which was not installed.`);
    }
    const state = await this.privateState();
    const options: InstallOptions = { source: state.options.source, extras: withExtra(state.options.extras, extra), reinstall: false };
    await withInstallLock(installLockDir(this.context), async () =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Installing tuneline[${extra}]`, cancellable: false }, async (progress) => {
        const started = Date.now();
        await installPrivateServer(this.context, running.python, this.log, progress, options, launch);
        const record = await readRecord(privateVenvDir(this.context));
        if (record) {
          await writeRecord(privateVenvDir(this.context), { ...record, extras: options.extras });
        }
        this.log.info(`Installed tuneline[${extra}] in ${Math.round((Date.now() - started) / 100) / 10} s`);
      }),
    ).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error(message);
      void vscode.window.showErrorMessage(message, "Show Logs").then((pick) => pick && this.log.show());
      throw new Error(message);
    });
    await this.restart(`the ${extra} extra was installed`);
  }

  /** A `tuneline.training.runsDirectory` the user set reaches the training code as TUNELINE_RUNS_DIR, so the runs
   * view and the runs it lists agree on one registry (in Restricted Mode only the user's own value counts). */
  private runsDirectorySetting(folder: vscode.WorkspaceFolder | undefined): string | undefined {
    const inspected = vscode.workspace.getConfiguration(SECTION, folder?.uri).inspect<string>("training.runsDirectory");
    const trusted = vscode.workspace.isTrusted;
    const value = trusted ? (inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue) : inspected?.globalValue;
    return typeof value === "string" && value.trim() ? value.trim() : undefined;
  }

  private async doStart(): Promise<void> {
    this.setStatus("starting");
    const trusted = vscode.workspace.isTrusted;
    const folder = vscode.workspace.workspaceFolders?.[0];
    const server = await this.chooseInterpreter(folder);
    if (!server) {
      this.setStatus("stopped", "No usable Python with tuneline; see tuneline: Show Logs");
      return;
    }
    // Keys go only into this process's environment (trusted workspaces only); its training children inherit them.
    const env = serverEnvironment({
      base: process.env,
      storedKeys: trusted ? await this.keys.environment() : {},
      runsDirectory: this.runsDirectorySetting(folder),
      trusted,
    });
    const cmd = pythonCommand(server.python, ["-m", "tuneline", "serve"], await this.launch(server.safePath), env); // the client appends --stdio
    this.log.info(`Starting ${cmd.command} ${cmd.args.join(" ")} in ${cmd.cwd}${trusted ? "" : " (Restricted Mode: no API keys, no training)"}`);
    const serverOptions: ServerOptions = {
      command: cmd.command,
      args: cmd.args,
      transport: TransportKind.stdio,
      options: { cwd: cmd.cwd, env: cmd.env },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "jsonl" },
        { scheme: "untitled", language: "jsonl" },
      ],
      outputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: initializationOptions(serverSettings(folder?.uri, (p) => this.warnProblem(p)), trusted),
      middleware: {
        ...this.middleware,
        workspace: {
          // Answer the server's `workspace/configuration` pulls with the mapped settings, not VS Code's raw section.
          configuration: async (params, token, next) => {
            const raw = await next(params, token);
            if (!Array.isArray(raw)) {
              return raw;
            }
            return params.items.map((item, i) =>
              item.section === SECTION ? serverSettings(item.scopeUri ? vscode.Uri.parse(item.scopeUri) : folder?.uri) : raw[i],
            );
          },
        },
      },
      errorHandler: {
        error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown }),
        // Bound to this client: a close of a client that is no longer current (stopped on purpose, or replaced by a
        // restart whose stop finished late) is not a crash.
        closed: () => this.onClosed(client),
      },
    };
    const client = new LanguageClient("tuneline", "tuneline", serverOptions, clientOptions);
    this.client = client;
    try {
      await client.start();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.log.error(`The server did not start: ${message}`);
      this.setStatus("failed", message);
      this.client = undefined;
      await client.dispose().catch(() => undefined);
      void vscode.window.showErrorMessage(`The tuneline language server did not start: ${message}`, "Show Logs").then((pick) => {
        if (pick) {
          this.log.show();
        }
      });
      return;
    }
    this.running = { ...server, trusted };
    this.log.info(`tuneline ${server.version} language server running with ${server.python}`);
    this.setStatus("running", `tuneline ${server.version} · ${server.python}`);
    this.readyEmitter.fire(client);
  }

  private onClosed(closed: LanguageClient): { action: CloseAction; handled: boolean } {
    if (closed !== this.client) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.crashes = [...this.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    this.readyEmitter.fire(undefined);
    if (this.crashes.length <= MAX_CRASHES) {
      this.log.error(`The server stopped unexpectedly; restarting it (${this.crashes.length} in the last 3 minutes).`);
      void vscode.window
        .showWarningMessage("The tuneline language server stopped unexpectedly and was restarted.", "Show Logs")
        .then((pick) => pick && this.log.show());
      this.setStatus("starting");
      // The client restarts the same process; announce it again once it runs.
      const client = this.client;
      setTimeout(() => {
        if (client && client.state === State.Running) {
          this.setStatus("running", this.running ? `tuneline ${this.running.version} · ${this.running.python}` : undefined);
          this.readyEmitter.fire(client);
        }
      }, 3000);
      return { action: CloseAction.Restart, handled: true };
    }
    const message = `The tuneline language server crashed ${this.crashes.length} times in 3 minutes and was not restarted.`;
    this.log.error(message);
    this.setStatus("failed", message);
    void vscode.window.showErrorMessage(message, "Show Logs", "Restart Server").then((pick) => {
      if (pick === "Show Logs") {
        this.log.show();
      } else if (pick === "Restart Server") {
        void this.restart("requested after crashes");
      }
    });
    return { action: CloseAction.DoNotRestart, handled: true };
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined; // first: its close is then not taken for a crash (`onClosed`)
    this.running = undefined;
    if (!client) {
      return;
    }
    try {
      if (client.state === State.Running || client.state === State.Starting) {
        await client.stop(5000);
      }
      await client.dispose();
    } catch (err) {
      this.log.warn(`Stopping the server: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.setStatus("stopped");
      this.readyEmitter.fire(undefined);
    }
  }

  dispose(): void {
    void this.stop();
    this.status.dispose();
    this.readyEmitter.dispose();
  }
}
