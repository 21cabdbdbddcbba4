/**
 * Run inside the test guest (a kernel with TLS; see tests/harness/guest.ts): each case
 * runs socketpipe through a local login and prints one line `case NAME: ok` or
 * `case NAME: FAILED: why`, which tests/guest/kernel_tls_test.ts reads on the host.
 */
import assert from "node:assert/strict";
import { CASES } from "./cases.ts";

const REPO = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");
const DENO = Deno.execPath();
const MAIN = `${REPO}/main.ts`;
const LOGIN = ["-l", "{", "sh", "-c", 'eval "$*"', "sh", "}", "-h", "127.0.0.1"];
const WITHOUT_FFI = [
  "run",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
  "--quiet",
  MAIN,
];
const block = (option: string, ...words: string[]) => [option, "{", ...words, "}"];
const decoder = new TextDecoder();

async function run(
  program: string[],
  args: string[],
  stdin: Uint8Array,
  env: Record<string, string> = {},
) {
  const child = new Deno.Command(program[0], {
    args: [...program.slice(1), ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(stdin).catch(() => {});
  await writer.close().catch(() => {});
  const { code, stdout, stderr } = await child.output();
  return { code, stdout, stderr: decoder.decode(stderr) };
}

async function sha(bytes: Uint8Array<ArrayBuffer>) {
  return Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function tlsStat(): Record<string, number> {
  const text = Deno.readTextFileSync("/proc/net/tls_stat");
  return Object.fromEntries(
    text.trim().split("\n").map((line) => {
      const [name, value] = line.trim().split(/\s+/);
      return [name, Number(value)];
    }),
  );
}

const data = new Uint8Array(1_000_000).map((_, i) => (i * 131 + (i >> 11)) & 0xff);
/** Loads the tls module, as the administrator would: the cases after the first need it. */
async function loadTls(): Promise<void> {
  const { success } = await new Deno.Command("modprobe", { args: ["tls"] }).output();
  if (!success) console.log("guest: modprobe tls failed");
}

const tlsLoaded = () => {
  try {
    Deno.statSync("/proc/net/tls_stat");
    return true;
  } catch {
    return false;
  }
};

const cases: [string, () => Promise<void>][] = [
  [CASES.notLoaded, async () => {
    assert.ok(!tlsLoaded(), "the guest starts with the tls module not loaded");
    const result = await run([DENO, "run", "-A", "--quiet", MAIN], [
      "-v",
      "--encrypt",
      ...block("-i", "cat"),
      ...LOGIN,
      ...block("-x", DENO, "run", "-A", "--quiet", MAIN),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ], data);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha(result.stdout), await sha(data));
    for (const half of ["socketpipe: connected .*", "socketpipe -s: "]) {
      assert.match(
        result.stderr,
        new RegExp(
          `^${half}data path: stream \\(encrypted in userspace \\(ChaCha20-Poly1305\\): this host's kernel has no TLS loaded \\(as root, modprobe tls enables it\\)\\)`,
          "m",
        ),
        result.stderr,
      );
    }
    assert.ok(!tlsLoaded(), "socketpipe, run as root, never loads the module itself");
    await loadTls();
  }],
  [CASES.bothKernel, async () => {
    const before = tlsStat();
    const dir = await Deno.makeTempDir();
    const result = await run([DENO, "run", "-A", "--quiet", MAIN], [
      "-v",
      "--encrypt",
      "--report",
      `${dir}/report.json`,
      ...block(
        "-i",
        "sh",
        "-c",
        `fd=$(readlink /proc/$$/fd/1); echo "$fd" > ${dir}/input; exec cat`,
      ),
      ...LOGIN,
      ...block("-x", DENO, "run", "-A", "--quiet", MAIN),
      ...block("-r", "sh", "-c", `readlink /proc/$$/fd/0 > ${dir}/remote; exec cat`),
      ...block("-o", "cat"),
    ], data);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha(result.stdout), await sha(data));
    assert.match(
      result.stderr,
      /^socketpipe: connected .*data path: zero-copy \(encrypted by the kernel \(ChaCha20-Poly1305\)/m,
    );
    assert.match(result.stderr, /^socketpipe -s: data path: zero-copy \(encrypted by the kernel/m);
    for (const role of ["input", "remote"]) {
      const held = Deno.readTextFileSync(`${dir}/${role}`);
      assert.match(held, /^socket:\[\d+\]/, `the ${role} command's data fd is ${held}`);
    }
    const report = JSON.parse(Deno.readTextFileSync(`${dir}/report.json`));
    assert.deepEqual(report.encryption, {
      cipher: "ChaCha20-Poly1305",
      local: "kernel",
      remote: "kernel",
    });
    assert.deepEqual(report.local, {
      sent: data.length,
      received: data.length,
      delivered: data.length,
    });
    assert.deepEqual(report.remote.counts, {
      sent: data.length,
      received: data.length,
      delivered: data.length,
    });
    const after = tlsStat();
    assert.ok(
      after.TlsTxSw >= before.TlsTxSw + 2 && after.TlsRxSw >= before.TlsRxSw + 2,
      JSON.stringify(after),
    );
  }],
  [CASES.kernelToUserspace, async () => {
    const result = await run([DENO, "run", "-A", "--quiet", MAIN], [
      "-v",
      "--encrypt",
      ...block("-i", "cat"),
      ...LOGIN,
      ...block("-x", DENO, ...WITHOUT_FFI),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ], data);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha(result.stdout), await sha(data));
    assert.match(result.stderr, /^socketpipe: .*encrypted by the kernel/m);
    assert.match(result.stderr, /^socketpipe -s: data path: stream \(encrypted in userspace/m);
  }],
  [CASES.userspaceToKernel, async () => {
    const result = await run([DENO, ...WITHOUT_FFI], [
      "-v",
      "--encrypt",
      ...block("-i", "cat"),
      ...LOGIN,
      ...block("-x", DENO, "run", "-A", "--quiet", MAIN),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ], data);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha(result.stdout), await sha(data));
    assert.match(result.stderr, /^socketpipe: .*encrypted in userspace/m);
    assert.match(result.stderr, /^socketpipe -s: data path: zero-copy \(encrypted by the kernel/m);
  }],
  [CASES.tampered, async () => {
    const result = await run(
      [DENO, "run", "-A", "--quiet", MAIN],
      [
        "--encrypt",
        ...block("-i", "cat"),
        ...LOGIN,
        ...block("-x", DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/relay_then_serve.ts`),
        ...block("-r", "sha256sum"),
        ...block("-o", "cat"),
      ],
      data,
      { FLIP: "300000" },
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^socketpipe: data connection: /m, result.stderr);
  }],
];

for (const [name, fn] of cases) {
  const started = Date.now();
  try {
    await fn();
    console.log(`case ${name}: ok (${Date.now() - started} ms)`);
  } catch (error) {
    console.log(
      `case ${name}: FAILED: ${
        String(error instanceof Error ? error.message : error).replace(/\s+/g, " ").slice(0, 1500)
      }`,
    );
  }
}
console.log("cases done");
