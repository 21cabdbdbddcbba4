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

/**
 * The counts' places in the shared buffer. With `--reconnect`: `sent` is the furthest
 * stream position put on any connection, `received` the stream position this half has
 * taken from its peer, `taken` what this half read from its producer, `confirmed` what the
 * peer confirmed it has handed on, `replayed` the bytes sent again after cuts, `handed`
 * the stream position this half has handed to its consumer (or dropped, once it is gone).
 */
const COUNTS = [
  "sent",
  "received",
  "delivered",
  "taken",
  "confirmed",
  "replayed",
  "handed",
] as const;
/** One of the counts. */
export type Count = typeof COUNTS[number];
/** The flags' places, after the counts. */
const STOP_SENDING = 0;
const STOP_RECEIVING = 1;
const WAITING_ON_PEER = 2;
/** With `--reconnect`: the peer's end of the stream has arrived. */
const RECEIVED_END = 3;
/** With `--reconnect`: the peer confirmed this half's end of the stream (or sending stopped). */
const SENDING_DONE = 4;
/** With `--reconnect`: the main thread saw the connection cut; both loops leave it. */
const CUT = 5;
/** With `--reconnect`: the receiving worker woke the sending one, which has yet to look. */
const POKED = 6;
const FLAGS = 8;
const BYTES = COUNTS.length * 8 + FLAGS * 4;

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
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(BYTES)) {
    this.#counts = new BigInt64Array(buffer, 0, COUNTS.length);
    this.#flags = new Int32Array(buffer, COUNTS.length * 8, FLAGS);
  }

  /** Adds `bytes` to a count. */
  add(count: Count, bytes: number): void {
    Atomics.add(this.#counts, COUNTS.indexOf(count), BigInt(bytes));
  }

  /** Sets a count (only the thread that keeps it does). */
  set(count: Count, value: number): void {
    Atomics.store(this.#counts, COUNTS.indexOf(count), BigInt(value));
  }

  /** A count as it is now. */
  count(count: Count): number {
    return Number(Atomics.load(this.#counts, COUNTS.indexOf(count)));
  }

  /** Sets or clears one of `--reconnect`'s flags. */
  mark(flag: Flag, on = true): void {
    Atomics.store(this.#flags, FLAG_PLACES[flag], on ? 1 : 0);
  }

  /** Sets a flag; whether it was clear before (so that one thread acts on it once). */
  markOnce(flag: Flag): boolean {
    return Atomics.compareExchange(this.#flags, FLAG_PLACES[flag], 0, 1) === 0;
  }

  /** Whether one of `--reconnect`'s flags is set. */
  marked(flag: Flag): boolean {
    return Atomics.load(this.#flags, FLAG_PLACES[flag]) === 1;
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

const FLAG_PLACES = {
  receivedEnd: RECEIVED_END,
  sendingDone: SENDING_DONE,
  cut: CUT,
  poked: POKED,
};

/** One of `--reconnect`'s flags. */
export type Flag = keyof typeof FLAG_PLACES;

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
  /**
   * With `--reconnect`, receiving: the write end of the sending worker's wake pipe, to have
   * a confirmation sent as soon as one is due (the sender may be waiting on its producer).
   */
  poke?: number;
  /** With `--encrypt`: this direction's keys (sealing when sending, opening when receiving). */
  keys?: DirectionKeys;
  /** With `--limit`: bytes per second (sending only). */
  limit?: number;
  /** The {@link EngineState}'s buffer. */
  shared: SharedArrayBuffer;
  /**
   * With `--reconnect`: the stream is framed and outlives cuts (`resumable_frames.ts`). The
   * replay window's size, and, on a connection after a cut, where the peer's stream stands
   * (sending: the position to send from, and whether the peer has this half's end).
   */
  resumable?: { window: number; from: number; peerGotEnd: boolean };
}

/** What a worker tells the main thread. */
export type EngineReport =
  /** Its module is loaded and it waits for its job. */
  | { event: "ready" }
  /** Receiving: the consumer stopped reading before the end of the stream. */
  | { event: "consumer-gone" }
  /** With `--reconnect`, sending: told to stop, it reads the producer's pipe no more. */
  | { event: "source-released" }
  /** With `--reconnect`, receiving: the peer's end of the stream arrived (the consumer's end of file). */
  | { event: "received-end" }
  /** With `--reconnect`: the connection failed under this direction; it waits for the next. */
  | { event: "cut"; why: string }
  /**
   * The direction has ended: cleanly (null) or with the failure's line; `crashed` when the
   * worker itself broke (a throw), which ends the other direction too.
   */
  | { event: "done"; failure: string | null; crashed: boolean };
