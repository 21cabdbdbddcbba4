import assert from "node:assert/strict";
import { parseArgs } from "../../lib/cli/parse_args.ts";
import { UsageError } from "../../lib/base/faults.ts";

const words = (text: string) => text.split(" ");

Deno.test("parses the manual's backup example into argv blocks", () => {
  const parsed = parseArgs(
    words("-b -i { tar cf - / } -l { ssh remotehost } -r { dd of=/dev/st0 bs=32k }"),
  );
  assert.deepEqual(parsed, {
    mode: "run",
    options: {
      batch: true,
      input: ["tar", "cf", "-", "/"],
      login: ["ssh", "remotehost"],
      remote: ["dd", "of=/dev/st0", "bs=32k"],
    },
    display: { progress: false },
  });
});

Deno.test("reads -P, --size with its suffixes, and --report", () => {
  const parsed = parseArgs(words("-P --size 1.5G --report - -i { a } -l { ssh h } -r { cat }"));
  assert.equal(parsed.mode, "run");
  if (parsed.mode !== "run") return;
  assert.deepEqual(parsed.display, { progress: true, size: 1.5 * 1024 ** 3, report: "-" });
  for (
    const [text, bytes] of [["12", 12], ["4K", 4096], ["3m", 3 * 2 ** 20], ["2T", 2 * 2 ** 40]]
  ) {
    const sized = parseArgs(words(`--size ${text} -i { a } -l { ssh h } -r { cat }`));
    assert.equal(sized.mode === "run" && sized.display.size, bytes, String(text));
  }
});

Deno.test("keeps nested braces inside a block as words", () => {
  const parsed = parseArgs(
    words("-i { socketpipe -o { cat } -l { ssh a } -r { cat } } -l { ssh b } -r { cat }"),
  );
  assert.equal(parsed.mode, "run");
  if (parsed.mode !== "run") return;
  assert.deepEqual(parsed.options.input, words("socketpipe -o { cat } -l { ssh a } -r { cat }"));
});

Deno.test("reads -h, -t (separate or attached), -x and -v", () => {
  const parsed = parseArgs(
    words("-h ::1 -t5 -v -x { /opt/socketpipe } -o { cat } -l { env } -r { yes }"),
  );
  assert.equal(parsed.mode, "run");
  if (parsed.mode !== "run") return;
  assert.equal(parsed.options.host, "::1");
  assert.equal(parsed.options.timeout, 5);
  assert.equal(parsed.options.verbose, true);
  assert.deepEqual(parsed.options.remoteSocketpipe, ["/opt/socketpipe"]);
});

Deno.test("-s starts the remote half with the command after --", () => {
  assert.deepEqual(parseArgs(words("-s -v -- dd of=x")), {
    mode: "serve",
    verbose: true,
    command: ["dd", "of=x"],
  });
});

const usageErrors: [string, string][] = [
  ["-l { ssh h } -r { cat } -q", "unknown option '-q'"],
  ["-i { cat -l { ssh h } -r { cat }", "unterminated block after -i: missing '}'"],
  ["-i { } -l { ssh h } -r { cat }", "empty block after -i"],
  ["-i cat -l { ssh h } -r { cat }", "-i must be followed by a block: -i { command [args…] }"],
  ["-i { cat } -r { cat }", "missing -l { login command }"],
  ["-i { cat } -l { ssh h }", "missing -r { remote command }"],
  ["-l { ssh h } -r { cat }", "give -i { input command }, -o { output command }, or both"],
  [
    "-t soon -i { cat } -l { ssh h } -r { cat }",
    "bad value for -t: 'soon' (seconds, 0 = wait for ever)",
  ],
  [
    "-t -1 -i { cat } -l { ssh h } -r { cat }",
    "bad value for -t: '-1' (seconds, 0 = wait for ever)",
  ],
  [
    "-i { cat } -l { ssh h } -r { cat } -t",
    "-t needs a value: the seconds to wait for the connection (-t 30)",
  ],
  ["-h", "-h needs a value: this host's address (-h host); for help, --help"],
  [
    "--install -i { a } -l { ssh h }",
    "--install takes the login (-l { … }) and no -i, -r, -o or -x",
  ],
  ["--install --cache-list -l { ssh h }", "--install and --cache-list cannot go together"],
  ["--cache-remove", "missing -l { login command }"],
  ["--cache-list --provision always -l { ssh h }", "--cache-list sends nothing: drop --provision"],
  [
    "--remote-cache /srv/sp -x { sp } -i { a } -l { ssh h } -r { cat }",
    "--remote-cache names where provisioning keeps socketpipe; with -x or --provision never nothing is provisioned: drop it",
  ],
  ["-help", "unknown option '-help': for help, --help"],
  ["-i {cat} -l { ssh h } -r { cat }", "-i {cat}: braces must be separate words: -i { cat }"],
  ["-i { cat } -l { ssh h } -r {cat", "-r {cat: braces must be separate words: -r { cat }"],
  [
    "-i { cat } -l { ssh h } -r { cat}",
    "unterminated block after -r: missing '}' (braces must be separate words: 'cat }', not 'cat}')",
  ],
  ["-i { a } -i { b } -l { ssh h } -r { cat }", "-i given more than once"],
  [
    "} -i { a } -l { ssh h } -r { cat }",
    "unexpected '}': a block must follow -i, -l, -r, -o or -x",
  ],
  [
    "--peer-timeout soon -i { a } -l { ssh h } -r { cat }",
    "bad value for --peer-timeout: 'soon' (seconds, 0 = no bound)",
  ],
  ["-i { a } -l { ssh h } -r { cat } --peer-timeout", "--peer-timeout needs a value"],
  [
    "--size lots -i { a } -l { ssh h } -r { cat }",
    "bad value for --size: 'lots' (bytes, or with K, M, G or T)",
  ],
  ["-P -i { a } --progress -l { ssh h } -r { cat }", "--progress given more than once"],
  [
    "--provision sometimes -i { a } -l { ssh h } -r { cat }",
    "bad value for --provision: 'sometimes' (never, auto or always)",
  ],
];

