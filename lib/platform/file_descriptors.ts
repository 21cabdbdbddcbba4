/**
 * File descriptor operations the zero-copy path needs: /dev/null, pipes, blocking mode,
 * half-closing a socket, and reading without ever blocking this thread.
 *
 * Over 300 lines on purpose: every descriptor call of the zero-copy path is here, each a
 * few lines, so that libc's rules (errno per thread, EAGAIN, EINTR) are kept in one file.
 *
 * @module
 */
import { Errno, lastError, requireLibc } from "./libc.ts";

const F_GETFL = 3;
const F_SETFL = 4;
const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
const O_NONBLOCK = 0o4000;
const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const SHUT_RD = 0;
const SHUT_WR = 1;
const SHUT_RDWR = 2;
const FIONREAD = 0x541b;
/** SIOCOUTQ (TIOCOUTQ): a TCP socket's bytes not yet acknowledged by the peer. */
const SIOCOUTQ = 0x5411;
const MSG_DONTWAIT = 0x40;
const POLLIN = 0x001;
const POLLOUT = 0x004;
/** The longest one poll(2) on a worker thread waits before the caller looks again. */
const POLL_SLICE_MS = 250;

/**
 * Opens /dev/null for reading and writing; returns the file descriptor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, openDevNull } from "./file_descriptors.ts";
 * const fd = openDevNull();
 * assert.ok(fd > 2);
 * closeFd(fd);
 * ```
 */
export function openDevNull(): number {
  const fd = requireLibc().open(new TextEncoder().encode("/dev/null\0"), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw lastError("open(/dev/null)");
  return fd;
}

/**
 * Makes a pipe whose ends are closed on exec and whose read end never blocks (it is this
 * process's alone; the write end is for a command, which expects blocking writes); with
 * `ours` "write", the other way round. Returns [read end, write end].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe();
 * assert.match(Deno.readLinkSync(`/proc/self/fd/${readEnd}`), /^pipe:/);
 * closeFd(readEnd);
 * closeFd(writeEnd);
 * ```
 */
export function makePipe(ours: "read" | "write" = "read"): [number, number] {
  const c = requireLibc();
  const fds = new Int32Array(2);
  if (c.pipe2(new Uint8Array(fds.buffer), O_CLOEXEC) !== 0) throw lastError("pipe2");
  setFlag(ours === "read" ? fds[0] : fds[1], O_NONBLOCK, true);
  return [fds[0], fds[1]];
}

/**
 * Asks the kernel to make the pipe of `fd` hold `bytes` (F_SETPIPE_SZ), and returns what it
 * holds then: the kernel rounds up to a power of two of pages, and keeps its own size where
 * it refuses (past `fs.pipe-max-size` for a user, or past the user's share of pipe memory).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, growPipe, makePipe } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe("write");
 * assert.ok(growPipe(writeEnd, 1 << 20) >= 64 * 1024);
 * closeFd(readEnd);
 * closeFd(writeEnd);
 * ```
 */
export function growPipe(fd: number, bytes: number): number {
  const c = requireLibc();
  c.fcntl(fd, F_SETPIPE_SZ, bytes);
  return c.fcntl(fd, F_GETPIPE_SZ, 0);
}

/**
 * Closes a file descriptor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, openDevNull } from "./file_descriptors.ts";
 * const fd = openDevNull();
 * closeFd(fd);
 * assert.throws(() => Deno.readLinkSync(`/proc/self/fd/${fd}`));
 * ```
 */
export function closeFd(fd: number): void {
  requireLibc().close(fd);
}

/**
 * Puts a file descriptor in blocking mode, as commands expect of their stdin and stdout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, openDevNull, setBlocking } from "./file_descriptors.ts";
 * const fd = openDevNull();
 * assert.equal(setBlocking(fd), undefined);
 * closeFd(fd);
 * ```
 */
export function setBlocking(fd: number): void {
  setFlag(fd, O_NONBLOCK, false);
}

/**
 * Puts a file descriptor in non-blocking mode: a write into a full pipe then fails with
 * EAGAIN rather than holding this thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, openDevNull, setNonBlocking } from "./file_descriptors.ts";
 * const fd = openDevNull();
 * assert.equal(setNonBlocking(fd), undefined);
 * closeFd(fd);
 * ```
 */
export function setNonBlocking(fd: number): void {
  setFlag(fd, O_NONBLOCK, true);
}

function setFlag(fd: number, flag: number, on: boolean): void {
  const c = requireLibc();
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0) throw lastError(`fcntl(${fd}, F_GETFL)`);
  if (c.fcntl(fd, F_SETFL, on ? flags | flag : flags & ~flag) < 0) {
    throw lastError(`fcntl(${fd}, F_SETFL)`);
  }
}

