import assert from "node:assert/strict";
import { bytesUntilClosed } from "../harness/run.ts";
import { acceptAuthenticated } from "../../lib/net/data_listener.ts";
import { addressesToTry, dialListener, type DialOptions } from "../../lib/net/connect_back.ts";
import { Fault, FAULTS } from "../../lib/base/faults.ts";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";
import { readExactly, writeAll } from "../../lib/net/conn_io.ts";
import {
  HANDSHAKE_LENGTH,
  HANDSHAKE_TIMEOUT_MS,
  newToken,
  proveAsConnector,
  proveAsListener,
} from "../../lib/net/handshake.ts";

Deno.test("refuses wrong, short and silent handshakes, then accepts the right token without eating data", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const token = newToken();
  const refused: string[] = [];
  const accepting = acceptAuthenticated(listener, token, {
    handshakeTimeoutMs: 300,
    onRefused: (_address, reason) => refused.push(reason),
  });
  const port = listener.addr.port;
  const wrong = await Deno.connect({ hostname: "127.0.0.1", port });
  const result = await proveAsConnector(wrong, newToken(), 2000);
  assert.equal(result.ok, false, "a wrong token is refused");
  wrong.close();
  const short = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(short, new TextEncoder().encode("socketpipe"));
  short.close();
  const silent = await Deno.connect({ hostname: "127.0.0.1", port });
  assert.equal(await bytesAfterOpening(silent), 0, "a silent peer is closed, unanswered");
  silent.close();

  const right = await dialed({ addresses: ["127.0.0.1"], port, token });
  await writeAll(right, new TextEncoder().encode("DATA"));
  const accepted = await accepting;
  assert.deepEqual(await readExactly(accepted, 4), new TextEncoder().encode("DATA"));
  assert.equal(refused.length, 3);
  right.close();
  accepted.close();
  listener.close();
});

Deno.test("a listener that does not know the token learns nothing usable, gives no data, and is refused", async () => {
  const token = newToken();
  const impostor = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: Uint8Array[] = [];
  const posing = (async () => {
    const conn = await impostor.accept();
    // It plays its part as well as it can: opens with a nonce, reads the proof, and
    // answers with a guess.
    await proveAsListener(conn, newToken(), 2000, () => {}).catch(() => false);
    const buffer = new Uint8Array(4096);
    for (let count; (count = await conn.read(buffer).catch(() => null)) !== null;) {
      received.push(buffer.slice(0, count));
    }
    conn.close();
  })();
  const refusal = await dialListener({
    addresses: ["127.0.0.1"],
    port: impostor.addr.port,
    token,
    attemptTimeoutMs: 1000,
    faults: FAULTS_OF_THE_REMOTE_HALF,
  });
  assert.ok(refusal instanceof Fault);
  assert.match(refusal.line, /^the data connection was refused \(127\.0\.0\.1:\d+: /);
  await posing;
  impostor.close();
  const bytes = received.flatMap((chunk) => [...chunk]);
  const hex = (data: ArrayLike<number>) =>
    Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.ok(!hex(bytes).includes(hex(token)), "the token itself never crossed the wire");
});

Deno.test("a recorded handshake replayed to a new listener is refused", async () => {
  const token = newToken();
  // A listener that records what the real connector sends.
  const recorder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let recorded: Uint8Array = new Uint8Array();
  const recording = (async () => {
    const conn = await recorder.accept();
    const real = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    // Relay the real listener's opening to the connector, and record the answer.
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: real.addr.port });
    const accepting = acceptAuthenticated(real, token, { handshakeTimeoutMs: 1000 }).catch(() =>
      null
    );
    await conn.write((await readExactly(upstream, 43))!);
    recorded = (await readExactly(conn, HANDSHAKE_LENGTH))!;
    await upstream.write(recorded);
    await conn.write((await readExactly(upstream, 32))!);
    (await accepting)?.close();
    upstream.close();
    conn.close();
    real.close();
  })();
  const first = await dialed({ addresses: ["127.0.0.1"], port: recorder.addr.port, token });
  first.close();
  await recording;
  recorder.close();

  const fresh = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const refused: string[] = [];
  const accepting = acceptAuthenticated(fresh, token, {
    handshakeTimeoutMs: 500,
    onRefused: (_address, reason) => refused.push(reason),
  });
  const replay = await Deno.connect({ hostname: "127.0.0.1", port: fresh.addr.port });
  await readExactly(replay, 43);
  await writeAll(replay, recorded);
  assert.ok(await bytesAfterOpening(replay) === 0, "no proof comes back for a replay");
  replay.close();
  assert.deepEqual(refused.length, 1);
  fresh.close();
  await accepting.catch(() => {});
});

