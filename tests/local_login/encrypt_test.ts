/**
 * `--encrypt` through a local login: the bytes arrive exact in both directions, the
 * streams of every size; a relay on the path sees no plaintext, and a byte it flips fails
 * the run with a line naming the data connection, never exit 0 (as it may without).
 */
import assert from "node:assert/strict";
import { block, DENO, LOCAL_LOGIN, REPO, runCli, sha256, SHELL_LOGIN } from "../harness/run.ts";
import { DATA_PATHS } from "../harness/register.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
/** Who seals on this host: the kernel where its tls module is loaded (tests/guest), else socketpipe. */
const ENGINE = (() => {
  try {
    Deno.statSync("/proc/net/tls_stat");
    return "kernel";
  } catch {
    return "userspace";
  }
})();
const SEALED_BY = ENGINE === "kernel" ? "encrypted by the kernel" : "encrypted in userspace";
const data = (length: number) => new Uint8Array(length).map((_, i) => (i * 131 + (i >> 9)) & 0xff);

for (const path of DATA_PATHS) {
  Deno.test(`--encrypt: input → remote → output moves the bytes exactly, sealed in records [${path.label}]`, async () => {
    const bytes = data(3_000_000);
    const run = await runCli([
      "--encrypt",
      ...path.args,
      ...block("-i", "cat"),
      ...LOCAL_LOGIN,
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ], { stdin: bytes });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256(run.stdout), await sha256(bytes));
    assert.equal(run.stderr, "");
  });
}

for (const length of [0, 1, 16384, 16385]) {
  Deno.test(`--encrypt: a stream of ${length} bytes each way arrives whole, and the counts are the plaintext's`, async () => {
    const bytes = data(length);
    const run = await runCli([
      "--encrypt",
      "--report",
      "-",
      ...block("-i", "cat"),
      ...LOCAL_LOGIN,
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ], { stdin: bytes });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256(run.stdout), await sha256(bytes));
    const report = JSON.parse(run.stderr.trim().split("\n").at(-1)!);
    assert.deepEqual(report.local, { sent: length, received: length, delivered: length });
    assert.deepEqual(report.remote.counts, { sent: length, received: length, delivered: length });
    assert.deepEqual(report.encryption, {
      cipher: "ChaCha20-Poly1305",
      local: ENGINE,
      remote: ENGINE,
    });
  });
}

Deno.test("--encrypt -v names the encryption on both hosts, and why it is sealed where it is", async () => {
  const run = await runCli([
    "-v",
    "--encrypt",
    ...block("-i", "printf", "x"),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  for (const half of ["socketpipe: connected .*; ", "socketpipe -s: "]) {
    const line = new RegExp(
      `^${half}data path: \\S+ \\(${SEALED_BY} \\(ChaCha20-Poly1305\\): `,
      "m",
    );
    assert.match(run.stderr, line);
  }
  if (ENGINE === "userspace") {
    assert.match(
      run.stderr,
      /: this host's kernel has no TLS loaded \(as root, modprobe tls enables it\)\)$/m,
    );
  }
});

/** A run through a relay on the path (tests/fixtures/relay_then_serve.ts). */
async function throughRelay(options: { encrypt: boolean; flip?: number }) {
  const marker = `marker-${crypto.randomUUID()}`;
  const bytes = new TextEncoder().encode(`${marker}\n`.repeat(20_000));
  const run = await runCli([
    ...(options.encrypt ? ["--encrypt"] : []),
    ...block("-i", "cat"),
    ...block("-l", ...SHELL_LOGIN),
    "-h",
    "127.0.0.1",
    ...block("-x", DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/relay_then_serve.ts`),
    ...block("-r", "sha256sum"),
    ...block("-o", "cat"),
  ], {
    stdin: bytes,
    environment: { MARKER: marker, ...(options.flip ? { FLIP: String(options.flip) } : {}) },
  });
  return { run, expected: await sha256(bytes) };
}

Deno.test("without --encrypt a relay on the path reads the stream, and a byte it flips goes unseen (the case --encrypt is for)", async () => {
  const { run, expected } = await throughRelay({ encrypt: false, flip: 300_000 });
  assert.match(run.stderr, /^relay: marker seen: yes$/m);
  assert.equal(run.code, 0, run.stderr);
  assert.notEqual(text(run.stdout).split(" ")[0], expected);
});

Deno.test("with --encrypt a relay on the path sees no plaintext, and the bytes arrive exact", async () => {
  const { run, expected } = await throughRelay({ encrypt: true });
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^relay: marker seen: no$/m);
  assert.equal(text(run.stdout).split(" ")[0], expected);
});

Deno.test("with --encrypt a byte flipped on the path fails the run, exit 2, naming the data connection", async () => {
  const { run } = await throughRelay({ encrypt: true, flip: 300_000 });
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.errorLines[0] ?? "", /data connection/, run.stderr);
  assert.match(run.stderr, /authentication/, run.stderr);
});

Deno.test("--encrypt: a remote half without FFI seals with node:crypto, the local one with OpenSSL, and the bytes arrive exact both ways", async () => {
  const bytes = data(2_000_000);
  const withoutFfi = ["--allow-net", "--allow-read", "--allow-write", "--allow-run"];
  const run = await runCli([
    "-v",
    "--encrypt",
    ...block("-i", "cat"),
    "-l",
    "{",
    ...SHELL_LOGIN,
    "}",
    "-h",
    "127.0.0.1",
    ...block(
      "-x",
      DENO,
      "run",
      ...withoutFfi,
      "--allow-env",
      "--allow-sys",
      "--quiet",
      `${REPO}/main.ts`,
    ),
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ], { stdin: bytes });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256(run.stdout), await sha256(bytes));
  assert.match(run.stderr, /^socketpipe -s: data path: stream \(encrypted in userspace/m);
});
