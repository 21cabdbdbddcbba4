/**
 * The login channel as both halves use it: the control protocol's messages over the login
 * command's stdin and stdout, and the liveness of the other half (the heartbeat, its
 * silence, the answers of its host on the data connection, a pause for Ctrl-Z).
 *
 * Over 300 lines on purpose: the liveness rules and the waits for messages act on the same
 * state (what was last heard, and when), which one class keeps.
 *
 * @module
 */
import { type Clock, REAL_CLOCK } from "../base/clock.ts";
import { settledWithin } from "../base/settled_within.ts";
import { readMarkedLines } from "./control_lines.ts";
import {
  FAULT_CLASSES,
  type FaultClass,
  type FaultKind,
  FAULTS,
  HOST_ANSWERS_FACTOR,
} from "../base/faults.ts";
import {
  type ControlEvent,
  type ControlMessage,
  decodeControlMessage,
  encodeControlMessage,
  type MessageOf,
} from "./protocol.ts";

/** How a {@link LoginChannel} treats what arrives. */
export interface LoginChannelOptions {
  /** Which half is at the other end (for the lines that name it). */
  peer: "local" | "remote";
  /** Called with each line that is not a message: a banner, an rc file's echo, garbage. */
  onNoise(line: string): void;
  /**
   * The clock of the heartbeat and of silence, for a test's fake one.
   * @default {REAL_CLOCK}
   */
  clock?: Clock;
  /**
   * Whether a message is the last this channel reads: once it is delivered, the channel
   * stops reading and leaves the rest of the stream unread, for {@link LoginChannel.release}.
   * @default {never}
   */
  lastMessage?(message: ControlMessage): boolean;
}

/** A login's two streams, as a channel reads and writes them. */
export interface LoginStreams {
  /** What the peer writes. */
  readable: ReadableStream<Uint8Array>;
  /** What the peer reads. */
  writable: WritableStream<Uint8Array>;
}

/** Why a login was cut: its stream ended, or the peer fell silent on it. */
export type LoginCut = "closed" | "silent";

/**
 * After a cut (`--reconnect`), the next login's streams, or null once there will be none
 * (its bound passed, or `signal` aborted: the channel is closing).
 */
export type NextLogin = (why: LoginCut, signal: AbortSignal) => Promise<LoginStreams | null>;

/**
 * The messages a cut must not lose: each is sent again on the next login (its receiver
 * keeps the first of each name). The heartbeat and the greetings are not.
 */
const KEPT_ACROSS_CUTS: ReadonlySet<ControlEvent> = new Set<ControlEvent>([
  "consumer-gone",
  "sent",
  "exit",
  "error",
  "rejoin-at",
]);

/** How long {@link LoginChannel.endRejoins} waits for the peer's answer, in milliseconds. */
const ENDING_ANSWER_MS = 1000;

/** How long a closing channel waits for the peer to take what was written, in milliseconds. */
const CLOSE_GRACE_MS = 1000;

/** How often a watched channel checks for silence, in milliseconds (see watchLiveness). */
export const SILENCE_CHECK_MS = 250;

/** Why a watched peer counts as silent: nothing from its host at all, or only its host. */
export type Silence = "host" | "process";

/**
 * One half's end of the login channel (the login command's stdin and stdout): sends and
 * receives typed messages, and keeps the heartbeat. Every message a half waits for comes
 * once per run, so they are awaited by name with {@link LoginChannel.first}; what can end
 * a run from this side is a promise: the peer closed the channel, fell silent, or cannot
 * go on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LoginChannel } from "./login_channel.ts";
 * const fromRemote = ReadableStream.from([
 *   new TextEncoder().encode('#socketpipe:{"event":"error","step":"connect","message":"refused"}\n'),
 * ]);
 * const channel = new LoginChannel(fromRemote, new WritableStream(), {
 *   peer: "remote",
 *   onNoise: console.error,
 * });
 * assert.deepEqual(await channel.problem, "remote half: connect: refused");
 * await channel.close();
 * ```
 */
