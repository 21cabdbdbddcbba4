/**
 * The meeting: the local half waits on its listener for the remote half's authenticated
 * data connection, and stops waiting for any reason that means it will not come.
 *
 * @module
 */
import { formatAddress } from "./connect_back.ts";
import { acceptAuthenticated } from "./data_listener.ts";
import { FAULTS } from "./faults.ts";
import type { LoginChannel } from "./login_channel.ts";
import type { StepLog } from "./log.ts";

/** How a meeting ended: the data connection, or why there is none. */
export type Meeting =
  | { met: true; conn: Deno.TcpConn; refused: number }
  | {
    met: false;
    cause: "timeout" | "interrupted" | "channel-closed" | "silent" | "remote-ended";
  }
  | { met: false; cause: "remote-problem"; line: string };

/** What the meeting watches besides the listener. */
export interface MeetingOptions {
  /** The login channel: its closing, or the remote half's problem, ends the wait. */
  channel: LoginChannel;
  /** Seconds to wait (`-t`, counted from when the login started); 0 waits for ever. */
  timeoutSeconds: number;
  /** Aborted when the run is interrupted. */
  signal?: AbortSignal;
  /** For -v: each refused connection. */
  log: StepLog;
}

/**
 * Accepts the one data connection that presents `token`, refusing every other (and
 * saying how many, once met); gives up at the `-t` deadline, on an interrupt, when the remote half reports a
 * problem, or when the login channel closes.
 *
 * @example
 * ```ts ignore
 * import { meet } from "./meeting.ts";
 * const meeting = await meet(listener, token, { channel, timeoutSeconds: 10, log });
 * if (!meeting.met) console.error(meeting.cause);
 * ```
 */
export async function meet(
  listener: Deno.TcpListener,
  token: Uint8Array,
  options: MeetingOptions,
): Promise<Meeting> {
  const stop = new AbortController();
  let cause: Meeting | null = null;
  const stopWith = (why: Meeting & { met: false }) => {
    cause ??= why;
    stop.abort();
  };
  const timeoutMs = options.timeoutSeconds * 1000;
  const timer = timeoutMs > 0
    ? setTimeout(() => stopWith({ met: false, cause: "timeout" }), timeoutMs)
    : undefined;
  const onAbort = () => stopWith({ met: false, cause: "interrupted" });
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  options.channel.problem.then((line) => stopWith({ met: false, cause: "remote-problem", line }));
  options.channel.closed.then(() => stopWith({ met: false, cause: "channel-closed" }));
  // A remote half that is stopped, or that reports an end without connecting, must not
  // leave this half waiting for ever (even with no -t).
  options.channel.silent.then(() => stopWith({ met: false, cause: "silent" }));
  options.channel.first("exit").then((exit) =>
    exit && stopWith({ met: false, cause: "remote-ended" })
  );

  let refused = 0;
  try {
    const conn = await acceptAuthenticated(listener, token, {
      signal: stop.signal,
      onRefused: (address, reason) => {
        refused++;
        options.log.step(
          `refused a data connection from ${
            formatAddress(address.hostname, address.port)
          }: ${reason}`,
        );
      },
    });
    if (refused) options.log.always(FAULTS.refusedConnections.line(refused));
    return { met: true, conn, refused };
  } catch (error) {
    if (cause) return cause;
    throw error;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }
}
