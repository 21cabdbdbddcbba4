/**
 * What the kernel knows and can be told about a TCP socket: its counters (TCP_INFO) and
 * the options that bound how long it outlives a dead peer.
 *
 * @module
 */
import { describeErrno, lastError, requireLibc } from "./libc.ts";

/** The level of TCP's own socket options (also called SOL_TCP). */
export const IPPROTO_TCP = 6;
const TCP_INFO = 11;
const SOL_SOCKET = 1;
const SO_KEEPALIVE = 9;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const TCP_USER_TIMEOUT = 18;

/** The kernel's view of a TCP connection: the fields socketpipe uses from TCP_INFO. */
export interface TcpInfo {
  /** The TCP state (1 established, 4 FIN-WAIT-1, 5 FIN-WAIT-2, 6 TIME-WAIT, 7 closed, …). */
  state: number;
  /** Segments sent and not yet acknowledged. */
  unacked: number;
  /** Sequence space acknowledged by the peer (data, plus SYN and FIN where counted). */
  bytesAcked: number;
  /** Sequence space received from the peer (data, plus FIN). */
  bytesReceived: number;
  /**
   * Milliseconds since the peer last acknowledged anything (data, a keepalive probe):
   * its kernel does so even while its processes get no CPU.
   */
  lastAckReceivedMs: number;
  /**
   * The peer's receive window as last advertised, in bytes: 0 while its reader takes
   * nothing (null where the kernel is older than 5.4 and does not say).
   */
  sendWindow: number | null;
}

/**
 * Reads TCP_INFO for a socket.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { tcpInfo } from "./tcp_socket_options.ts";
 * tcpInfo(socketFd).bytesReceived;
 * ```
 */
export function tcpInfo(fd: number): TcpInfo {
  const info = new Uint8Array(256);
  const length = new Uint32Array([256]);
  if (
    requireLibc().getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, new Uint8Array(length.buffer)) !==
      0
  ) {
    throw lastError("getsockopt(TCP_INFO)");
  }
  const view = new DataView(info.buffer);
  return {
    state: info[0],
    unacked: view.getUint32(24, true),
    bytesAcked: Number(view.getBigUint64(120, true)),
    bytesReceived: Number(view.getBigUint64(128, true)),
    lastAckReceivedMs: view.getUint32(56, true),
    sendWindow: length[0] >= 232 ? view.getUint32(228, true) : null,
  };
}

const SO_ERROR = 4;

/**
 * The socket's pending error, taken (reading it clears it), in the system's words
 * ("connection reset by peer"); null when none is pending, or a command holding the
 * socket took it first.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { takeSocketError } from "./tcp_socket_options.ts";
 * takeSocketError(socketFd); // null on a healthy connection
 * ```
 */
export function takeSocketError(fd: number): string | null {
  const error = new Int32Array(1);
  const length = new Uint32Array([4]);
  const c = requireLibc();
  const got = c.getsockopt(
    fd,
    SOL_SOCKET,
    SO_ERROR,
    new Uint8Array(error.buffer),
    new Uint8Array(length.buffer),
  );
  return got === 0 && error[0] !== 0 ? describeErrno(error[0]) : null;
}

/**
 * Bounds how long a TCP connection outlives a dead peer: keepalive probes after
 * `seconds` / 3 of silence (three, `seconds` / 9 apart), and at most `seconds` for sent
 * data to be acknowledged (TCP_USER_TIMEOUT). A dead peer then fails reads and writes on
 * the socket with ETIMEDOUT within about `seconds`; a live but idle one answers probes.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { setPeerTimeout } from "./tcp_socket_options.ts";
 * setPeerTimeout(socketFd, 20);
 * ```
 */
export function setPeerTimeout(fd: number, seconds: number): void {
  setInt(fd, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", 1);
  setInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", Math.max(1, Math.floor(seconds / 3)));
  setInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", Math.max(1, Math.floor(seconds / 9)));
  setInt(fd, IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", 3);
  setUserTimeout(fd, seconds);
}

/**
 * Sets how long data sent on `fd` may stay unacknowledged (TCP_USER_TIMEOUT) before the
 * kernel gives the connection up; 0 lifts the bound. Linux applies it to a peer's shut
 * receive window too, however promptly the peer answers the probes.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { setUserTimeout } from "./tcp_socket_options.ts";
 * setUserTimeout(socketFd, 0);
 * ```
 */
export function setUserTimeout(fd: number, seconds: number): void {
  setInt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", Math.round(seconds * 1000));
}

/** Sets an integer socket option; throws the named failure. */
function setInt(fd: number, level: number, option: number, name: string, value: number): void {
  const buffer = new Int32Array([value]);
  if (requireLibc().setsockopt(fd, level, option, new Uint8Array(buffer.buffer), 4) !== 0) {
    throw lastError(`setsockopt(${name})`);
  }
}

const TCP_QUICKACK = 12;

/**
 * Acknowledges at once what has arrived on `fd` (TCP_QUICKACK): after the handshake's
 * back-and-forth the kernel delays acknowledgements (up to 40 ms), and the peer waits for
 * the acknowledgement of its last handshake bytes before it starts counting.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { acknowledgeNow } from "./tcp_socket_options.ts";
 * acknowledgeNow(fd);
 * ```
 */
export function acknowledgeNow(fd: number): void {
  const one = new Int32Array([1]);
  requireLibc().setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, new Uint8Array(one.buffer), 4);
}

const SO_MAX_PACING_RATE = 47;

/**
 * Has the kernel pace what `fd` sends to at most `bytesPerSecond` (SO_MAX_PACING_RATE):
 * TCP paces its segments itself (Linux 4.13 and later, whatever the queueing discipline),
 * so the rate holds with the commands holding the socket and nothing copied. The rate
 * counts the segments as they leave, TCP/IP headers included. Throws a `LibcError` where
 * the kernel refuses.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { setPacingRate } from "./tcp_socket_options.ts";
 * setPacingRate(fd, 20 * 1024 * 1024);
 * ```
 */
export function setPacingRate(fd: number, bytesPerSecond: number): void {
  const rate = new BigUint64Array([BigInt(Math.floor(bytesPerSecond))]);
  if (
    requireLibc().setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, new Uint8Array(rate.buffer), 8) !==
      0
  ) {
    throw lastError("setsockopt(SO_MAX_PACING_RATE)");
  }
}