/**
 * Shuts the sending side of a socket: the peer reads end of file once the data already
 * sent arrives, and whoever writes to the socket after this gets EPIPE (and SIGPIPE).
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { shutdownWrite } from "./file_descriptors.ts";
 * shutdownWrite(socketFd);
 * ```
 */
export function shutdownWrite(fd: number): boolean {
  return requireLibc().shutdown(fd, SHUT_WR) === 0;
}

/**
 * Shuts the receiving side of a socket: once what has arrived is read, every reader (in
 * any process holding the socket) reads end of file, as if the peer's FIN had come.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { shutdownRead } from "./file_descriptors.ts";
 * shutdownRead(socketFd);
 * ```
 */
export function shutdownRead(fd: number): boolean {
  return requireLibc().shutdown(fd, SHUT_RD) === 0;
}

/**
 * Shuts both sides of a socket: pending and later reads return end of file, writes fail.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { shutdownBoth } from "./file_descriptors.ts";
 * shutdownBoth(socketFd);
 * ```
 */
export function shutdownBoth(fd: number): void {
  requireLibc().shutdown(fd, SHUT_RDWR);
}

/**
 * Bytes written into a TCP socket that the peer has not acknowledged: queued, in flight,
 * or lost with a connection that failed. The kernel keeps this count (the send sequence
 * against the acknowledged one) after the connection has ended, whatever ended it, so a
 * sender can tell a stream the peer took whole from one cut off by a timeout or a reset
 * even when its command read the socket's error first. A FIN counts as one byte.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { unacknowledgedBytes } from "./file_descriptors.ts";
 * unacknowledgedBytes(socketFd); // 0 once the peer has taken everything, FIN included
 * ```
 */
export function unacknowledgedBytes(fd: number): number {
  const count = new Int32Array(1);
  return requireLibc().ioctl(fd, BigInt(SIOCOUTQ), new Uint8Array(count.buffer)) === 0
    ? count[0]
    : 0;
}

/**
 * Bytes received on a socket and not yet read; for a pipe (either end), what is in it unread.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { unreadBytes } from "./file_descriptors.ts";
 * unreadBytes(socketFd); // e.g. 0
 * ```
 */
export function unreadBytes(fd: number): number {
  const count = new Int32Array(1);
  return requireLibc().ioctl(fd, BigInt(FIONREAD), new Uint8Array(count.buffer)) === 0
    ? count[0]
    : 0;
}

/**
 * Reads up to `buffer.length` bytes from a socket, which may be in blocking mode and
 * shared with commands: waits on a worker thread until it is readable, then reads here
 * without blocking (another holder may have taken the bytes meanwhile: then it waits
 * again). Resolves with the count, 0 at end of file; throws a named error.
 *
 * @example Not run as a test: it needs a connected socket's fd.
 * ```ts ignore
 * import { receiveSome } from "./file_descriptors.ts";
 * const count = await receiveSome(socketFd, new Uint8Array(65536));
 * ```
 */
export function receiveSome(fd: number, buffer: Uint8Array<ArrayBuffer>): Promise<number> {
  const c = requireLibc();
  const recvNow = () => c.recv(fd, buffer, BigInt(buffer.length), MSG_DONTWAIT);
  // Never stopped, so never null.
  return readWhenReady(fd, recvNow, "recv") as Promise<number>;
}

/**
 * Reads up to `buffer.length` bytes from the read end of a pipe made by {@link makePipe}
 * (non-blocking): waits on a worker thread until it is readable, then reads here.
 * Resolves with the count, 0 at end of file; throws a named error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe, readSome } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe();
 * closeFd(writeEnd);
 * assert.equal(await readSome(readEnd, new Uint8Array(16)), 0); // end of file
 * closeFd(readEnd);
 * ```
 */