export class LoginChannel {
  /** Resolves when the peer has closed its side (end of the stream, or its failure). */
  readonly closed: Promise<void>;
  /**
   * Resolves once nothing was heard for the bound given to {@link watchLiveness} (see
   * {@link silence} for which bound).
   */
  readonly silent: Promise<void>;
  /** Resolves with a line when the peer cannot go on: another protocol version, or its error. */
  readonly problem: Promise<string>;

  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #sendingClosed = false;
  #firsts = new Map<ControlEvent, ControlMessage>();
  #waiting = new Map<ControlEvent, ((message: ControlMessage | null) => void)[]>();
  #ended = false;
  readonly #clock: Clock;
  #lastHeard: number;
  #heardAny = false;
  /** The first line this end sent, to know it if a terminal echoes it back. */
  #firstSent: string | null = null;
  /** Whether a terminal's echo was seen. */
  #echoed = false;
  #peerPaused = false;
  /** When a write last completed: the peer (ssh) took it. */
  #lastTaken = 0;
  #sendsAlive = true;
  #heartbeat: number | undefined;
  #becameSilent = Promise.withResolvers<void>();
  #silence: Silence | null = null;
  /** Milliseconds since the peer's host was last heard on another path; null: unknown. */
  #hostHeard: () => number | null = () => null;
  #peerProblem = Promise.withResolvers<string>();
  #problemAbout: FaultClass | null = null;
  readonly #streams: LoginStreams;
  /** With --reconnect, once met: how to get the next login after a cut. */
  #nextLogin: NextLogin | null = null;
  /** Whether this end speaks first on a login joined again (the local half). */
  #speaksFirst = false;
  /** What was sent that a cut must not lose, in order. */
  #kept: Uint8Array[] = [];
  /** Whether this end last said it is paused. */
  #saidPaused = false;
  /** While cut: true once the next login speaks, false if none will. */
  #cut: PromiseWithResolvers<boolean> | null = null;
  /** Whether the next login was taken and the peer's `rejoined` is awaited. */
  #awaitingRejoined = false;
  /** Stops the reading of the current login. */
  #reading = new AbortController();
  #cutBy: LoginCut = "closed";
  /** Whether this end said `ending`. */
  #saidEnding = false;
  /** Aborted when this channel closes: a rejoin under way gives up. */
  #closing = new AbortController();

  constructor(
    readable: ReadableStream<Uint8Array>,
    writable: WritableStream<Uint8Array>,
    options: LoginChannelOptions,
  ) {
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#lastHeard = this.#clock.now();
    this.#streams = { readable, writable };
    this.#writer = writable.getWriter();
    this.silent = this.#becameSilent.promise;
    this.problem = this.#peerProblem.promise;
    this.closed = this.#receive(readable, options);
  }

