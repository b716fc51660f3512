// Bundles the extension into one file (dist/extension.js) so the .vsix ships no node_modules.
import * as esbuild from "esbuild";
import { rmSync } from "fs";

const production = process.argv.includes("--production");
const watch = process.argv.includes("--watch");

rmSync("dist", { recursive: true, force: true });

const context = await esbuild.context({
  entryPoints: ["src/extension.ts"],
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node18",
  outfile: "dist/extension.js",
  external: ["vscode"],
  sourcemap: !production,
  minify: production,
  logLevel: "info",
});

if (watch) {
  await context.watch();
} else {
  await context.rebuild();
  await context.dispose();
}
