/** Test helper (not a test file): a folder planted the way a hostile repository would plant it. */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A folder as a hostile repository would ship it: modules named like the ones our Pythons import (`json`,
 * `tuneline`, `venv`, `pip`), each writing a marker file when imported.
 */
export async function hostileFolder(): Promise<{ dir: string; markers: string }> {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), "tuneline-hostile-"));
  const dir = path.join(base, "repo");
  const markers = path.join(base, "markers");
  await fs.mkdir(markers);
  const plant = (name: string) => `open(${JSON.stringify(path.join(markers, name))}, "w").write("imported")\n`;
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, "json.py"), plant("json.py"));
  for (const pkg of ["tuneline", "venv", "pip"]) {
    await fs.mkdir(path.join(dir, pkg));
    await fs.writeFile(path.join(dir, pkg, "__init__.py"), plant(`${pkg}.__init__`));
    await fs.writeFile(path.join(dir, pkg, "__main__.py"), plant(`${pkg}.__main__`));
  }
  return { dir, markers };
}

export const planted = async (markers: string) => (await fs.readdir(markers)).sort();

