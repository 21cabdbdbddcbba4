/**
 * The transfer of a `--reconnect` run that cannot have the copy engine: the main thread's
 * loops cannot frame a stream that survives cuts, so the run fails rather than fall back.
 *
 * @module
 */
import { closeQuietly } from "../net/conn_io.ts";
import type { CommandSink, CommandSource } from "./command_pipes.ts";
import type { Transfer } from "./data_path.ts";

/**
 * The transfer of a `--reconnect` run whose copy engine cannot run here (`why`): it fails
 * at once, naming the cause, rather than moving an unframed stream the peer cannot read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cannotResume } from "./cannot_resume.ts";
 * const conn = { close() {} } as Deno.TcpConn;
 * const { error } = await cannotResume({ conn }, "workers are not available").finished;
 * assert.equal(error, "--reconnect needs the copy engine, which cannot run here: workers are not available");
 * ```
 */
export function cannotResume(
  ends: { conn: Deno.TcpConn; source?: CommandSource; sink?: CommandSink },
  why: string,
): Transfer {
  closeQuietly(ends.conn);
  ends.source?.cancel();
  ends.sink?.close();
  const counts = { sent: 0, received: 0, delivered: 0 };
  const error = `--reconnect needs the copy engine, which cannot run here: ${why}`;
  return {
    stopSending: () => {},
    waitingOnPeer: () => false,
    allSent: new Promise<number>(() => {}),
    endReceiving: () => {},
    abort: () => {},
    consumerGone: new Promise<void>(() => {}),
    finished: Promise.resolve({ counts, error }),
    moved: () => ({ sent: 0, received: 0 }),
  };
}
