/**
 * The copy engine under `--reconnect`: the main thread's side of a stream that outlives
 * cuts of its data connection. When either loop finds its connection cut, both leave it;
 * the half meets its peer again (the same proofs under the same token, fresh nonces, new
 * keys with `--encrypt`), each says where the stream it receives stands, and each loop
 * goes on from there on the new connection (`resumable_frames.ts`). A cut that outlasts
 * `--reconnect`'s bound fails the run with the bytes each way: nothing lost silently.
 *
 * @module
 */
import { shutdownBoth } from "../platform/file_descriptors.ts";
import { detachFromEventLoops, socketFdOf } from "../platform/deno_internals.ts";
import { messageOf } from "../base/message_of.ts";
import { REAL_CLOCK } from "../base/clock.ts";
import { closeQuietly } from "../net/conn_io.ts";
import { exchangePositions, type StreamPosition } from "../net/rejoin.ts";
import type { WireKeys } from "../net/data_wire.ts";
import type { CommandSink, CommandSource } from "./command_pipes.ts";
import type { Reconnect, Transfer, WireOptions } from "./data_path.ts";
import { EngineState } from "./engine_state.ts";
import type { Ended, EngineWorker, Hearing } from "./copy_engine.ts";

/** The `-v` line of the engine under `--reconnect`. */
const RESUMABLE_LINE =
  "copy engine: a worker thread for each direction, framed to survive cuts (--reconnect)";

/** What the supervisor runs on: the first connection, the commands' pipes, both workers. */
export interface ResumableEnds {
  conn: Deno.TcpConn;
  socket: number;
  source?: CommandSource;
  sink?: CommandSink;
  sender: EngineWorker;
  receiver: EngineWorker;
}

/**
 * The transfer of both workers over as many connections as the cuts take.
 *
 * @example Not run as a test: it needs loaded workers and a met connection (see
 * tests/local_login/reconnect_test.ts).
 * ```ts ignore
 * import { superviseResumable } from "./resumable_engine.ts";
 * const transfer = superviseResumable({ conn, socket, source, sink, sender, receiver }, wire, reconnect);
 * console.log(await transfer.finished);
 * ```
 */
export function superviseResumable(
  ends: ResumableEnds,
  wire: WireOptions,
  reconnect: Reconnect,
): Transfer {
  const state = new EngineState();
  const session = new ResumableSession(ends, wire, reconnect, state);
  const finished = session.run().then((error) => {
    ends.sender.end();
    ends.receiver.end();
    closeQuietly(session.conn);
    ends.source?.cancel();
    ends.sink?.close();
    const counts = {
      sent: state.count("sent"),
      received: state.count("received"),
      delivered: state.count("delivered"),
    };
    return { counts, error: session.aborted || !error ? null : error };
  });
  return {
    stopSending: () => {
      state.stop("send");
      ends.sender.wake(true);
    },
    waitingOnPeer: () => state.waitingOnPeer() || session.rejoining,
    allSent: finished.then(({ error }) =>
      error || session.aborted ? new Promise<number>(() => {}) : state.count("taken")
    ),
    // The peer's end of the stream is a frame of its own: no FIN is waited for.
    endReceiving: () => {},
    abort: () => session.abort(),
    consumerGone: session.consumerGone,
    finished,
    moved: () => ({
      sent: state.count("sent"),
      received: state.count("received"),
      cuts: session.cuts,
      cutNow: session.rejoining,
    }),
    copiedBy: RESUMABLE_LINE,
    applied: () => ({
      reconnect: `${session.cuts} cut${session.cuts === 1 ? "" : "s"} survived; ` +
        `${state.count("replayed")} bytes sent again`,
    }),
  };
}

/** One run's connections, one after another. */
class ResumableSession {
  aborted = false;
  rejoining = false;
  conn: Deno.TcpConn;
  readonly consumerGone: Promise<void>;
  readonly #hear: Hearing;
  readonly #stop = new AbortController();
  #socket: number;
  /** The cuts survived. */
  cuts = 0;

