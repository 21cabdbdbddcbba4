/**
 * The login channel's heartbeat, on a fake clock: silence is found within the bound the
 * documents give (--peer-timeout, and at most SILENCE_CHECK_MS more), never a third
 * beyond it.
 */
import assert from "node:assert/strict";
import { type Clock, LoginChannel, SILENCE_CHECK_MS } from "../../lib/login/login_channel.ts";
import { encodeControlMessage } from "../../lib/login/protocol.ts";

/** A clock that moves only when told, running the callbacks that fall due. */
class FakeClock implements Clock {
  #now = 0;
  #next = 1;
  #timers = new Map<number, { ms: number; due: number; callback: () => void }>();
  now(): number {
    return this.#now;
  }
  every(ms: number, callback: () => void): number {
    const id = this.#next++;
    this.#timers.set(id, { ms, due: this.#now + ms, callback });
    return id;
  }
  clear(id: number): void {
    this.#timers.delete(id);
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
      due.callback();
    }
    this.#now = end;
  }
}

for (const seconds of [1, 6, 20, 300]) {
  Deno.test(`a silent peer is found within --peer-timeout ${seconds} and ${SILENCE_CHECK_MS} ms, not before`, async () => {
    const clock = new FakeClock();
    const fromPeer = new TransformStream<Uint8Array, Uint8Array>();
    const toPeer = new TransformStream<Uint8Array, Uint8Array>();
    toPeer.readable.pipeTo(new WritableStream()).catch(() => {});
    const channel = new LoginChannel(fromPeer.readable, toPeer.writable, {
      peer: "remote",
      onNoise: () => {},
      clock,
    });
    let silent = false;
    channel.silent.then(() => silent = true);
    const writer = fromPeer.writable.getWriter();
    await writer.write(encodeControlMessage({ event: "alive" })); // silence counts from here
    await new Promise((resolve) => setTimeout(resolve, 10)); // the channel reads it
    channel.watchLiveness(seconds);
    clock.advance(seconds * 1000);
    await Promise.resolve();
    assert.equal(silent, false, "not silent before the bound");
    clock.advance(SILENCE_CHECK_MS + 1);
    await Promise.resolve();
    assert.equal(silent, true, `silent within ${seconds} s and ${SILENCE_CHECK_MS} ms`);
    await writer.close();
    await channel.close();
  });
}
