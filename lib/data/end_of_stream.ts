/**
 * The end of a stream whose FIN may never come: once the peer has said how many bytes it
 * sent, and they have all arrived, the receiving half ends the stream itself. A relay on
 * the path may hold a FIN back for ever; a half that waited for it would wait as long.
 *
 * @module
 */
import { REAL_CLOCK } from "../base/clock.ts";
import { settledWithin } from "../base/settled_within.ts";
import type { Transfer } from "./data_path.ts";

/**
 * Once every byte the peer sent has arrived, how long its FIN may still take before this
 * half ends the receiving itself, counted while this half waits on the peer.
 */
export const END_WITHOUT_FIN_MS = 1000;

/** How often the counts are looked at while the stream settles: no event tells. */
const POLL_MS = 50;

/**
 * Ends `transfer`'s receiving once `expected` bytes (all the peer sent) have arrived and
 * the peer's FIN has not followed within {@link END_WITHOUT_FIN_MS}, or, with
 * `stalledAfterMs`, once nothing more has arrived for that long; both counted only while
 * this half waits on the peer, not on its own consumer (a slow consumer is waited for, as
 * a pipe waits). Resolves when it has, or when the transfer finished first. The counts
 * then say whether the stream came whole.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { endReceivingOnceWhole } from "./end_of_stream.ts";
 * import type { Transfer } from "./data_path.ts";
 * let ended = false;
 * const transfer = {
 *   moved: () => ({ sent: 0, received: 10 }),
 *   waitingOnPeer: () => true,
 *   endReceiving: () => ended = true,
 *   finished: new Promise(() => {}),
 * } as unknown as Transfer;
 * await endReceivingOnceWhole(transfer, 10);
 * assert.equal(ended, true);
 * ```
 */
export async function endReceivingOnceWhole(
  transfer: Pick<Transfer, "moved" | "waitingOnPeer" | "endReceiving" | "finished">,
  expected: number,
  stalledAfterMs = 0,
): Promise<void> {
  const finished = transfer.finished.then(() => {});
  let whole: number | null = null;
  let last = { received: -1, at: REAL_CLOCK.now() };
  while (!(await settledWithin(finished, POLL_MS))) {
    const now = REAL_CLOCK.now();
    const { received } = transfer.moved();
    // Only while this half waits on the peer: a reader still busy handing bytes to a slow
    // consumer has not yet asked for the end of the stream.
    const waiting = transfer.waitingOnPeer();
    whole = received >= expected && waiting ? whole ?? now : null;
    if (received !== last.received || !waiting) last = { received, at: now };
    const stalled = stalledAfterMs > 0 && now - last.at >= stalledAfterMs;
    if ((whole !== null && now - whole >= END_WITHOUT_FIN_MS) || stalled) {
      transfer.endReceiving();
      return;
    }
  }
}
