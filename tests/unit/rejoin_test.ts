/**
 * Where the streams stand after a cut is said under the token, over the new connection's
 * nonces: a position changed on the way, or one played again from an earlier connection,
 * is refused, so a sender can be made neither to skip bytes nor to send them twice.
 */
import assert from "node:assert/strict";
import { exchangePositions } from "../../lib/net/rejoin.ts";
import { newToken, proveAsConnector, proveAsListener } from "../../lib/net/handshake.ts";

/** Two proven connections through a relay that may change what the remote side sends. */
async function provenPair(token: Uint8Array, change?: (bytes: Uint8Array) => void) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const relay = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dialled = Deno.connect({ hostname: "127.0.0.1", port: relay.addr.port });
  const inward = await relay.accept();
  const outward = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const local = await listener.accept();
  const remote = await dialled;
  let fromRemote = 0;
  const pump = async (from: Deno.Conn, to: Deno.Conn, changing: boolean) => {
    const buffer = new Uint8Array(4096);
    try {
      for (let count; (count = await from.read(buffer)) !== null;) {
        const chunk = buffer.slice(0, count);
        // The handshake's 97 bytes go untouched; what follows is the position.
        if (changing && change && fromRemote + count > 97) {
          change(chunk.subarray(Math.max(0, 97 - fromRemote)));
        }
        if (changing) fromRemote += count;
        await to.write(chunk);
      }
    } catch { /* closed */ }
  };
  pump(inward, outward, true);
  pump(outward, inward, false);
  const proven = await Promise.all([
    proveAsListener(local, token, 5000),
    proveAsConnector(remote, token, 5000),
  ]);
  assert.deepEqual(proven, [true, { ok: true }]);
  const close = () => {
    for (const each of [local, remote, inward, outward, listener, relay]) {
      try {
        each.close();
      } catch { /* closed */ }
    }
  };
  return { local, remote, close };
}

Deno.test("a position changed on the way is refused", async () => {
  const token = newToken();
  // The remote half says it has 1000 bytes; the relay makes it 0, so that 1000 would go twice.
  const pair = await provenPair(token, (position) => position[6] = 0);
  const [local, remote] = await Promise.all([
    exchangePositions(pair.local, token, "local", { position: 5, ended: false }, 5000),
    exchangePositions(pair.remote, token, "remote", { position: 1000, ended: false }, 5000),
  ]);
  assert.equal(local, "the peer's position did not prove the token");
  assert.deepEqual(remote, { position: 5, ended: false });
  pair.close();
});

Deno.test("a position played again from an earlier connection is refused", async () => {
  const token = newToken();
  let recorded: Uint8Array | null = null;
  const first = await provenPair(token, (bytes) => recorded ??= bytes.slice());
  await Promise.all([
    exchangePositions(first.local, token, "local", { position: 0, ended: false }, 5000),
    exchangePositions(first.remote, token, "remote", { position: 4096, ended: true }, 5000),
  ]);
  first.close();
  // On the next connection the relay puts the earlier words in place of the new ones.
  const second = await provenPair(token, (bytes) => bytes.set(recorded!.subarray(0, bytes.length)));
  const [local] = await Promise.all([
    exchangePositions(second.local, token, "local", { position: 0, ended: false }, 5000),
    exchangePositions(second.remote, token, "remote", { position: 8192, ended: false }, 5000),
  ]);
  assert.equal(local, "the peer's position did not prove the token");
  second.close();
});

Deno.test("a sender counts a frame as sent before it goes: a confirmation the peer sends at once is never past the count", async () => {
  const { ResumableSender } = await import("../../lib/data/resumable_sender.ts");
  const { EngineState } = await import("../../lib/data/engine_state.ts");
  const state = new EngineState();
  const countedAtWrite: number[] = [];
  let reads = 0;
  const io = {
    read: (_fd: number, into: Uint8Array) => reads++ ? 0 : (into.fill(7, 0, 3), 3),
    write: (_fd: number, from: Uint8Array) => {
      // The peer takes the frame at once: what the receiving thread would check it against.
      if (from[0] === 1) countedAtWrite.push(state.count("sent"));
      return from.length;
    },
    wait: () => {
      state.mark("sendingDone");
      state.mark("receivedEnd");
    },
    shutdownWrite: () => 0,
    unread: () => 0,
    describe: String,
  };
  const resumable = { window: 1024, from: 0, peerGotEnd: false };
  const job = {
    direction: "send",
    socket: 5,
    pipe: 6,
    wake: 7,
    shared: state.buffer,
    resumable,
  } as const;
  new ResumableSender(job).run(job, io, state);
  assert.deepEqual(countedAtWrite, [3]);
});
