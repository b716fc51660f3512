// The newcomer's machine: no `tuneline.interpreter`, no `tuneline.installSource`, and no tuneline on PATH (run.sh
// starts code-server with a PATH holding only a plain python3). Opening a dataset must make the extension create its
// private environment in its global storage, install the wheel bundled in the .vsix there by itself (and rs-bpe from a
// wheel, for faster token counts), and start the server from it: diagnostics, a hover and the status bar then appear
// as on a developer's machine. Prints how long the install took. Started by run.sh with E2E_URL, E2E_OUT, E2E_USER_DATA, E2E_CODE_SERVER_PGID,
// E2E_CHROME_PROFILE and E2E_PLAIN_PYTHON (the python3 on that PATH, which must still lack tuneline afterwards).
// code-server adds the login shell's PATH for its extensions, so the driver checks the PATH the server really got.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { exampleHover, extensionLog, finish, launchBrowser, openFile, pollUntil, processInfo, runCommand, serverProcesses, shot, step } from "./workbench.mjs";

const STORAGE = path.join(process.env.E2E_USER_DATA, "User", "globalStorage", "tuneline.tuneline");
const VENV_PYTHON = path.join(STORAGE, "venv", "bin", "python");

async function main() {
  const { context, page } = await launchBrowser(process.env.E2E_CHROME_PROFILE);
  try {
    await step(
      "workbench loads a folder on a machine without tuneline",
      async () => {
        await page.goto(process.env.E2E_URL, { waitUntil: "domcontentloaded", timeout: 60000 });
        await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
        await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "broken.jsonl" }).first().waitFor({ timeout: 60000 });
      },
      { critical: true },
    );

    let installSeconds;
    await step(
      "the extension installs its bundled wheel into a private environment by itself",
      async () => {
        const t0 = Date.now();
        await openFile("broken.jsonl");
        await pollUntil(async () => /Installing tuneline/.test(await page.locator(".notifications-toasts").innerText().catch(() => "")), {
          timeout: 60000,
          what: "the install progress notification",
        });
        await shot("install-progress");
        const log = await pollUntil(async () => (/Installed tuneline .* in [\d.]+ s/.test(extensionLog()) ? extensionLog() : undefined), {
          timeout: 300000,
          interval: 1000,
          what: "the extension's 'Installed tuneline' log line",
        });
        installSeconds = Number(log.match(/Installed tuneline .* in ([\d.]+) s/)[1]);
        const record = JSON.parse(readFileSync(path.join(STORAGE, "venv", "tuneline-install.json"), "utf8"));
        if (!/dist\/wheels\/tuneline-[^/]+\.whl$/.test(record.source) || !record.sha256) {
          throw new Error(`installed from ${JSON.stringify(record.source)}, not the bundled wheel`);
        }
        if (log.includes("pip install --upgrade tuneline[")) {
          throw new Error("pip was asked for tuneline from the package index");
        }
        // The fast extra's rs-bpe comes along from a wheel (it counts tokens ~1.5x faster than tiktoken).
        if (!/pip install --only-binary=:all: rs-bpe==/.test(log)) {
          throw new Error("the extension did not install the fast extra's rs-bpe");
        }
        execFileSync(VENV_PYTHON, ["-c", "import rs_bpe"], { cwd: "/", stdio: "ignore" });
        return `install ${installSeconds} s (extension log); ${((Date.now() - t0) / 1000).toFixed(1)} s from opening the file; ${path.basename(record.source)} with ${record.basePython}`;
      },
      { critical: true },
    );

    await step("diagnostics appear from the private environment's server", async () => {
      await page.locator(".monaco-editor .squiggly-error").first().waitFor({ timeout: 60000 });
      const servers = serverProcesses();
      const ours = servers.map((pid) => processInfo(pid)).find((info) => info.args[0] === VENV_PYTHON);
      if (!ours) {
        throw new Error(`no server runs from ${VENV_PYTHON} (servers: ${servers.map((p) => processInfo(p).args.join(" ")).join("; ")})`);
      }
      if (!ours.args.includes("-P") && !/^3\.10\./.test(readFileSync(path.join(STORAGE, "venv", "pyvenv.cfg"), "utf8").match(/version\s*=\s*(\S+)/)?.[1] ?? "")) {
        throw new Error("the server runs without -P");
      }
      // The PATH the extension saw (code-server adds the login shell's): no tuneline on it anywhere.
      const withTuneline = (ours.env.PATH ?? "").split(":").filter((dir) => dir && existsSync(path.join(dir, "tuneline")));
      if (withTuneline.length) {
        throw new Error(`tuneline is on the extension's PATH: ${withTuneline.join(", ")}`);
      }
      await page.keyboard.press("Control+Shift+M");
      const rows = page.locator(".markers-panel .monaco-list-row");
      await pollUntil(async () => /Unknown role 'assitant'/.test((await rows.allInnerTexts()).join("\n")), { timeout: 20000, what: "the TL105 finding" });
      await shot("install-problems");
      await page.keyboard.press("Control+J");
      return `${ours.args.join(" ")} (cwd ${ours.cwd}); no tuneline on the extension's PATH`;
    });

    await step("hover shows tokens and cost", async () => exampleHover("4:3", "install-hover"));

    await step("status bar shows the dataset summary", async () => {
      const item = page.locator(".statusbar-item", { hasText: / ex · .* tok/ }).first();
      await item.waitFor({ timeout: 30000 });
      await shot("install-status-bar");
      return (await item.innerText()).trim();
    });

    await step("an extension update reinstalls tuneline in the private environment", async () => {
      // As an older version of the extension would have left it: the next start must reinstall from this one's wheel.
      const recordFile = path.join(STORAGE, "venv", "tuneline-install.json");
      const record = JSON.parse(readFileSync(recordFile, "utf8"));
      writeFileSync(recordFile, JSON.stringify({ ...record, extension: "0.0.9" }));
      const installs = (log) => (log.match(/Installed tuneline .* in [\d.]+ s/g) ?? []).length;
      const before = extensionLog();
      await runCommand("tuneline: Restart Server");
      const log = await pollUntil(async () => (installs(extensionLog()) > installs(before) ? extensionLog() : undefined), {
        timeout: 180000,
        interval: 1000,
        what: "a second 'Installed tuneline' log line",
      });
      const seen = new Set(before.split("\n"));
      const added = log
        .split("\n")
        .filter((line) => !seen.has(line))
        .join("\n");
      if (!/installed by version 0\.0\.9 of the extension/.test(added)) {
        throw new Error("the log does not say why it reinstalled");
      }
      if (!/pip install --force-reinstall --no-deps \S*tuneline-[^ ]+\.whl/.test(added) || / -m venv /.test(added)) {
        throw new Error("not a reinstall of the wheel into the existing environment");
      }
      const after = JSON.parse(readFileSync(recordFile, "utf8"));
      if (after.extension !== record.extension) {
        throw new Error(`the record says ${after.extension}`);
      }
      await page.locator(".monaco-editor .squiggly-error").first().waitFor({ timeout: 60000 });
      return `reinstalled in ${added.match(/Installed tuneline .* in ([\d.]+) s/)[1]} s; diagnostics back`;
    });

    await step("the Pythons found are left as they were", async () => {
      const record = JSON.parse(readFileSync(path.join(STORAGE, "venv", "tuneline-install.json"), "utf8"));
      const untouched = [];
      for (const python of new Set([process.env.E2E_PLAIN_PYTHON, record.basePython])) {
        try {
          execFileSync(python, ["-c", "import tuneline"], { cwd: "/", stdio: "ignore" });
        } catch {
          untouched.push(python);
          continue;
        }
        throw new Error(`${python} can import tuneline now`);
      }
      return `${untouched.join(" and ")} still without tuneline; the server runs from ${path.join(STORAGE, "venv")}`;
    });
    console.log(`install time: ${installSeconds} s`);
  } finally {
    await finish(context);
  }
}

main().catch((err) => {
  console.error(`e2e: ${err?.message ?? err}`);
  process.exitCode = 1;
});
