// Builds tuneline's wheel from this checkout and puts it into dist/wheels/, where the .vsix takes it from and where
// the extension installs it from into its private environment (src/pure/install.ts). `python -m build` makes the
// sdist and then the wheel from that sdist, so a file missing from the sdist would be missing here too.
//
// One version: the wheel's (server/__init__.py, read by pyproject.toml) must be the extension's (package.json);
// the build stops otherwise. Python: TUNELINE_BUILD_PYTHON, else the repository's .venv, else python3 (it needs the
// `build` package: the dev extra).
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const extension = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const repo = resolve(extension, "..");
const venvPython = join(repo, ".venv", "bin", "python");
const python = process.env.TUNELINE_BUILD_PYTHON || (existsSync(venvPython) ? venvPython : "python3");
const version = JSON.parse(readFileSync(join(extension, "package.json"), "utf8")).version;

const out = mkdtempSync(join(tmpdir(), "tuneline-wheel-"));
try {
  try {
    execFileSync(python, ["-m", "build", "--outdir", out, repo], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    process.stderr.write(String(err.stderr ?? ""));
    console.error(`bundle-wheel: ${python} -m build failed (it needs the build package: pip install build)`);
    process.exit(1);
  }
  const wheels = readdirSync(out).filter((n) => /^tuneline-[^-]+-.*\.whl$/.test(n));
  if (wheels.length !== 1) {
    console.error(`bundle-wheel: expected one tuneline wheel, found ${wheels.join(", ") || "none"}`);
    process.exit(1);
  }
  const wheelVersion = wheels[0].split("-")[1];
  if (wheelVersion !== version) {
    console.error(
      `bundle-wheel: tuneline is ${wheelVersion} (server/__init__.py) but the extension is ${version} (client-vscode/package.json); make them equal`,
    );
    process.exit(1);
  }
  const target = join(extension, "dist", "wheels");
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  copyFileSync(join(out, wheels[0]), join(target, wheels[0]));
  console.log(`bundle-wheel: dist/wheels/${wheels[0]} (${Math.round(statSync(join(target, wheels[0])).size / 1024)} KB)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
