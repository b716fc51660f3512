// Drives code-server in headless Chromium through what a newcomer does with the extension, asserting each step
// and saving a screenshot of it, then opens a hostile folder (docs/security.md) and checks that none of its code
// runs and nothing is uploaded. Started by run.sh, which sets E2E_URL, E2E_OUT, E2E_WORKSPACE, E2E_OPENAI_KEY,
// E2E_COMPAT_KEY, E2E_HOSTILE_URL, E2E_HOSTILE, E2E_MARKERS and E2E_CHROME_PROFILE. Prints one line per step and
// "N passed, N failed" at the end; exits 1 on any failure.
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import {
  acceptQuickPick,
  answerTrustPrompt,
  exampleHover,
  extensionLog,
  finish,
  launchBrowser,
  notificationCentreText,
  notificationsText,
  openFile,
  pollUntil,
  problemCount,
  processInfo,
  quickInput,
  runCommand,
  serverProcesses,
  shot,
  step,
} from "./workbench.mjs";

const URL = process.env.E2E_URL;
const WORKSPACE = process.env.E2E_WORKSPACE;
const OPENAI_KEY = process.env.E2E_OPENAI_KEY;
const TRAIN_MODEL = "gpt-4o-mini-2024-07-18";

let page;

/** The Runs view's row for the trained model (in the side bar, not a notification's list row). */
const runsRow = () => page.locator(".part.sidebar .pane-body .monaco-list-row", { hasText: TRAIN_MODEL }).first();

async function showRunsView() {
  // The activity bar icon toggles the side bar: click only while the view is not showing, and look again.
  const title = page.locator(".part.sidebar .composite.title", { hasText: /tuneline/i }).first();
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      await title.waitFor({ timeout: 1500 });
      return;
    } catch {
      // force: the badge counting active runs sits over the icon and would take the click
      await page.locator(".activitybar .action-item a[aria-label^='tuneline']").first().click({ force: true });
    }
  }
  await title.waitFor({ timeout: 5000 });
}

/** Files the hostile folder's code writes when it runs (run.sh plants it). */
function markers() {
  return readdirSync(process.env.E2E_MARKERS).sort();
}

/** What the fake provider has seen: requests (this query included), uploaded files, jobs. */
async function providerState() {
  const response = await fetch(`${process.env.E2E_FAKE_URL}/_control/state`);
  return response.json();
}

/** Clears the notification toasts so they do not hide what a screenshot is about. */
async function clearNotifications() {
  await runCommand("Notifications: Clear All Notifications");
  await page.waitForTimeout(300);
}

/** Drags the side bar's edge so long run labels fit (for the screenshots). */
async function widenSideBar(width) {
  const box = await page.locator(".part.sidebar").boundingBox();
  if (!box || box.width >= width) {
    return;
  }
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + box.width + 1, y);
  await page.mouse.down();
  await page.mouse.move(box.x + width, y, { steps: 8 });
  await page.mouse.up();
}

function runFolders() {
  const root = path.join(WORKSPACE, ".tuneline", "runs");
  return existsSync(root) ? readdirSync(root).filter((n) => !n.startsWith(".")) : [];
}

function readRun(id) {
  try {
    return JSON.parse(readFileSync(path.join(WORKSPACE, ".tuneline", "runs", id, "run.json"), "utf8"));
  } catch {
    return undefined;
  }
}

