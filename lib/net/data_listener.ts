import { closeQuietly } from "./conn_io.ts";
import { HANDSHAKE_TIMEOUT_MS, proveAsListener } from "./handshake.ts";
import { messageOf } from "../base/message_of.ts";

/** How {@link acceptAuthenticated} treats the connections it receives. */
export interface AcceptOptions {
  /** Stops waiting; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Milliseconds a connection may take to complete its handshake.
   * @default {HANDSHAKE_TIMEOUT_MS}
   */
  handshakeTimeoutMs?: number;
  /**
   * Handshakes in progress at once. When they are all taken, the oldest that has sent
   * nothing yet is closed to make room (else the oldest): however many idle connections
   * a flood opens, a prompt handshake always gets a place.
   * @default {1024}
   */
  maxPending?: number;
  /** Called for every connection that is refused. */
  onRefused?(remote: Deno.NetAddr, reason: string): void;
}

/** Where the listening side listens: `--bind` and `--port`. */
export interface ListenPlace {
  /** The address to bind (default: every interface, IPv6 and IPv4 where possible). */
  bind?: string | null;
  /** The first and last port to try (default: one the kernel chooses). */
  ports?: readonly [number, number] | null;
}

/**
 * Opens the data listener: on `bind` (default every interface, for IPv6 and IPv4 at once
 * where the host has IPv6, else IPv4 only), on the first free port of `ports` (default a
 * port the kernel chooses). Throws an error naming the range when none is free.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openDataListener } from "./data_listener.ts";
 * const listener = openDataListener({ bind: "127.0.0.1" });
 * assert.ok(listener.addr.port > 0);
 * listener.close();
 * ```
 */
export function openDataListener(place: ListenPlace = {}): Deno.TcpListener {
  const hostnames = place.bind ? [place.bind] : ["::", "0.0.0.0"];
  const [first, last] = place.ports ?? [0, 0];
  let failure: unknown = null;
  for (const hostname of hostnames) {
    for (let port = first; port <= last; port++) {
      try {
        return Deno.listen({ hostname, port, transport: "tcp" });
      } catch (error) {
        failure = error;
        if (!(error instanceof Deno.errors.AddrInUse)) break; // another port will not help
      }
    }
    // Every port taken: IPv4 would not do better. Anything else on "::" (a host without
    // IPv6): try IPv4.
    if (failure instanceof Deno.errors.AddrInUse) break;
  }
  const where = place.ports
    ? `port ${first === last ? first : `${first}-${last}`}`
    : "a port the kernel chooses";
  const cause = failure instanceof Deno.errors.AddrInUse
    ? "every port is in use"
    : messageOf(failure);
  throw new Error(`cannot listen on ${place.bind ?? "every interface"}, ${where}: ${cause}`);
}

/**
 * Closes the oldest handshake in `pending` that has sent nothing yet (else the oldest),
 * to make room; its check then fails and reports it.
 */
function evictOldestIdle(
  pending: Map<Deno.TcpConn, { active: boolean; evicted: boolean }>,
): void {
  let victim: Deno.TcpConn | null = null;
  for (const [conn, state] of pending) {
    if (!state.active) {
      victim = conn;
      break;
    }
  }
  victim ??= pending.keys().next().value ?? null;
  if (!victim) return;
  pending.get(victim)!.evicted = true;
  pending.delete(victim);
  closeQuietly(victim);
}

/**
 * Accepts connections until one completes the handshake for `token` (the mutual proof of
 * `handshake.ts`); resolves with it and closes the others. Strangers with a wrong,
 * short, slow or idle handshake are closed and reported; a flood cannot keep the real
 * peer out (see {@link AcceptOptions.maxPending}).
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { acceptAuthenticated, openDataListener } from "./data_listener.ts";
 * const conn = await acceptAuthenticated(openDataListener(), token);
 * ```
 */
