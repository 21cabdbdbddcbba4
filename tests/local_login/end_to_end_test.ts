/**
 * Fast end-to-end tests through a local login (`-l { sh -c 'eval "$*"' sh }`): everything that is not
 * about ssh itself.
 */
import assert from "node:assert/strict";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";
import {
  block,
  DENO,
  LEFTOVERS_GONE_MS,
  LOCAL_LOGIN,
  REMOTE_HALF,
  REMOTE_SOCKETPIPE,
  REPO,
  runCli as runCliOnDefaultPath,
  sha256,
  SHELL_LOGIN,
  spawnCli,
  waitUntilGone,
  waitUntilRunning,
} from "../harness/run.ts";
import { testEachPath } from "../harness/register.ts";

/** This host: the local login runs the remote half here, and the lines name it. */
const HOST = Deno.hostname();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The data path the current test runs on (tests in a file run one at a time). */
let pathArgs: string[] = [];
const runCli: typeof runCliOnDefaultPath = (args, options) =>
  runCliOnDefaultPath([...pathArgs, ...args], options);

/** Registers a test once per data path. */
function pathTest(name: string, fn: () => Promise<void>) {
  testEachPath(name, async (path) => {
    pathArgs = [...path.args];
    await fn();
  });
}

pathTest("input → remote → output moves bytes exactly and exits 0", async () => {
  const data = crypto.getRandomValues(new Uint8Array(60000));
  const run = await runCli([
    ...block("-i", "cat"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ], {
    stdin: data,
  });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256(run.stdout), await sha256(data));
  assert.equal(run.stderr, "");
});

pathTest(
  "--listen remote: the remote half listens, the local half connects; bytes exact, exit 0",
  async () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 31) & 0xff);
    const run = await runCli([
      "--listen",
      "remote",
      ...block("-i", "cat"),
      ...LOCAL_LOGIN,
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ], { stdin: data });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256(run.stdout), await sha256(data));
    assert.equal(run.stderr, "");
  },
);