async function main() {
  const { context, page: opened } = await launchBrowser(process.env.E2E_CHROME_PROFILE);
  page = opened;

  try {
    await step(
      "workbench loads with the workspace",
      async () => {
        await page.goto(URL, { waitUntil: "domcontentloaded", timeout: 60000 });
        await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
        await answerTrustPrompt(true); // the examples are ours: trusted
        await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "broken.jsonl" }).first().waitFor({ timeout: 60000 });
        await shot("workbench");
      },
      { critical: true },
    );

    await step("diagnostics appear in the Problems panel", async () => {
      await openFile("broken.jsonl");
      await page.locator(".monaco-editor .squiggly-error").first().waitFor({ timeout: 60000 });
      await page.keyboard.press("Control+Shift+M");
      const rows = page.locator(".markers-panel .monaco-list-row");
      await pollUntil(async () => /TL1\d\d/.test(await rows.allInnerTexts().then((t) => t.join("\n"))), {
        timeout: 20000,
        what: "a tuneline rule code in the Problems panel",
      });
      const text = (await rows.allInnerTexts()).join("\n");
      if (!/Unknown role 'assitant'/.test(text)) {
        throw new Error(`the Problems panel lacks the TL105 finding:\n${text.slice(0, 500)}`);
      }
      await shot("problems");
      const count = (text.match(/TL\d{3}/g) ?? []).length;
      return `${count} tuneline findings listed`;
    });

    await step("hover shows tokens and cost of the example", async () => {
      await page.keyboard.press("Control+J"); // close the panel again
      return exampleHover("4:3", "hover");
    });

    await step("inlay hints show each example's tokens", async () => {
      const hints = await pollUntil(
        async () => {
          const texts = await page.locator(".monaco-editor .view-lines").first().innerText();
          const found = texts.replace(/\u00a0/g, " ").match(/· \d[\d,]* tok/g);
          return found && found.length >= 3 ? found : undefined;
        },
        { timeout: 20000, what: "token-count inlay hints" },
      );
      return `${hints.length} visible, e.g. "${hints[0]}"`;
    });

    await step("status bar shows the dataset summary", async () => {
      const item = page.locator(".statusbar-item", { hasText: / ex · .* tok/ }).first();
      await item.waitFor({ timeout: 30000 });
      const text = (await item.innerText()).trim();
      if (!/^\d[\d,]* ex · [\d.]+[kMB]? tok( · ≈ \$[\d.,]+)?$/.test(text)) {
        throw new Error(`unexpected status bar text ${JSON.stringify(text)}`);
      }
      await item.hover();
      await page.waitForTimeout(800);
      await shot("status-bar");
      return text;
    });

    await step("the status bar opens the dataset statistics", async () => {
      await page.locator(".statusbar-item", { hasText: / ex · .* tok/ }).first().click();
      const frame = await pollUntil(
        async () => {
          for (const f of page.frames()) {
            if (f === page.mainFrame()) {
              continue;
            }
            const body = await f.locator("body").innerText({ timeout: 500 }).catch(() => "");
            if (/not available/.test(body)) {
              throw new Error(body.trim());
            }
            if (/example/i.test(body) && /token/i.test(body)) {
              return f;
            }
          }
          return undefined;
        },
        { timeout: 30000, what: "the statistics preview" },
      );
      await shot("statistics");
      const body = await frame.locator("body").innerText();
      await page.mouse.move(700, 400); // away from the status bar's tooltip
      return body.split("\n").filter((l) => l.trim()).slice(0, 1).join(" ");
    });

    await step("the OpenAI key is stored through the command", async () => {
      await runCommand("tuneline: Set OpenAI API Key");
      await pollUntil(async () => (await quickInput().isVisible()) && (await quickInput().innerText()).includes("OpenAI API key"), {
        what: "the key input box",
      });
      const type = await quickInput().locator("input").first().getAttribute("type");
      if (type !== "password") {
        throw new Error(`the key box is a ${type} field, not a password field`);
      }
      await page.keyboard.type(OPENAI_KEY, { delay: 2 });
      await shot("api-key");
      await page.keyboard.press("Enter");
      await pollUntil(async () => /API key stored/.test(await notificationsText()), { what: "the 'key stored' notification" });
      const settings = readFileSync(path.join(process.env.E2E_USER_DATA ?? "/nonexistent", "User", "settings.json"), "utf8");
      if (settings.includes(OPENAI_KEY)) {
        throw new Error("the key was written into settings.json");
      }
    });

    let runId;
    await step("Train on this file reaches its cost confirmation", async () => {
      await openFile("support-chat.jsonl");
      const lens = page.locator(".contentWidgets .codelens-decoration a", { hasText: "Train on this file" }).first();
      await lens.waitFor({ timeout: 60000 });
      await page.waitForTimeout(2500); // the key restart: let the new server settle before clicking
      await lens.click();
      const backend = await acceptQuickPick("Train on this file (1/3)");
      if (!/OpenAI/.test(backend)) {
        throw new Error(`the preselected backend is ${JSON.stringify(backend)}`);
      }
      const model = await acceptQuickPick("Train on this file (2/3)");
      if (!model.includes(TRAIN_MODEL)) {
        throw new Error(`the preselected model is ${JSON.stringify(model)}`);
      }
      await acceptQuickPick("Train on this file (3/3)");
      const dialog = page.locator(".monaco-dialog-box");
      await dialog.waitFor({ timeout: 60000 });
      const text = await dialog.innerText();
      if (!/Estimated cost: \$\d/.test(text) || !/Start Training \(≈ \$\d/.test(text)) {
        throw new Error(`the confirmation does not show the cost:\n${text}`);
      }
      await shot("train-confirmation");
      const before = new Set(runFolders());
      await dialog.locator(".monaco-button", { hasText: "Start Training" }).first().click();
      runId = await pollUntil(async () => runFolders().find((r) => !before.has(r)), { timeout: 30000, what: "a new run folder" });
      return `${text.split("\n").find((l) => /Estimated cost/.test(l))} → run ${runId}`;
    });

    await step("the runs view lists the run", async () => {
      if (!runId) {
        throw new Error("no run was started");
      }
      await showRunsView();
      const row = runsRow();
      await row.waitFor({ timeout: 30000 });
      const final = await pollUntil(
        async () => {
          const run = readRun(runId);
          return run && ["succeeded", "failed", "cancelled"].includes(run.status) ? run : undefined;
        },
        { timeout: 120000, interval: 500, what: "the fake job to finish" },
      );
      const text = await pollUntil(
        async () => {
          const t = await row.innerText();
          return t.includes(final.status) ? t : undefined;
        },
        { timeout: 15000, what: `the view to show ${final.status}` },
      );
      await clearNotifications();
      await widenSideBar(480);
      await row.locator(".monaco-tl-twistie").click(); // expand the run's details
      await page.locator(".part.sidebar .monaco-list-row", { hasText: "estimated cost" }).first().waitFor({ timeout: 10000 });
      await page.waitForTimeout(300);
      await shot("runs-view");
      if (final.status !== "succeeded") {
        throw new Error(`the run ${final.status}: ${final.error}`);
      }
      if (JSON.stringify(final).includes(OPENAI_KEY)) {
        throw new Error("run.json holds the API key");
      }
      return text.replace(/\s+/g, " ").trim();
    });

    await step("the loss chart plots the run's metrics", async () => {
      await showRunsView();
      await runsRow().click();
      const frame = await pollUntil(
        async () => {
          for (const f of page.frames()) {
            if ((await f.locator("svg.loss-chart polyline.train").count().catch(() => 0)) > 0) {
              return f;
            }
          }
          return undefined;
        },
        { timeout: 30000, what: "a webview with the training-loss line" },
      );
      const points = (await frame.locator("svg.loss-chart polyline.train").getAttribute("points")).trim().split(/\s+/).length;
      const metricsFile = path.join(WORKSPACE, ".tuneline", "runs", runId, "metrics.jsonl");
      const lines = readFileSync(metricsFile, "utf8").split("\n").filter((l) => l.includes('"loss"')).length;
      await page.waitForTimeout(500);
      await shot("loss-chart");
      if (points < 2) {
        throw new Error(`the training-loss line has ${points} point(s)`);
      }
      return `${points} points drawn from ${lines} metrics lines`;
    });

    await step("the loss chart follows metrics.jsonl as it grows", async () => {
      if (!runId) {
        throw new Error("no run was started");
      }
      // Whatever writes metrics.jsonl (a trainer child, a provider follower), the chart reads the file: append
      // lines the way a trainer does, one at a time and one of them in two writes, and watch the chart follow.
      const metricsFile = path.join(WORKSPACE, ".tuneline", "runs", runId, "metrics.jsonl");
      const existing = readFileSync(metricsFile, "utf8").split("\n").filter((l) => l.includes('"loss"'));
      const lastStep = Math.max(0, ...existing.map((l) => JSON.parse(l).step));
      const lastLoss = JSON.parse(existing[existing.length - 1] ?? '{"loss": 2}').loss;
      const points = async () => {
        for (const f of page.frames()) {
          const attr = await f.locator("svg.loss-chart polyline.train").getAttribute("points", { timeout: 200 }).catch(() => null);
          if (attr) {
            return attr.trim().split(/\s+/).length;
          }
        }
        return 0;
      };
      const before = await points();
      const added = 40;
      for (let i = 1; i <= added; i++) {
        const step = lastStep + i;
        const loss = lastLoss * Math.exp(-i / 15) + 0.05 * Math.sin(i);
        const row = { step, loss: Number(loss.toFixed(4)), learning_rate: 1e-4, epoch: step / 20 };
        if (i % 10 === 0) {
          row.eval_loss = Number((loss + 0.08).toFixed(4));
        }
        const line = JSON.stringify(row) + "\n";
        if (i === 20) {
          appendFileSync(metricsFile, line.slice(0, 9)); // half a line: the chart must wait for the rest
          await page.waitForTimeout(1500);
          appendFileSync(metricsFile, line.slice(9));
        } else {
          appendFileSync(metricsFile, line);
        }
        if (i % 8 === 0) {
          await page.waitForTimeout(300);
        }
      }
      const after = await pollUntil(async () => ((await points()) === before + added ? before + added : undefined), {
        timeout: 20000,
        what: `${before + added} points on the training-loss line`,
      });
      await clearNotifications();
      await page.waitForTimeout(300);
      await shot("loss-chart-live");
      return `${before} → ${after} points`;
    });

    await step("the evaluation report of the finished run shows the metric table", async () => {
      if (!runId || readRun(runId)?.status !== "succeeded") {
        throw new Error("no finished run to evaluate");
      }
      // A real evaluation of the run (the CLI against a chat-completions fake), then the Runs view's context menu.
      const cli = execFileSync(
        process.env.E2E_PYTHON,
        ["-m", "tests.e2e.vscode.plant_eval", WORKSPACE, runId, path.join(WORKSPACE, "support-chat.jsonl")],
        { cwd: process.env.E2E_REPO, env: { ...process.env, TUNELINE_STATE_DIR: process.env.E2E_STATE_DIR }, encoding: "utf8", timeout: 120000 },
      );
      if (!/Results in /.test(cli)) {
        throw new Error(`tuneline eval did not finish:\n${cli}`);
      }
      await clearNotifications();
      await showRunsView();
      await runsRow().click({ button: "right" });
      const item = page.locator(".context-view .action-label", { hasText: "Show Evaluation Report" }).first();
      await item.waitFor({ timeout: 10000 });
      await page.waitForTimeout(500); // a menu ignores the mouse just after it opens (the right-click's own release)
      await item.hover();
      await page.keyboard.press("Enter");
      await page.waitForTimeout(300);
      if (await item.isVisible().catch(() => false)) {
        await page.keyboard.press("Escape"); // never leave the menu open over the next steps
      }
      const frame = await pollUntil(
        async () => {
          for (const f of page.frames()) {
            if ((await f.locator("table.metrics tr").count().catch(() => 0)) > 1) {
              return f;
            }
          }
          return undefined;
        },
        { timeout: 30000, what: "a webview with the metric table" },
      );
      const table = await frame.locator("table.metrics").innerText();
      await page.waitForTimeout(300);
      await shot("eval-report");
      if (!/exact match/i.test(table) || !/100(\.0)?%/.test(table)) {
        throw new Error(`the metric table does not show the tuned model's exact match:\n${table}`);
      }
      return table.split("\n").find((l) => /exact match/i.test(l))?.replace(/\s+/g, " ").trim();
    });

    await step("a running job is cancelled from the runs view", async () => {
      // The fake provider now keeps jobs running until they are cancelled.
      const configured = await fetch(`${process.env.E2E_FAKE_URL}/_control/configure`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ outcome: "hang" }),
      });
      if (!configured.ok) {
        throw new Error(`the fake provider refused the configuration: ${configured.status}`);
      }
      await page.locator(".tabs-container .tab", { hasText: "support-chat.jsonl" }).first().click();
      const before = new Set(runFolders());
      await page.locator('.editor-actions .action-label[aria-label*="Train on This File"]').first().click(); // the editor title button
      await acceptQuickPick("Train on this file (1/3)");
      await acceptQuickPick("Train on this file (2/3)");
      await acceptQuickPick("Train on this file (3/3)");
      const dialog = page.locator(".monaco-dialog-box");
      await dialog.waitFor({ timeout: 60000 });
      await dialog.locator(".monaco-button", { hasText: "Start Training" }).first().click();
      const id = await pollUntil(async () => runFolders().find((r) => !before.has(r)), { timeout: 30000, what: "a second run" });
      await pollUntil(async () => readRun(id)?.status === "running", { timeout: 60000, interval: 500, what: "the job to run" });
      await showRunsView();
      const row = page.locator(".part.sidebar .monaco-list-row", { hasText: "running" }).first();
      await row.waitFor({ timeout: 15000 });
      const confirm = page.locator(".monaco-dialog-box");
      // The row's actions show on hover; a list re-rendered by a status refresh between the hover and the click can
      // swallow the click (one CI run in ~40): hover and click again until the confirmation opens.
      for (let attempt = 1; ; attempt++) {
        await row.hover();
        await row.locator('.action-label[aria-label="Cancel Run"]').click();
        try {
          await confirm.waitFor({ timeout: 5000 });
          break;
        } catch (err) {
          if (attempt === 3) throw err;
        }
      }
      const question = (await confirm.innerText()).split("\n").find((l) => /Cancel the/.test(l));
      await confirm.locator(".monaco-button", { hasText: "Cancel Run" }).first().click();
      const final = await pollUntil(async () => (["cancelled", "failed", "succeeded"].includes(readRun(id)?.status) ? readRun(id) : undefined), {
        timeout: 60000,
        interval: 500,
        what: "the run to stop",
      });
      if (final.status !== "cancelled") {
        throw new Error(`the run ended ${final.status}, not cancelled`);
      }
      await page.locator(".part.sidebar .monaco-list-row", { hasText: "cancelled" }).first().waitFor({ timeout: 15000 });
      await shot("run-cancelled");
      return `${question} → ${final.status}`;
    });

    await step("an OpenAI-compatible endpoint trains through its stored address and key", async () => {
      // The fake provider's compatible endpoint (/compat/v1, its own key); jobs finish again after the hang above.
      await fetch(`${process.env.E2E_FAKE_URL}/_control/configure`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ outcome: "succeeded" }),
      });
      const baseUrl = `${process.env.E2E_FAKE_URL}/compat/v1`;
      const key = process.env.E2E_COMPAT_KEY;
      await clearNotifications();
      await runCommand("tuneline: Set OpenAI-Compatible Endpoint and API Key");
      await pollUntil(async () => (await quickInput().isVisible()) && (await quickInput().innerText()).includes("endpoint address"), {
        what: "the address input box",
      });
      await page.keyboard.press("Control+A");
      await page.keyboard.type(baseUrl, { delay: 2 });
      await page.keyboard.press("Enter");
      await pollUntil(async () => (await quickInput().isVisible()) && (await quickInput().innerText()).includes("endpoint API key"), {
        what: "the key input box",
      });
      await page.keyboard.type(key, { delay: 2 });
      await page.keyboard.press("Enter");
      await pollUntil(async () => /OpenAI-compatible endpoint API key stored/.test(await notificationsText()), { what: "the 'key stored' notification" });
      await page.waitForTimeout(2500); // the key restart: let the new server settle
      await showRunsView();
      const succeededRows = page.locator(".part.sidebar .pane-body .monaco-list-row", { hasText: TRAIN_MODEL }).filter({ hasText: "succeeded" });
      const succeededBefore = await succeededRows.count();
      await page.locator(".tabs-container .tab", { hasText: "support-chat.jsonl" }).first().click();
      const before = new Set(runFolders());
      await page.locator('.editor-actions .action-label[aria-label*="Train on This File"]').first().click();
      const backend = await acceptQuickPick("Train on this file (1/3)", "OpenAI-compatible");
      if (!/OpenAI-compatible/.test(backend)) {
        throw new Error(`the chosen backend is ${JSON.stringify(backend)}`);
      }
      // The fake endpoint fine-tunes OpenAI's models only: "Other model…", then its name.
      await acceptQuickPick("Train on this file (2/3)", "Other model");
      await pollUntil(async () => (await quickInput().isVisible()) && (await quickInput().innerText()).includes("The provider's model name"), {
        what: "the model name box",
      });
      await page.keyboard.type(TRAIN_MODEL, { delay: 2 });
      await page.keyboard.press("Enter");
      await acceptQuickPick("Train on this file (3/3)");
      const dialog = page.locator(".monaco-dialog-box");
      await dialog.waitFor({ timeout: 60000 });
      await dialog.locator(".monaco-button", { hasText: "Start Training" }).first().click();
      const id = await pollUntil(async () => runFolders().find((r) => !before.has(r)), { timeout: 30000, what: "a new run folder" });
      const final = await pollUntil(async () => (["succeeded", "failed", "cancelled"].includes(readRun(id)?.status) ? readRun(id) : undefined), {
        timeout: 60000,
        interval: 500,
        what: "the compatible endpoint's job to finish",
      });
      if (final.backend !== "openai-compatible" || final.status !== "succeeded") {
        throw new Error(`the run is ${final.backend}, ${final.status}: ${final.error}`);
      }
      await showRunsView();
      await pollUntil(async () => (await succeededRows.count()) > succeededBefore, { timeout: 15000, what: "the run to show as succeeded in the Runs view" });
      await shot("compatible-run");
      const state = await providerState();
      const job = state.jobs[final.remote?.job_id];
      if (job?.status !== "succeeded") {
        throw new Error(`the fake provider's job ${final.remote?.job_id} is ${job?.status}`);
      }
      if (JSON.stringify(final).includes(key)) {
        throw new Error("run.json holds the API key");
      }
      return `run ${id} (${final.backend} · ${final.model}) ${final.status}; fake job ${final.remote.job_id} ${job.status}`;
    });

    await step("Apply All Safe Fixes edits the open dataset", async () => {
      await openFile("broken.jsonl");
      const before = await problemCount();
      await runCommand("tuneline: Apply All Safe Fixes");
      const toast = await pollUntil(async () => (await notificationsText()).match(/Applied (\d+) safe fix/), {
        what: "the 'Applied N safe fixes' notification",
      });
      const after = await pollUntil(async () => {
        const n = await problemCount();
        return n < before ? n : undefined;
      }, { timeout: 20000, what: "fewer problems after the fixes" });
      // The unknown role 'assitant' has a safe fix: the open document now says 'assistant'.
      const text = (await page.locator(".monaco-editor .view-lines").first().innerText()).replace(/[\s\u00a0]+/g, " ");
      if (/"assitant"/.test(text) || !/"role": "assistant", "content": "Paris\."/.test(text)) {
        throw new Error("the fixed role is not in the open document");
      }
      await shot("fix-all");
      return `${toast[0]}; problems ${before} → ${after}`;
    });

    await step("a crashed server is reported and restarted", async () => {
      const servers = serverProcesses();
      if (servers.length === 0) {
        throw new Error("no language server process found in code-server's process group");
      }
      const logBefore = extensionLog().length;
      for (const pid of servers) {
        process.kill(pid, "SIGKILL");
      }
      // The extension's own record first: it saw the crash and restarts the server.
      const newLog = () => extensionLog().slice(logBefore);
      await pollUntil(async () => /The server stopped unexpectedly; restarting it/.test(newLog()), {
        timeout: 20000,
        what: "the extension's log to record the crash",
      }).catch((err) => {
        const now = serverProcesses().join(", ") || "none";
        throw new Error(`${err.message}: killed ${servers.join(", ")}, servers now ${now}; the log since: ${newLog().slice(-1500) || "nothing"}`);
      });
      // Then the user's view of it: the warning toast, or (a toast can stay hidden behind others) the notification centre.
      const crashed = /stopped unexpectedly and was restarted/;
      const toast = await pollUntil(async () => crashed.test(await notificationsText()), { timeout: 10000, what: "the crash toast" }).catch(() => false);
      if (!toast) {
        const centre = await notificationCentreText();
        if (!crashed.test(centre)) {
          throw new Error(`no crash notification, neither as a toast nor in the notification centre (${centre.slice(0, 500) || "empty"})`);
        }
      }
      await shot("server-crash");
      const restarted = await pollUntil(async () => serverProcesses().filter((p) => !servers.includes(p)), {
        timeout: 30000,
        what: "a new server process",
      });
      // The new server answers: hovering an example (with the mouse, in the open broken.jsonl) shows its tokens.
      const word = page.locator(".monaco-editor .view-line", { hasText: "Say hi" }).first().locator("span", { hasText: "Say hi" }).first();
      await pollUntil(
        async () => {
          await page.mouse.move(5, 5);
          await word.hover();
          const hover = page.locator(".monaco-hover:visible").first();
          await hover.waitFor({ timeout: 3000 });
          return /tokens/.test(await hover.innerText());
        },
        { timeout: 30000, interval: 500, what: "a hover from the restarted server" },
      );
      return `killed ${servers.join(", ")}; now ${restarted.join(", ")}`;
    });

    await step("U+2028/U+2029 in a dataset draw no 'unusual line terminators' prompt", async () => {
      await openFile("separators.jsonl");
      await page.locator(".monaco-editor .view-lines", { hasText: "kept as data" }).first().waitFor({ timeout: 20000 });
      await page.waitForTimeout(3000);
      const dialogs = await page.locator(".monaco-dialog-box").allInnerTexts();
      const toasts = await notificationsText();
      if ([...dialogs, toasts].some((t) => /unusual line terminators/i.test(t))) {
        throw new Error("VS Code offered to remove the line separators");
      }
      await shot("separators");
    });

    // The hostile folder (run.sh): a json.py and a tuneline/ package that leave markers when imported, a workspace
    // setting naming its own interpreter, and a planted unfinished OpenAI run whose dataset lies outside the folder.
    // The OpenAI key stored above is still in the secret storage: a server that recovered the run could upload.
    let hostileServer;
    await step("an untrusted folder runs none of its code and uploads nothing; diagnostics still arrive", async () => {
      await fetch(`${process.env.E2E_FAKE_URL}/_control/reset`, { method: "POST", body: "{}" });
      const before = serverProcesses();
      await page.goto(process.env.E2E_HOSTILE_URL, { waitUntil: "domcontentloaded", timeout: 60000 });
      await page.locator(".monaco-workbench").waitFor({ timeout: 60000 });
      await answerTrustPrompt(false);
      await openFile("broken.jsonl");
      await page.locator(".monaco-editor .squiggly-error").first().waitFor({ timeout: 60000 });
      hostileServer = await pollUntil(async () => serverProcesses().find((p) => !before.includes(p)), { what: "the folder's server process" });
      const info = processInfo(hostileServer);
      const problems = [];
      if (!info.args.includes("-P")) problems.push(`no -P in ${info.args.join(" ")}`);
      if (info.cwd === process.env.E2E_HOSTILE || info.cwd.startsWith(`${process.env.E2E_HOSTILE}/`)) problems.push(`cwd ${info.cwd}`);
      if (info.env.PYTHONSAFEPATH !== "1") problems.push("no PYTHONSAFEPATH=1");
      if (info.env.OPENAI_API_KEY || info.env.TOGETHER_API_KEY) problems.push("an API key in its environment");
      // The totals lens is there; the training lens is not.
      await page.locator(".contentWidgets .codelens-decoration", { hasText: "examples" }).first().waitFor({ timeout: 20000 });
      if ((await page.locator(".contentWidgets .codelens-decoration", { hasText: "Train on this file" }).count()) > 0) {
        problems.push("a Train on this file lens");
      }
      // The planted run is listed read-only.
      await showRunsView();
      const row = page.locator(".part.sidebar .pane-body .monaco-list-row", { hasText: "Restricted Mode" }).first();
      await row.waitFor({ timeout: 20000 });
      await row.hover();
      await page.waitForTimeout(1500); // anything a recovery would start has had time to reach the provider
      if ((await row.locator('.action-label[aria-label="Cancel Run"], .action-label[aria-label="Resume Run"]').count()) > 0) {
        problems.push("Cancel or Resume on the planted run");
      }
      await shot("untrusted-folder");
      const state = await providerState();
      if (state.requests !== 1 || state.files.length || Object.keys(state.jobs).length) {
        problems.push(`the provider saw ${state.requests - 1} request(s), ${state.files.length} file(s), ${Object.keys(state.jobs).length} job(s)`);
      }
      if (markers().length) problems.push(`code of the folder ran: ${markers().join(", ")}`);
      if (problems.length) throw new Error(problems.join("; "));
      return `server ${info.args.slice(1).join(" ")} in ${info.cwd}; no markers; the provider saw nothing`;
    });

    await step("trusting the folder restarts the server with its settings; the planted run is still not resumed", async () => {
      const before = serverProcesses();
      await runCommand("Workspaces: Manage Workspace Trust");
      const trust = page.locator(".workspace-trust-editor").getByRole("button", { name: "Trust", exact: true }).first();
      await trust.waitFor({ timeout: 15000 });
      await trust.click();
      // A trusted folder may choose its interpreter: the restarted server runs through the folder's script.
      await pollUntil(async () => markers().includes("workspace-interpreter"), { timeout: 30000, what: "the folder's interpreter setting to apply" });
      const restarted = await pollUntil(async () => serverProcesses().find((p) => !before.includes(p)), { what: "a restarted server" });
      await showRunsView();
      const row = page.locator(".part.sidebar .pane-body .monaco-list-row", { hasText: "not started here" }).first();
      await row.waitFor({ timeout: 20000 });
      // The tooltip carries the server's reason ("Why: …") once the new server answered tuneline.runs — the call
      // that would recover the run; then a recovery would have had time to reach the provider.
      const why = await pollUntil(
        async () => {
          await page.mouse.move(700, 600);
          await row.hover();
          const texts = await page.locator(".monaco-hover:visible, .workbench-hover:visible").allInnerTexts().catch(() => []);
          return texts.join("\n").match(/Why: .*/)?.[0];
        },
        { timeout: 20000, interval: 700, what: "the server's reason in the run's tooltip" },
      );
      await page.waitForTimeout(2000);
      const problems = [];
      if ((await row.locator('.action-label[aria-label="Cancel Run"], .action-label[aria-label="Resume Run"]').count()) > 0) {
        problems.push("Cancel or Resume on the planted run");
      }
      await shot("trusted-folder");
      const state = await providerState();
      if (state.requests !== 2 || state.files.length || Object.keys(state.jobs).length) {
        problems.push(`the provider saw ${state.requests - 2} request(s), ${state.files.length} file(s), ${Object.keys(state.jobs).length} job(s)`);
      }
      const ran = markers().filter((m) => m !== "workspace-interpreter");
      if (ran.length) problems.push(`code of the folder ran: ${ran.join(", ")}`);
      if (!processInfo(restarted).args.includes("-P")) problems.push("the restarted server has no -P");
      if (problems.length) throw new Error(problems.join("; "));
      return `server ${hostileServer} → ${restarted}; the planted run stays "not started here" (${why}); the provider saw nothing`;
    });
  } finally {
    await finish(context);
  }
}

main().catch((err) => {
  console.error(`e2e: ${err?.message ?? err}`);
  process.exitCode = 1;
});
