import assert from "node:assert/strict";
import { shellQuote } from "../../lib/base/shell_quote.ts";
import { shellMissing, testWhere } from "../harness/register.ts";

const awkward = [
  "plain",
  "two words",
  "it's",
  `"double"`,
  "$HOME",
  "a;b",
  "*",
  "line\nbreak",
  "",
  "back\\slash",
  "`id`",
  "tab\there",
  "{",
  "!bang",
  "ünïcödé",
  "=ls",
  "a^b",
  "%1",
  "~root",
  "a=b",
  "\\\\two",
  "x'\\'y",
  "#hash",
  "[ab]",
  "$(id)",
  "a!b",
  "!!",
  "\\",
];

/**
 * The shells a login may run, each as it runs a command line; the csh family cannot
 * carry a newline inside quotes, which the manual says.
 */
const SHELLS = [
  ["sh", "-c"],
  ["bash", "-c"],
  ["dash", "-c"],
  ["busybox", "sh", "-c"],
  ["zsh", "-c"],
  ["ksh", "-c"],
  ["mksh", "-c"],
  ["fish", "-c"],
  ["csh", "-fc"],
  ["tcsh", "-fc"],
];

function installed(program: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${program}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

for (const [shell, ...flags] of SHELLS) {
  testWhere(
    shellMissing(shell, installed(shell)),
    `${shell} turns quoted words back into exactly the same argv`,
    async () => {
      const words = shell.endsWith("csh") ? awkward.filter((w) => !w.includes("\n")) : awkward;
      const script = `/usr/bin/printf '%s\\0' ${words.map(shellQuote).join(" ")}`;
      const output = await new Deno.Command(shell, {
        args: [...flags, script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const argv = new TextDecoder().decode(output.stdout).split("\0").slice(0, -1);
      assert.deepEqual(argv, words, new TextDecoder().decode(output.stderr));
    },
  );
}

Deno.test("a POSIX shell turns quoted words back into exactly the same argv", async () => {
  const script = `printf '%s\\0' ${awkward.map(shellQuote).join(" ")}`;
  const output = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  const argv = new TextDecoder().decode(output.stdout).split("\0").slice(0, -1);
  assert.deepEqual(argv, awkward);
});

Deno.test("safe words stay unquoted so that simple commands read naturally", () => {
  assert.equal(shellQuote("of=/dev/st0"), "of=/dev/st0");
  assert.equal(shellQuote("-A"), "-A");
  assert.equal(shellQuote("a b"), "'a b'");
});
