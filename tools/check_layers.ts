/**
 * The layer rule of `lib/README.md`, checked: a file under `lib/` imports only from its own
 * folder and from folders below it. Prints every import that breaks the rule and exits 1
 * if there is one (`deno task layers`); `importsAgainstLayers` is the check, for the tests.
 *
 * @module
 */

/** The folders of `lib/`, lowest first. `local/` and `remote/` stand side by side. */
export const LAYERS: readonly (readonly string[])[] = [
  ["base"],
  ["platform"],
  ["process"],
  ["progress"],
  ["net"],
  ["data"],
  ["session"],
  ["login"],
  ["provision"],
  ["local", "remote"],
  ["cli"],
];

/** The floor of a folder, or -1 for one that no layer names. */
function floorOf(folder: string): number {
  return LAYERS.findIndex((layer) => layer.includes(folder));
}

/**
 * Every import in `sources` (path under `lib/` → text) that runs back up a layer, across
 * one floor, or into a folder no layer names, as `from -> to`. Imports in doc comments
 * (examples) count too: an example is read as code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importsAgainstLayers } from "./check_layers.ts";
 * assert.deepEqual(
 *   importsAgainstLayers(new Map([
 *     ["net/a.ts", 'import { b } from "../base/b.ts";'],
 *     ["base/b.ts", 'import { a } from "../net/a.ts";'],
 *   ])),
 *   ["base/b.ts -> net/a.ts"],
 * );
 * ```
 */
export function importsAgainstLayers(sources: ReadonlyMap<string, string>): string[] {
  const broken: string[] = [];
  for (const [path, text] of sources) {
    const folder = path.split("/")[0];
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
      const target = new URL(match[1], `file:///lib/${path}`).pathname.replace(/^\/lib\//, "");
      const into = target.split("/")[0];
      if (target.startsWith("/") || into === folder || !target.includes("/")) continue;
      const [from, to] = [floorOf(folder), floorOf(into)];
      if (from < 0 || to < 0 || to >= from) broken.push(`${path} -> ${target}`);
    }
  }
  return broken;
}

/** Every `.ts` file under `root/lib`, at any depth, as path under `lib/` → text. */
export function librarySources(root: string): Map<string, string> {
  const sources = new Map<string, string>();
  const walk = (folder: string) => {
    for (const entry of Deno.readDirSync(`${root}/lib/${folder}`)) {
      const path = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".ts")) {
        sources.set(path, Deno.readTextFileSync(`${root}/lib/${path}`));
      }
    }
  };
  walk("");
  return sources;
}

if (import.meta.main) {
  const root = decodeURIComponent(new URL("..", import.meta.url).pathname);
  const broken = importsAgainstLayers(librarySources(root));
  for (const line of broken) console.error(`lib/${line}: runs back up a layer (lib/README.md)`);
  Deno.exit(broken.length === 0 ? 0 : 1);
}
