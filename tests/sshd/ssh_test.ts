/**
 * End-to-end tests through a real sshd on 127.0.0.1, started privately by the suite.
 * No -h is given unless a test is about it: the remote half finds this host through the
 * $SSH_CLIENT that sshd sets, as it would on a real network.
 */
import assert from "node:assert/strict";
import {
  block,
  DENO,
  LEFTOVERS_GONE_MS,
  processesMatching,
  randomFile,
  REMOTE_HALF,
  REPO,
  runCli as runCliOnDefaultPath,
  runCliWithFiles as runCliWithFilesOnDefaultPath,
  runFeeding,
  sha256,
  sha256File,
  SOCKETPIPE,
  spawnCli,
  waitUntilGone,
  waitUntilRunning,
} from "../harness/run.ts";
import { type PrivateSshd, sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testEachPath, testWhere } from "../harness/register.ts";
import { signalNumber } from "../../lib/base/command_status.ts";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";

const noSshd = sshdAvailable ? null : "no sshd installed";
const sshd: PrivateSshd | null = noSshd ? null : await startSshd();
globalThis.addEventListener("unload", () => sshd?.stopSync());
const LOGIN = sshd ? block("-l", ...sshd.login) : [];
const work = await Deno.makeTempDir({ prefix: "socketpipe-e2e-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
const SIXTY_FOUR_MB = 64 * 1024 * 1024;
const bigFile = noSshd ? "" : await randomFile(work, "random-64M", SIXTY_FOUR_MB);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const unique = () => `sp${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;

/** The data path the current test runs on (tests in a file run one at a time). */
let pathArgs: string[] = [];
const runCli: typeof runCliOnDefaultPath = (args, options) =>
  runCliOnDefaultPath([...pathArgs, ...args], options);
const runCliWithFiles: typeof runCliWithFilesOnDefaultPath = (args, files) =>
  runCliWithFilesOnDefaultPath([...pathArgs, ...args], files);

/**
 * Starts a transfer that runs until stopped (`yes` into a remote `grep`), every process
 * of which carries `marker` in its command line; resolves once the remote command runs.
 */
async function startEndlessTransfer(
  marker: string,
  options: { grandchildren?: boolean } = {},
): Promise<Deno.ChildProcess> {
  // With grandchildren, each command first starts a background subshell whose `sleep`
  // never touches the data and carries the marker only in its environment.
  const family = (command: string) =>
    options.grandchildren
      ? ["sh", "-c", `export TEST_MARK=$0; (sleep 300; true) & exec ${command}`, marker]
      : command.replace("$0", marker).split(" ");
  const child = spawnCli([
    ...pathArgs,
    ...block("-i", ...family("yes $0")),
    ...LOGIN,
    ...REMOTE_HALF,
    ...block("-r", ...family("grep -c no-$0")),
  ], { stdout: "null" });
  await waitUntilRunning(`(^|/)grep -c no-${marker}`, 20_000);
  if (options.grandchildren) await waitForSleeps(marker);
  return child;
}

/** The sleeps of a run started with grandchildren (each host has one). */
async function sleepsOf(marker: string): Promise<string[]> {
  return (await processesMatching(marker)).filter((line) => / sleep 300$/.test(line));
}

/** Waits until both hosts' grandchild sleeps of `marker` run. */
async function waitForSleeps(marker: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await sleepsOf(marker)).length < 2) {
    if (Date.now() > deadline) throw new Error("the grandchildren did not start");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Registers an end-to-end test once per data path. */
function sshTest(name: string, fn: () => Promise<void>) {
  testEachPath(name, async (path) => {
    pathArgs = [...path.args];
    await fn();
  }, noSshd);
}

async function assertSameTree(a: string, b: string) {
  const diff = await new Deno.Command("diff", { args: ["-r", a, b], stdout: "piped" }).output();
  assert.equal(diff.code, 0, `diff -r ${a} ${b}:\n${text(diff.stdout)}`);
}

async function makeTree(dir: string) {
  await Deno.mkdir(`${dir}/etc/deep/deeper`, { recursive: true });
  await randomFile(`${dir}/etc`, "blob.bin", 3_000_000);
  await randomFile(`${dir}/etc/deep/deeper`, "small.bin", 1234);
  await Deno.writeTextFile(`${dir}/name with spaces.txt`, "hello\n");
  await Deno.writeTextFile(`${dir}/empty`, "");
  await Deno.symlink("etc/blob.bin", `${dir}/link`);
}

// The C original's `make test`: four transfers through ssh with -r { dd }.

sshTest(
  "make test 1: input command reading a file → output command writing a file, 64 MB",
  async () => {
    const out = `${work}/make1.out`;
    const run = await runCli([
      ...block("-i", "cat", bigFile),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "dd", "bs=64k"),
      ...block("-o", "dd", `of=${out}`, "bs=64k"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256File(out), await sha256File(bigFile));
  },
);

sshTest("make test 2: input from socketpipe's stdin, 64 MB", async () => {
  const out = `${work}/make2.out`;
  const run = await runCliWithFiles(
    [
      ...block("-i", "cat"),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "dd"),
      ...block("-o", "dd", `of=${out}`),
    ],
    { stdin: bigFile },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256File(out), await sha256File(bigFile));
});

sshTest("make test 3: output to socketpipe's stdout, 64 MB", async () => {
  const out = `${work}/make3.out`;
  const run = await runCliWithFiles(
    [
      ...block("-i", "cat", bigFile),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "dd"),
      ...block("-o", "cat"),
    ],
    { stdout: out },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256File(out), await sha256File(bigFile));
});

sshTest("make test 4: input from stdin and output to stdout, 64 MB", async () => {
  const out = `${work}/make4.out`;
  const run = await runCliWithFiles(
    [...block("-i", "cat"), ...LOGIN, ...REMOTE_HALF, ...block("-r", "dd"), ...block("-o", "cat")],
    { stdin: bigFile, stdout: out },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256File(out), await sha256File(bigFile));
});

// The manual's three examples, with a file standing in for the tape drive.

sshTest(
  "manual example: back up a directory tree to a remote 'tape', then restore it",
  async () => {
    const source = await Deno.makeTempDir({ dir: work });
    await makeTree(source);
    const tape = `${source}.tar`;
    const backup = await runCli([
      "-b",
      ...block("-i", "tar", "cf", "-", "-C", source, "."),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "dd", `of=${tape}`, "bs=32k"),
    ]);
    assert.equal(backup.code, 0, backup.stderr);

    const restored = await Deno.makeTempDir({ dir: work });
    const restore = await runCli([
      "-b",
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "dd", `if=${tape}`, "bs=32k"),
      ...block("-o", "tar", "xpf", "-", "-C", restored),
    ]);
    assert.equal(restore.code, 0, restore.stderr);
    await assertSameTree(source, restored);
  },
);

sshTest("manual example: compress on the remote host, write a local 'tape'", async () => {
  const source = await Deno.makeTempDir({ dir: work });
  await makeTree(source);
  const tape = `${source}.tar.bz2`;
  const run = await runCli([
    "-b",
    ...block("-i", "tar", "cf", "-", "-C", source, "."),
    ...LOGIN,
    ...REMOTE_HALF,
    ...block("-r", "bzip2", "-c"),
    ...block("-o", "dd", `of=${tape}`, "bs=32k"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const restored = await Deno.makeTempDir({ dir: work });
  const unpack = await new Deno.Command("sh", {
    args: ["-c", `bunzip2 -c '${tape}' | tar xpf - -C '${restored}'`],
  }).output();
  assert.ok(unpack.success);
  await assertSameTree(source, restored);
});

// Edge sizes.

for (
  const [name, data] of [
    ["empty input", new Uint8Array(0)],
    ["1 byte", new Uint8Array([42])],
    ["all 256 byte values", Uint8Array.from({ length: 256 }, (_, i) => i)],
  ] as const
) {
  sshTest(`${name} arrives exactly, both ways`, async () => {
    const run = await runCli(
      [
        ...block("-i", "cat"),
        ...LOGIN,
        ...REMOTE_HALF,
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ],
      { stdin: data },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256(run.stdout), await sha256(data));
    assert.equal(run.stdout.length, data.length);
  });
}

sshTest("1 GB of zeros is counted exactly by the remote command", async () => {
  const run = await runCli([
    ...block("-i", "head", "-c", "1073741824", "/dev/zero"),
    ...LOGIN,
    ...REMOTE_HALF,
    ...block("-r", "wc", "-c"),
    ...block("-o", "cat"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(text(run.stdout).trim(), "1073741824");
});

testWhere(
  noSshd,
  "--encrypt through the real sshd: over 1 GiB each way, byte-exact and counted as plaintext",
  async () => {
    // A pattern that is not all zeros, so that a record out of place could not pass unseen.
    const length = 1_200_000_000;
    const pattern = ["sh", "-c", `yes 0123456789abcdef0123456789abcde | head -c ${length}`];
    const expected = await runFeeding(["sh", "-c", `${pattern[2]} | sha256sum`]);
    const run = await runCli([
      "--encrypt",
      "--report",
      "-",
      ...block("-i", ...pattern),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "cat"),
      ...block("-o", "sha256sum"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(text(run.stdout).split(" ")[0], text(expected.stdout).split(" ")[0]);
    const report = JSON.parse(run.stderr.trim().split("\n").at(-1)!);
    assert.deepEqual(report.local, { sent: length, received: length, delivered: length });
  },
);

for (const length of [0, 1]) {
  testWhere(
    noSshd,
    `--encrypt through the real sshd: a stream of ${length} bytes arrives whole`,
    async () => {
      const bytes = new Uint8Array(length).fill(42);
      const run = await runCli([
        "--encrypt",
        ...block("-i", "cat"),
        ...LOGIN,
        ...REMOTE_HALF,
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ], { stdin: bytes });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(run.stdout, bytes);
    },
  );
}

sshTest(
  "the remote command receives exactly the argv written: spaces, quotes, $, ;, *, newline",
  async () => {
    const words = ["a b", "it's", '"double"', "$HOME", "a;b", "*", "line\nbreak", "", "`id`", "\\"];
    const run = await runCli([
      ...block("-i", "true"),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "printf", "%s\\0", ...words),
      ...block("-o", "cat"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(text(run.stdout).split("\0").slice(0, -1), words);
  },
);

sshTest("-r { sh -c 'cat > file' } works (it deadlocks in the C original)", async () => {
  const out = `${work}/sh-c.out`;
  const run = await runCli(
    [...block("-i", "cat"), ...LOGIN, ...REMOTE_HALF, ...block("-r", "sh", "-c", `cat > '${out}'`)],
    { stdin: "through a shell\n" },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await Deno.readTextFile(out), "through a shell\n");
});

sshTest("one login per transfer", async () => {
  const before = sshd!.logins();
  const run = await runCli([
    ...block("-i", "echo", "x"),
    ...LOGIN,
    ...REMOTE_HALF,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(sshd!.logins() - before, 1);
});

sshTest("without -h the remote half connects back to the address in $SSH_CLIENT", async () => {
  const run = await runCli([
    "-v",
    ...block("-i", "true"),
    ...LOGIN,
    ...REMOTE_HALF,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const attempts = run.stderr.split("\n").filter((line) =>
    line.includes("socketpipe -s: connecting to")
  );
  assert.equal(attempts.length, 1, run.stderr);
  assert.match(attempts[0], /connecting to 127\.0\.0\.1:\d+$/);
});

sshTest("the data channel works over IPv6 (-h ::1)", async () => {
  const data = crypto.getRandomValues(new Uint8Array(60_000));
  const run = await runCli(
    [
      "-v",
      "-h",
      "::1",
      ...block("-i", "cat"),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ],
    { stdin: data },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256(run.stdout), await sha256(data));
  assert.match(run.stderr, /socketpipe: connected from \[::1\]:\d+/);
});

// Failures, each with its exit status and its line.

sshTest(
  "a connection with a wrong token is refused and the transfer still completes byte-exact",
  async () => {
    const out = `${work}/intruded.out`;
    const run = await runCli([
      ...block("-i", "cat", bigFile),
      ...LOGIN,
      ...block("-x", DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/intruder_then_serve.ts`),
      ...block("-r", "dd", `of=${out}`, "bs=64k"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^intruder refused$/m);
    assert.deepEqual(run.errorLines, ["socketpipe: refused 1 unauthenticated data connection(s)"]);
    assert.equal(await sha256File(out), await sha256File(bigFile));
  },
);

