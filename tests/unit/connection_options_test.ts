/**
 * What each option of the data connection does where the kernel refuses it, as its
 * declaration says: `--peer-timeout`, `--buffer` and `--congestion` say so in one line and
 * the run goes on; `--limit` fails the run with its fault (a rate set to spare a link is never
 * dropped without a word). The kernel is made to refuse by giving it something that is
 * no socket (/dev/null).
 */
import assert from "node:assert/strict";
import { Fault } from "../../lib/base/faults.ts";
import type { StepLog } from "../../lib/base/log.ts";
import { DATA_PATHS } from "../../lib/data/path_registry.ts";
import { requireLibc } from "../../lib/platform/libc.ts";
import { CONNECTION_OPTIONS, type Settings } from "../../lib/session/connection_options.ts";
import { applyConnectionOptions } from "../../lib/session/data_connection.ts";
import { settingsOf } from "../../lib/session/settings.ts";

/** Applies `given` on a descriptor that is no socket; what it returned, and every line said. */
async function refusedBy(given: Partial<Settings>, path = DATA_PATHS["zero-copy"]) {
  const fd = requireLibc().open(new TextEncoder().encode("/dev/null\0"), 0);
  const lines: string[] = [];
  const log = { step: () => {}, always: (line: string) => lines.push(line) } as unknown as StepLog;
  try {
    const settings = settingsOf({ peerTimeout: 0, ...given });
    const outcome = await applyConnectionOptions(settings, {
      settings,
      conn: {} as Deno.TcpConn,
      fd,
      role: "local",
      path,
      sends: true,
      token: new Uint8Array(32),
      log,
      hearHostAlso: () => {},
    });
    return { outcome, lines };
  } finally {
    requireLibc().close(fd);
  }
}

Deno.test("every option that acts on the socket declares what happens when the kernel refuses it", () => {
  const declared = Object.entries(CONNECTION_OPTIONS)
    .filter(([key]) => ["peerTimeout", "limit", "buffer", "congestion"].includes(key))
    .map(([key, option]) => [key, option.whenRefused ? Object.keys(option.whenRefused)[0] : null]);
  assert.deepEqual(Object.fromEntries(declared), {
    peerTimeout: "goOnWith",
    limit: "fail",
    buffer: "goOnWith",
    congestion: "goOnWith",
  });
});

Deno.test("--peer-timeout refused: one line naming the bound and the cause, and the run goes on", async () => {
  const { outcome, lines } = await refusedBy({ peerTimeout: 20 });
  assert.deepEqual(outcome, { wire: {}, applied: {} });
  assert.deepEqual(lines.length, 1);
  assert.match(
    lines[0],
    /^--peer-timeout 20 not set: setsockopt\(SO_KEEPALIVE\): .*; going on with the kernel's own timeouts/,
  );
});

Deno.test("--buffer refused: one line naming the size and the cause, and the run goes on", async () => {
  const { outcome, lines } = await refusedBy({ buffer: 4 * 1024 * 1024 });
  assert.deepEqual(outcome, { wire: {}, applied: {} });
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /^--buffer 4\.00 MiB not set: setsockopt\(SO_SNDBUFFORCE\): .*; going on with the kernel's own buffers$/,
  );
});

Deno.test("--congestion refused: one line naming the algorithm and the cause, and the run goes on", async () => {
  const { outcome, lines } = await refusedBy({ congestion: "reno" });
  assert.deepEqual(outcome, { wire: {}, applied: {} });
  assert.deepEqual(lines.length, 1);
  assert.match(
    lines[0],
    /^--congestion reno not set: setsockopt\(TCP_CONGESTION\): .*; going on with the kernel's default congestion control$/,
  );
});

Deno.test("--congestion a host does not allow: that host says which it allows, and the run goes on", async () => {
  const { outcome, lines } = await refusedBy({ congestion: "nosuch" });
  assert.deepEqual(outcome, { wire: {}, applied: {} });
  assert.match(lines[0], /^--congestion nosuch not set: this host allows reno(, \w+)*; going on/);
});

Deno.test("--limit refused on the path the kernel paces: the run fails with its fault, before any command runs", async () => {
  const { outcome, lines } = await refusedBy({ limit: 1024 * 1024 });
  assert.ok(outcome instanceof Fault);
  assert.equal(outcome.status, 2);
  assert.match(
    outcome.line,
    /^--limit: the kernel would not pace the data connection \(setsockopt\(SO_MAX_PACING_RATE\): .*\); run with --copy, where socketpipe paces it, or without --limit$/,
  );
  assert.deepEqual(lines, []);
  // With --copy the copy loop paces, and the kernel is not asked.
  const copied = await refusedBy({ limit: 1024 * 1024 }, DATA_PATHS.stream);
  assert.deepEqual(copied.outcome, { wire: { limit: 1024 * 1024 }, applied: {} });
});
