/**
 * API keys live in VS Code's SecretStorage (the OS keychain where there is one), never in settings or logs.
 * They reach the training child only as environment variables of the language server process.
 *
 * Some backends need an address besides the key: Azure OpenAI its resource endpoint, an OpenAI-compatible endpoint
 * its base URL. Those are kept in SecretStorage too, set with the same command as the key: a folder's settings must
 * never be able to choose where a stored key is sent.
 */
import * as vscode from "vscode";
import type { Backend } from "./pure/settings";
import { endpointProblem } from "./pure/endpoints";
import { PROVIDER_ENDPOINT_VARS, PROVIDER_KEY_VARS } from "./pure/spawn";

/** An address stored beside a key (Azure's endpoint, an OpenAI-compatible base URL). */
interface EndpointSpec {
  secretId: string;
  envVar: string;
  prompt: string;
  placeholder: string;
}

interface KeySpec {
  provider: string;
  secretId: string;
  envVar: string;
  placeholder: string;
  /** The command that sets it (package.json contributes each). */
  command: string;
  endpoint?: EndpointSpec;
}

export type HostedBackend = Exclude<Backend, "local">;

export const KEYS: Record<HostedBackend, KeySpec> = {
  openai: { provider: "OpenAI", secretId: "tuneline.openaiApiKey", envVar: PROVIDER_KEY_VARS.openai, placeholder: "sk-…", command: "tuneline.setOpenAIKey" },
  together: { provider: "Together", secretId: "tuneline.togetherApiKey", envVar: PROVIDER_KEY_VARS.together, placeholder: "tgp_v1_…", command: "tuneline.setTogetherKey" },
  fireworks: { provider: "Fireworks AI", secretId: "tuneline.fireworksApiKey", envVar: PROVIDER_KEY_VARS.fireworks, placeholder: "fw_…", command: "tuneline.setFireworksKey" },
  azure: {
    provider: "Azure OpenAI",
    secretId: "tuneline.azureOpenAIApiKey",
    envVar: PROVIDER_KEY_VARS.azure,
    placeholder: "the resource's KEY 1 or KEY 2",
    command: "tuneline.setAzureKey",
    endpoint: {
      secretId: "tuneline.azureOpenAIEndpoint",
      envVar: PROVIDER_ENDPOINT_VARS.azure,
      prompt: "Your Azure OpenAI resource's endpoint (Keys and Endpoint page in the Azure portal).",
      placeholder: "https://NAME.openai.azure.com",
    },
  },
  "openai-compatible": {
    provider: "OpenAI-compatible endpoint",
    secretId: "tuneline.openaiCompatibleApiKey",
    envVar: PROVIDER_KEY_VARS["openai-compatible"],
    placeholder: "the endpoint's API key",
    command: "tuneline.setOpenAICompatibleKey",
    endpoint: {
      secretId: "tuneline.openaiCompatibleBaseUrl",
      envVar: PROVIDER_ENDPOINT_VARS["openai-compatible"],
      prompt: "The endpoint's API address (it speaks OpenAI's fine-tuning API), usually ending in /v1.",
      placeholder: "https://api.example.com/v1",
    },
  },
};

export function keySpecFor(backend: Backend): KeySpec | undefined {
  return backend === "local" ? undefined : KEYS[backend];
}

export class ApiKeys {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  private secretIds(): string[] {
    return Object.values(KEYS).flatMap((k) => (k.endpoint ? [k.secretId, k.endpoint.secretId] : [k.secretId]));
  }

  /** Fires after a stored key or endpoint was added, changed or removed (also from another window). */
  onDidChange(listener: () => void): vscode.Disposable {
    const ids = new Set(this.secretIds());
    return this.secrets.onDidChange((e) => {
      if (ids.has(e.key)) {
        listener();
      }
    });
  }

  /** Environment variables for the server process: stored keys and endpoints override the inherited ones. */
  async environment(): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const spec of Object.values(KEYS)) {
      for (const [secretId, envVar] of [[spec.secretId, spec.envVar], ...(spec.endpoint ? [[spec.endpoint.secretId, spec.endpoint.envVar]] : [])]) {
        const stored = await this.secrets.get(secretId);
        if (stored) {
          env[envVar] = stored;
        }
      }
    }
    return env;
  }

  /** Whether what `backend` needs is available: stored, or in the environment VS Code was started with. */
  async has(backend: Backend): Promise<"stored" | "environment" | "missing" | "not-needed"> {
    const spec = keySpecFor(backend);
    if (!spec) {
      return "not-needed";
    }
    const endpointOk = !spec.endpoint || (await this.secrets.get(spec.endpoint.secretId)) || process.env[spec.endpoint.envVar];
    if (!endpointOk) {
      return "missing";
    }
    if (await this.secrets.get(spec.secretId)) {
      return "stored";
    }
    return process.env[spec.envVar] ? "environment" : "missing";
  }

  /** Asks for the endpoint (where the backend has one) and the key, and stores them; false when the user backed out. */
  async prompt(which: HostedBackend): Promise<boolean> {
    const spec = KEYS[which];
    if (spec.endpoint) {
      const current = (await this.secrets.get(spec.endpoint.secretId)) ?? process.env[spec.endpoint.envVar] ?? "";
      const address = await vscode.window.showInputBox({
        title: `tuneline: ${spec.provider} address`,
        prompt: `${spec.endpoint.prompt} Stored in VS Code's secret storage and given to training runs as ${spec.endpoint.envVar}.`,
        placeHolder: spec.endpoint.placeholder,
        value: current,
        ignoreFocusOut: true,
        validateInput: (value) => endpointProblem(value),
      });
      if (address === undefined) {
        return false;
      }
      await this.secrets.store(spec.endpoint.secretId, address.trim().replace(/\/+$/, ""));
    }
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
    for (const id of this.secretIds()) {
      if (await this.secrets.get(id)) {
        await this.secrets.delete(id);
        removed++;
      }
    }
    return removed;
  }
}
