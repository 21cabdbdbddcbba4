/**
 * The login channel's heartbeat, on a fake clock: silence is found within the bound the
 * documents give (--peer-timeout, and at most twice SILENCE_CHECK_MS more: a silence is
 * confirmed once more, after what was waiting to be read), never a third beyond it; and a
 * stretch in which this half itself did not run is not the peer's silence.
 */
import assert from "node:assert/strict";
import type { Clock } from "../../lib/base/clock.ts";
import { LoginChannel, SILENCE_CHECK_MS } from "../../lib/login/login_channel.ts";
import { encodeControlMessage } from "../../lib/login/protocol.ts";

/** A clock that moves only when told, running the callbacks that fall due. */
class FakeClock implements Clock {
  #now = 0;
  #next = 1;
  #timers = new Map<number, { ms: number; due: number; callback: () => void; once: boolean }>();
  now(): number {
    return this.#now;
  }
  every(ms: number, callback: () => void): number {
    const id = this.#next++;
    this.#timers.set(id, { ms, due: this.#now + ms, callback, once: false });
    return id;
  }
  after(ms: number, callback: () => void): number {
    const id = this.#next++;
    this.#timers.set(id, { ms, due: this.#now + ms, callback, once: true });
    return id;
  }
  clear(id: number): void {
    this.#timers.delete(id);
  }
  /**
   * This process did not run for `ms` (a busy host): the clock jumps, and each timer that
   * fell due in between fires once, late, as a starved event loop's would.
   */
  stall(ms: number): void {
    this.#now += ms;
    for (const [id, timer] of this.#timers) {
      timer.due = this.#now + timer.ms;
      if (timer.once) this.#timers.delete(id);
      timer.callback();
    }
  }
  /** Moves the clock on by `ms`, one due callback at a time. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = [...this.#timers.values()].filter((t) => t.due <= end)
        .sort((a, b) => a.due - b.due)[0];
      if (!due) break;
      this.#now = due.due;
      due.due += due.ms;
      if (due.once) this.clear([...this.#timers].find(([, timer]) => timer === due)![0]);
      due.callback();
    }
    this.#now = end;
  }
}

/**
 * A channel on a fake clock that has heard the peer once (silence counts from there), the
 * peer's writer, and whether the channel has found the peer silent so far.
 */
async function heardOnce() {
  const clock = new FakeClock();
  const fromPeer = new TransformStream<Uint8Array, Uint8Array>();
  const toPeer = new TransformStream<Uint8Array, Uint8Array>();
  toPeer.readable.pipeTo(new WritableStream()).catch(() => {});
  const channel = new LoginChannel(fromPeer.readable, toPeer.writable, {
    peer: "remote",
    onNoise: () => {},
    clock,
  });
  const silent = { now: false };
  channel.silent.then(() => silent.now = true);
  const writer = fromPeer.writable.getWriter();
  await writer.write(encodeControlMessage({ event: "alive" }));
  await new Promise((resolve) => setTimeout(resolve, 10)); // the channel reads it
  return { clock, channel, writer, silent };
}

for (const seconds of [1, 6, 20, 300]) {
  Deno.test(`a silent peer is found within --peer-timeout ${seconds} and ${2 * SILENCE_CHECK_MS} ms, not before`, async () => {
    const { clock, channel, writer, silent } = await heardOnce();
    channel.watchLiveness(seconds);
    clock.advance(seconds * 1000);
    await Promise.resolve();
    assert.equal(silent.now, false, "not silent before the bound");
    clock.advance(2 * SILENCE_CHECK_MS + 1);
    await Promise.resolve();
    assert.equal(silent.now, true, `silent within ${seconds} s and ${2 * SILENCE_CHECK_MS} ms`);
    await writer.close();
    await channel.close();
  });
}

Deno.test("a stretch in which this half itself did not run is not the peer's silence", async () => {
  const { clock, channel, writer, silent } = await heardOnce();
  channel.watchLiveness(20);
  clock.advance(5000);
  // Starved for 30 s: the peer's heartbeat came meanwhile and waits to be read.
  clock.stall(30_000);
  await writer.write(encodeControlMessage({ event: "alive" }));
  await new Promise((resolve) => setTimeout(resolve, 10));
  clock.advance(2 * SILENCE_CHECK_MS + 1);
  await Promise.resolve();
  assert.equal(silent.now, false, "the peer was heard: this half was the one not running");
  // And a real silence after it is still found.
  clock.advance(20_000 + 2 * SILENCE_CHECK_MS + 1);
  await Promise.resolve();
  assert.equal(silent.now, true);
  await writer.close();
  await channel.close();
});

Deno.test("a peer whose host still answers elsewhere is given three times the bound, and its silence is then the process's", async () => {
  const { clock, channel, writer, silent } = await heardOnce();
  channel.watchLiveness(20);
  // The data connection's acknowledgements: the peer's host answered a moment ago.
  let hostHeardAt = clock.now();
  channel.hearHostAlso(() => clock.now() - hostHeardAt);
  for (let second = 0; second < 59; second++) {
    clock.advance(1000);
    hostHeardAt = clock.now() - 500;
  }
  await Promise.resolve();
  assert.equal(silent.now, false, "its host answers: the half is only starved, not dead");
  clock.advance(1000 + 2 * SILENCE_CHECK_MS + 1);
  await Promise.resolve();
  assert.equal(silent.now, true, "three times the bound: stopped or hung, whatever its host does");
  assert.equal(channel.silence, "process");
  await writer.close();
  await channel.close();
});

Deno.test("a peer whose host falls silent too (a cut link) is found within the bound, as its host's silence", async () => {
  const { clock, channel, writer, silent } = await heardOnce();
  channel.watchLiveness(20);
  // The host's last answer came with the peer's last word; then nothing, as after a cut.
  const hostHeardAt = clock.now();
  channel.hearHostAlso(() => clock.now() - hostHeardAt);
  clock.advance(20_000 + 2 * SILENCE_CHECK_MS + 1);
  await Promise.resolve();
  assert.equal(silent.now, true);
  assert.equal(channel.silence, "host");
  await writer.close();
  await channel.close();
});

Deno.test("a second sign that cannot be told (no FFI, a closed connection) changes nothing", async () => {
  const { clock, channel, writer, silent } = await heardOnce();
  channel.watchLiveness(20);
  channel.hearHostAlso(() => null);
  clock.advance(20_000 + 2 * SILENCE_CHECK_MS + 1);
  await Promise.resolve();
  assert.equal(silent.now, true);
  assert.equal(channel.silence, "host");
  await writer.close();
  await channel.close();
});
