/**
 * The copy engine's worker: a thread that moves one direction of the stream path
 * (`engine_loops.ts`) with libc's plain system calls, blocking nothing but itself. This
 * module serves as one only in a worker started under {@link ENGINE_WORKER_NAME}; loaded
 * anywhere else (the main thread, a library user's own worker), it does nothing.
 *
 * @module
 */
import { describeErrno, lastErrno, requireLibc } from "../platform/libc.ts";
import { shutdownWrite, unreadBytes } from "../platform/file_descriptors.ts";
import { messageOf } from "../base/message_of.ts";
import {
  ENGINE_WORKER_NAME,
  engineBroke,
  type EngineJob,
  type EngineReport,
  EngineState,
} from "./engine_state.ts";
import { type EngineIo, receiveIntoPipe, sendFromPipe } from "./engine_loops.ts";
import { ResumableReceiver } from "./resumable_receiver.ts";
import { ResumableSender } from "./resumable_sender.ts";

const POLLIN = 0x1;
const POLLOUT = 0x4;

/**
 * libc's system calls, as the loops use them, for this thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe } from "../platform/file_descriptors.ts";
 * import { libcIo } from "./engine_worker.ts";
 * const io = libcIo();
 * const [readEnd, writeEnd] = makePipe();
 * assert.equal(io.write(writeEnd, new Uint8Array(3)), 3);
 * assert.equal(io.unread(readEnd), 3);
 * io.wait(readEnd, "read", -1, 1000); // ready at once
 * assert.equal(io.read(readEnd, new Uint8Array(8)), 3);
 * assert.equal(io.read(readEnd, new Uint8Array(8)), -11); // EAGAIN: nothing there
 * closeFd(writeEnd);
 * assert.equal(io.read(readEnd, new Uint8Array(8)), 0);
 * closeFd(readEnd);
 * ```
 */
export function libcIo(): EngineIo {
  const c = requireLibc();
  const fds = new Uint8Array(24);
  const view = new DataView(fds.buffer);
  return {
    read(fd, into) {
      const result = Number(c.read(fd, into as Uint8Array<ArrayBuffer>, BigInt(into.length)));
      return result >= 0 ? result : -lastErrno();
    },
    write(fd, from) {
      const result = Number(c.write(fd, from as Uint8Array<ArrayBuffer>, BigInt(from.length)));
      return result >= 0 ? result : -lastErrno();
    },
    wait(fd, what, wake, timeoutMs, writable = -1) {
      view.setInt32(0, fd, true);
      view.setInt16(4, what === "read" ? POLLIN : POLLOUT, true);
      view.setInt32(8, wake, true);
      view.setInt16(12, POLLIN, true);
      view.setInt32(16, writable, true);
      view.setInt16(20, POLLOUT, true);
      // Any failure (EINTR) just means "look again", which the loops do.
      c.poll(fds, 3n, timeoutMs);
    },
    shutdownWrite: (fd) => shutdownWrite(fd) ? 0 : -lastErrno(),
    unread: unreadBytes,
    describe: describeErrno,
  };
}

/**
 * Serves one job from the main thread, with the system calls `makeIo` gives for it (libc's, or a test's): says it is ready, runs the job's
 * direction, and reports its end (and, receiving, a consumer that stopped reading). A
 * throw is reported as the direction's failure, never lost.
 *
 * @example Not run as a test: it serves a worker's messages (see copy_engine.ts).
 * ```ts ignore
 * import { libcIo, serveEngineJob } from "./engine_worker.ts";
 * serveEngineJob(self as unknown as EngineScope, libcIo);
 * ```
 */
export function serveEngineJob(scope: EngineScope, makeIo: (job: EngineJob) => EngineIo): void {
  const tell = (report: EngineReport) => scope.postMessage(report);
  const consumerGone = () => tell({ event: "consumer-gone" });
  // Under --reconnect, one loop outlives its connections: a job for each.
  let resumable: ResumableSender | ResumableReceiver | null = null;
  scope.onmessage = (event) => {
    const job = event.data;
    const state = new EngineState(job.shared);
    let failure: string | null;
    let crashed = false;
    try {
      const io = makeIo(job);
      if (job.resumable) {
        resumable ??= job.direction === "send"
          ? new ResumableSender(job, () => tell({ event: "source-released" }))
          : new ResumableReceiver(job, {
            consumerGone,
            receivedEnd: () => tell({ event: "received-end" }),
          });
        const end = resumable.run(job, io, state);
        if ("cut" in end) return tell({ event: "cut", why: end.cut });
        failure = "failure" in end ? end.failure : null;
      } else {
        failure = job.direction === "send"
          ? sendFromPipe(job, io, state)
          : receiveIntoPipe(job, io, state, consumerGone);
      }
    } catch (error) {
      crashed = true;
      failure = engineBroke(job.direction, messageOf(error));
    }
    tell({ event: "done", failure, crashed });
  };
  tell({ event: "ready" });
}

/** A worker's side of its channel to the main thread. */
export interface EngineScope {
  /** The worker's name, as it was started. */
  name?: string;
  /** Set to receive the job. */
  onmessage: ((event: MessageEvent<EngineJob>) => void) | null;
  /** Sends a report. */
  postMessage(report: EngineReport): void;
}

/**
 * Whether this code runs in a worker started as the copy engine: bundled, the worker runs
 * the whole bundle, whose command line must then not run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isEngineWorker } from "./engine_worker.ts";
 * assert.equal(isEngineWorker(), false);
 * ```
 */
export function isEngineWorker(): boolean {
  const scope = globalThis as unknown as EngineScope & { WorkerGlobalScope?: unknown };
  return scope.WorkerGlobalScope !== undefined && scope.name === ENGINE_WORKER_NAME;
}

if (isEngineWorker()) serveEngineJob(globalThis as unknown as EngineScope, libcIo);