const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const EPERM = 1;

/**
 * Gives the socket `fd` send and receive buffers of `bytes` each (the kernel books twice
 * that, for its own overhead), so that the socket itself is the slack between a bursty
 * producer and a consumer that stalls. As root (CAP_NET_ADMIN) any size up to 1 GiB is
 * forced; otherwise the kernel allows up to `net.core.wmem_max` and `net.core.rmem_max`.
 * Returns null once set; else why not (the buffers then stay the kernel's own, which
 * grow by themselves up to `net.ipv4.tcp_wmem` and `tcp_rmem`).
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { setSocketBuffers } from "./tcp_socket_options.ts";
 * const why = setSocketBuffers(fd, 64 * 1024 * 1024);
 * ```
 */
export function setSocketBuffers(fd: number, bytes: number): string | null {
  const c = requireLibc();
  const value = new Uint8Array(new Int32Array([bytes]).buffer);
  const set = (option: number, name: string) => {
    if (c.setsockopt(fd, SOL_SOCKET, option, value, 4) === 0) return null;
    return lastError(`setsockopt(${name})`);
  };
  const forced = set(SO_SNDBUFFORCE, "SO_SNDBUFFORCE") ?? set(SO_RCVBUFFORCE, "SO_RCVBUFFORCE");
  if (forced === null) return null;
  if (forced.errno !== EPERM) return forced.message;
  // Not privileged: a plain request is cut to the maximum without a word, and a buffer
  // set that way no longer grows by itself, so it is made only where the size is allowed.
  for (const name of ["wmem_max", "rmem_max"]) {
    const most = readSysctl(`net/core/${name}`);
    if (most === null || bytes > most) {
      return `the kernel allows this user ${most ?? "an unknown size"}${
        most === null ? "" : " bytes"
      } (net.core.${name}); run as root, or raise net.core.wmem_max and net.core.rmem_max`;
    }
  }
  return set(SO_SNDBUF, "SO_SNDBUF")?.message ?? set(SO_RCVBUF, "SO_RCVBUF")?.message ?? null;
}

const TCP_CONGESTION = 13;

/**
 * The congestion control algorithms this process may give a socket: those of
 * `net.ipv4.tcp_allowed_congestion_control`, and with CAP_NET_ADMIN (root) every one the
 * kernel has loaded (`tcp_available_congestion_control`); null where that cannot be read
 * (not Linux, no /proc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { congestionControlsAllowed } from "./tcp_socket_options.ts";
 * const allowed = congestionControlsAllowed();
 * assert.ok(allowed === null || allowed.includes("reno")); // reno is always built in
 * ```
 */
export function congestionControlsAllowed(): string[] | null {
  const words = (name: string) => readSysctlText(`net/ipv4/${name}`)?.split(/\s+/) ?? null;
  const allowed = words("tcp_allowed_congestion_control");
  if (allowed === null || !hasNetAdmin()) return allowed;
  return [...new Set([...allowed, ...words("tcp_available_congestion_control") ?? []])];
}

/** Whether this process has CAP_NET_ADMIN (bit 12 of its effective capabilities). */
function hasNetAdmin(): boolean {
  const effective = Deno.readTextFileSync("/proc/self/status").match(/^CapEff:\s*([0-9a-f]+)/m);
  return effective !== null && (BigInt(`0x${effective[1]}`) & (1n << 12n)) !== 0n;
}

/**
 * Gives the socket `fd` the congestion control `name` (TCP_CONGESTION) and returns the
 * one it then has, as the kernel names it. Throws a `LibcError` where the kernel refuses.
 *
 * @example Not run as a test: it needs a socket's fd.
 * ```ts ignore
 * import { setCongestionControl } from "./tcp_socket_options.ts";
 * setCongestionControl(fd, "cubic"); // "cubic"
 * ```
 */
export function setCongestionControl(fd: number, name: string): string {
  const c = requireLibc();
  const asked = new TextEncoder().encode(name);
  if (c.setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, asked, asked.length) !== 0) {
    throw lastError("setsockopt(TCP_CONGESTION)");
  }
  const named = new Uint8Array(16);
  const length = new Uint32Array([named.length]);
  if (c.getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, named, new Uint8Array(length.buffer)) !== 0) {
    throw lastError("getsockopt(TCP_CONGESTION)");
  }
  const end = named.indexOf(0);
  return new TextDecoder().decode(named.subarray(0, end < 0 ? length[0] : end));
}

/** The text of a file in /proc/sys, trimmed, or null where it cannot be read. */
function readSysctlText(path: string): string | null {
  try {
    return Deno.readTextFileSync(`/proc/sys/${path}`).trim();
  } catch {
    return null;
  }
}

/** A number from /proc/sys, or null where it cannot be read. */
function readSysctl(path: string): number | null {
  try {
    const value = Number(Deno.readTextFileSync(`/proc/sys/${path}`).trim());
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}
