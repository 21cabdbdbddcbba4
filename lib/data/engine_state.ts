/**
 * What the copy engine's threads share: the counts each direction's worker keeps and the
 * main thread reads (for `-P`, SIGUSR1 and the end of the stream), and the flags the main
 * thread sets (stop) or reads (waiting on the peer). One `SharedArrayBuffer`, read and
 * written only through `Atomics`, so a count is never seen half-written.
 *
 * @module
 */
import type { DirectionKeys } from "../net/records.ts";

/** The name the copy engine's workers run under: how a module knows it is one. */
export const ENGINE_WORKER_NAME = "socketpipe-copy-engine";

/** The counts' places in the shared buffer. */
const SENT = 0;
const RECEIVED = 1;
const DELIVERED = 2;
/** The flags' places, after the counts. */
const STOP_SENDING = 0;
const STOP_RECEIVING = 1;
const WAITING_ON_PEER = 2;

/**
 * The counts and flags of one transfer, shared by the main thread and both workers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EngineState } from "./engine_state.ts";
 * const state = new EngineState();
 * const seenByWorker = new EngineState(state.buffer); // the same memory, as a worker sees it
 * seenByWorker.add("sent", 5);
 * assert.equal(state.count("sent"), 5);
 * state.stop("send");
 * assert.equal(seenByWorker.stopped("send"), true);
 * assert.equal(seenByWorker.stopped("receive"), false);
 * ```
 */
export class EngineState {
  readonly #counts: BigInt64Array;
  readonly #flags: Int32Array;

  /** `buffer`: another thread's state to share; a new one if absent. */
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(40)) {
    this.#counts = new BigInt64Array(buffer, 0, 3);
    this.#flags = new Int32Array(buffer, 24, 4);
  }

  /** Adds `bytes` to a count. */
  add(count: "sent" | "received" | "delivered", bytes: number): void {
    Atomics.add(this.#counts, indexOf(count), BigInt(bytes));
  }

  /** A count as it is now. */
  count(count: "sent" | "received" | "delivered"): number {
    return Number(Atomics.load(this.#counts, indexOf(count)));
  }

  /** Tells a direction's worker to stop (it looks whenever it is woken, and between pieces). */
  stop(direction: Direction): void {
    Atomics.store(this.#flags, direction === "send" ? STOP_SENDING : STOP_RECEIVING, 1);
  }

  /** Whether a direction was told to stop. */
  stopped(direction: Direction): boolean {
    return Atomics.load(this.#flags, direction === "send" ? STOP_SENDING : STOP_RECEIVING) === 1;
  }

  /** Set by the receiving worker while it waits for the peer (nothing held for its consumer). */
  setWaitingOnPeer(waiting: boolean): void {
    Atomics.store(this.#flags, WAITING_ON_PEER, waiting ? 1 : 0);
  }

  /** Whether the receiving worker is waiting for the peer. */
  waitingOnPeer(): boolean {
    return Atomics.load(this.#flags, WAITING_ON_PEER) === 1;
  }
}

function indexOf(count: "sent" | "received" | "delivered"): number {
  return count === "sent" ? SENT : count === "received" ? RECEIVED : DELIVERED;
}

/**
 * The line of a worker that broke: first among a run's lines, since every other failure
 * of the transfer follows from it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { engineBroke, isEngineBreak } from "./engine_state.ts";
 * const line = engineBroke("send", "out of memory");
 * assert.equal(line, "copy engine: the sending worker failed: out of memory");
 * assert.equal(isEngineBreak(line), true);
 * assert.equal(isEngineBreak("sending failed after 5 bytes: broken pipe"), false);
 * ```
 */
export function engineBroke(direction: Direction, cause: string): string {
  return `copy engine: the ${
    direction === "send" ? "sending" : "receiving"
  } worker failed: ${cause}`;
}

/** Whether a transfer's failure line is a worker's that broke ({@link engineBroke}). */
export function isEngineBreak(line: string | null | undefined): boolean {
  return line?.startsWith("copy engine: ") ?? false;
}

/** One direction of the stream path: from a command into the socket, or back. */
export type Direction = "send" | "receive";

/** What the main thread asks of a worker: one direction, on descriptors it keeps open. */
export interface EngineJob {
  /** Which direction this worker moves. */
  direction: Direction;
  /** The data socket (non-blocking). */
  socket: number;
  /**
   * Sending: the producer's stdout (the read end of its pipe, non-blocking). Receiving: the
   * consumer's stdin (the write end, non-blocking); -1 for a consumer that could not start
   * (nobody reads); null where nothing takes the stream (it is read and dropped).
   */
  pipe: number | null;
  /** The read end of the pipe the main thread writes to wake this worker (to stop). */
  wake: number;
  /** With `--encrypt`: this direction's keys (sealing when sending, opening when receiving). */
  keys?: DirectionKeys;
  /** With `--limit`: bytes per second (sending only). */
  limit?: number;
  /** The {@link EngineState}'s buffer. */
  shared: SharedArrayBuffer;
}

/** What a worker tells the main thread. */
export type EngineReport =
  /** Its module is loaded and it waits for its job. */
  | { event: "ready" }
  /** Receiving: the consumer stopped reading before the end of the stream. */
  | { event: "consumer-gone" }
  /**
   * The direction has ended: cleanly (null) or with the failure's line; `crashed` when the
   * worker itself broke (a throw), which ends the other direction too.
   */
  | { event: "done"; failure: string | null; crashed: boolean };
