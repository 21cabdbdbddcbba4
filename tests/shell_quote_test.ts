import assert from "node:assert/strict";
import { shellQuote } from "../lib/shell_quote.ts";

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
];

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
