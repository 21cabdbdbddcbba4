/** The stream path's pacing, on a fake clock: the rate holds over a stream, and a pause banks little. */
import assert from "node:assert/strict";
import { BURST_MS, Pacer } from "../../lib/data/pacer.ts";

/** Sends `total` bytes through `pacer` in its pieces, waiting as it says; returns the clock's end. */
function sendAll(pacer: Pacer, clock: { now: number }, total: number): number {
  for (let sent = 0; sent < total;) {
    const piece = Math.min(pacer.pieceSize(), total - sent);
    sent += piece;
    clock.now += pacer.waitAfter(piece);
  }
  return clock.now;
}

Deno.test("paced sending takes the stream's size over the rate, to the piece", () => {
  for (const rate of [1000, 20 * 1024 * 1024, 3 * 1024 ** 3]) {
    const clock = { now: 0 };
    const pacer = new Pacer(rate, {
      now: () => clock.now,
      every: () => 0,
      after: () => 0,
      clear: () => {},
    });
    const total = rate * 5;
    const ms = sendAll(pacer, clock, total);
    assert.ok(Math.abs(ms - 5000) <= (pacer.pieceSize() / rate) * 1000 + 1, `${rate}: ${ms} ms`);
  }
});

Deno.test("after a pause, at most a short burst goes out unpaced", () => {
  const clock = { now: 0 };
  const rate = 1024 * 1024;
  const pacer = new Pacer(rate, {
    now: () => clock.now,
    every: () => 0,
    after: () => 0,
    clear: () => {},
  });
  sendAll(pacer, clock, rate);
  clock.now += 60_000; // the producer stalled for a minute
  let free = 0;
  while (pacer.waitAfter(1024) === 0) free += 1024;
  assert.ok(free <= (rate * BURST_MS) / 1000, `${free} bytes went out at once`);
});
