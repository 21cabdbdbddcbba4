/**
 * The command line as a user meets it: usage errors printed with the usage and exit 1,
 * --help and --version, and the words of a block that are the command's own, run through
 * a local login.
 */
import assert from "node:assert/strict";
import { parseArgs } from "../../lib/cli/parse_args.ts";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";
import { LOCAL_LOGIN, runCli } from "../harness/run.ts";

const words = (text: string) => text.split(" ");

Deno.test("the CLI prints one line naming a usage error, then the usage, and exits 1", async () => {
  const run = await runCli(words("-i { cat } -r { cat }"));
  assert.equal(run.code, 1);
  assert.deepEqual(run.errorLines, ["socketpipe: missing -l { login command }"]);
  assert.match(run.stderr, /^usage: socketpipe /m);
  assert.equal(run.stdout.length, 0);
});

Deno.test("--provision: parsed; with -x only 'never' makes sense, as -x names what runs", async () => {
  const parsed = parseArgs(words("--provision always -i { a } -l { ssh h } -r { cat }"));
  assert.equal(parsed.mode === "run" && parsed.options.provision, "always");
  const run = await runCli(words("-x { sp } --provision always -i { cat } -l { env } -r { cat }"));
  assert.equal(run.code, 1);
  assert.deepEqual(run.errorLines, [
    "socketpipe: --provision always sends socketpipe itself; drop -x",
  ]);
});

Deno.test("--help and --version print to stdout and exit 0", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (
    const option of [
      "-i {",
      "-l {",
      "-r {",
      "-o {",
      "-x {",
      "-h host",
      "-t timeout",
      "-b",
      "-v",
      "--copy",
      "--peer-timeout s",
      "--provision never|auto|always",
    ]
  ) {
    assert.ok(text.includes(option), `--help mentions ${option}`);
  }
  assert.match(text, /Exit status:/);
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.match(
    new TextDecoder().decode(version.stdout),
    new RegExp(`^socketpipe \\d+\\.\\d+\\.\\d+\nprotocol ${PROTOCOL_VERSION}\n$`),
  );
});

Deno.test("socketpipe -t 3000000 exits 1 at once with one line, running nothing", async () => {
  const run = await runCli(words("-t 3000000 -i { true } -l { false } -r { cat }"));
  assert.equal(run.code, 1);
  assert.match(run.errorLines[0], /^socketpipe: -t 3000000 is too long/);
  assert.ok(!run.stderr.includes("TimeoutOverflowWarning"), run.stderr);
});

Deno.test("-r { grep --version } runs grep on the remote host instead of printing socketpipe's version", async () => {
  const run = await runCli([
    ...words("-i { true }"),
    ...LOCAL_LOGIN,
    ...words("-r { grep --version } -o { head -n 1 }"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(new TextDecoder().decode(run.stdout), /grep/i);
  assert.doesNotMatch(new TextDecoder().decode(run.stdout), /socketpipe/);
});

Deno.test("the command line and the library refuse through one validator: the parser ends with the library's own check", async () => {
  const parser = await Deno.readTextFile(new URL("../../lib/cli/parse_args.ts", import.meta.url));
  const library = await Deno.readTextFile(
    new URL("../../lib/local/local_half.ts", import.meta.url),
  );
  assert.match(parser, /validateOptions\(options\);/);
  assert.match(library, /validateOptions\(options\);/);
  // What the library refuses reaches a CLI user as a usage error, exit 1: the same line.
  for (const args of ["-l { ssh h } -r { cat }", "-i { a } -l { ssh h }"]) {
    const run = await runCli(words(args));
    assert.equal(run.code, 1, args);
    assert.doesNotMatch(run.stderr, /internal error/);
  }
});
