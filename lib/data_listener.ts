import { closeQuietly } from "./conn_io.ts";
import { checkHandshake } from "./handshake.ts";

/** How {@link acceptAuthenticated} treats the connections it receives. */
export interface AcceptOptions {
  /** Stops waiting; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Milliseconds a connection may take to present its handshake.
   * @default {5000}
   */
  handshakeTimeoutMs?: number;
  /**
   * Handshakes checked at once; connections beyond this are closed at once.
   * @default {64}
   */
  maxPending?: number;
  /** Called for every connection that is refused. */
  onRefused?(remote: Deno.NetAddr, reason: string): void;
}

/**
 * Opens the data listener on a port the kernel chooses, on every interface, for IPv6 and
 * IPv4 at once where the host has IPv6, else IPv4 only.
 *
 * @example
 * ```ts
 * import { openDataListener } from "./data_listener.ts";
 * const listener = openDataListener();
 * console.log(listener.addr.port);
 * listener.close();
 * ```
 */
export function openDataListener(): Deno.TcpListener {
  try {
    return Deno.listen({ hostname: "::", port: 0, transport: "tcp" });
  } catch {
    return Deno.listen({ hostname: "0.0.0.0", port: 0, transport: "tcp" });
  }
}

/**
 * Accepts connections until one presents `token`, and returns it with the handshake done.
 * Every other connection is closed; the listener is left open for the caller to close.
 *
 * @example
 * ```ts ignore
 * import { acceptAuthenticated, openDataListener } from "./data_listener.ts";
 * import { newToken } from "./handshake.ts";
 * const listener = openDataListener();
 * const conn = await acceptAuthenticated(listener, newToken(), { signal: AbortSignal.timeout(10_000) });
 * ```
 */
export function acceptAuthenticated(
  listener: Deno.TcpListener,
  token: Uint8Array,
  options: AcceptOptions = {},
): Promise<Deno.TcpConn> {
  const { signal, handshakeTimeoutMs = 5000, maxPending = 64, onRefused } = options;
  const pending = new Set<Deno.TcpConn>();
  let winner: Deno.TcpConn | null = null;

  return new Promise<Deno.TcpConn>((resolve, reject) => {
    const finish = (error?: unknown) => {
      signal?.removeEventListener("abort", onAbort);
      for (const conn of pending) closeQuietly(conn);
      pending.clear();
      if (winner) resolve(winner);
      else reject(error);
    };
    const onAbort = () => finish(signal?.reason);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });

    const check = async (conn: Deno.TcpConn) => {
      const accepted = await checkHandshake(conn, token, handshakeTimeoutMs);
      pending.delete(conn);
      if (accepted && !winner && !signal?.aborted) {
        winner = conn;
        finish();
      } else {
        closeQuietly(conn);
        if (!accepted) onRefused?.(conn.remoteAddr, "wrong or incomplete handshake");
      }
    };

    (async () => {
      while (!winner && !signal?.aborted) {
        let conn: Deno.TcpConn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (!winner && !signal?.aborted) finish(error);
          return;
        }
        if (winner || signal?.aborted) {
          closeQuietly(conn);
          return;
        }
        if (pending.size >= maxPending) {
          closeQuietly(conn);
          onRefused?.(conn.remoteAddr, "too many handshakes in progress");
          continue;
        }
        pending.add(conn);
        check(conn);
      }
    })();
  });
}

/**
 * The addresses of this host that the remote half may try to connect back to, best
 * first: global IPv4, global IPv6, then loopback. Link-local addresses need a scope the
 * remote host cannot know, so they are left out.
 *
 * @example
 * ```ts
 * import { candidateAddresses } from "./data_listener.ts";
 * candidateAddresses(true); // e.g. ["192.168.1.5", "2001:db8::5", "127.0.0.1", "::1"]
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
