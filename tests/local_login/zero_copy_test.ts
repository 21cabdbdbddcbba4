/** The zero-copy path: the commands get the socket itself; the stream path is the fallback. */
import assert from "node:assert/strict";
import { block, DENO, LOCAL_LOGIN, MAIN, runCli, sha256, SHELL_LOGIN } from "../harness/run.ts";
import { testWhere } from "../harness/register.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const notLinux = Deno.build.os === "linux" ? null : "not Linux";

/** Runs a transfer whose three commands report what their fd 0 and 1 are. */
async function describeFds(extraArgs: string[]) {
  const run = await runCli([
    ...extraArgs,
    ...block("-i", "sh", "-c", 'echo "input stdout: $(readlink /proc/$$/fd/1)" >&2; echo data'),
    ...LOCAL_LOGIN,
    ...block(
      "-r",
      "sh",
      "-c",
      'echo "remote stdin: $(readlink /proc/$$/fd/0)" >&2; echo "remote stdout: $(readlink /proc/$$/fd/1)" >&2; cat',
    ),
    ...block("-o", "sh", "-c", 'echo "output stdin: $(readlink /proc/$$/fd/0)" >&2; cat'),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(text(run.stdout), "data\n");
  const kinds: Record<string, string> = {};
  for (
    const match of run.stderr.matchAll(
      /^(input stdout|remote stdin|remote stdout|output stdin): (\w+):/gm,
    )
  ) {
    kinds[match[1]] = match[2];
  }
  return kinds;
}

testWhere(
  notLinux,
  "on the zero-copy path every command's data fd is the socket itself",
  async () => {
    assert.deepEqual(await describeFds([]), {
      "input stdout": "socket",
      "remote stdin": "socket",
      "remote stdout": "socket",
      "output stdin": "socket",
    });
  },
);

testWhere(
  notLinux,
  "--copy moves the data through socketpipe: every command's data fd is a pipe",
  async () => {
    assert.deepEqual(await describeFds(["--copy"]), {
      "input stdout": "pipe",
      "remote stdin": "pipe",
      "remote stdout": "pipe",
      "output stdin": "pipe",
    });
  },
);

Deno.test("-v says which data path ran on each half, and why", async () => {
  const run = await runCli([
    "-v",
    ...block("-i", "echo", "x"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /^socketpipe: connected from .*; data path: zero-copy \(the commands get the socket itself\)$/m,
  );
  assert.match(
    run.stderr,
    /^socketpipe -s: data path: zero-copy \(the commands get the socket itself\)$/m,
  );
  const copied = await runCli([
    "-v",
    "--copy",
    ...block("-i", "echo", "x"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
  ]);
  assert.match(copied.stderr, /data path: stream \(--copy\)$/m);
  assert.match(copied.stderr, /^socketpipe -s: data path: stream \(--copy\)$/m);
});

const WITHOUT_FFI = [
  "run",
  "--quiet",
  "--allow-run",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--allow-read",
  MAIN,
];

/** A local login to a remote half that runs without --allow-ffi. */
const TO_A_REMOTE_HALF_WITHOUT_FFI = [
  ...block("-l", ...SHELL_LOGIN),
  "-h",
  "127.0.0.1",
  ...block("-x", DENO, ...WITHOUT_FFI.slice(1)),
];

for (
  const { name, program, local } of [
    {
      name: "without --allow-ffi socketpipe still works, on the stream path, and -v says so",
      program: [DENO, ...WITHOUT_FFI],
      local: /^socketpipe: connected from .*; data path: stream \(FFI is not permitted .*\)$/m,
    },
    {
      name: "a zero-copy local half and a stream remote half move the same bytes",
      program: undefined,
      local: /data path: zero-copy/,
    },
  ]
) {
  Deno.test(name, async () => {
    const data = crypto.getRandomValues(new Uint8Array(50_000));
    const run = await runCli(
      [
        "-v",
        ...block("-i", "cat"),
        ...TO_A_REMOTE_HALF_WITHOUT_FFI,
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ],
      { program, stdin: data },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256(run.stdout), await sha256(data));
    assert.match(run.stderr, local);
    assert.match(run.stderr, /^socketpipe -s: data path: stream \(FFI is not permitted .*\)$/m);
    // Without FFI the stream path copies on the main thread, and says why.
    assert.match(
      run.stderr,
      /^socketpipe -s: copy engine: the main thread \(FFI is not permitted .*\)$/m,
    );
  });
}

testWhere(
  notLinux,
  "a command that reopens /dev/stdin fails on the socket, never losing data quietly, and works with --copy, as the manual says",
  async () => {
    const args = [
      ...block("-i", "echo", "hi"),
      ...LOCAL_LOGIN,
      ...block("-r", "cat", "/dev/stdin"),
      ...block("-o", "cat"),
    ];
    const onSocket = await runCli(args);
    assert.notEqual(onSocket.code, 0, onSocket.stderr);
    assert.match(onSocket.stderr, /\/dev\/stdin: No such device or address/);
    assert.match(
      onSocket.stderr,
      /^socketpipe: remote command \{ cat \/dev\/stdin \} .*; it reopened its input or output by name, which a socket cannot be: use --copy$/m,
    );
    const withPipes = await runCli(["--copy", ...args]);
    assert.equal(withPipes.code, 0, withPipes.stderr);
    assert.equal(text(withPipes.stdout), "hi\n");
    const manual = Deno.readTextFileSync(new URL("../../man/socketpipe.1", import.meta.url));
    const dataPaths = manual.slice(manual.indexOf(".SH DATA PATHS"), manual.indexOf(".SH NOTES"));
    assert.match(dataPaths, /\/dev\/stdin/);
    assert.match(dataPaths, /ENXIO/);
  },
);