  /**
   * The first message named `event`, whenever it came; null if the channel closed (or
   * the peer turned out to speak another version) without one.
   */
  first<E extends ControlEvent>(event: E): Promise<MessageOf<E> | null> {
    const seen = this.#firsts.get(event);
    if (seen || this.#ended) return Promise.resolve((seen ?? null) as MessageOf<E> | null);
    return new Promise((resolve) => {
      const waiters = this.#waiting.get(event) ?? [];
      waiters.push(resolve as (message: ControlMessage | null) => void);
      this.#waiting.set(event, waiters);
    });
  }

  /**
   * Sends one message; false when the channel is gone (the caller's other signals say
   * why). After a cut (`--reconnect`), a message a cut must not lose waits for the next
   * login, which carries it.
   */
  async send(message: ControlMessage): Promise<boolean> {
    if (this.#sendingClosed) return false;
    const bytes = encodeControlMessage(message);
    const kept = this.#nextLogin !== null && KEPT_ACROSS_CUTS.has(message.event);
    if (kept) this.#kept.push(bytes);
    if (message.event === "paused" || message.event === "resumed") {
      this.#saidPaused = message.event === "paused";
    }
    if (this.#cut) return kept ? await this.#cut.promise : false;
    this.#noteFirstSent(bytes);
    if (await this.#write(bytes)) return true;
    if (!kept) return false;
    // The login is cut: the next one carries it.
    this.#beginCut("closed");
    return await this.#cut!.promise;
  }

  async #write(bytes: Uint8Array): Promise<boolean> {
    try {
      await this.#writer.write(bytes);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * With `--reconnect`, once met: a cut of the login (its end, or the peer's silence) is
   * no longer the peer's end. `next` gets the next login; the channel goes on on it, and
   * sends again what a cut must not lose. With `speaksFirst` (the local half), this end
   * says `rejoined` on it first; otherwise it waits for the peer's `rejoined` before it
   * says anything there. {@link closed} and {@link silent} then mean that no next login came.
   */
  rejoinWith(next: NextLogin, options: { speaksFirst: boolean }): void {
    this.#nextLogin = next;
    this.#speaksFirst = options.speaksFirst;
  }

  /**
   * This end is ending the run itself (`--reconnect`): no next login is sought from here
   * on (one under way gives up), and the peer is told (`ending`), so that the login's end
   * that follows is the run's end on its side too, not a cut to wait out.
   */
  async endRejoins(): Promise<void> {
    if (!this.#nextLogin) return;
    this.#nextLogin = null;
    this.#closing.abort();
    if (this.#cut || this.#sendingClosed || this.#saidEnding) return;
    this.#saidEnding = true;
    // The peer answers in kind: then it has heard, before this end stops its login.
    if (await this.#write(encodeControlMessage({ event: "ending" }))) {
      await settledWithin(this.first("ending"), ENDING_ANSWER_MS);
    }
  }

  /**
   * Once the channel stopped at its {@link LoginChannelOptions.lastMessage}: the streams,
   * let go of, with what followed that message still unread in them.
   */
  async release(): Promise<LoginStreams> {
    await this.closed;
    this.#stopHeartbeat();
    this.#sendingClosed = true;
    this.#writer.releaseLock();
    return this.#streams;
  }

  /** Starts a cut of the login: its reading stops, and sends wait for the next login. */
  #beginCut(why: LoginCut): void {
    this.#cut ??= Promise.withResolvers<boolean>();
    this.#cutBy = why;
    this.#reading.abort();
  }

  /**
   * Gets the next login after a cut; its readable, or null once none will come. The
   * local half speaks first; the remote half waits for its `rejoined` (see #deliver).
   */
  async #joinAgain(): Promise<ReadableStream<Uint8Array> | null> {
    this.#beginCut(this.#cutBy);
    this.#writer.abort().catch(() => {}); // the cut login's stdin: nothing more goes there
    const next = await this.#nextLogin!(this.#cutBy, this.#closing.signal).catch(() => null);
    if (!next || this.#sendingClosed) {
      this.#cut!.resolve(false);
      return null;
    }
    this.#writer = next.writable.getWriter();
    this.#lastHeard = this.#clock.now();
    this.#cutBy = "closed";
    if (this.#speaksFirst) {
      await this.#write(encodeControlMessage({ event: "rejoined" }));
      await this.#speakAgain();
    } else this.#awaitingRejoined = true;
    return next.readable;
  }

  /** Sends again what a cut must not lose; sends go straight out from here on. */
  async #speakAgain(): Promise<void> {
    for (const bytes of this.#kept) await this.#write(bytes);
    if (this.#saidPaused) await this.#write(encodeControlMessage({ event: "paused" }));
    const cut = this.#cut;
    this.#cut = null;
    cut?.resolve(true);
  }

  /**
   * Sends bytes that are not a message: a payload the bootstrap of a provisioned remote
   * half reads by count. False when the channel is gone.
   */
  async sendBytes(bytes: Uint8Array): Promise<boolean> {
    if (this.#sendingClosed) return false;
    try {
      this.#noteFirstSent(bytes);
      await this.#writer.write(bytes);
      this.#lastTaken = this.#clock.now();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * What the peer's {@link problem} is about, as its error said (see `FaultClass`); null
   * before a problem, or when the peer could not go on for want of a common protocol.
   */
  get problemAbout(): FaultClass | null {
    return this.#problemAbout;
  }

  /**
   * Starts the heartbeat: sends `alive` every `seconds` / 3, and resolves
   * {@link silent} once nothing at all has been heard from the peer for `seconds` (found
   * within {@link SILENCE_CHECK_MS} of that).
   * A cut link or a crashed host leaves ssh itself unaware for many minutes; this bounds
   * it. 0 leaves it to the kernel and the login command. With `heartbeat: false` (while
   * payloads go out, where an `alive` line would land inside one) nothing is sent, and
   * each write the peer takes counts as a sign of it: a send stalled for `seconds` is
   * silence too. A later call with the heartbeat turns it on.
   */
  watchLiveness(seconds: number, options: { heartbeat?: boolean } = {}): void {
    const heartbeat = options.heartbeat ?? true;
    if (seconds <= 0) return;
    if (this.#heartbeat !== undefined) {
      // Watched quietly so far (while payloads went out): from now on, with `alive`.
      if (heartbeat) this.#sendsAlive = true;
      return;
    }
    this.#sendsAlive = heartbeat;
    this.#lastHeard = this.#clock.now();
    const boundMs = seconds * 1000;
    const aliveEveryMs = Math.max(200, boundMs / 3);
    let lastSent = this.#clock.now();
    // The silence is checked far more often than `alive` is sent, so that the bound is
    // what the documents say (seconds, and at most a quarter of a second more), not up to
    // a third beyond it.
    const checkEveryMs = Math.min(SILENCE_CHECK_MS, aliveEveryMs);
    let lastCheck = this.#clock.now();
    let suspected = false;
    this.#heartbeat = this.#clock.every(checkEveryMs, () => {
      // Time this half itself did not run (a host so busy that its timers came late) is
      // not the peer's silence: the peer's words may be waiting unread.
      const late = this.#clock.now() - lastCheck - checkEveryMs;
      lastCheck = this.#clock.now();
      if (late > checkEveryMs) {
        this.#lastHeard += late;
        if (this.#lastTaken) this.#lastTaken += late;
      }
      // Silence counts from the peer's first message (a login may wait at a password
      // prompt for as long as it likes) and not while the peer said it is paused. Watched
      // quietly, what the peer takes of a payload counts as hearing from it.
      if (!this.#heardAny || this.#peerPaused || (this.#cut && !this.#awaitingRejoined)) return;
      const lastSign = this.#sendsAlive
        ? this.#lastHeard
        : Math.max(this.#lastHeard, this.#lastTaken);
      const quiet = this.#clock.now() - lastSign;
      // Its host still answering, the peer is given longer: it may only be starved.
      const silence = quiet <= boundMs
        ? null
        : !this.#hostAnswers(boundMs)
        ? "host"
        : quiet > boundMs * HOST_ANSWERS_FACTOR
        ? "process"
        : null;
      if (silence) {
        // Once more, after what was waiting to be read has been: then it is silence.
        if (!suspected) {
          suspected = true;
          return;
        }
        suspected = false;
        if (this.#nextLogin && !this.#sendingClosed) {
          // With --reconnect a silent login is a cut one: the next login is sought.
          this.#awaitingRejoined = false;
          this.#beginCut("silent");
          return;
        }
        this.#stopHeartbeat();
        this.#silence = silence;
        this.#becameSilent.resolve();
        return;
      }
      suspected = false;
      if (this.#cut) return; // nothing is said on a cut login
      if (this.#sendsAlive && this.#clock.now() - lastSent >= aliveEveryMs) {
        lastSent = this.#clock.now();
        this.send({ event: "alive" });
      }
    });
  }

  /**
   * Adds a second sign of the peer's host: `sinceMs` gives the milliseconds since it was
   * last heard on another path (the data connection's acknowledgements, which its kernel
   * sends even while the half itself gets no CPU), or null when that cannot be told.
   * While that sign is within the bound, the peer's own silence is waited on up to
   * {@link HOST_ANSWERS_FACTOR} times the bound, and {@link silence} then says "process".
   */
  hearHostAlso(sinceMs: () => number | null): void {
    this.#hostHeard = sinceMs;
  }

  /**
   * Why {@link silent} resolved: "host" when nothing at all was heard from the peer's
   * host for the bound; "process" when its host answered but the peer itself said
   * nothing for {@link HOST_ANSWERS_FACTOR} times the bound. Null before.
   */
  get silence(): Silence | null {
    return this.#silence;
  }

  /** Milliseconds since the peer was last heard (a message, its heartbeat, any line). */
  quietForMs(): number {
    return this.#clock.now() - this.#lastHeard;
  }

  /**
   * Tells the peer that this half is about to stop (SIGTSTP), so that its silence until
   * {@link announceResume} is not taken for a dead peer.
   */
  async announcePause(): Promise<void> {
    await this.send({ event: "paused" });
  }

  /**
   * Tells the peer that this half runs again, and starts counting the peer's silence
   * afresh: nothing could be heard while this half was stopped.
   */
  async announceResume(): Promise<void> {
    this.#lastHeard = this.#clock.now();
    await this.send({ event: "resumed" });
  }

  /** Stops the heartbeat and closes this side (the peer reads end of file); safe twice. */
  async close(): Promise<void> {
    this.#stopHeartbeat();
    this.#closing.abort();
    this.#cut?.resolve(false);
    if (this.#sendingClosed) return;
    this.#sendingClosed = true;
    // A close waits for the writes before it; a write the peer never takes (a cut link, a
    // stopped login) would hold it for ever: past a moment, the stream is dropped, without
    // waiting (an abort, too, waits for the write under way; stopping the login ends it).
    const closed = this.#writer.close().then(() => true, () => true);
    if (!await settledWithin(closed, CLOSE_GRACE_MS)) this.#writer.abort().catch(() => {});
  }

  #noteFirstSent(bytes: Uint8Array): void {
    if (this.#firstSent !== null) return;
    const end = bytes.indexOf(0x0a);
    this.#firstSent = new TextDecoder().decode(bytes.subarray(0, end < 0 ? 200 : end)).trim();
  }

  /** Whether the peer's host was heard on another path within `boundMs`. */
  #hostAnswers(boundMs: number): boolean {
    const since = this.#hostHeard();
    return since !== null && since <= boundMs;
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat !== undefined) this.#clock.clear(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  async #receive(readable: ReadableStream<Uint8Array>, options: LoginChannelOptions) {
    const onNoise = (line: string) => {
      this.#lastHeard = this.#clock.now();
      // Before the peer's first word, our own first line coming back is a terminal's echo
      // (the login allocated one): nothing sent can arrive intact through it.
      if (this.#echoed) return; // the rest of the echo says nothing more
      if (!this.#heardAny && this.#firstSent && line.trim() === this.#firstSent) {
        this.#echoed = true;
        this.#peerProblem.resolve(FAULTS.loginHasTerminal.line());
        return;
      }
      options.onNoise(line);
    };
    // One login after another (--reconnect), until one ends and no next one comes.
    for (let stream: ReadableStream<Uint8Array> | null = readable; stream;) {
      const ended = await this.#receiveFrom(stream, options, onNoise);
      if (ended !== "end" || !this.#nextLogin || this.#sendingClosed) break;
      stream = await this.#joinAgain();
    }
    this.#ended = true;
    for (const waiters of this.#waiting.values()) for (const resolve of waiters) resolve(null);
    this.#waiting.clear();
  }

  /**
   * Reads one login's stream: "end" at its end (or failure, or a cut), "fatal" once the
   * peer cannot be trusted, "last" after the {@link LoginChannelOptions.lastMessage}.
   */
  async #receiveFrom(
    stream: ReadableStream<Uint8Array>,
    options: LoginChannelOptions,
    onNoise: (line: string) => void,
  ): Promise<"end" | "fatal" | "last"> {
    this.#reading = new AbortController();
    if (this.#cut && !this.#awaitingRejoined) this.#reading.abort();
    try {
      const signal = this.#reading.signal;
      for await (const object of readMarkedLines(stream, { onNoise, signal })) {
        this.#lastHeard = this.#clock.now();
        this.#heardAny = true;
        const decoded = decodeControlMessage(object, options.peer);
        if (decoded === null) continue;
        if ("problem" in decoded) {
          if (!decoded.fatal) {
            onNoise(decoded.problem);
            continue;
          }
          this.#peerProblem.resolve(decoded.problem);
          // Nothing more from a peer of another version, or that lied, can be trusted.
          stream.cancel().catch(() => {});
          return "fatal";
        }
        this.#deliver(decoded);
        if (options.lastMessage?.(decoded)) return "last";
      }
    } catch {
      // The stream failed: the peer is as gone as at its end.
    }
    return "end";
  }

  #deliver(message: ControlMessage): void {
    if (message.event === "ending") {
      // The peer ends the run: the login's end is the run's. It is answered in kind.
      this.#nextLogin = null;
      if (!this.#saidEnding && !this.#cut && !this.#sendingClosed) {
        this.#saidEnding = true;
        this.#write(encodeControlMessage({ event: "ending" }));
      }
    }
    if (message.event === "rejoined") {
      // The local half took the login joined again: this end may speak there.
      if (this.#awaitingRejoined) {
        this.#awaitingRejoined = false;
        this.#speakAgain();
      }
      return;
    }
    if (message.event === "paused" || message.event === "resumed") {
      this.#peerPaused = message.event === "paused";
      return;
    }
    if (message.event === "error" && this.#problemAbout === null) {
      this.#problemAbout = aboutRelayed(message);
      this.#peerProblem.resolve(FAULTS.remoteHalfError.line(message.step, message.message));
    }
    if (this.#firsts.has(message.event)) return;
    this.#firsts.set(message.event, message);
    for (const resolve of this.#waiting.get(message.event) ?? []) resolve(message);
    this.#waiting.delete(message.event);
  }
}

/**
 * What an error from the peer is about: as its fault's name says, where the peer named one
 * this catalogue knows; a bootstrap's (a shell script's) by its step alone.
 */
function aboutRelayed(message: MessageOf<"error">): FaultClass {
  const known = message.kind && message.kind in FAULT_CLASSES
    ? FAULT_CLASSES[message.kind as FaultKind]
    : null;
  const step = known?.step ?? (message.step === "provision" ? "provision" : "meeting");
  return {
    kind: message.kind ?? "remoteHalfError",
    step,
    retry: message.retry ?? known?.retry ?? false,
  };
}
