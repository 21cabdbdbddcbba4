/**
 * The connecting side of the meeting: which addresses to try, and trying them, until one
 * completes the mutual proof of `handshake.ts`. Used by the remote half (the default:
 * the local half listens) and by the local half (`--listen remote`).
 *
 * @module
 */
import { closeQuietly } from "./conn_io.ts";
import { delay, REAL_CLOCK } from "../base/clock.ts";
import { HANDSHAKE_TIMEOUT_MS, proveAsConnector } from "./handshake.ts";
import { isLoopback, isOneOf } from "./host_identity.ts";
import { messageOf } from "../base/message_of.ts";
import type { Fault, FaultEntry } from "../base/faults.ts";

/** What {@link dialListener} needs. */
export interface DialOptions {
  /** Addresses to try, in order. */
  addresses: readonly string[];
  /** The listening side's port. */
  port: number;
  /** The run's token, which both sides prove they know. */
  token: Uint8Array;
  /**
   * Milliseconds to wait for each address to connect and complete the handshake.
   * @default {5000}
   */
  attemptTimeoutMs?: number;
  /** Called before each address is tried. */
  onAttempt?(address: string): void;
  /**
   * Called once an address has answered, before the handshake (which a crowded peer may
   * take long to complete): its host's kernel is there.
   */
  onConnected?(conn: Deno.TcpConn): void;
  /** The caller's faults: what a refused proof, no answer, or no permission to dial mean. */
  faults: DialFaults;
}

/** The faults a dial ends with, in the words of the role that dials. */
export interface DialFaults {
  /** A socketpipe listener answered but the mutual proof failed: not the run's peer. */
  refused: FaultEntry<[attempts: string]>;
  /** No address answered (every attempt named). */
  unreachable: FaultEntry<[attempts: string]>;
  /** This process may not dial (a remote half run without --allow-net). */
  notPermitted?: FaultEntry<[permission: string]>;
}

/** The address choices of the side that connects. */
export interface AddressChoice {
  /** `-h`, if given: the only address tried. */
  host?: string | null;
  /** The address the login came from or reached (from `$SSH_CLIENT` / `$SSH_CONNECTION`). */
  fromLogin?: string | null;
  /** The listening host's own addresses, as it reported them. */
  candidates?: readonly string[];
  /**
   * Whether both halves share one network namespace (the same host, not a container of
   * it): only then do loopback addresses, and this host's own, reach the listening side.
   */
  sameNetwork?: boolean;
  /**
   * This host's own addresses (`ownAddresses()` of host_identity.ts): another host's listener is never at
   * one of them, so unless both halves share a namespace they are not tried. A login that
   * reached this host through itself (a ProxyCommand with `-W host:22`) makes
   * `$SSH_CLIENT` one of them, where any user of this host could listen and relay.
   */
  ownAddresses?: readonly string[];
}

/**
 * The addresses to try, in order: `-h` alone if given, else the address the login came
 * from, then the candidates; loopback addresses and this host's own only when both
 * halves share a network namespace (elsewhere they name the connecting host itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressesToTry } from "./connect_back.ts";
 * assert.deepEqual(
 *   addressesToTry({ fromLogin: "10.0.0.2", candidates: ["10.0.0.2", "127.0.0.1"] }),
 *   ["10.0.0.2"],
 * );
 * assert.deepEqual(
 *   addressesToTry({ candidates: ["10.0.0.2", "127.0.0.1"], sameNetwork: true }),
 *   ["10.0.0.2", "127.0.0.1"],
 * );
 * assert.deepEqual(
 *   addressesToTry({ fromLogin: "10.0.0.9", candidates: ["10.0.0.2"], ownAddresses: ["10.0.0.9"] }),
 *   ["10.0.0.2"],
 * );
 * ```
 */
export function addressesToTry(choice: AddressChoice): string[] {
  if (choice.host) return [choice.host];
  const addresses = [...(choice.fromLogin ? [choice.fromLogin] : []), ...(choice.candidates ?? [])]
    .filter((address) =>
      address !== "" &&
      (choice.sameNetwork || (!isLoopback(address) && !isOneOf(address, choice.ownAddresses ?? [])))
    );
  return [...new Set(addresses)];
}