  constructor(
    readonly ends: ResumableEnds,
    readonly wire: WireOptions,
    readonly reconnect: Reconnect,
    readonly state: EngineState,
  ) {
    this.conn = ends.conn;
    this.#socket = ends.socket;
    let consumerGone = () => {};
    this.consumerGone = new Promise<void>((resolve) => consumerGone = resolve);
    // The consumer reads its end of file as soon as the peer's end arrives, as from a pipe.
    this.#hear = {
      consumerGone,
      receivedEnd: () => void ends.sink?.close(),
      sourceReleased: () => ends.source?.cancel(),
    };
  }

  /** Stops the run (its caller's abort): what fails after it is not news. */
  abort(): void {
    this.aborted = true;
    this.#stopBoth();
  }

  /** Stops both loops and the meeting: on an abort, or a loop's failure. */
  #stopBoth(): void {
    this.state.stop("send");
    this.state.stop("receive");
    this.state.mark("cut");
    this.#stop.abort();
    this.ends.sender.wake(true);
    this.ends.receiver.wake(true);
    shutdownBoth(this.#socket);
  }

  /** Runs the loops on each connection in turn; resolves with the run's failure, or null. */
  async run(): Promise<string | null> {
    let keys = this.wire.keys;
    let peer: StreamPosition = { position: 0, ended: false };
    for (;;) {
      const [sent, received] = await this.#runOn(keys, peer);
      for (const end of [sent, received]) {
        if (!("cut" in end) && end.failure) {
          this.#stopBoth();
          return end.failure;
        }
      }
      if (!("cut" in sent) && !("cut" in received)) return null;
      if (this.aborted) return null;
      const why = "cut" in received ? received.cut : (sent as { cut: string }).cut;
      const again = await this.#meetAgain(why);
      if (typeof again === "string") return again;
      ({ keys, peer } = again);
    }
  }

  /** Both loops on the current connection, until each is done, cut or failed. */
  async #runOn(keys: WireKeys | undefined, peer: StreamPosition) {
    const { ends, state, wire } = this;
    const job = { socket: this.#socket, shared: state.buffer };
    const resumable = {
      window: this.reconnect.window,
      from: peer.position,
      peerGotEnd: peer.ended,
    };
    const sending = ends.sender.run({
      ...job,
      pipe: ends.source ? ends.source.fd! : null,
      keys: keys?.send,
      limit: wire.limit,
      resumable,
    }, this.#hear);
    const receiving = ends.receiver.run({
      ...job,
      pipe: ends.sink ? ends.sink.fd! : null,
      keys: keys?.receive,
      poke: ends.sender.wakeFd,
      resumable,
    }, this.#hear);
    // Either loop's cut is the other's: it leaves the connection too. Either's failure
    // (or its worker breaking) ends the other at once: it would wait for ever.
    const cutBoth = (end: Ended | { cut: string }) => {
      if ("cut" in end) {
        state.mark("cut");
        shutdownBoth(this.#socket);
      } else if (end.failure) this.#stopBoth();
    };
    sending.then(cutBoth);
    receiving.then(cutBoth);
    return await Promise.all([sending, receiving]);
  }

  /**
   * Meets the peer again within the bound, and agrees where both streams stand; the
   * keys and the peer's position, or the run's failure.
   */
  async #meetAgain(
    why: string,
  ): Promise<{ keys: WireKeys | undefined; peer: StreamPosition } | string> {
    const { reconnect, state } = this;
    const cutAt = REAL_CLOCK.now();
    closeQuietly(this.conn);
    this.rejoining = true;
    reconnect.say(`data connection cut (${why}): meeting again (--reconnect ${reconnect.seconds})`);
    const bound = new AbortController();
    const timer = REAL_CLOCK.after(reconnect.seconds * 1000, () => bound.abort());
    const stopped = () => bound.abort();
    this.#stop.signal.addEventListener("abort", stopped, { once: true });
    // The peer ended instead: its own report names the cause, not this cut.
    let peerEnded = false;
    reconnect.peerEnded?.then(() => {
      peerEnded = true;
      bound.abort();
    });
    try {
      const gone = () => this.#notRejoined(why);
      const met = await reconnect.rejoin!(bound.signal).catch((error) => messageOf(error));
      if (typeof met === "string") return this.aborted || peerEnded ? "" : gone();
      const mine = { position: state.count("received"), ended: state.marked("receivedEnd") };
      const left = Math.max(1000, cutAt + reconnect.seconds * 1000 - REAL_CLOCK.now());
      const peer = await exchangePositions(met.conn, reconnect.token, reconnect.role, mine, left);
      if (typeof peer === "string") {
        closeQuietly(met.conn);
        return `data connection: met again after a cut, but ${peer}`;
      }
      const outside = this.#outsideWindow(peer);
      if (outside) {
        closeQuietly(met.conn);
        return outside;
      }
      this.#takeConnection(met.conn);
      const replay = state.count("sent") - peer.position;
      reconnect.say(
        `data connection joined again after ${((REAL_CLOCK.now() - cutAt) / 1000).toFixed(1)} s ` +
          `(cut ${++this.cuts}): sending again from byte ${peer.position}` +
          (replay > 0 ? ` (${replay} bytes again)` : ""),
      );
      return { keys: met.keys, peer };
    } finally {
      REAL_CLOCK.clear(timer);
      this.#stop.signal.removeEventListener("abort", stopped);
      this.rejoining = false;
    }
  }

  /** Why the peer's position cannot be sent from, or null: outside what this half kept. */
  #outsideWindow(peer: StreamPosition): string | null {
    const confirmed = this.state.count("confirmed");
    const taken = this.state.count("taken");
    // The peer's position is what it has taken, not what it has handed on: what it holds
    // for its consumer stays in the window until its confirmations free it.
    if (peer.position >= confirmed && peer.position <= taken) return null;
    return `data connection: after a cut the peer says it has ${peer.position} bytes of this ` +
      `half's stream, outside what was kept for it (${confirmed} to ${taken}): stopping, ` +
      `rather than lose or repeat bytes`;
  }

  /** The new connection becomes the run's: its socket leaves Deno's event loop to the workers. */
  #takeConnection(conn: Deno.TcpConn): void {
    this.conn = conn;
    this.#socket = socketFdOf(conn);
    detachFromEventLoops(this.#socket);
    this.state.mark("cut", false);
  }

  /** The line of a cut that outlasted the bound. */
  #notRejoined(why: string): string {
    const { state, reconnect } = this;
    return `data connection cut (${why}) and not joined again within ${reconnect.seconds} s ` +
      `(--reconnect): ${state.count("confirmed")} bytes sent and confirmed, ` +
      `${state.count("received")} received; none lost silently`;
  }
}