export function readSome(fd: number, buffer: Uint8Array<ArrayBuffer>): Promise<number> {
  const c = requireLibc();
  // Never stopped, so never null.
  return readWhenReady(fd, () => c.read(fd, buffer, BigInt(buffer.length)), "read") as Promise<
    number
  >;
}

/**
 * Writes `bytes` into a non-blocking pipe's write end, waiting on a worker thread while
 * the pipe is full. Resolves with how many bytes went in: all of them, or, once the reader
 * has gone (EPIPE), exactly as many as went in before; throws on any other failure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe, unreadBytes, writeToPipe } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe();
 * assert.equal(await writeToPipe(writeEnd, new Uint8Array(10)), 10);
 * assert.equal(unreadBytes(writeEnd), 10); // what is in the pipe, unread
 * closeFd(readEnd);
 * assert.equal(await writeToPipe(writeEnd, new Uint8Array(10)), 0); // the reader is gone
 * closeFd(writeEnd);
 * ```
 */
export async function writeToPipe(fd: number, bytes: Uint8Array): Promise<number> {
  const c = requireLibc();
  const pollFd = new Uint8Array(8);
  const view = new DataView(pollFd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLOUT, true);
  let written = 0;
  while (written < bytes.length) {
    // Never a shared buffer here: the copy loops' chunks are their own.
    const rest = bytes.subarray(written) as Uint8Array<ArrayBuffer>;
    const count = Number(c.write(fd, rest, BigInt(rest.length)));
    if (count >= 0) {
      written += count;
      continue;
    }
    const error = lastError("write");
    if (error.errno === Errno.EPIPE) return written;
    if (error.errno !== Errno.EAGAIN && error.errno !== Errno.EINTR) throw error;
    // Full: wait until it is writable, or its reader gone (POLLERR), on a worker thread;
    // never for ever, lest a worker be held past the run (a library caller's process).
    await c.pollBlocking(pollFd, 1n, POLL_SLICE_MS);
  }
  return written;
}

/**
 * {@link readSome}, until `stopped()` holds: then resolves with null, within a quarter
 * second, whether or not anything arrives (poll(2) on a worker thread never waits longer
 * than that at once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe, readSomeUntil } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe();
 * assert.equal(await readSomeUntil(readEnd, new Uint8Array(16), () => true), null);
 * for (const fd of [readEnd, writeEnd]) closeFd(fd);
 * ```
 */
export function readSomeUntil(
  fd: number,
  buffer: Uint8Array<ArrayBuffer>,
  stopped: () => boolean,
): Promise<number | null> {
  const c = requireLibc();
  return readWhenReady(fd, () => c.read(fd, buffer, BigInt(buffer.length)), "read", stopped);
}

/**
 * Reads now on this thread (non-blocking, so its errno is this thread's own); while nothing
 * is there, waits with poll(2) on a worker thread, whose errno is never read (any failure
 * there just means "look again"), never more than a quarter second at once, lest a worker
 * be held past the run. Null once `stopped()` holds.
 */
async function readWhenReady(
  fd: number,
  readNow: () => number | bigint,
  call: string,
  stopped: () => boolean = () => false,
): Promise<number | null> {
  for (;;) {
    if (stopped()) return null;
    const count = Number(readNow());
    if (count >= 0) return count;
    const error = lastError(call);
    if (error.errno !== Errno.EAGAIN && error.errno !== Errno.EINTR) throw error;
    await readableSoon(fd);
  }
}

/**
 * Waits with poll(2) on a worker thread, never more than a quarter second (lest a worker be
 * held past the run), for `fd` to be readable, or at its end or failed; whether it is. The
 * worker's errno is never read: a failure there just means "look again".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closeFd, makePipe, readableSoon } from "./file_descriptors.ts";
 * const [readEnd, writeEnd] = makePipe();
 * assert.equal(await readableSoon(readEnd), false); // nothing in it: a quarter second
 * closeFd(writeEnd);
 * assert.equal(await readableSoon(readEnd), true); // at its end
 * closeFd(readEnd);
 * ```
 */
export async function readableSoon(fd: number): Promise<boolean> {
  const pollFd = new Uint8Array(8);
  const view = new DataView(pollFd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, POLLIN, true);
  return await requireLibc().pollBlocking(pollFd, 1n, POLL_SLICE_MS) > 0;
}