/**
 * Connects to the first address that answers and completes the handshake. An address
 * the system calls unreachable is dialled again until its time is up, then skipped; one where a socketpipe listener answered but the
 * proof failed ends the search: the next address could only be another host, and the
 * refusal is the news. Else the fault of the caller's role (`faults`), with every attempt
 * named.
 *
 * @example Not run as a test: it needs a peer on the other end of a connection.
 * ```ts ignore
 * import { dialListener } from "./connect_back.ts";
 * const conn = await dialListener({ addresses: ["10.0.0.1"], port: 40000, token, faults });
 * ```
 */
export async function dialListener(options: DialOptions): Promise<Deno.TcpConn | Fault> {
  const timeoutMs = options.attemptTimeoutMs ?? 5000;
  const failures: string[] = [];
  for (const address of options.addresses) {
    options.onAttempt?.(address);
    const where = formatAddress(address, options.port);
    let conn: Deno.TcpConn;
    try {
      conn = await connectWithTimeout(address, options.port, timeoutMs);
    } catch (error) {
      // Without --allow-net (a -x without -A) no address would do: say what is missing.
      const denied = error instanceof Deno.errors.NotCapable ||
        /Requires net access|NotCapable/.test(messageOf(error));
      if (denied && options.faults.notPermitted) {
        return options.faults.notPermitted.of(permissionOf(messageOf(error)));
      }
      failures.push(`${where}: ${messageOf(error)}`);
      continue;
    }
    // Connected: the handshake may take longer than the connecting (a crowded host).
    options.onConnected?.(conn);
    const result = await proveAsConnector(
      conn,
      options.token,
      options.attemptTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    );
    if (result.ok) return conn;
    closeQuietly(conn);
    failures.push(`${where}: ${result.detail}`);
    if (result.kind === "refused") return options.faults.refused.of(failures.join("; "));
  }
  return options.faults.unreachable.of(failures.join("; ") || "no address to try");
}

/** The permission a refusal names (`Requires net access to "…"`), else its whole text. */
function permissionOf(cause: string): string {
  return cause.match(/Requires net access[^,;)]*/)?.[0] ?? cause;
}

/**
 * How long to wait before dialling again after "no route to host" or "network is
 * unreachable": just after a link comes back, the kernel fails a connection at once on
 * the address resolution that failed while the link was down, though the next one gets
 * through.
 */
const UNREACHABLE_RETRY_MS = 250;

/**
 * Connects within `timeoutMs`, dialling again while the address is unreachable (a link
 * that has just come back, a route being set up) until the time is up; then the last
 * cause, as the system named it.
 */
async function connectWithTimeout(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<Deno.TcpConn> {
  const deadline = REAL_CLOCK.now() + timeoutMs;
  for (;;) {
    try {
      return await connectOnce(hostname, port, deadline - REAL_CLOCK.now(), timeoutMs);
    } catch (error) {
      const unreachable = ["EHOSTUNREACH", "ENETUNREACH"].includes(
        (error as { code?: string }).code ?? "",
      );
      if (!unreachable || REAL_CLOCK.now() + UNREACHABLE_RETRY_MS >= deadline) throw error;
      await delay(UNREACHABLE_RETRY_MS);
    }
  }
}

async function connectOnce(
  hostname: string,
  port: number,
  waitMs: number,
  timeoutMs: number,
): Promise<Deno.TcpConn> {
  let timer: number | undefined;
  const attempt = Deno.connect({ hostname, port, transport: "tcp" });
  const timeout = new Promise<never>((_, reject) => {
    timer = REAL_CLOCK.after(
      waitMs,
      () => reject(new Error(`no answer within ${timeoutMs / 1000} s`)),
    );
  });
  try {
    return await Promise.race([attempt, timeout]);
  } catch (error) {
    attempt.then(closeQuietly, () => {}); // a late connection must not linger
    throw error;
  } finally {
    if (timer !== undefined) REAL_CLOCK.clear(timer);
  }
}

/**
 * Formats an address and port as `host:port` or `[v6]:port`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAddress } from "./connect_back.ts";
 * assert.deepEqual(formatAddress("::1", 40000), "[::1]:40000");
 * ```
 */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
