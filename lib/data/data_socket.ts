/**
 * The zero-copy path's hold on the data socket: taken from Deno's event loop after the
 * handshake, half-closed and drained as a pipe's ends are, and counted from the kernel's
 * TCP_INFO (bytes acknowledged, FINs sent and seen) rather than by copying.
 *
 * @module
 */
import type { Moved } from "../progress/progress.ts";
import { delay, REAL_CLOCK } from "../base/clock.ts";
import type { ByteCounts, TransferResult, WireOptions } from "./data_path.ts";
import { messageOf } from "../base/message_of.ts";
import { detachFromEventLoops, socketFdOf } from "../platform/deno_internals.ts";
import {
  receiveSome,
  setBlocking,
  shutdownBoth,
  shutdownRead,
  shutdownWrite,
  unacknowledgedBytes,
  unreadBytes,
} from "../platform/file_descriptors.ts";
import {
  acknowledgeNow,
  takeSocketError,
  type TcpInfo,
  tcpInfo,
} from "../platform/tcp_socket_options.ts";
import { kernelRecordCounts, RECORD_OVERHEAD, sealInKernel } from "../platform/kernel_tls.ts";

/**
 * TCP states in which the peer's FIN has arrived. Once it has, the connection stays in
 * one of them; CLOSE is also where a reset ends, FIN or not.
 */
const PEER_FIN_STATES = new Set([6, 7, 8, 9, 11]); // TIME-WAIT, CLOSE, CLOSE-WAIT, LAST-ACK, CLOSING
/** TCP states in which our FIN has been acknowledged. */
const OUR_FIN_ACKED_STATES = new Set([5, 6, 7]); // FIN-WAIT-2, TIME-WAIT, CLOSE
/** How long to wait for the kernel to settle (acknowledgements in flight) before counting. */
const SETTLE_MS = 2000;
/** The state of a connection that has ended: closed, reset or timed out. */
const TCP_CLOSE = 7;
/** How often the acknowledgements are looked at once the sending has ended: no event tells. */
const ACKNOWLEDGED_POLL_MS = 50;
const DRAIN_CHUNK = 256 * 1024;

/**
 * The data socket as the zero-copy path uses it: its fd, taken from Deno, and the
 * kernel's counts of what crossed it, so that a stream cut short is told from a whole one
 * without a byte passing through this process.
 */
export class DataSocket {
  #sendingStopped = false;
  #receivingEnded = false;
  /** Whether this half shut the receiving side itself (an abort): end of file is then ours. */
  #aborted = false;
  /** Whether our FIN was queued: it then counts as one unacknowledged byte until acked. */
  #finQueued = false;
  #closed = false;
  #final = { sent: 0, received: 0 };
  #allSent = Promise.withResolvers<number>();

  private constructor(
    readonly conn: Deno.TcpConn,
    readonly fd: number,
    /** The socket as `/proc/<pid>/fd` names it in every process that holds it. */
    readonly file: string,
    readonly handshakeReceived: number,
    readonly ackedAtStart: number,
    /** Whether the kernel seals the socket (`--encrypt`): its counts are then the records'. */
    readonly sealed: boolean,
  ) {}

  /**
   * Takes over the connection's socket after the handshake. `handshakeReceived` is how
   * many handshake bytes this half read; the acknowledged count is measured once what
   * this half sent of the handshake has been acknowledged. With `wire.keys`, the kernel
   * seals everything that crosses the socket from then on, before any command holds it;
   * where it refuses, the result says why (a cause the data path explains: it seals the
   * records itself), and the connection is left to Deno as it was.
   */
  static async open(
    conn: Deno.TcpConn,
    handshakeReceived: number,
    { keys }: WireOptions = {},
  ): Promise<DataSocket | { sealRefused: string }> {
    const fd = socketFdOf(conn);
    if (keys) {
      const refused = sealInKernel(fd, keys);
      if (refused !== null) return { sealRefused: refused };
    }
    // Deno keeps the connection (closing it would shut the socket's sending side), but
    // no longer watches it: otherwise every arriving segment wakes Deno's event loop
    // for nothing, costing CPU on a path meant to cost none.
    detachFromEventLoops(fd);
    setBlocking(fd);
    acknowledgeNow(fd); // the peer's wait below ends when our acknowledgement arrives
    await waitUntil(() => tcpInfo(fd).unacked === 0, SETTLE_MS);
    const file = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    const acked = tcpInfo(fd).bytesAcked;
    return new DataSocket(conn, fd, file, handshakeReceived, acked, keys !== undefined);
  }