for (const [args, message] of usageErrors) {
  Deno.test(`usage error: ${message}`, () => {
    assert.throws(() => parseArgs(words(args)), (error) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, message);
      return true;
    });
  });
}

Deno.test("refuses -t and --peer-timeout beyond what a timer and the kernel can hold, at parse time", () => {
  for (
    const [args, message] of [
      ["-t 3000000", /^-t 3000000 is too long: at most 2147483 s/],
      ["--peer-timeout 10000000", /^--peer-timeout 10000000 is too long: at most 86400 s/],
      ["--peer-timeout 86401", /^--peer-timeout 86401 is too long/],
    ] as const
  ) {
    assert.throws(
      () => parseArgs(words(`${args} -i { a } -l { ssh h } -r { cat }`)),
      (error: unknown) => error instanceof UsageError && message.test(error.message),
      args,
    );
  }
  const longest = parseArgs(
    words("-t 2147483 --peer-timeout 86400 -i { a } -l { ssh h } -r { b }"),
  );
  assert.equal(longest.mode, "run");
});

Deno.test("refuses a --peer-timeout too short to tell a busy peer from a dead one, a --limit past 1024G, and --version with other words", () => {
  for (
    const [args, message] of [
      ["--peer-timeout 0.1", /^--peer-timeout 0\.1 is too short: at least 2 s, or 0 for no bound$/],
      ["--peer-timeout 1.9", /^--peer-timeout 1\.9 is too short/],
      [
        "--limit 99999999999G",
        /^bad value for --limit: '99999999999G' \(bytes per second, with K, M or G, from 1 to 1024G\)$/,
      ],
    ] as const
  ) {
    assert.throws(
      () => parseArgs(words(`${args} -i { a } -l { ssh h } -r { cat }`)),
      (error: unknown) => error instanceof UsageError && message.test(error.message),
      args,
    );
  }
  for (const args of ["--version junk", "junk --version", "-v --version"]) {
    assert.throws(() => parseArgs(words(args)), /^UsageError: --version takes no other word$/);
  }
  assert.equal(parseArgs(words("--version")).mode, "version");
  const edges = parseArgs(words("--peer-timeout 2 --limit 1024G -i { a } -l { ssh h } -r { b }"));
  assert.equal(edges.mode, "run");
  const none = parseArgs(words("--peer-timeout 0 -i { a } -l { ssh h } -r { b }"));
  assert.equal(none.mode, "run");
});

Deno.test("--help and --version inside a block are the command's words, never socketpipe's", () => {
  const parsed = parseArgs(words("-i { grep --version } -l { ssh h --help } -r { cat }"));
  assert.equal(parsed.mode, "run");
  if (parsed.mode !== "run") return;
  assert.deepEqual(parsed.options.input, ["grep", "--version"]);
  assert.deepEqual(parsed.options.login, ["ssh", "h", "--help"]);
  // Outside the blocks, --version is socketpipe's: it stands alone, else a usage error.
  assert.throws(
    () => parseArgs(words("-i { a } --version -l { ssh h } -r { b }")),
    /--version takes no other word/,
  );
  assert.equal(parseArgs(words("-r { x { --help } } --help")).mode, "help");
});

Deno.test("the fleet verbs: --install is a run that provisions and runs nothing; the cache verbs name the login", () => {
  const install = parseArgs(words("--install --remote-cache /srv/sp -l { ssh h }"));
  assert.equal(install.mode, "run");
  if (install.mode === "run") {
    assert.deepEqual(install.options.remote, ["true"]);
    assert.equal(install.options.remoteCache, "/srv/sp");
  }
  assert.deepEqual(parseArgs(words("--cache-list -l { ssh h }")), {
    mode: "cache",
    action: "list",
    login: ["ssh", "h"],
    remoteCache: "",
  });
  // A verb inside a block is the command's word.
  const inBlock = parseArgs(words("-i { echo --install } -l { ssh h } -r { cat }"));
  assert.equal(inBlock.mode, "run");
});

Deno.test("the command line and the library refuse a bad value in the same words: one check per option", async () => {
  const { validateOptions } = await import("../../lib/local/validate_options.ts");
  const base = { login: ["ssh", "h"], remote: ["cat"], input: ["a"] };
  for (
    const [option, key, text, value] of [
      ["--buffer", "buffer", "2147483648", 2 ** 31],
      ["--limit", "limit", "0", 0],
      ["--peer-timeout", "peerTimeout", "100000", 100000],
      ["--peer-timeout", "peerTimeout", "1", 1],
      ["-t", "timeout", "3000000", 3000000],
      ["--listen", "listen", "both", "both"],
    ] as const
  ) {
    const fromCli = (() => {
      try {
        parseArgs([option, text, ...words("-i { a } -l { ssh h } -r { cat }")]);
      } catch (error) {
        return (error as UsageError).line;
      }
    })();
    assert.ok(fromCli, `${option} ${text} was taken`);
    assert.throws(() => validateOptions({ ...base, [key]: value }), { message: fromCli });
  }
});