sshTest(
  "a remote command killed mid-stream: its status and what it read, named first; then the input it cut off",
  async () => {
    const run = await runCli([
      ...block("-i", "cat", bigFile),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "sh", "-c", "head -c 1000000 > /dev/null; kill -KILL $$"),
    ]);
    assert.equal(run.code, 137, run.stderr);
    // As with set -o pipefail: the input's SIGPIPE is a failure too, but a consequence,
    // named after the cause; the remote command's, rightmost, gives the status.
    assert.equal(run.errorLines.length, 2, run.stderr);
    assert.match(
      run.errorLines[0],
      /^socketpipe: remote command \{ sh -c .* \} killed by SIGKILL on \S+ after reading \d+ of the \d+ bytes that arrived for it$/,
    );
    assert.match(
      run.errorLines[1],
      /^socketpipe: input command \{ cat .* \} killed by SIGPIPE: the remote command \{ sh -c .* \} stopped reading after \d+ bytes$/,
    );
    assert.doesNotMatch(run.stderr, /truncated/); // no byte was lost between the hosts
  },
);

sshTest(
  "login failure (nothing listening): exit 2 and a line naming ssh's cause, with no retry hint",
  async () => {
    const closedPort = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = closedPort.addr.port;
    closedPort.close();
    const run = await runCli([
      "--report",
      "/dev/fd/1",
      ...block("-i", "true"),
      ...block("-l", ...sshd!.login.slice(0, -1), "-p", String(port), "testhost"),
      ...REMOTE_HALF,
      ...block("-r", "cat"),
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.errorLines.length, 1, run.stderr);
    // A script tells a host that is down from a refused key, without reading the line.
    assert.deepEqual(
      JSON.parse(new TextDecoder().decode(run.stdout)).fault,
      { kind: "loginUnreachable", step: "login", retry: true },
    );
    assert.match(
      run.errorLines[0],
      /^socketpipe: login \{ ssh .* \}: no ssh server could be reached \(ssh: connect to host 127\.0\.0\.1 port \d+: Connection refused\); check the host, its ssh port and the network$/,
    );
  },
);

sshTest(
  "a refused login (no key the server takes): the line says refused, and not to try again",
  async () => {
    const keyless = [
      "ssh",
      "-F",
      "/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "IdentityFile=none",
      "-p",
      String(sshd!.port),
      "127.0.0.1",
    ];
    const run = await runCli([
      "--report",
      "/dev/fd/1",
      ...block("-i", "true"),
      ...block("-l", ...keyless),
      ...REMOTE_HALF,
      ...block("-r", "cat"),
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.errorLines.length, 1, run.stderr);
    assert.deepEqual(
      JSON.parse(new TextDecoder().decode(run.stdout)).fault,
      { kind: "loginRefused", step: "login", retry: false },
    );
    assert.match(
      run.errorLines[0],
      /^socketpipe: login \{ ssh .* \} was refused: .*Permission denied/,
    );
    assert.doesNotMatch(run.errorLines[0], /try again|MaxStartups/);
  },
);

sshTest(
  "a host name that does not resolve: the line names the name, not a busy sshd",
  async () => {
    const run = await runCli([
      ...block("-i", "true"),
      ...block("-l", ...sshd!.login.slice(0, -1), "-o", "HostName=nonexistent.invalid", "testhost"),
      ...REMOTE_HALF,
      ...block("-r", "cat"),
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.errorLines.length, 1, run.stderr);
    assert.match(
      run.errorLines[0],
      /^socketpipe: login \{ ssh .* \}: the host name does not resolve \(ssh: Could not resolve hostname nonexistent\.invalid/,
    );
    assert.doesNotMatch(run.errorLines[0], /try again|MaxStartups/);
  },
);

sshTest(
  "a remote session killed before the remote half connected: the line says so, not a busy sshd",
  async () => {
    const run = await runCli([
      ...block("-i", "true"),
      ...LOGIN,
      ...block("-x", "sh", "-c", "kill -KILL $$"),
      ...block("-r", "cat"),
    ]);
    assert.equal(run.code, 2);
    assert.equal(run.errorLines.length, 1, run.stderr);
    assert.match(
      run.errorLines[0],
      /^socketpipe: login \{ ssh .* \} ended \(status 255\) before the remote half connected, and said nothing: the remote session was ended/,
    );
    assert.doesNotMatch(run.errorLines[0], /MaxStartups/);
  },
);

sshTest("remote socketpipe missing: exit 2 and a hint to name it with -x", async () => {
  const run = await runCli([
    ...block("-i", "true"),
    ...LOGIN,
    ...block("-x", "socketpipe-not-installed"),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.equal(run.errorLines.length, 1, run.stderr);
  assert.match(
    run.errorLines[0],
    /remote socketpipe \{ socketpipe-not-installed \} not found \(status 127\); .*-x/,
  );
});

sshTest(
  "the remote half vanishing mid-transfer: exit 2, a line saying so, nothing left running",
  async () => {
    const marker = unique();
    const child = await startEndlessTransfer(marker);
    const remoteHalf = await processesMatching(
      `^${DENO} run .*main\\.ts -s -- grep -c no-${marker}`,
    );
    assert.equal(remoteHalf.length, 1, remoteHalf.join("\n"));
    Deno.kill(Number(remoteHalf[0].split(" ")[0]), "SIGKILL");
    const output = await child.output();
    const lines = text(output.stderr).split("\n").filter((l) => l.startsWith("socketpipe: "));
    assert.equal(output.code, 2, text(output.stderr));
    assert.ok(lines.some((l) => /^socketpipe: remote half vanished/.test(l)), lines.join("\n"));
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
  },
);

sshTest(
  "SIGINT to the local half mid-transfer: exit 130 and no process of the run left on either host",
  async () => {
    const marker = unique();
    const child = await startEndlessTransfer(marker);
    const interruptedAt = Date.now();
    child.kill("SIGINT");
    const output = await child.output();
    const remaining = await waitUntilGone(marker, LEFTOVERS_GONE_MS);
    const cleanupMs = Date.now() - interruptedAt;
    assert.equal(output.code, 130, text(output.stderr));
    assert.match(
      text(output.stderr),
      /^socketpipe: interrupted by SIGINT: stopped every command of this run on both hosts$/m,
    );
    assert.deepEqual(remaining, []);
    assert.ok(cleanupMs < 5000, `cleanup took ${cleanupMs} ms`);
  },
);

sshTest(
  "the local half killed outright mid-transfer: nothing of the run is left on either host",
  async () => {
    const marker = unique();
    const child = await startEndlessTransfer(marker);
    child.kill("SIGKILL");
    await child.output();
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
  },
);

sshTest(
  "ssh killed mid-transfer: exit 2, a line saying the remote half vanished because the login was killed, no errno number anywhere, nothing left running",
  async () => {
    const marker = unique();
    const child = await startEndlessTransfer(marker);
    const ssh = await processesMatching(`(^|/)ssh -F .* testhost .*${marker}`);
    assert.equal(ssh.length, 1, ssh.join("\n"));
    Deno.kill(Number(ssh[0].split(" ")[0]), "SIGKILL");
    const output = await child.output();
    const stderr = text(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.match(stderr, /^socketpipe: remote half vanished/m);
    assert.match(stderr, /^socketpipe: remote half vanished: .* \(login killed by SIGKILL\)$/m);
    // errno is read on the thread that made the call, and named: never "errno 3".
    assert.doesNotMatch(stderr, /errno|failed: \S+ \d+$/im);
    for (const line of stderr.split("\n").filter((l) => /^socketpipe: data connection/.test(l))) {
      assert.match(
        line,
        /: (connection reset by peer|broken pipe|connection timed out|the connection timed out or was reset)$/,
        line,
      );
    }
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
  },
);

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  sshTest(
    `${signal} mid-transfer: no process of the run is left on either host, grandchildren included`,
    async () => {
      const marker = unique();
      const child = await startEndlessTransfer(marker, { grandchildren: true });
      child.kill(signal);
      const output = await child.output();
      assert.equal(output.code, 128 + signalNumber(signal), text(output.stderr));
      assert.match(
        text(output.stderr),
        new RegExp(`^socketpipe: interrupted by ${signal}: stopped every command`, "m"),
      );
      assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
    },
  );
}

for (
  const [what, killed, pattern] of [
    [
      "the remote half killed outright: its watchdog stops the remote command's group, grandchildren included",
      "remote half",
      (marker: string) => `^${DENO} run .*main\\.ts -s -- sh -c.*${marker}$`,
    ],
    [
      "ssh killed mid-transfer: nothing is left on either host, grandchildren included",
      "ssh",
      (marker: string) => `(^|/)ssh -F .* testhost .*${marker}`,
    ],
  ] as const
) {
  sshTest(what, async () => {
    const marker = unique();
    const child = await startEndlessTransfer(marker, { grandchildren: true });
    const found = await processesMatching(pattern(marker));
    assert.equal(found.length, 1, `${killed}: ${found.join("\n")}`);
    Deno.kill(Number(found[0].split(" ")[0]), "SIGKILL");
    const output = await child.output();
    assert.equal(output.code, 2, text(output.stderr));
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
  });
}

sshTest(
  "-t expiring: the login's own children are stopped too (a wrapper's sleep), and the remote half ends",
  async () => {
    const marker = unique();
    const wrapper = ["sh", "-c", 'export TEST_MARK=$0; (sleep 300; true) & exec "$@"', marker];
    // A remote half that says hello but never connects back.
    const silent = ["sh", `${REPO}/tests/fixtures/silent_remote.sh`, String(PROTOCOL_VERSION)];
    // Long enough for an ssh login on a busy host: the line this test wants is the one
    // of a remote half that spoke and never connected.
    const run = await runCli([
      "-t",
      "8",
      ...block("-i", "true"),
      ...block("-l", ...wrapper, ...sshd!.login),
      ...block("-x", ...silent),
      ...block("-r", "cat"),
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.errorLines[0] ?? "", /no authenticated data connection within 8 s/);
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
  },
);

sshTest(
  "Ctrl-Z (SIGTSTP to the whole job) for longer than --peer-timeout, then fg: exit 0, byte-exact",
  async () => {
    const marker = unique();
    const twice = `${work}/${marker}-twice`;
    await new Deno.Command("sh", { args: ["-c", 'cat "$0" "$0" > "$1"', bigFile, twice] }).output();
    // A job of its own (a new session), so that the test can signal the whole of it as a
    // terminal does: socketpipe, its input command and ssh.
    const child = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        "--quiet",
        `${REPO}/main.ts`,
        ...pathArgs,
        "--peer-timeout",
        "2",
        ...block("-i", "sh", "-c", 'cat "$0"; sleep 2; cat "$0"', bigFile),
        ...LOGIN,
        ...REMOTE_HALF,
        ...block("-r", "sh", "-c", "sha256sum", marker),
        ...block("-o", "cat"),
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    await waitUntilRunning(`(^|/)sh -c sha256sum ${marker}`, 20_000);
    Deno.kill(-child.pid, "SIGTSTP");
    await waitForState(child.pid, "T");
    await new Promise((resolve) => setTimeout(resolve, 5000)); // two and a half peer timeouts
    Deno.kill(-child.pid, "SIGCONT");
    const output = await child.output();
    assert.equal(output.code, 0, text(output.stderr));
    assert.equal(text(output.stdout).split(" ")[0], await sha256File(twice));
    await Deno.remove(twice);
  },
);

/** Waits until process `pid` is in `state` (a letter of /proc/<pid>/stat: "T" stopped). */
async function waitForState(pid: number, state: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith(state)) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} never reached state ${state}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

sshTest(
  "a login that allocates a terminal (ssh -tt) gets one line saying so, not the bootstrap echoed back",
  async () => {
    const run = await runCli([
      ...block("-i", "echo", "hi"),
      ...block("-l", ...sshd!.login.slice(0, -1), "-tt", "testhost"),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ]);
    assert.equal(run.code, 2);
    assert.deepEqual(run.errorLines, [
      "socketpipe: login: the login gave the remote side a terminal (ssh -t, RequestTTY), which " +
      "echoes what socketpipe sends and alters its bytes; drop -t from the login, or add -T",
    ]);
    assert.equal(run.stderr.split("\n").filter((line) => line !== "").length, 1, run.stderr);
  },
);

sshTest(
  "a remote command line over the system's argument limit is named as such, not as a version mismatch",
  async () => {
    // Each word is short; joined for the remote shell they pass Linux's 128 KiB per word.
    const words = Array.from({ length: 5000 }, () => "a".repeat(40));
    const run = await runCli([
      ...block("-i", "true"),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", "echo", ...words),
    ]);
    assert.equal(run.code, 2);
    assert.match(
      run.errorLines.at(-1) ?? "",
      /^socketpipe: login \{ ssh .* \}: the remote host could not start the remote half: its command line is over the system's argument limit \(.*Argument list too long\)/,
    );
    assert.doesNotMatch(run.stderr, /same version/);
  },
);

sshTest(
  "through a bastion, nested as the manual's BASTIONS shows: bytes exact, the inner run's status passes through",
  async () => {
    const data = crypto.getRandomValues(new Uint8Array(65536));
    // The outer run's remote command is a second run, from the "bastion" to the "host".
    const inner = (remote: string[]) => [
      ...SOCKETPIPE,
      ...block("-i", "cat"),
      ...LOGIN,
      ...REMOTE_HALF,
      ...block("-r", ...remote),
      ...block("-o", "cat"),
    ];
    const nested = (remote: string[]) =>
      runCli([
        ...block("-i", "cat"),
        ...LOGIN,
        ...REMOTE_HALF,
        ...block("-r", ...inner(remote)),
        ...block("-o", "cat"),
      ], { stdin: data });
    const exact = await nested(["sha256sum"]);
    assert.equal(exact.code, 0, exact.stderr);
    assert.equal(text(exact.stdout).split(" ")[0], await sha256(data));
    const failing = await nested(["sh", "-c", "cat > /dev/null; exit 3"]);
    assert.equal(failing.code, 3, failing.stderr);
  },
);