export function acceptAuthenticated(
  listener: Deno.TcpListener,
  token: Uint8Array,
  options: AcceptOptions = {},
): Promise<Deno.TcpConn> {
  const { signal, handshakeTimeoutMs = HANDSHAKE_TIMEOUT_MS, maxPending = 1024, onRefused } =
    options;
  /** Handshakes in progress, oldest first, with whether they have sent anything. */
  const pending = new Map<Deno.TcpConn, { active: boolean; evicted: boolean }>();
  let winner: Deno.TcpConn | null = null;

  return new Promise<Deno.TcpConn>((resolve, reject) => {
    const finish = (error?: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      for (const conn of pending.keys()) closeQuietly(conn);
      pending.clear();
      if (winner) resolve(winner);
      else reject(error);
    };
    const onAbort = () => finish(signal?.reason);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });

    const evictOne = () => evictOldestIdle(pending);
    const check = async (conn: Deno.TcpConn) => {
      const state = { active: false, evicted: false };
      pending.set(conn, state);
      const accepted = await proveAsListener(conn, token, handshakeTimeoutMs, () => {
        state.active = true;
      });
      pending.delete(conn);
      if (accepted && !winner && !signal?.aborted) {
        winner = conn;
        finish();
        return;
      }
      closeQuietly(conn);
      // One cut short because the wait ended (the real peer won, or the run stopped) was
      // refused by nobody: it is not reported.
      if (!accepted && (state.evicted || (!winner && !signal?.aborted))) {
        const reason = state.evicted
          ? "closed to make room for other handshakes"
          : "wrong, incomplete or slow handshake";
        onRefused?.(conn.remoteAddr, reason);
      }
    };

    (async () => {
      while (!winner && !signal?.aborted) {
        let conn: Deno.TcpConn;
        try {
          conn = await nextConnection(listener);
          // Accepted once this wait had ended: the next wait on the listener takes it
          // (the peer meeting this half again under --reconnect), else its closing.
          if (winner || signal?.aborted) return;
          LATE.delete(listener);
        } catch (error) {
          LATE.delete(listener);
          if (winner || signal?.aborted) return;
          // Out of file descriptors: make room, and go on accepting.
          if (pending.size > 0 && /too many open files/i.test(String(error))) {
            evictOne();
            continue;
          }
          finish(error);
          return;
        }
        if (pending.size >= maxPending) evictOne();
        check(conn);
      }
    })();
  });
}

/** Each listener's accept that a wait left behind when it ended, for the next wait. */
const LATE = new WeakMap<Deno.TcpListener, Promise<Deno.TcpConn>>();

/** The listener's next connection: the one a wait before this one left, or a new accept. */
function nextConnection(listener: Deno.TcpListener): Promise<Deno.TcpConn> {
  let next = LATE.get(listener);
  if (!next) {
    next = listener.accept();
    next.catch(() => {}); // a listener closed with no wait on it
    LATE.set(listener, next);
  }
  return next;
}

/**
 * Closes a data listener, and any connection it accepted after the last wait on it ended.
 *
 * @example
 * ```ts
 * import { closeDataListener, openDataListener } from "./data_listener.ts";
 * closeDataListener(openDataListener());
 * ```
 */
export function closeDataListener(listener: Deno.TcpListener): void {
  LATE.get(listener)?.then(closeQuietly, () => {});
  LATE.delete(listener);
  closeQuietly(listener);
}

/**
 * The addresses of this host that the remote half may try to connect back to, best
 * first: global IPv4, global IPv6, then loopback. Link-local addresses need a scope the
 * remote host cannot know, so they are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { candidateAddresses } from "./data_listener.ts";
 * const addresses = candidateAddresses(true); // e.g. ["192.168.1.5", "2001:db8::5", "127.0.0.1", "::1"]
 * assert.ok(addresses.includes("127.0.0.1"));
 * assert.ok(!candidateAddresses(false).some((address) => address.includes(":")));
 * ```
 */
export function candidateAddresses(includeIpv6: boolean): string[] {
  let interfaces: Deno.NetworkInterfaceInfo[] = [];
  try {
    interfaces = Deno.networkInterfaces();
  } catch {
    // Without --allow-sys the remote half still has -h and $SSH_CLIENT.
  }
  const rank = (info: Deno.NetworkInterfaceInfo) => {
    const loopback = info.address === "127.0.0.1" || info.address === "::1" ||
      info.address.startsWith("127.");
    return (loopback ? 2 : 0) + (info.family === "IPv6" ? 1 : 0);
  };
  const usable = interfaces.filter((
    info,
  ) => (info.family === "IPv4" || (includeIpv6 && !/^fe[89ab]/i.test(info.address))));
  usable.sort((a, b) => rank(a) - rank(b));
  const addresses = usable.map((info) => info.address);
  for (const loopback of includeIpv6 ? ["127.0.0.1", "::1"] : ["127.0.0.1"]) {
    if (!addresses.includes(loopback)) addresses.push(loopback);
  }
  return [...new Set(addresses)];
}
