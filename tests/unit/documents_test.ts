/**
 * The documents say what the program does: README's synopsis is `--help`'s, `--help`,
 * README's option table and the manual's OPTIONS name every declared option (and no other),
 * and `-x`'s default reads the same in all three.
 */
import assert from "node:assert/strict";
import { HELP, SYNOPSIS } from "../../lib/cli/usage.ts";
import { OPTIONS } from "../../lib/session/command_line_options.ts";
import { REPO } from "../harness/run.ts";

const readme = Deno.readTextFileSync(`${REPO}/README.md`);
const manual = Deno.readTextFileSync(`${REPO}/man/socketpipe.1`);

/** Lines without their leading blanks (the synopsis is indented differently in each). */
const unindented = (text: string) => text.split("\n").map((line) => line.trim());

/** Every option's names, as declared (`lib/session/`). */
function helpOptions(): string[] {
  return OPTIONS.flatMap((option) => option.names).sort();
}

Deno.test("--help lists every declared option, each name at the start of its entry", () => {
  const section = HELP.slice(HELP.indexOf("\nOptions:\n"), HELP.indexOf("\nExit status:\n"));
  const entries = [...section.matchAll(/^ {2}(-[^\s,]+(?:, -[^\s,]+)?)/gm)];
  const listed = entries.flatMap((entry) => entry[1].split(", ")).sort();
  assert.deepEqual(listed, helpOptions());
});

Deno.test("README's synopsis is --help's", () => {
  const block = readme.slice(readme.indexOf("## Usage\n\n```\n") + 14);
  const synopsis = block.slice(0, block.indexOf("\n```"));
  assert.deepEqual(unindented(synopsis), unindented(SYNOPSIS.replace(/^usage: /, "")));
});

Deno.test("README's option table names every option --help names, and no other", () => {
  const rows = [...readme.matchAll(/^\| `(-[^`]+)`/gm)].map((row) => row[1]);
  const named = new Set<string>();
  for (const row of rows) for (const name of row.split(", ")) named.add(name.split(" ")[0]);
  assert.deepEqual([...named].sort(), helpOptions());
});

Deno.test("the manual's OPTIONS section names every option --help names", () => {
  const start = manual.indexOf("\n.SH OPTIONS\n");
  const section = manual.slice(start, manual.indexOf("\n.SH ", start + 1)).replaceAll("\\-", "-");
  const missing = helpOptions().filter((name) => !section.includes(name));
  assert.deepEqual(missing, []);
});

Deno.test("-x's default reads the same in --help, README and the manual: provisioned", () => {
  assert.match(HELP, /-x \{ command \}.*\n.*\(default: provisioned, see --provision\)/);
  assert.match(readme, /^\| `-x \{ … \}` .*Default: provisioned, see `--provision`/m);
  assert.match(manual, /\.BR \\-x .*\n(.*\n){0,4}Default: provisioned, see\n\.B \\-\\-provision/);
});

Deno.test("README's SIGUSR1 example is today's status line", async () => {
  const { statusLine } = await import("../../lib/progress/status_line.ts");
  const line = statusLine({ sent: 1024 ** 3, received: 0 }, 10_000, { main: "sent" });
  assert.ok(readme.includes(`socketpipe: ${line}`), line);
  assert.ok(manual.replaceAll("\\-", "-").includes(`socketpipe: ${line}`), line);
});

Deno.test("the manual's markup hides no words: .nf/.fi stand alone, no sentence ends inside an alternating-font request", () => {
  const lines = manual.split("\n");
  // Text after `.fi` is taken as the request's argument and never shown.
  const carrying = lines.filter((line) => /^\.(nf|fi|PP|TP)\s+\S/.test(line));
  assert.deepEqual(carrying, []);
  // `.BR a ). Next words` joins every argument: ").Nextwords".
  const joined = lines.filter((line) => {
    const request = line.match(/^\.(BR|RB|IR|RI|BI|IB) (.*)$/);
    if (!request) return false;
    const words = request[2].match(/"[^"]*"|\S+/g) ?? [];
    return words.some((word, i) =>
      /\.\)?"?$/.test(word) && /^"?[A-Z][a-z]/.test(words[i + 1] ?? "")
    );
  });
  assert.deepEqual(joined, []);
});
