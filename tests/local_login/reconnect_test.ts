/**
 * `--reconnect`: a stream that outlives cuts of its data connection. The remote half
 * stands behind a relay that cuts each connection mid-stream (tests/fixtures/
 * cutting_relay_then_serve.ts); the bytes each way are held to a plain pipe's, with and
 * without --encrypt. A cut longer than the bound ends the run with exit 2 and its line.
 */
import assert from "node:assert/strict";
import {
  block,
  DENO,
  LEFTOVERS_GONE_MS,
  REPO,
  runCli,
  sha256,
  SHELL_LOGIN,
  waitUntilGone,
} from "../harness/run.ts";

const RELAY = `${REPO}/tests/fixtures/cutting_relay_then_serve.ts`;

async function throughCuts(
  bytes: Uint8Array,
  options: {
    encrypt?: boolean;
    seconds: number;
    environment: Record<string, string>;
    report?: string;
  },
) {
  return await runCli([
    "-v",
    ...(options.report ? ["--report", options.report, "-P"] : []),
    "--reconnect",
    String(options.seconds),
    ...(options.encrypt ? ["--encrypt"] : []),
    ...block("-i", "cat"),
    ...block("-l", ...SHELL_LOGIN),
    "-h",
    "127.0.0.1",
    ...block("-x", DENO, "run", "-A", "--quiet", RELAY),
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ], { stdin: bytes, environment: options.environment });
}

for (const encrypt of [false, true]) {
  Deno.test(`--reconnect${encrypt ? " --encrypt" : ""}: 48 MB each way through five cuts arrive exact, none lost or twice`, async () => {
    const bytes = crypto.getRandomValues(new Uint8Array(65536)).slice();
    const data = new Uint8Array(48 * 1024 * 1024);
    for (let at = 0; at < data.length; at += bytes.length) data.set(bytes.map((b) => b ^ at), at);
    const report = await Deno.makeTempFile({ prefix: "socketpipe-reconnect-report-" });
    const run = await throughCuts(data, {
      encrypt,
      seconds: 20,
      environment: { CUT_AFTER: "6000000", CUTS: "5" },
      report,
    });
    const { applied } = JSON.parse(await Deno.readTextFile(report));
    await Deno.remove(report);
    // Both halves count the cuts they survived, and the bytes each sent again.
    for (const host of ["local", "remote"]) {
      assert.match(applied[host].reconnect, /^(\d+) cuts survived; \d+ bytes sent again$/);
      assert.ok(Number(applied[host].reconnect.split(" ")[0]) >= 5, applied[host].reconnect);
    }
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^relay: cuts: 5$/m, run.stderr);
    assert.equal(run.stdout.length, data.length);
    assert.equal(await sha256(run.stdout), await sha256(data));
    const joins = run.stderr.match(/^socketpipe: data connection joined again/gm) ?? [];
    assert.ok(joins.length >= 5, run.stderr);
    // -P's last line counts them too.
    const last = run.stderr.match(/^socketpipe: [\d.]+ \S+ sent, .*$/gm)?.at(-1) ?? run.stderr;
    assert.match(last, /, (\d+) cuts survived$/);
    assert.ok(Number(last.match(/(\d+) cuts survived$/)![1]) >= 5, last);
  });
}

Deno.test("--reconnect: a cut longer than its bound ends the run, exit 2, with the bytes each way", async () => {
  const data = new Uint8Array(24 * 1024 * 1024).fill(7);
  const marker = `reconnect-${crypto.randomUUID()}`;
  const run = await throughCuts(data, {
    seconds: 2,
    environment: { CUT_AFTER: "4000000", CUTS: "1", OUTAGE_MS: "600000", RECONNECT_MARK: marker },
  });
  // Nothing of the run is left on either host: the halves, the commands, the relay.
  assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.stderr,
    /^socketpipe: data connection: data connection cut \(.*\) and not joined again within 2 s \(--reconnect\): \d+ bytes sent and confirmed, \d+ received; none lost silently$/m,
  );
});

Deno.test("--reconnect: a relay that plays the first connection's handshake again at a meeting is refused, and the run goes on exact", async () => {
  const data = new Uint8Array(16 * 1024 * 1024).map((_, i) => i % 251);
  const run = await throughCuts(data, {
    seconds: 20,
    environment: { CUT_AFTER: "4000000", CUTS: "2", REPLAY: "1" },
  });
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /^socketpipe: refused a data connection from \S+: wrong, incomplete or slow handshake$/m,
  );
  assert.equal(await sha256(run.stdout), await sha256(data));
});

Deno.test("--reconnect: a frame changed on the way (no --encrypt) fails the run, exit 2, with the receiving side's line", async () => {
  // The relay flips the kind of the first frame, after the 75 bytes of the handshake.
  const relay = [DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/relay_then_serve.ts`];
  const run = await runCli([
    "--reconnect",
    "10",
    ...block("-i", "head", "-c", "1000000", "/dev/zero"),
    ...block("-l", ...SHELL_LOGIN),
    "-h",
    "127.0.0.1",
    ...block("-x", ...relay),
    ...block("-r", "wc", "-c"),
    ...block("-o", "cat"),
  ], { environment: { FLIP: "75" } });
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /receiving failed after 0 bytes: a frame of unknown kind 0/, run.stderr);
});

Deno.test("--reconnect: what the peer took but has not handed to its consumer still counts against the window after a cut", async () => {
  // A small window, and a remote command that reads nothing for a second: at each cut the
  // remote half holds bytes it has taken but not handed on.
  const data = new Uint8Array(8 * 1024 * 1024).map((_, i) => (i * 7) % 253);
  const run = await runCli([
    "--reconnect",
    "20",
    "--buffer",
    "1M",
    ...block("-i", "cat"),
    ...block("-l", ...SHELL_LOGIN),
    "-h",
    "127.0.0.1",
    ...block("-x", DENO, "run", "-A", "--quiet", RELAY),
    ...block("-r", "sh", "-c", "sleep 1; exec cat"),
    ...block("-o", "cat"),
  ], { stdin: data, environment: { CUT_AFTER: "1500000", CUTS: "3" } });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256(run.stdout), await sha256(data));
});