Deno.test("a flood of idle connections cannot keep a prompt handshake out", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const token = newToken();
  // Kept out, the right connection would never be accepted: the wait then ends, and fails,
  // at the handshake's own bound rather than hanging the suite.
  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(new Error("never accepted")), HANDSHAKE_TIMEOUT_MS);
  const accepting = acceptAuthenticated(listener, token, { maxPending: 16, signal: bound.signal });
  const port = listener.addr.port;
  const idle = await Promise.all(
    Array.from({ length: 200 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  const right = await dialed({ addresses: ["127.0.0.1"], port, token });
  const accepted = await accepting.finally(() => clearTimeout(timer));
  assert.equal(accepted.remoteAddr.port, right.localAddr.port, "the proven connection is taken");
  right.close();
  accepted.close();
  for (const conn of idle) conn.close();
  listener.close();
});

Deno.test("tries -h alone, else the login's address, then the candidates, loopback only on one network", () => {
  assert.deepEqual(addressesToTry({ host: "h", fromLogin: "10.0.0.1", candidates: ["c"] }), ["h"]);
  assert.deepEqual(
    addressesToTry({ fromLogin: "10.0.0.1", candidates: ["c", "10.0.0.1", "127.0.0.1", "::1"] }),
    ["10.0.0.1", "c"],
  );
  assert.deepEqual(
    addressesToTry({ candidates: ["c", "127.0.0.1"], sameNetwork: true }),
    ["c", "127.0.0.1"],
  );
});

async function bytesAfterOpening(conn: Deno.Conn): Promise<number> {
  // 43: the listener's opening words, its nonce.
  return Math.max(0, await bytesUntilClosed(conn) - 43);
}

/** The faults the remote half dials with. */
const FAULTS_OF_THE_REMOTE_HALF = {
  refused: FAULTS.connectBackRefused,
  unreachable: FAULTS.connectBackFailed,
};

/** A dial that must succeed: its connection. */
async function dialed(options: Omit<DialOptions, "faults">): Promise<Deno.TcpConn> {
  const conn = await dialListener({ ...options, faults: FAULTS_OF_THE_REMOTE_HALF });
  if (conn instanceof Fault) throw conn;
  return conn;
}

Deno.test("a real peer slowed by a crowded host (4 s before it proves itself) is still accepted, both ways", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const token = newToken();
  const refused: string[] = [];
  const accepting = acceptAuthenticated(listener, token, {
    onRefused: (_address, reason) => refused.push(reason),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  // The listener's opening waits unread while this side is starved of CPU.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const result = await proveAsConnector(conn, token, 15000);
  assert.deepEqual(result, { ok: true });
  const accepted = await accepting;
  assert.deepEqual(refused, []);
  accepted.close();
  conn.close();
  listener.close();

  // The other way: a listener that takes 6 s to answer the connecting side's proof.
  const slow = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const answering = (async () => {
    const peer = await slow.accept();
    await new Promise((resolve) => setTimeout(resolve, 6000));
    const proved = await proveAsListener(peer, token, 15000);
    return { peer, proved };
  })();
  const dialed = await dialListener({
    addresses: ["127.0.0.1"],
    port: slow.addr.port,
    token,
    faults: FAULTS_OF_THE_REMOTE_HALF,
  });
  const { peer, proved } = await answering;
  assert.equal(proved, true);
  assert.ok(!(dialed instanceof Fault), dialed instanceof Fault ? dialed.line : "");
  (dialed as Deno.TcpConn).close();
  peer.close();
  slow.close();
});

Deno.test("a listener that opens and then says nothing is refused once the handshake's time is up, naming it", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const opened = (async () => {
    const peer = await silent.accept();
    // A socketpipe opening (magic, version, nonce), and then nothing, however long.
    const magic = new TextEncoder().encode("socketpipe");
    await writeAll(
      peer,
      new Uint8Array([...magic, PROTOCOL_VERSION, ...crypto.getRandomValues(new Uint8Array(32))]),
    );
    return { peer, taken: bytesUntilClosed(peer) };
  })();
  const started = Date.now();
  const refusal = await dialListener({
    addresses: ["127.0.0.1"],
    port: silent.addr.port,
    token: newToken(),
    attemptTimeoutMs: 500,
    faults: FAULTS_OF_THE_REMOTE_HALF,
  });
  assert.ok(refusal instanceof Fault);
  assert.match(
    refusal.line,
    /^the data connection was refused \(127\.0\.0\.1:\d+: the listener did not prove the token\): /,
  );
  assert.ok(Date.now() - started >= 500, "it gave the listener its whole time");
  const { peer, taken } = await opened;
  assert.equal(await taken, HANDSHAKE_LENGTH, "it took the proof and gave nothing back");
  peer.close();
  silent.close();
});
