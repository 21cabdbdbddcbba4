/**
 * The control protocol's one decoder, fed what a peer may send: every message it knows
 * comes through the framing unchanged; another version, a bad report and a data path it
 * does not know are refused, each in its way; strings never reach a terminal raw.
 */
import assert from "node:assert/strict";
import { readMarkedLines } from "../../lib/login/control_lines.ts";
import {
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  type SessionMessage,
} from "../../lib/login/protocol.ts";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";
import { toHex } from "../../lib/base/hex.ts";
import { settingsOf } from "../../lib/session/settings.ts";
import { WIRE_SCHEMA } from "../../lib/login/protocol.ts";

/**
 * The wire schema of each protocol version, as the SHA-256 of its JSON: what a remote half
 * of that version decodes. A schema changed without a new version fails the test below.
 */
const PINNED_SCHEMAS: Record<number, string> = {
  8: "945d0b14350cd470434328ad1a59015b1c8c6e0953baf7659f96d83cd45d5498",
  9: "0cf5940740a6a75533ccb2d246ac62db94bd793d9fd75858fd435df2d9606b12",
  10: "099f66b8794edbd6f8399b7d7eb0f9c1ebd7a113a33cf9c3d5148da414c0703e",
  11: "9c8e6d18eed9496704ac182d899bc2a3169bc9168fd4d40f1e5b76e531f0e0bf",
};

Deno.test("the wire schema is pinned to the protocol version: a field added, dropped or of another kind needs a new PROTOCOL_VERSION", async () => {
  const text = JSON.stringify(WIRE_SCHEMA);
  const digest = toHex(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))),
  );
  assert.equal(
    digest,
    PINNED_SCHEMAS[PROTOCOL_VERSION],
    `the wire schema is not protocol ${PROTOCOL_VERSION}'s: raise PROTOCOL_VERSION ` +
      `(lib/base/version.ts) and pin ${digest} for it here. The schema:\n${text}`,
  );
});

const ok = { status: 0, signal: null, failedToStart: null };

const SESSION: SessionMessage = {
  event: "session",
  version: PROTOCOL_VERSION,
  token: "ab".repeat(32),
  listen: "local",
  port: 40000,
  ports: null,
  bind: null,
  host: null,
  candidates: ["10.0.0.1"],
  identity: null,
  input: true,
  output: false,
  settings: settingsOf({}),
  rejoin: null,
};

const MESSAGES: ControlMessage[] = [
  { event: "hello", version: PROTOCOL_VERSION, program: "0.1.0" },
  SESSION,
  { event: "listening", port: 40001, addresses: ["10.0.0.2"], reached: null, identity: "x" },
  { event: "alive" },
  { event: "error", step: "connect", message: "refused" },
  { event: "paused" },
  { event: "resumed" },
  { event: "consumer-gone" },
  { event: "sent", bytes: 3000000 },
  { event: "rejoin-at", path: "/tmp/socketpipe-rejoin-x/login" },
  { event: "handed" },
  { event: "rejoined" },
  { event: "ending" },
  {
    event: "exit",
    status: ok,
    cutOff: false,
    counts: { sent: 1, received: 2, delivered: 2 },
    error: null,
    reopened: false,
    host: "tapehost",
    stderr: ["cat: write error: No space left on device"],
  },
  {
    event: "exit",
    status: ok,
    cutOff: false,
    counts: { sent: 1, received: 2, delivered: 2 },
    error: null,
    reopened: false,
  },
  { event: "need", bundle: true, runtime: false, gzip: true, using: "deno 2" },
];

/** What the decoder makes of `object` as the remote half's words, through the framing. */
async function received(object: Record<string, unknown>) {
  const line = encodeControlMessage(object as unknown as ControlMessage);
  const lines = readMarkedLines(ReadableStream.from([line]), { onNoise: () => {} });
  for await (const marked of lines) return decodeControlMessage(marked, "remote");
  throw new Error("no marked line came through");
}

Deno.test("every message of the protocol comes through the framing and the decoder as it was sent", async () => {
  for (const message of MESSAGES) {
    assert.deepEqual(await received({ ...message }), message, message.event);
  }
});

