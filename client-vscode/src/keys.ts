/**
 * API keys live in VS Code's SecretStorage (the OS keychain where there is one), never in settings or logs.
 * They reach the training child only as environment variables of the language server process.
 */
import * as vscode from "vscode";
import type { Backend } from "./pure/settings";
import { PROVIDER_KEY_VARS } from "./pure/spawn";

interface KeySpec {
  provider: string;
  secretId: string;
  envVar: string;
  placeholder: string;
}

export const KEYS: Record<"openai" | "together", KeySpec> = {
  openai: { provider: "OpenAI", secretId: "tuneline.openaiApiKey", envVar: PROVIDER_KEY_VARS.openai, placeholder: "sk-…" },
  together: { provider: "Together", secretId: "tuneline.togetherApiKey", envVar: PROVIDER_KEY_VARS.together, placeholder: "tgp_v1_…" },
};

export function keySpecFor(backend: Backend): KeySpec | undefined {
  return backend === "local" ? undefined : KEYS[backend];
}

export class ApiKeys {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  /** Fires after a stored key was added, changed or removed (also from another window). */
  onDidChange(listener: () => void): vscode.Disposable {
    const ids = new Set(Object.values(KEYS).map((k) => k.secretId));
    return this.secrets.onDidChange((e) => {
      if (ids.has(e.key)) {
        listener();
      }
    });
  }

  /** Environment variables for the server process: stored keys override the inherited ones. */
  async environment(): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const spec of Object.values(KEYS)) {
      const stored = await this.secrets.get(spec.secretId);
      if (stored) {
        env[spec.envVar] = stored;
      }
    }
    return env;
  }

  /** Whether a key for `backend` is available: stored, or in the environment VS Code was started with. */
  async has(backend: Backend): Promise<"stored" | "environment" | "missing" | "not-needed"> {
    const spec = keySpecFor(backend);
    if (!spec) {
      return "not-needed";
    }
    if (await this.secrets.get(spec.secretId)) {
      return "stored";
    }
    return process.env[spec.envVar] ? "environment" : "missing";
  }

  /** Asks for a key in a password box and stores it; false when the user backed out. */
  async prompt(which: "openai" | "together"): Promise<boolean> {
    const spec = KEYS[which];
    const key = await vscode.window.showInputBox({
      title: `tuneline: ${spec.provider} API key`,
      prompt: `Stored in VS Code's secret storage and given to training runs as ${spec.envVar}; never written to settings or logs.`,
      placeHolder: spec.placeholder,
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) =>
        value.trim().length === 0 ? "Paste the key." : /\s/.test(value.trim()) ? "A key has no spaces in it." : undefined,
    });
    if (key === undefined) {
      return false;
    }
    await this.secrets.store(spec.secretId, key.trim());
    return true;
  }

  async clear(): Promise<number> {
    let removed = 0;
    for (const spec of Object.values(KEYS)) {
      if (await this.secrets.get(spec.secretId)) {
        await this.secrets.delete(spec.secretId);
        removed++;
      }
    }
    return removed;
  }
}
