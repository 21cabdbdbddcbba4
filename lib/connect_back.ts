import { closeQuietly } from "./conn_io.ts";
import { presentToken } from "./handshake.ts";

/** Where and how the remote half connects back to the local half. */
export interface ConnectBackOptions {
  /** The port the local half listens on. */
  port: number;
  /** The session token to present. */
  token: Uint8Array;
  /** The `-h` address: when given, the only one tried. */
  host?: string | null;
  /** `$SSH_CLIENT` as sshd set it for this session, if any. */
  sshClient?: string | null;
  /** The local half's own addresses, tried after `$SSH_CLIENT`. */
  candidates?: string[];
  /**
   * Milliseconds to wait for each address to connect and accept the token.
   * @default {5000}
   */
  attemptTimeoutMs?: number;
  /** Called before each attempt, for -v. */
  onAttempt?(address: string): void;
}

/**
 * The addresses to try, in order: `-h` alone if given, else the first field of
 * `$SSH_CLIENT` (the address the login came from), then the candidates.
 *
 * @example
 * ```ts
 * import { addressesToTry } from "./connect_back.ts";
 * addressesToTry({ sshClient: "10.0.0.2 51234 22", candidates: ["10.0.0.2", "127.0.0.1"] });
 * // ["10.0.0.2", "127.0.0.1"]
 * ```
 */
export function addressesToTry(
  options: Pick<ConnectBackOptions, "host" | "sshClient" | "candidates">,
): string[] {
  if (options.host) return [options.host];
  const fromSsh = options.sshClient?.trim().split(/\s+/)[0];
  const addresses = [...(fromSsh ? [fromSsh] : []), ...(options.candidates ?? [])];
  return [...new Set(addresses.filter((address) => address !== ""))];
}

/**
 * Connects back to the local half and presents the token, trying each address in turn.
 * Resolves with the connection once accepted; rejects with one line naming every
 * address tried and why it failed (`192.0.2.7:40000: connection refused; …`).
 *
 * @example
 * ```ts ignore
 * import { connectBack } from "./connect_back.ts";
 * import { newToken } from "./handshake.ts";
 * const conn = await connectBack({ port: 40000, token: newToken(), host: "127.0.0.1" });
 * ```
 */
export async function connectBack(options: ConnectBackOptions): Promise<Deno.TcpConn> {
  const timeoutMs = options.attemptTimeoutMs ?? 5000;
  const failures: string[] = [];
  for (const address of addressesToTry(options)) {
    options.onAttempt?.(address);
    try {
      const conn = await connectWithTimeout(address, options.port, timeoutMs);
      if (await presentToken(conn, options.token, timeoutMs)) return conn;
      closeQuietly(conn);
      failures.push(`${formatAddress(address, options.port)}: token refused`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      failures.push(`${formatAddress(address, options.port)}: ${reason}`);
    }
  }
  throw new Error(failures.join("; ") || "no address to try");
}

async function connectWithTimeout(
  hostname: string,
  port: number,
  timeoutMs: number,
): Promise<Deno.TcpConn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const attempt = Deno.connect({ hostname, port, transport: "tcp" });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([attempt, timeout]);
  } catch (error) {
    attempt.then(closeQuietly, () => {}); // a late connection must not linger
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Formats an address and port, bracketing IPv6 addresses.
 *
 * @example
 * ```ts
 * import { formatAddress } from "./connect_back.ts";
 * formatAddress("::1", 22); // "[::1]:22"
 * ```
 */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