  /** What the records added to the socket's counts so far: their overhead, each way. */
  #recordOverhead(): Moved {
    if (!this.sealed) return { sent: 0, received: 0 };
    const records = kernelRecordCounts(this.fd);
    return { sent: records.sent * RECORD_OVERHEAD, received: records.received * RECORD_OVERHEAD };
  }

  /** Shuts the sending side (once). */
  stopSending(): void {
    if (this.#sendingStopped) return;
    this.#sendingStopped = true;
    this.#finQueued = shutdownWrite(this.fd);
    this.#watchAcknowledgements();
  }

  /**
   * Resolves with the bytes sent once the sending has ended and the peer has acknowledged
   * every one (a FIN it has not is no data): see `Transfer.allSent`.
   */
  get allSent(): Promise<number> {
    return this.#allSent.promise;
  }

  async #watchAcknowledgements(): Promise<void> {
    // Once closed or aborted, the fd's number may name another file, and nothing is whole.
    while (!this.#closed && !this.#aborted) {
      if (unacknowledgedBytes(this.fd) - (this.#finQueued ? 1 : 0) <= 0) {
        this.#allSent.resolve(this.moved().sent);
        return;
      }
      await delay(ACKNOWLEDGED_POLL_MS);
    }
  }

  /** Ends the receiving side: readers read what arrived, then end of file (see Transfer). */
  endReceiving(): void {
    this.#receivingEnded = true;
    shutdownRead(this.fd);
  }

  /** Ends the connection both ways; `finish` still closes the fd (it stays ours until then). */
  abort(): void {
    // Once closed, the fd's number may already name another file.
    if (this.#closed) return;
    this.#sendingStopped = true;
    this.#aborted = true;
    shutdownBoth(this.fd);
  }

  /** The bytes acknowledged by the peer and received from it so far (until closed). */
  moved(): Moved {
    if (this.#closed) return { ...this.#final };
    const info = tcpInfo(this.fd);
    return this.#countedFrom(info, PEER_FIN_STATES.has(info.state));
  }

  /**
   * The data bytes in the kernel's counts: the sequence space acknowledged and received
   * since the handshake, less the FINs (one sequence number each, which the kernel counts
   * as a byte) and the records' overhead.
   */
  #countedFrom(info: TcpInfo, finReceived: boolean): Moved {
    const finAcked = OUR_FIN_ACKED_STATES.has(info.state) ? 1 : 0;
    const overhead = this.#recordOverhead();
    const received = info.bytesReceived - this.handshakeReceived - (finReceived ? 1 : 0) -
      overhead.received;
    return {
      sent: Math.max(0, info.bytesAcked - this.ackedAtStart - finAcked - overhead.sent),
      received: Math.max(0, received),
    };
  }

  /** Whether every byte that has arrived has been read: the readers wait on the peer. */
  allRead(): boolean {
    return this.#closed || unreadBytes(this.fd) === 0;
  }

  /** Whether everything the peer sent has arrived and been read. */
  atEndOfStream(): boolean {
    return PEER_FIN_STATES.has(tcpInfo(this.fd).state) && unreadBytes(this.fd) === 0;
  }

  /**
   * The data bytes written that the peer never acknowledged, once the connection has
   * settled: waits while any is still on its way and the connection lives. A peer whose
   * reader is slow (its window closed for seconds: a busy host, a consumer that pauses) is
   * waited for, as a pipe's writer waits; a dead one ends the connection by the kernel's own
   * bound (TCP_USER_TIMEOUT, the peer timeout), a closed one by its reset. A FIN still in
   * flight is not data.
   */
  async #unacknowledgedAtEnd(): Promise<number> {
    const unacknowledged = () => {
      const finPending = this.#finQueued && !OUR_FIN_ACKED_STATES.has(tcpInfo(this.fd).state);
      return Math.max(0, unacknowledgedBytes(this.fd) - (finPending ? 1 : 0));
    };
    // An aborted run (a signal, a dead peer) ends now: a paced or cut connection would
    // hold it for seconds, for a count that no longer decides anything but the line.
    if (this.#aborted) return unacknowledged();
    while (unacknowledged() > 0 && tcpInfo(this.fd).state !== TCP_CLOSE) {
      await delay(ACKNOWLEDGED_POLL_MS);
    }
    return unacknowledged();
  }

  /** Drains what is still arriving, then counts from the kernel, and closes. */
  async finish(): Promise<TransferResult> {
    this.stopSending();
    let drained = 0;
    let error: string | null = null;
    const buffer = new Uint8Array(DRAIN_CHUNK);
    try {
      for (let count; (count = await receiveSome(this.fd, buffer)) > 0;) drained += count;
    } catch (failure) {
      error = `receiving failed: ${messageOf(failure)}`;
    }
    // A record that failed the kernel's check leaves its error on the socket, whoever read it.
    if (this.sealed && error === null) {
      const failed = takeSocketError(this.fd);
      if (failed) error = `receiving failed: ${failed}`;
    }
    const lost = await this.#unacknowledgedAtEnd();
    if (lost > 0 && error === null) {
      // The commands hold the socket: one of them may have read the connection's error
      // (and taken it for an end of file) before this half could. The kernel's count of
      // what was never acknowledged tells a cut stream from one that ended whole.
      error = `sending failed: ${lost} bytes written were never acknowledged: ` +
        (takeSocketError(this.fd) ?? "the connection timed out or was reset");
    }
    const info = tcpInfo(this.fd);
    // The peer's FIN, which the kernel counts as a byte: what ended a clean drain (where this
    // half did not end the receiving itself), or else as the final state says, whatever
    // failed since. Never counted as data: after a cut or an interrupt it may be the one
    // thing that came.
    const drainEndedAtFin = !this.#receivingEnded && !this.#aborted && error === null;
    const moved = this.#countedFrom(info, drainEndedAtFin || PEER_FIN_STATES.has(info.state));
    const counts: ByteCounts = { ...moved, delivered: moved.received - drained };
    this.#final = { sent: counts.sent, received: counts.received };
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    return { counts, error };
  }
}

/** Polls `condition` until it holds or `ms` pass; the kernel gives no event for these. */
async function waitUntil(condition: () => boolean, ms: number): Promise<void> {
  const deadline = REAL_CLOCK.now() + ms;
  while (!condition() && REAL_CLOCK.now() < deadline) {
    await delay(2);
  }
}
