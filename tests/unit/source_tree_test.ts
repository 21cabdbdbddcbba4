/**
 * What watches the source tree covers all of it, at any depth under lib/: the bundle's
 * name (a file it left out would let a stale bundle reach remote hosts), the 80-line rule,
 * the 300-line rule and the layer rule of lib/README.md.
 */
import assert from "node:assert/strict";
import plugin from "../../tools/lint_plugin.ts";
import { importsAgainstLayers, librarySources } from "../../tools/check_layers.ts";
import { sourcesHash } from "../../lib/provision/local_bundle.ts";
import { REPO } from "../harness/run.ts";

Deno.test("the bundle's name changes with a file two folders down in lib/, and with none outside it", async () => {
  const root = await Deno.makeTempDir({ prefix: "socketpipe-sources-" });
  try {
    await Deno.mkdir(`${root}/lib/data/deep`, { recursive: true });
    await Deno.mkdir(`${root}/tests`);
    await Deno.writeTextFile(`${root}/main.ts`, "import './lib/data/deep/a.ts';\n");
    await Deno.writeTextFile(`${root}/lib/data/deep/a.ts`, "export const a = 1;\n");
    const before = await sourcesHash(root);
    await Deno.writeTextFile(`${root}/tests/x_test.ts`, "// not a source\n");
    await Deno.writeTextFile(`${root}/lib/data/deep/notes.md`, "not code\n");
    assert.equal(await sourcesHash(root), before);
    await Deno.writeTextFile(`${root}/lib/data/deep/a.ts`, "export const a = 2;\n");
    assert.notEqual(await sourcesHash(root), before);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the 80-line rule holds every function of every file under lib/, at any depth, and nothing elsewhere", () => {
  const long = `function f() {\n${"  1;\n".repeat(85)}}\n`;
  const short = `function f() {\n${"  1;\n".repeat(10)}}\n`;
  const reports = (file: string, text: string) => Deno.lint.runPlugin(plugin, file, text).length;
  assert.equal(reports("/x/lib/cli.ts", long), 1);
  assert.equal(reports("/x/lib/data/deep/path.ts", long), 1);
  assert.equal(reports("/x/lib/data/path.ts", short), 0);
  assert.equal(reports("/x/tests/unit/long_test.ts", long), 0);
});

Deno.test("no import under lib/ runs back up a layer; one that did would be named", () => {
  assert.deepEqual(importsAgainstLayers(librarySources(REPO)), []);
  assert.deepEqual(
    importsAgainstLayers(
      new Map([
        ["platform/libc.ts", 'import { x } from "../local/local_half.ts";'],
        ["local/a.ts", 'import { y } from "../remote/meeting.ts";'],
        ["cli/cli.ts", 'import { z } from "../local/local_half.ts";'],
      ]),
    ),
    ["platform/libc.ts -> local/local_half.ts", "local/a.ts -> remote/meeting.ts"],
  );
});

Deno.test("a file under lib/ of over 300 lines says at its top why it is one file", () => {
  const unexplained = [...librarySources(REPO)]
    .filter(([, text]) => text.split("\n").length - 1 > 300)
    .filter(([, text]) => {
      const top = text.match(/^\/\*\*[\s\S]*?\*\//)?.[0] ?? "";
      return !/(Over 300 lines|Long) on purpose: \w/.test(top);
    })
    .map(([path]) => path);
  assert.deepEqual(unexplained, []);
});
