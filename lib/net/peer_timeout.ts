import { isSocketOf, socketFdOf } from "../platform/deno_internals.ts";
import { libc } from "../platform/libc.ts";
import { setPeerTimeout, setUserTimeout, tcpInfo } from "../platform/tcp_socket_options.ts";
import { REAL_CLOCK } from "../base/clock.ts";

/** The default bound, in seconds, on how long a transfer outlives a dead peer. */
export const DEFAULT_PEER_TIMEOUT = 20;

/** The shortest bound `--peer-timeout` takes (but 0, none), in seconds. */
export const MIN_PEER_TIMEOUT = 2;

/**
 * The longest `--peer-timeout`, in seconds (a day): its keepalive idle time, a third of
 * it, must fit the kernel's TCP_KEEPIDLE (at most 32767 s).
 */
export const MAX_PEER_TIMEOUT = 86400;

/** The longest `-t`, in seconds (about 24 days): the longest timer a runtime can set. */
export const MAX_TIMEOUT = 2147483;

/**
 * From the moment a dialled connection is answered, before the handshake and the set-up
 * (`session/data_connection.ts`): bounds how long it outlives a dead peer (see
 * {@link setPeerTimeout}), quietly, where that can be done, and counts its host's answers
 * on it as a sign of life (`hear`, see {@link peerHostHeard}): the peer's kernel answers
 * even while its half, starved of CPU, takes long to prove itself.
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { watchPeerHostEarly } from "./peer_timeout.ts";
 * watchPeerHostEarly(conn, 20, (heard) => channel.hearHostAlso(heard));
 * ```
 */
export function watchPeerHostEarly(
  conn: Deno.TcpConn,
  seconds: number,
  hear: (heard: () => number | null) => void,
): void {
  if (seconds > 0 && libc()) {
    try {
      setPeerTimeout(socketFdOf(conn), seconds);
    } catch {
      // The set-up applies it again, and says so where the kernel refuses.
    }
  }
  hear(peerHostHeard(conn));
}

/** The TCP state of a connection that has ended: closed, reset or timed out. */
const TCP_CLOSE = 7;

/**
 * How long ago the peer's host last acknowledged anything on the data connection, in
 * milliseconds: its kernel answers data and keepalive probes even while the half there
 * gets no CPU, so a recent answer says that its host runs and the link works. Null when
 * that cannot be told: without FFI, or once the connection has ended or been closed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { peerHostHeard } from "./peer_timeout.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const accepted = await listener.accept();
 * await conn.write(new Uint8Array([1])); // acknowledged by the peer's kernel at once
 * const since = peerHostHeard(conn);
 * assert.ok(since()! < 10_000);
 * conn.close();
 * assert.equal(since(), null);
 * accepted.close();
 * listener.close();
 * ```
 */
export function peerHostHeard(conn: Deno.TcpConn): () => number | null {
  if (!libc()) return () => null;
  let fd: number;
  try {
    fd = socketFdOf(conn);
  } catch {
    return () => null;
  }
  return () => {
    try {
      // The number may have been given to another file since the data path closed it.
      if (!isSocketOf(fd, conn)) return null;
      const info = tcpInfo(fd);
      return info.state === TCP_CLOSE ? null : info.lastAckReceivedMs;
    } catch {
      return null;
    }
  };
}

/** How often a sender looks whether its peer's receive window is shut. */
export const WINDOW_CHECK_MS = 250;

/**
 * Keeps the kernel's dead-peer bound off a reader that is only slow. Linux gives a
 * connection up once the peer's receive window has stayed shut for TCP_USER_TIMEOUT,
 * however promptly the peer's kernel answers the probes: a consumer that pauses longer (a
 * tape rewinding, a busy host) would fail the run, where a pipe waits. So while the window
 * is shut, and the peer's host has answered within two thirds of the bound, the bound is
 * pushed on to a third of it past now: the kernel then probes at least that often, and
 * gives the connection up a third of the bound after the last push, the bound after the
 * peer's last answer. Once the window opens, the bound is as it was. Looks every
 * {@link WINDOW_CHECK_MS}, on `clock`, until the connection ends or is closed; never keeps
 * a process alive.
 *
 * @example Not run as a test: it needs a connection whose reader stalls (tests/local_login/slow_consumer_test.ts).
 * ```ts ignore
 * import { spareSlowReader } from "./peer_timeout.ts";
 * spareSlowReader(conn, 20);
 * ```
 */
export function spareSlowReader(conn: Deno.TcpConn, seconds: number, clock = REAL_CLOCK): void {
  const heard = peerHostHeard(conn);
  let fd: number;
  try {
    fd = socketFdOf(conn);
  } catch {
    return;
  }
  let shutSince: number | null = null;
  const timer = clock.every(WINDOW_CHECK_MS, () => {
    try {
      if (heard() === null) throw new Error("the connection has ended");
      const info = tcpInfo(fd);
      const now = clock.now();
      if (info.sendWindow !== 0) {
        if (shutSince !== null) setUserTimeout(fd, seconds);
        shutSince = null;
        return;
      }
      // The kernel counts from its first probe, a little after the window shut (and after
      // this saw it): counting from here, a look's interval earlier, never cuts it short.
      shutSince ??= now - WINDOW_CHECK_MS;
      if (info.lastAckReceivedMs < (seconds * 1000 * 2) / 3) {
        setUserTimeout(fd, (now - shutSince) / 1000 + seconds / 3);
      }
    } catch {
      clock.clear(timer);
    }
  });
  if (clock === REAL_CLOCK) Deno.unrefTimer(timer);
}
