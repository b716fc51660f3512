// Shared by the drivers (drive.mjs, drive-install.mjs): steps with timings and screenshots, waiting, and the
// workbench moves a person makes (the command palette, Quick Open, Go to Line, the trust prompt), plus the language
// server processes code-server started. `launchBrowser()` first; `finish()` writes results.json and the summary line.
import { chromium } from "playwright-core";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { execFileSync } from "node:child_process";

const OUT = process.env.E2E_OUT;
export const results = [];
let page;
let shotNumber = 0;
const started = Date.now();
const consoleErrors = [];

export function elapsed() {
  return `${((Date.now() - started) / 1000).toFixed(1)}s`;
}

export async function shot(name) {
  shotNumber += 1;
  const file = path.join(OUT, `${String(shotNumber).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file }).catch(() => undefined);
  return file;
}

/** Runs one step; a failure is recorded (with a screenshot) and the next steps still run. */
export async function step(name, fn, { critical = false } = {}) {
  const t0 = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)${detail ? `: ${detail}` : ""}`);
  } catch (err) {
    results.push({ name, ok: false, error: String(err?.message ?? err) });
    console.log(`FAIL ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s): ${String(err?.message ?? err).split("\n")[0]}`);
    await shot(`FAILED-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`);
    if (critical) {
      throw new Error(`critical step failed: ${name}`);
    }
  }
}

export async function pollUntil(fn, { timeout = 30000, interval = 250, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) {
        return last;
      }
    } catch (err) {
      last = err;
    }
    await page.waitForTimeout(interval);
  }
  throw new Error(`timed out after ${timeout / 1000}s waiting for ${what}${last instanceof Error ? ` (${last.message})` : ""}`);
}

export const quickInput = () => page.locator(".quick-input-widget");

/**
 * Presses `key` until the quick input opens. A key can get lost while focus moves (a webview closing, a tooltip),
 * so after a miss the editor area is clicked to give the workbench focus, and the key pressed again.
 */
export async function openQuickInput(key) {
  for (let attempt = 0; attempt < 4; attempt++) {
    await page.keyboard.press("Escape");
    await page.keyboard.press(key);
    try {
      await quickInput().waitFor({ state: "visible", timeout: 2500 });
      return;
    } catch {
      await page.mouse.move(700, 400);
      await page.keyboard.press("Escape");
      await page.keyboard.press("Control+1").catch(() => undefined);
    }
  }
  throw new Error(`${key} did not open the quick input`);
}

/** F1, type a command's title, run it. */
export async function runCommand(title) {
  await openQuickInput("F1");
  await page.keyboard.type(title, { delay: 10 });
  const typed = await quickInput().locator("input").first().inputValue().catch(() => "");
  if (!typed.includes(title)) {
    throw new Error(`typing into the command palette went astray (it holds ${JSON.stringify(typed)})`);
  }
  const row = quickInput().locator(`.monaco-list-row[aria-label*="${title.replace(/^.*?: /, "")}"]`).first();
  await row.waitFor({ state: "visible", timeout: 10000 });
  // Click the matching row rather than pressing Enter: the palette's first row can be a longer title that also
  // matches what was typed ("Set Azure OpenAI Endpoint and API Key" for "Set OpenAI API Key").
  await row.click();
}

/** Waits for a QuickPick whose title contains `title`, optionally filters it, and accepts the active item. */
export async function acceptQuickPick(title, filter) {
  await pollUntil(async () => (await quickInput().isVisible()) && (await quickInput().innerText()).includes(title), {
    timeout: 30000,
    what: `the quick pick "${title}"`,
  });
  if (filter) {
    await page.keyboard.type(filter, { delay: 10 });
    await page.waitForTimeout(200);
  }
  const active = (await quickInput().locator(".monaco-list-row.focused").first().innerText().catch(() => "")).split("\n")[0];
  await page.keyboard.press("Enter");
  return active;
}

export async function openFile(name) {
  const tab = page.locator(`.tabs-container .tab.active[aria-label^="${name}"]`).first();
  for (let attempt = 0; attempt < 3; attempt++) {
    await openQuickInput("Control+P");
    await page.keyboard.type(name, { delay: 10 });
    const typed = await quickInput().locator("input").first().inputValue().catch(() => "");
    if (typed.includes(name)) {
      // Click the file's own row: results stream in, and a row such as "Preview broken.jsonl statistics.md" (an
      // open editor) can be the focused one when Enter would land.
      const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      const row = quickInput().locator(".monaco-list-row").filter({ hasText: new RegExp(`^\\s*${escaped}`) }).first();
      await row.waitFor({ state: "visible", timeout: 10000 });
      await row.click();
      try {
        await tab.waitFor({ timeout: 5000 });
        return;
      } catch {
        // the click went elsewhere: try again
      }
    }
  }
  const active = await page.locator(".tabs-container .tab.active").first().getAttribute("aria-label").catch(() => null);
  throw new Error(`could not open ${name} with Quick Open (the active tab is ${JSON.stringify(active)})`);
}

