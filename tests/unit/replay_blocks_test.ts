/**
 * The sender's replay window in blocks (`lib/data/replay_blocks.ts`): every byte kept reads
 * back as it was written, from any position a peer may name after a cut, and the blocks
 * never hold more than the window and one block, whatever the stream's length.
 */
import assert from "node:assert/strict";
import { ReplayBlocks } from "../../lib/data/replay_blocks.ts";

const byteAt = (position: number) => (position * 31 + (position >> 11)) & 0xff;

Deno.test("a stream 64 times the window, confirmed late and unevenly, reads back exact from every position kept, in the window and one block", () => {
  const window = 1 << 20;
  const block = 256 * 1024;
  const blocks = new ReplayBlocks(window, block);
  let taken = 0;
  let confirmed = 0;
  let turn = 0;
  while (taken < 64 * window) {
    // Take what the window allows, in pieces of uneven sizes.
    while (taken - confirmed < window) {
      const room = blocks.room(
        taken,
        Math.min(window - (taken - confirmed), 10_000 + turn % 70_000),
      );
      for (let i = 0; i < room.length; i++) room[i] = byteAt(taken + i);
      taken += room.length;
      turn++;
    }
    // Everything from the oldest unconfirmed byte on is still there, as written.
    for (let from = confirmed; from < taken;) {
      const piece = blocks.at(from, taken - from);
      assert.ok(piece.length > 0);
      for (let i = 0; i < piece.length; i += 4093) assert.equal(piece[i], byteAt(from + i));
      from += piece.length;
    }
    confirmed += Math.floor((taken - confirmed) * (turn % 3 === 0 ? 0.9 : 0.3));
    blocks.release(confirmed);
    assert.ok(blocks.allocated <= window / block + 1, `${blocks.allocated} blocks`);
  }
});

Deno.test("a position before the last block confirmed is outside the window, and says so", () => {
  const blocks = new ReplayBlocks(1024, 256);
  blocks.room(0, 256);
  blocks.room(256, 256);
  blocks.release(300);
  assert.throws(() => blocks.at(100, 10), /outside the replay window/);
  assert.equal(blocks.at(260, 10).length, 10);
});