pathTest(
  "--listen remote with --bind and --port: the remote half listens where it is told",
  async () => {
    const port = 42000 + (Deno.pid % 500) * 4;
    const run = await runCli([
      "-v",
      "--listen",
      "remote",
      "--bind",
      "127.0.0.1",
      "--port",
      `${port}-${port + 3}`,
      ...block("-i", "printf", "over the remote listener"),
      ...LOCAL_LOGIN,
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(text(run.stdout), "over the remote listener");
    const listening = run.stderr.match(/listening on 127\.0\.0\.1:(\d+)/);
    assert.ok(listening, run.stderr);
    assert.ok(Number(listening[1]) >= port && Number(listening[1]) <= port + 3, listening[0]);
  },
);

pathTest("without -i the remote command's stdin is at end of file", async () => {
  const run = await runCli([...LOCAL_LOGIN, ...block("-r", "wc", "-c"), ...block("-o", "cat")], {
    stdin: "this must not reach the remote command",
  });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(text(run.stdout).trim(), "0");
});

pathTest(
  "without -o the remote command's stdout is discarded and nothing reaches socketpipe's stdout",
  async () => {
    const run = await runCli([
      ...block("-i", "echo", "hi"),
      ...LOCAL_LOGIN,
      ...block("-r", "echo", "remote"),
    ]);
    // The remote command never reads: as in `set -o pipefail; echo hi | echo remote`, the
    // input may have written before its reader was gone (0) or after (SIGPIPE, 141).
    assert.ok(run.code === 0 || run.code === 141, run.stderr);
    if (run.code === 141) assert.match(run.stderr, /input command \{ echo hi \} killed by SIGPIPE/);
    assert.equal(run.stdout.length, 0);
  },
);

pathTest(
  "a failing remote command's status is the exit status, with one line naming it",
  async () => {
    const run = await runCli([
      ...block("-i", "true"),
      ...LOCAL_LOGIN,
      ...block("-r", "sh", "-c", "exit 7"),
    ]);
    assert.equal(run.code, 7);
    assert.deepEqual(run.errorLines, [
      `socketpipe: remote command { sh -c 'exit 7' } exited with status 7 on ${HOST}`,
    ]);
  },
);

pathTest("a failing input command is reported even when the rest succeeds", async () => {
  const run = await runCli([
    ...block("-i", "sh", "-c", "echo x; exit 3"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 3);
  assert.deepEqual(run.errorLines, [
    "socketpipe: input command { sh -c 'echo x; exit 3' } exited with status 3",
  ]);
});

pathTest("the output command's failure wins over the remote command's (rightmost)", async () => {
  const run = await runCli([
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "echo data; exit 4"),
    ...block("-o", "sh", "-c", "cat >/dev/null; exit 5"),
  ]);
  assert.equal(run.code, 5);
  assert.deepEqual(run.errorLines, [
    `socketpipe: remote command { sh -c 'echo data; exit 4' } exited with status 4 on ${HOST}`,
    "socketpipe: output command { sh -c 'cat >/dev/null; exit 5' } exited with status 5",
  ]);
});

pathTest("a command killed by a signal gives 128+N", async () => {
  const run = await runCli([
    ...block("-i", "true"),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "kill -USR1 $$"),
  ]);
  assert.equal(run.code, 128 + 10);
  assert.equal(run.errorLines.length, 1);
  assert.match(
    run.errorLines[0],
    /^socketpipe: remote command \{ sh -c .* \} killed by SIGUSR1 on \S+$/,
  );
});

pathTest("commands get SIGUSR1 at its default, though socketpipe takes it over", async () => {
  const run = await runCli([
    ...block("-i", "sh", "-c", "kill -USR1 $$"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 128 + 10, run.stderr);
  assert.deepEqual(run.errorLines, [
    "socketpipe: input command { sh -c 'kill -USR1 $$' } killed by SIGUSR1",
  ]);
});

for (const count of [0, 1, 1000]) {
  pathTest(
    `-i { yes } -r { head -c ${count} } ends promptly with 141, the input's SIGPIPE, as set -o pipefail; the line says what the reader read`,
    async () => {
      const run = await runCli([
        ...block("-i", "yes"),
        ...LOCAL_LOGIN,
        ...block("-r", "head", "-c", `${count}`),
        ...block("-o", "wc", "-c"),
      ]);
      assert.equal(run.code, 141, run.stderr);
      assert.equal(text(run.stdout).trim(), `${count}`);
      // What it read, not what its pipe took (up to 64 KiB more, on the stream path).
      assert.deepEqual(run.errorLines, [
        "socketpipe: input command { yes } killed by SIGPIPE: " +
        `the remote command { head -c ${count} } stopped reading after ${count} bytes`,
      ]);
    },
  );
}

pathTest(
  "-r { yes } -o { head -c 1000 } ends promptly with 141, the remote SIGPIPE, as set -o pipefail",
  async () => {
    const run = await runCli([
      ...LOCAL_LOGIN,
      ...block("-r", "yes"),
      ...block("-o", "head", "-c", "1000"),
    ]);
    assert.equal(run.code, 141, run.stderr);
    assert.equal(run.stdout.length, 1000);
    assert.deepEqual(run.errorLines, [
      `socketpipe: remote command { yes } killed by SIGPIPE on ${HOST}: ` +
      "the output command { head -c 1000 } stopped reading after 1000 bytes",
    ]);
  },
);

pathTest("a local command that does not exist: status 127 and a line saying so", async () => {
  const run = await runCli([
    ...block("-i", "no-such-command-xyz"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 127);
  assert.deepEqual(run.errorLines, [
    "socketpipe: input command { no-such-command-xyz } could not start: not found",
  ]);
});

pathTest("a remote command that does not exist: status 127 and a line saying so", async () => {
  const run = await runCli([
    ...block("-i", "echo", "x"),
    ...LOCAL_LOGIN,
    ...block("-r", "no-such-command-xyz"),
  ]);
  assert.equal(run.code, 127);
  // As in `set -o pipefail; echo x | no-such-command`, the input may or may not have
  // written before its reader was gone: a SIGPIPE line for it may follow the cause.
  const [first, ...after] = run.errorLines;
  assert.equal(
    first,
    `socketpipe: remote command { no-such-command-xyz } could not start: not found on ${HOST}`,
  );
  for (const line of after) {
    assert.match(line, /^socketpipe: input command \{ echo x \} killed by SIGPIPE: /);
  }
});

pathTest("a login command that does not exist: exit 2 and a line saying so", async () => {
  const run = await runCli([
    ...block("-i", "true"),
    ...block("-l", "no-such-login-xyz"),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.deepEqual(run.errorLines, [
    "socketpipe: login command { no-such-login-xyz } could not start: not found",
  ]);
});

pathTest("remote socketpipe not found: exit 2 and a hint to use -x", async () => {
  const run = await runCli([
    ...block("-i", "true"),
    ...block("-l", "env"),
    ...block("-x", "no-such-socketpipe-xyz"),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.equal(run.errorLines.length, 1, run.stderr);
  assert.match(
    run.errorLines[0],
    /^socketpipe: login \{ env \}: remote socketpipe \{ no-such-socketpipe-xyz \} not found \(status 127\); .* -x \{ \/path\/to\/socketpipe \}$/,
  );
});

pathTest("no connection within -t: exit 2 and a line naming the timeout", async () => {
  const run = await runCli([
    "-t",
    "1",
    ...block("-i", "true"),
    ...block("-l", "env"),
    ...block("-x", "sh", `${REPO}/tests/fixtures/silent_remote.sh`, String(PROTOCOL_VERSION)),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.equal(run.errorLines.length, 1, run.stderr);
  assert.match(
    run.errorLines[0],
    /^socketpipe: connect: no authenticated data connection within 1 s; /,
  );
});

pathTest(
  "a remote half stopped before it connects ends the run after --peer-timeout, even with -t 0",
  async () => {
    const run = await runCli([
      "--peer-timeout",
      "2",
      ...block("-i", "true"),
      ...block("-l", "env"),
      ...block(
        "-x",
        "sh",
        `${REPO}/tests/fixtures/unconnecting_remote.sh`,
        "stop",
        String(PROTOCOL_VERSION),
      ),
      ...block("-r", "cat"),
    ]);
    assert.equal(run.code, 2);
    assert.deepEqual(run.errorLines, [
      "socketpipe: remote half stopped answering: nothing heard from it for 2 s " +
      "(a cut link or a crashed host?); if the host was only busy, give it longer: " +
      "--peer-timeout 6",
    ]);
  },
);

pathTest("a remote half that reports an end without connecting ends the run at once", async () => {
  const run = await runCli([
    ...block("-i", "true"),
    ...block("-l", "env"),
    ...block(
      "-x",
      "sh",
      `${REPO}/tests/fixtures/unconnecting_remote.sh`,
      "report",
      String(PROTOCOL_VERSION),
    ),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.equal(run.errorLines.length, 1, run.stderr);
  assert.match(run.errorLines[0], /^socketpipe: remote half reported its end without connecting; /);
});

pathTest("-t expiring before the remote half spoke says the login had not finished", async () => {
  const run = await runCli([
    "-t",
    "1",
    ...block("-i", "true"),
    ...block("-l", "env"),
    ...block("-x", "sh", `${REPO}/tests/fixtures/silent_remote.sh`),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.deepEqual(run.errorLines, [
    "socketpipe: login { env } not finished within 1 s: no word from the remote half yet " +
    "(a password prompt? a slow host?); raise -t or make the login work without a prompt",
  ]);
});

pathTest("a remote half that cannot connect back says where it tried, and exit is 2", async () => {
  const run = await runCli([
    "--report",
    "/dev/fd/1",
    ...block("-i", "true"),
    ...block("-l", "env"),
    "-h",
    "127.0.0.1:notaport",
    ...REMOTE_HALF,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.match(
    run.errorLines.at(-1) ?? "",
    /^socketpipe: remote half: connect: could not connect back \(/,
  );
  // The remote half names its fault: the report says what it is, as for a local one.
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(run.stdout)).fault,
    { kind: "connectBackFailed", step: "meeting", retry: false },
  );
});

pathTest(
  "a remote command that fails: the line names its host, the report keeps its last stderr lines",
  async () => {
    const complaint = "cat: write error: No space left on device";
    const run = await runCli([
      "--report",
      "/dev/fd/1",
      ...block("-i", "printf", "data"),
      ...LOCAL_LOGIN,
      ...block("-r", "sh", "-c", `cat >/dev/null; echo one >&2; echo "${complaint}" >&2; exit 1`),
    ]);
    assert.equal(run.code, 1, run.stderr);
    // The command's own line first, as through a pipe; then socketpipe's, naming the host.
    assert.equal(run.errorLines.length, 1, run.stderr);
    assert.ok(run.errorLines[0].endsWith(` exited with status 1 on ${HOST}`), run.stderr);
    assert.ok(run.stderr.indexOf(complaint) < run.stderr.indexOf(run.errorLines[0]), run.stderr);
    const { remote } = JSON.parse(text(run.stdout));
    assert.equal(remote.host, HOST);
    assert.deepEqual(remote.stderr, ["one", complaint]);
  },
);

pathTest(
  "a remote command's last stderr line, written just after it exits (a background child), comes before socketpipe's line and is in the report",
  async () => {
    const late = "late: the disk is full";
    const run = await runCli([
      "--report",
      "/dev/fd/1",
      ...block("-i", "printf", "data"),
      ...LOCAL_LOGIN,
      ...block(
        "-r",
        "sh",
        "-c",
        `cat >/dev/null; (sleep 0.3; echo "${late}" >&2) </dev/null >/dev/null & exit 1`,
      ),
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.errorLines.length, 1, run.stderr);
    assert.ok(run.stderr.indexOf(late) >= 0, run.stderr);
    assert.ok(run.stderr.indexOf(late) < run.stderr.indexOf(run.errorLines[0]), run.stderr);
    const { remote } = JSON.parse(text(run.stdout));
    assert.deepEqual(remote.stderr, [late]);
  },
);

for (
  const [direction, args] of [
    ["remote → output", [
      ...block("-r", "head", "-c", "3000000", "/dev/zero"),
      ...block("-o", "sh", "-c", "sleep 5; wc -c"),
    ]],
  ] as const
) {
  pathTest(
    `a reader that pauses 5 s before it reads (${direction}) gets the whole stream: 0, as through a pipe`,
    async () => {
      // The sender's command has ended long before its bytes are taken: they wait in the
      // socket's buffers behind a closed window, which is a slow reader, not a lost peer.
      const run = await runCli([...LOCAL_LOGIN, ...args]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(text(run.stdout).trim(), "3000000");
    },
  );
}

pathTest("noise on the login channel is shown on stderr and otherwise ignored", async () => {
  const run = await runCli([
    ...block("-i", "echo", "payload"),
    ...block("-l", "sh", "-c", 'echo "Welcome to the remote host"; exec "$@"', "sh"),
    "-h",
    "127.0.0.1",
    ...REMOTE_HALF,
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(text(run.stdout), "payload\n");
  assert.deepEqual(run.errorLines, ["socketpipe: login: Welcome to the remote host"]);
});

pathTest("only the input command reads socketpipe's stdin", async () => {
  const run = await runCli([
    ...block("-i", "cat"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ], {
    stdin: "line one\nline two\n",
  });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(text(run.stdout), "line one\nline two\n");
});

pathTest("socketpipe's own stderr gone: the exit status is still the command's", async () => {
  const child = spawnCli([
    ...pathArgs,
    ...block("-i", "printf", "data"),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "cat >/dev/null; echo remote complains >&2; exit 7"),
  ], { stdin: "null", stdout: "null", stderr: "piped" });
  await child.stderr.cancel(); // the read end closes: every write to stderr fails
  assert.equal((await child.status).code, 7);
});

/** Whether process `pid` has a TCP socket in the LISTEN state. */
function listens(pid: number): boolean {
  const inodes = new Set<string>();
  for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
      const inode = target.match(/^socket:\[(\d+)\]$/)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // Closed meanwhile.
    }
  }
  const listening = ["tcp", "tcp6"].flatMap((table) =>
    Deno.readTextFileSync(`/proc/${pid}/net/${table}`).split("\n").slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === "0A")
      .map((fields) => fields[9])
  );
  return listening.some((inode) => inodes.has(inode));
}

Deno.test("SIGUSR1: the local half prints a status line, and neither half opens a debugger", async () => {
  const marker = `usr1-${crypto.randomUUID().slice(0, 8)}`;
  const child = spawnCli([
    ...block("-i", "sh", "-c", "head -c 50000000 /dev/zero; sleep 3", marker),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "cat > /dev/null", marker),
  ], { stdout: "null" });
  const remote = await waitUntilRunning(`^${DENO} .*main\\.ts -s -- sh -c .*${marker}`, 20_000);
  // The local half starts its input once it has met the remote half: then it has a status.
  await waitUntilRunning(`^sh -c head -c 50000000 .*${marker}$`, 20_000);
  // Deno would start its inspector (on 127.0.0.1:9229) from half a second after start-up.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const remotePid = Number(remote[0].split(" ")[0]);
  Deno.kill(child.pid, "SIGUSR1");
  Deno.kill(remotePid, "SIGUSR1");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(listens(child.pid), false, "the local half listens on a port");
  assert.equal(listens(remotePid), false, "the remote half listens on a port");
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port: 9229 }),
    Deno.errors.ConnectionRefused,
  );
  const output = await child.output();
  const stderr = text(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.match(
    stderr,
    /^socketpipe: status: [\d.]+ [KMG]?i?B sent, 0 B received, [\d.]+ [KMG]?i?B\/s \(average [\d.]+ [KMG]?i?B\/s\), \d+:\d\d:\d\d$/m,
  );
  assert.doesNotMatch(stderr, /Debugger listening/);
});

pathTest("a remote half run without -A names the missing permission, not -h", async () => {
  const run = await runCli([
    ...block("-i", "printf", "hi"),
    ...block("-l", "sh", "-c", 'eval "$*"', "sh"),
    "-h",
    "127.0.0.1",
    ...block(
      "-x",
      DENO,
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-ffi",
      "--allow-run",
      "--quiet",
      `${REPO}/main.ts`,
    ),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.equal(run.errorLines.length, 1, run.stderr);
  assert.match(
    run.errorLines[0],
    /^socketpipe: remote half: connect: the remote half may not connect back \(Requires net access to "127\.0\.0\.1:\d+"\); run it with every permission, e\.g\. -x \{ deno run -A main\.ts \}$/,
  );
});

Deno.test("-l { env } with provisioning says the login must run a shell command line, and what to use", async () => {
  const run = await runCliOnDefaultPath([
    ...block("-i", "true"),
    ...block("-l", "env"),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.deepEqual(run.errorLines, [
    "socketpipe: login { env } could not run the bootstrap (status 127): the login must run its " +
    "words as a shell command line, as ssh does; on this host use -l { sh -c 'eval \"$*\"' sh }, " +
    "or start an installed socketpipe with -x { … }",
  ]);
});

Deno.test("the demo prints exactly the command line it runs", async () => {
  const demo = await Deno.readTextFile(`${REPO}/tests/demo.sh`);
  // The line it prints is made from the very words it runs ("$@"), never typed twice.
  assert.match(demo, /^echo "socketpipe\$\(quoted "\$@"\)"$/m);
  assert.match(demo, /^deno run -A --quiet "\$repo\/main\.ts" "\$@"/m);
  const quoted = demo.slice(demo.indexOf("quoted() {"), demo.indexOf("\n}\n") + 3);
  const words = ["-l", "{", "sh", "-c", 'eval "$*"', "sh", "}", "it's"];
  const shown = await new Deno.Command("sh", {
    args: ["-c", `${quoted}\nquoted "$@"`, "sh", ...words],
    stdout: "piped",
  }).output();
  const back = await new Deno.Command("sh", {
    args: ["-c", `for w in${text(shown.stdout)}; do printf '%s\\n' "$w"; done`],
    stdout: "piped",
  }).output();
  assert.deepEqual(text(back.stdout).trimEnd().split("\n"), words);
});

pathTest(
  "a remote command that is not found is the first line; the input it cut off comes after",
  async () => {
    const run = await runCli([
      ...block("-i", "yes"),
      ...LOCAL_LOGIN,
      ...block("-r", "socketpipe-no-such-command"),
    ]);
    assert.equal(run.code, 127);
    assert.equal(run.errorLines.length, 2, run.stderr);
    assert.equal(
      run.errorLines[0],
      `socketpipe: remote command { socketpipe-no-such-command } could not start: not found on ${HOST}`,
    );
    assert.match(run.errorLines[1], /^socketpipe: input command \{ yes \} killed by SIGPIPE/);
  },
);

pathTest(
  "a remote command that exits 1 without reading all is told by what it read, not as a truncated stream",
  async () => {
    const run = await runCli([
      ...block("-i", "head", "-c", "10000000", "/dev/zero"),
      ...LOCAL_LOGIN,
      ...block("-r", "sh", "-c", "head -c 10 >/dev/null; exit 1"),
    ]);
    assert.equal(run.code, 1);
    assert.match(
      run.errorLines[0],
      /^socketpipe: remote command \{ sh -c 'head -c 10 >\/dev\/null; exit 1' \} exited with status 1 on \S+ after reading \d+ of the \d+ bytes that arrived for it$/,
    );
    assert.doesNotMatch(run.stderr, /truncated/);
    // Killed by SIGPIPE, or (the socket's buffers hold more than a pipe) as through a pipe.
    assert.match(
      run.errorLines[1],
      /^socketpipe: input command \{ head .* \} (killed by SIGPIPE|wrote \d+ bytes, but .* \(SIGPIPE\), as through a pipe)/,
    );
  },
);

pathTest("SOCKETPIPE_RUN names the same run on both hosts, and each command's role", async () => {
  const run = await runCli([
    ...block("-i", "sh", "-c", 'echo "$SOCKETPIPE_RUN"'),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", 'cat; echo "$SOCKETPIPE_RUN"'),
    ...block("-o", "sh", "-c", 'cat; echo "$SOCKETPIPE_RUN"'),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const [input, remote, output] = text(run.stdout).trim().split("\n");
  const name = input.split(":")[0];
  assert.match(name, /^[0-9a-f]{8}$/);
  assert.deepEqual([input, remote, output], [`${name}:input`, `${name}:remote`, `${name}:output`]);
});

pathTest(
  "SIGTERM to the remote half says it was stopped there, not that the local half is gone",
  async () => {
    const mark = `stopped-remotely-${crypto.randomUUID().slice(0, 8)}`;
    const child = spawnCli([
      ...block("-i", "sleep", "30"),
      ...LOCAL_LOGIN,
      ...block("-r", "sh", "-c", "cat", mark),
    ]);
    // The remote half: the deno whose command line ends in the remote command (the login's
    // shell has those words too).
    const [remoteHalf] = await waitUntilRunning(
      `^\\S*deno run .* -s -- sh -c cat ${mark}$`,
      20_000,
    );
    await waitUntilRunning(`^sh -c cat ${mark}$`, 20_000); // its command runs
    Deno.kill(Number(remoteHalf.split(" ")[0]), "SIGTERM");
    const output = await child.output();
    const errorLines = text(output.stderr).split("\n").filter((line) =>
      line.startsWith("socketpipe")
    );
    assert.equal(output.code, 2);
    assert.equal(
      errorLines[0],
      "socketpipe: remote half: run: stopped by SIGTERM on the remote host: stopped the remote " +
        "command and all it started there",
    );
    assert.doesNotMatch(text(output.stderr), /local half is gone/);
  },
);

Deno.test("SIGTERM to the remote half before the meeting ends its wait at once, and the line names the signal", async () => {
  const mark = `stopped-early-${crypto.randomUUID().slice(0, 8)}`;
  // A listener that takes the remote half's connection and never proves anything: the
  // remote half waits there (up to the handshake's bound, a minute). It has the local
  // half's port on another loopback address, which the remote half is told to use.
  const mute = Deno.listen({ hostname: "127.0.0.2", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const conn of mute) held.push(conn);
  })().catch(() => {});
  try {
    const child = spawnCli([
      ...block("-i", "true"),
      ...block("-l", ...SHELL_LOGIN),
      "--bind",
      "127.0.0.1",
      "--port",
      String(mute.addr.port),
      "-h",
      "127.0.0.2",
      ...REMOTE_HALF,
      ...block("-r", "sh", "-c", "cat", mark),
    ]);
    const [remoteHalf] = await waitUntilRunning(
      `^\\S*deno run .* -s -- sh -c cat ${mark}$`,
      20_000,
    );
    const deadline = Date.now() + 20_000;
    while (held.length === 0) {
      assert.ok(Date.now() < deadline, "the remote half never connected");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    Deno.kill(Number(remoteHalf.split(" ")[0]), "SIGTERM");
    const output = await child.output();
    const errorLines = text(output.stderr).split("\n").filter((line) =>
      line.startsWith("socketpipe")
    );
    assert.equal(output.code, 2, text(output.stderr));
    assert.match(
      errorLines[0] ?? "",
      /^socketpipe: remote half: connect: stopped by SIGTERM on the remote host/,
      text(output.stderr),
    );
  } finally {
    mute.close();
    for (const conn of held) conn.close();
  }
});

Deno.test("a local half that falls silent while its host answers: the remote half stops its command after three times the bound, and its line names the silence, the host's answers and the remedy", async () => {
  const mark = `silent-local-${crypto.randomUUID().slice(0, 8)}`;
  const child = spawnCli([
    "--peer-timeout",
    "2",
    ...block("-i", "sleep", "30"),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "cat", mark),
  ]);
  await waitUntilRunning(`^sh -c cat ${mark}$`, 20_000);
  // As a crashed host, or one too busy to run it, does: the local half says nothing.
  Deno.kill(child.pid, "SIGSTOP");
  try {
    assert.deepEqual(await waitUntilGone(`^sh -c cat ${mark}$`, LEFTOVERS_GONE_MS), []);
  } finally {
    Deno.kill(child.pid, "SIGCONT");
  }
  const output = await child.output();
  assert.equal(output.code, 2, text(output.stderr));
  assert.match(
    text(output.stderr),
    new RegExp(
      "^socketpipe -s: the local half stopped answering: nothing heard from it for 6 s, " +
        "though its host still answered on the data connection \\(a stopped process, or a " +
        "host too busy to run it\\?\\); stopped the remote command; if the host was only " +
        "busy, give it longer: --peer-timeout 6$",
      "m",
    ),
  );
});

pathTest(
  "a local half that gets no CPU for longer than --peer-timeout while its host answers (SIGSTOP, then SIGCONT): the run goes on and exits 0, byte-exact",
  async () => {
    const mark = `starved-local-${crypto.randomUUID().slice(0, 8)}`;
    const dir = await Deno.makeTempDir({ prefix: "socketpipe-starved-" });
    try {
      const input = `${dir}/in`;
      await Deno.writeFile(input, crypto.getRandomValues(new Uint8Array(60_000)));
      const child = spawnCli([
        ...pathArgs,
        "--peer-timeout",
        "5",
        // The data connection stays open through the stop: the input ends well after it.
        ...block("-i", "sh", "-c", 'cat "$0"; sleep 14', input),
        ...LOCAL_LOGIN,
        ...block("-r", "sh", "-c", "cat", mark),
        ...block("-o", "dd", `of=${dir}/out`, "status=none"),
      ]);
      await waitUntilRunning(`^sh -c cat ${mark}$`, 60_000);
      // As a host too busy to run it does: the local half says nothing for 8 s, longer than
      // the bound (5 s), while its kernel still answers on the data connection.
      Deno.kill(child.pid, "SIGSTOP");
      try {
        await new Promise((resolve) => setTimeout(resolve, 8000));
      } finally {
        Deno.kill(child.pid, "SIGCONT");
      }
      const output = await child.output();
      assert.equal(output.code, 0, text(output.stderr));
      assert.equal(
        await sha256(await Deno.readFile(`${dir}/out`)),
        await sha256(await Deno.readFile(input)),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("a local half that gets no CPU while the remote half waits for its proof (SIGSTOP before the handshake, then SIGCONT): the run goes on and exits 0, byte-exact", async () => {
  const mark = `starved-handshake-${crypto.randomUUID().slice(0, 8)}`;
  const dir = await Deno.makeTempDir({ prefix: "socketpipe-starved-" });
  try {
    const input = `${dir}/in`;
    await Deno.writeFile(input, crypto.getRandomValues(new Uint8Array(60_000)));
    // The remote half starts only once the test says so, with the session line already
    // taken from the login channel (and given back to it): the local half is then stopped
    // before the remote half connects, and cannot answer its handshake.
    const gate = 'IFS= read -r session; : > "$0.ready"; ' +
      'while [ ! -e "$0.go" ]; do sleep 0.05; done; ' +
      '{ printf "%s\\n" "$session"; exec cat; } | exec "$@"';
    const child = spawnCli([
      "--peer-timeout",
      "5",
      ...block("-i", "sh", "-c", 'cat "$0"; sleep 3', input),
      ...block("-l", ...SHELL_LOGIN),
      "-h",
      "127.0.0.1",
      ...block("-x", "sh", "-c", gate, `${dir}/gate`, ...REMOTE_SOCKETPIPE),
      ...block("-r", "sh", "-c", "cat", mark),
      ...block("-o", "dd", `of=${dir}/out`, "status=none"),
    ]);
    const deadline = Date.now() + 60_000;
    while (!await Deno.stat(`${dir}/gate.ready`).then(() => true, () => false)) {
      assert.ok(Date.now() < deadline, "the session line never came");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    Deno.kill(child.pid, "SIGSTOP");
    try {
      await Deno.writeTextFile(`${dir}/gate.go`, "");
      // Longer than the bound (5 s): the remote half connects, proves itself, and waits.
      await new Promise((resolve) => setTimeout(resolve, 8000));
    } finally {
      Deno.kill(child.pid, "SIGCONT");
    }
    const output = await child.output();
    assert.equal(output.code, 0, text(output.stderr));
    assert.equal(
      await sha256(await Deno.readFile(`${dir}/out`)),
      await sha256(await Deno.readFile(input)),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

pathTest(
  "a remote half that gets no CPU for longer than --peer-timeout while its host answers (SIGSTOP, then SIGCONT): the run goes on and exits 0, byte-exact",
  async () => {
    const mark = `starved-remote-${crypto.randomUUID().slice(0, 8)}`;
    const dir = await Deno.makeTempDir({ prefix: "socketpipe-starved-" });
    try {
      const input = `${dir}/in`;
      await Deno.writeFile(input, crypto.getRandomValues(new Uint8Array(60_000)));
      const child = spawnCli([
        ...pathArgs,
        "--peer-timeout",
        "5",
        ...block("-i", "sh", "-c", 'cat "$0"; sleep 14', input),
        ...LOCAL_LOGIN,
        ...block("-r", "sh", "-c", "cat", mark),
        ...block("-o", "dd", `of=${dir}/out`, "status=none"),
      ]);
      const [remoteHalf] = await waitUntilRunning(
        `^\\S*deno run .* -s -- sh -c cat ${mark}$`,
        60_000,
      );
      await waitUntilRunning(`^sh -c cat ${mark}$`, 60_000);
      const pid = Number(remoteHalf.split(" ")[0]);
      Deno.kill(pid, "SIGSTOP");
      try {
        await new Promise((resolve) => setTimeout(resolve, 8000));
      } finally {
        Deno.kill(pid, "SIGCONT");
      }
      const output = await child.output();
      assert.equal(output.code, 0, text(output.stderr));
      assert.equal(
        await sha256(await Deno.readFile(`${dir}/out`)),
        await sha256(await Deno.readFile(input)),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("SIGTERM while the remote half cannot answer: the line claims only this host's commands", async () => {
  const mark = `unconfirmed-${crypto.randomUUID().slice(0, 8)}`;
  const child = spawnCli([
    "--peer-timeout",
    "6",
    ...block("-i", "sleep", "30"),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "cat", mark),
  ]);
  const [remoteHalf] = await waitUntilRunning(`^\\S*deno run .* -s -- sh -c cat ${mark}$`, 20_000);
  await waitUntilRunning(`^sh -c cat ${mark}$`, 20_000);
  // As a cut link does: the remote half hears nothing and says nothing.
  const pid = Number(remoteHalf.split(" ")[0]);
  Deno.kill(pid, "SIGSTOP");
  try {
    // Past its heartbeat (every 2 s), within the bound (6 s): silent, not yet given up on.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    child.kill("SIGTERM");
    const output = await child.output();
    const errorLines = text(output.stderr).split("\n").filter((line) =>
      line.startsWith("socketpipe")
    );
    assert.equal(output.code, 143);
    assert.match(
      errorLines[0],
      /^socketpipe: interrupted by SIGTERM: stopped every command of this run on this host; the remote half did not confirm its end/,
    );
    assert.doesNotMatch(text(output.stderr), /on both hosts/);
  } finally {
    try {
      Deno.kill(pid, "SIGCONT");
    } catch { /* gone with its login */ }
  }
});

Deno.test("a provisioned login that fails on its own names its last line and the login, not a version mismatch", async () => {
  const run = await runCliOnDefaultPath([
    ...block("-i", "true"),
    ...block("-l", "sh", "-c", 'echo "mount: /srv: permission denied." >&2; exit 32'),
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 2);
  assert.equal(
    run.errorLines.at(-1),
    `socketpipe: login { sh -c 'echo "mount: /srv: permission denied." >&2; exit 32' } exited ` +
      `with status 32 before the remote half connected (mount: /srv: permission denied.); ` +
      `check that the login alone runs a command there: sh -c 'echo "mount: /srv: permission ` +
      `denied." >&2; exit 32' true`,
  );
  assert.doesNotMatch(run.stderr, /same version/);
});