export async function goToLine(lineColumn) {
  await openQuickInput("Control+G");
  await page.keyboard.type(lineColumn);
  await page.keyboard.press("Enter");
}

/** Shows the hover of the example at `lineColumn` in the focused editor and waits until it has tokens and a dollar
 * cost; saves it as screenshot `name` and closes it. Returns the hover's "N tokens · …" line. */
export async function exampleHover(lineColumn, name) {
  await page.keyboard.press("Control+1"); // focus the editor
  await goToLine(lineColumn);
  await page.waitForTimeout(300);
  await page.keyboard.press("Control+K");
  await page.keyboard.press("Control+I");
  const hover = page.locator(".monaco-hover:visible").first();
  await hover.waitFor({ timeout: 20000 });
  const text = await pollUntil(async () => {
    const t = await hover.innerText();
    return /tokens/.test(t) && /\$\d/.test(t) ? t : undefined;
  }, { timeout: 20000, what: "tokens and a dollar cost in the hover" });
  await page.waitForTimeout(700); // let the hover finish fading in
  await shot(name);
  await page.keyboard.press("Escape");
  return text.split("\n").find((l) => /tokens ·/.test(l))?.trim();
}

export async function notificationsText() {
  return (await page.locator(".notifications-toasts").innerText().catch(() => "")) ?? "";
}

/** Every notification of the window, toasts or not: the notification centre's list (opened, read, closed). A toast
 * can stay hidden while others fill the corner; the centre lists them all. */
export async function notificationCentreText() {
  await runCommand("Notifications: Show Notifications");
  const centre = page.locator(".notifications-center");
  await centre.waitFor({ timeout: 5000 }).catch(() => undefined);
  const text = (await centre.innerText().catch(() => "")) ?? "";
  await runCommand("Notifications: Hide Notifications").catch(() => undefined);
  return text;
}

/** The extension's log files (its LogOutputChannel writes one per window) under the profile E2E_USER_DATA. */
export function extensionLog() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/tuneline.*\.log$/.test(entry.name)) found.push(full);
    }
  };
  walk(path.join(process.env.E2E_USER_DATA, "logs"));
  return found.map((f) => readFileSync(f, "utf8")).join("\n");
}

/** The number in the status bar's problems item (errors + warnings + infos). */
export async function problemCount() {
  const text = await page.locator("#status\\.problems").first().innerText();
  return (text.match(/\d+/g) ?? []).reduce((sum, n) => sum + Number(n), 0);
}

/** Language server processes (`python -m tuneline serve`) in code-server's process group: only what this test started. */
export function serverProcesses() {
  const out = execFileSync("ps", ["-o", "pid=,args=", "-g", process.env.E2E_CODE_SERVER_PGID], { encoding: "utf8" });
  return out
    .split("\n")
    .filter((l) => /-m tuneline serve/.test(l))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** A process's command line, working directory and environment, from /proc. */
export function processInfo(pid) {
  const split = (file) => readFileSync(`/proc/${pid}/${file}`, "latin1").split("\0").filter((p) => p.length > 0);
  const env = Object.fromEntries(split("environ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
  return { args: split("cmdline"), cwd: readlinkSync(`/proc/${pid}/cwd`), env };
}

/** Answers VS Code's "Do you trust the authors of the files in this folder?" dialog. */
export async function answerTrustPrompt(trust) {
  const dialog = page.locator(".monaco-dialog-box", { hasText: /trust the authors/i }).first();
  await dialog.waitFor({ timeout: 60000 });
  await dialog.locator(".monaco-button", { hasText: trust ? "Yes, I trust the authors" : "No, I don't trust the authors" }).first().click();
  await dialog.waitFor({ state: "detached", timeout: 10000 });
}

/** Starts headless Chromium with a persistent profile; its page is the one the helpers above drive. */
export async function launchBrowser(profile) {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.E2E_CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 860 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      consoleErrors.push(msg.text());
    }
  });
  return { context, page };
}

/** Writes results.json, closes the browser, prints the timing and "N passed, N failed"; sets the exit code. */
export async function finish(context) {
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  writeFileSync(path.join(OUT, "results.json"), JSON.stringify({ results, consoleErrors: consoleErrors.slice(0, 50) }, null, 2));
  await context.close();
  console.log(`e2e finished in ${elapsed()}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 || results.length === 0 ? 1 : 0;
}