Deno.test("the decoder keeps only the fields it knows, and an unknown event is null (a newer peer may send more)", async () => {
  assert.deepEqual(await received({ event: "alive", injected: "x" }), { event: "alive" });
  assert.equal(await received({ event: "telemetry", data: 1 }), null);
});

Deno.test("a greeting or session of another protocol version is a fatal mismatch naming both versions", async () => {
  for (const event of ["hello", "session"]) {
    const decoded = await received({ ...SESSION, event, program: "9", version: 99 });
    assert.ok(decoded && "problem" in decoded);
    assert.equal(decoded.fatal, true);
    assert.match(decoded.problem, /protocol 99/);
    assert.match(decoded.problem, new RegExp(`\\b${PROTOCOL_VERSION}\\b`));
  }
});

Deno.test("the session's settings come through as sent; one missing or of another kind refuses the session", async () => {
  const given = settingsOf({ copy: true, encrypt: true, limit: 1024, buffer: 4096 });
  const sent = { ...SESSION, settings: given };
  assert.deepEqual(await received(sent), sent);
  for (
    const [key, value] of [
      ["copy", "stream"],
      ["encrypt", "yes"],
      ["encrypt", undefined],
      ["limit", -1],
      ["buffer", 1.5],
      ["peerTimeout", null],
    ] as const
  ) {
    const decoded = await received({ ...SESSION, settings: { ...given, [key]: value } });
    assert.ok(decoded && "problem" in decoded, `${key}: ${value}`);
    assert.equal(decoded.fatal, false);
  }
  const decoded = await received({ ...SESSION, settings: undefined });
  assert.ok(decoded && "problem" in decoded, "a session without settings");
});

Deno.test("a final report that does not hold up is fatal: a status beyond 255, a signal that does not match it, a count that is no count", async () => {
  const exit = MESSAGES.find((message) => message.event === "exit")!;
  for (
    const bad of [
      { status: { status: 300, signal: null, failedToStart: null } },
      { status: { status: 1, signal: "SIGKILL", failedToStart: null } },
      { status: { status: 0, signal: null, failedToStart: "not found" } },
      { counts: { sent: -1, received: 0, delivered: 0 } },
      { counts: { sent: 1.5, received: 0, delivered: 0 } },
    ]
  ) {
    const decoded = await received({ ...exit, ...bad });
    assert.ok(decoded && "problem" in decoded, JSON.stringify(bad));
    assert.equal(decoded.fatal, true, JSON.stringify(bad));
  }
  const killed = { status: 137, signal: "SIGKILL", failedToStart: null };
  assert.deepEqual(await received({ ...exit, status: killed }), { ...exit, status: killed });
});

Deno.test("a bad message other than the report is ignored, not fatal", async () => {
  const decoded = await received({ event: "listening", port: 70000, addresses: [] });
  assert.deepEqual(decoded, {
    problem: "listening message with missing or bad fields ignored",
    fatal: false,
  });
});

Deno.test("a report's host and stderr lines are kept within bounds: three lines, 200 characters each", async () => {
  const decoded = await received({
    event: "exit",
    status: ok,
    cutOff: false,
    counts: { sent: 0, received: 0, delivered: 0 },
    error: null,
    host: "h\x1b",
    stderr: ["1", "2", "3", "4".repeat(300)],
  });
  assert.ok(decoded && "event" in decoded && decoded.event === "exit");
  assert.equal(decoded.host, "h\\x1b");
  assert.deepEqual(decoded.stderr, ["2", "3", "4".repeat(200)]);
});

Deno.test("a count of bytes sent that is no count is ignored, not fatal", async () => {
  assert.deepEqual(await received({ event: "sent", bytes: -1 }), {
    problem: "sent message with missing or bad fields ignored",
    fatal: false,
  });
});

Deno.test("every string a peer sends is escaped before any line can show it", async () => {
  const decoded = await received({ event: "error", step: "run\x1b[2J", message: "a\nb\x07" });
  assert.deepEqual(decoded, { event: "error", step: "run\\x1b[2J", message: "a\\x0ab\\x07" });
});
