/**
 * Unix domain sockets through libc, for what Deno's own do not offer: the peer's user id
 * (SO_PEERCRED), and passing file descriptors to another process (SCM_RIGHTS). Every
 * socket here is non-blocking and close-on-exec; a wait is poll(2) on a worker thread, a
 * quarter second at a time, so that it can be given up. Linux (x86-64 and arm64 layouts
 * of `msghdr` and `cmsghdr`) only.
 *
 * Over 300 lines on purpose: the struct layouts (`sockaddr_un`, `msghdr`, `cmsghdr`,
 * `ucred`) are shared by every call here, and each call's example is a runnable test.
 *
 * @module
 */
import { Errno, lastErrno, lastError, LibcError, requireLibc } from "./libc.ts";
import { readableSoon } from "./file_descriptors.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const MSG_CTRUNC = 0x8;
const MSG_CMSG_CLOEXEC = 0x40000000;
/** sun_path's size: a longer path cannot be a socket's name. */
const SUN_PATH_BYTES = 108;
/** How many descriptors one message may carry here (stdin, stdout, stderr, and spare). */
const MAX_FDS = 4;

/** The address of the socket at `path`, as bind(2) and connect(2) take it. */
function addressOf(path: string): Uint8Array<ArrayBuffer> {
  const name = new TextEncoder().encode(path);
  if (name.length >= SUN_PATH_BYTES) {
    throw new Error(`${path}: too long for a socket's name (${SUN_PATH_BYTES - 1} bytes at most)`);
  }
  const address = new Uint8Array(2 + SUN_PATH_BYTES);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(name, 2);
  return address;
}

function newSocket(): number {
  const fd = requireLibc().socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw lastError("socket(AF_UNIX)");
  return fd;
}

/**
 * Makes a listening socket at `path` (which must not exist); returns its descriptor.
 * Who may connect is up to the directory it is in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenUnix } from "./unix_sockets.ts";
 * import { closeFd } from "./file_descriptors.ts";
 * const dir = Deno.makeTempDirSync();
 * const fd = listenUnix(`${dir}/s`);
 * assert.ok(Deno.statSync(`${dir}/s`).isSocket);
 * closeFd(fd);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function listenUnix(path: string): number {
  const address = addressOf(path);
  const fd = newSocket();
  const c = requireLibc();
  if (c.bind(fd, address, address.length) !== 0 || c.listen(fd, 8) !== 0) {
    const error = lastError(`listen(${path})`);
    c.close(fd);
    throw error;
  }
  return fd;
}

/**
 * Connects to the listening socket at `path`; returns the connection's descriptor.
 * Throws a {@link LibcError} (EACCES where its directory is not this user's, ENOENT
 * where nothing listens, EAGAIN where its queue is full).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectUnix } from "./unix_sockets.ts";
 * assert.throws(() => connectUnix("/nonexistent/s"), /no such file/);
 * ```
 */
export function connectUnix(path: string): number {
  const address = addressOf(path);
  const fd = newSocket();
  const c = requireLibc();
  if (c.connect(fd, address, address.length) !== 0) {
    const error = lastError(`connect(${path})`);
    c.close(fd);
    throw error;
  }
  return fd;
}

/**
 * Waits for a connection on `listening` and accepts it; null once `stopped()` holds
 * (found within a quarter second).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptUnix, connectUnix, listenUnix } from "./unix_sockets.ts";
 * import { closeFd } from "./file_descriptors.ts";
 * const dir = Deno.makeTempDirSync();
 * const listening = listenUnix(`${dir}/s`);
 * const connected = connectUnix(`${dir}/s`);
 * const accepted = await acceptUnix(listening, () => false);
 * assert.ok(accepted !== null && accepted > 2);
 * assert.equal(await acceptUnix(listening, () => true), null);
 * for (const fd of [accepted!, connected, listening]) closeFd(fd);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function acceptUnix(
  listening: number,
  stopped: () => boolean,
): Promise<number | null> {
  const c = requireLibc();
  for (;;) {
    if (stopped()) return null;
    const fd = c.accept4(listening, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    const errno = lastErrno();
    if (errno !== Errno.EAGAIN && errno !== Errno.EINTR && errno !== ECONNABORTED) {
      throw new LibcError("accept", errno);
    }
    await readableSoon(listening);
  }
}

const ECONNABORTED = 103;

/**
 * The user id of the process at the other end of a connected Unix socket, as the kernel
 * recorded it when the connection was made (SO_PEERCRED): no peer can claim another.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptUnix, connectUnix, listenUnix, peerUid } from "./unix_sockets.ts";
 * import { closeFd } from "./file_descriptors.ts";
 * const dir = Deno.makeTempDirSync();
 * const listening = listenUnix(`${dir}/s`);
 * const connected = connectUnix(`${dir}/s`);
 * const accepted = (await acceptUnix(listening, () => false))!;
 * assert.equal(peerUid(accepted), Deno.uid());
 * for (const fd of [accepted, connected, listening]) closeFd(fd);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function peerUid(fd: number): number {
  const credentials = new Uint32Array(3); // pid, uid, gid
  const length = new Uint32Array([credentials.byteLength]);
  const bytes = new Uint8Array(credentials.buffer);
  const sizeBytes = new Uint8Array(length.buffer);
  if (requireLibc().getsockopt(fd, SOL_SOCKET, SO_PEERCRED, bytes, sizeBytes) !== 0) {
    throw lastError("getsockopt(SO_PEERCRED)");
  }
  return credentials[1];
}

/** The address of `buffer`'s bytes, for a structure that points at it. */
function addressOfBytes(buffer: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** A `msghdr` pointing at `data` (one iovec) and `control`, and the buffers it points at. */
function messageHeader(data: Uint8Array<ArrayBuffer>, control: Uint8Array<ArrayBuffer>) {
  const iovec = new BigUint64Array([addressOfBytes(data), BigInt(data.length)]);
  const header = new Uint8Array(56);
  const view = new DataView(header.buffer);
  view.setBigUint64(16, addressOfBytes(new Uint8Array(iovec.buffer)), true); // msg_iov
  view.setBigUint64(24, 1n, true); // msg_iovlen
  view.setBigUint64(32, control.length ? addressOfBytes(control) : 0n, true); // msg_control
  view.setBigUint64(40, BigInt(control.length), true); // msg_controllen
  return { header, view, keep: [iovec, data, control] };
}

/**
 * Sends `bytes` and, with them, copies of the descriptors `fds` (SCM_RIGHTS): the
 * receiver gets its own descriptors of the same open files. Throws when not all of it
 * could be sent at once (the messages here are a few dozen bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptUnix, connectUnix, listenUnix, receiveWithFds, sendWithFds } from "./unix_sockets.ts";
 * import { closeFd, openDevNull } from "./file_descriptors.ts";
 * const dir = Deno.makeTempDirSync();
 * const listening = listenUnix(`${dir}/s`);
 * const connected = connectUnix(`${dir}/s`);
 * const accepted = (await acceptUnix(listening, () => false))!;
 * const devNull = openDevNull();
 * sendWithFds(connected, new Uint8Array([7]), [devNull]);
 * const received = (await receiveWithFds(accepted, 1, () => false))!;
 * assert.deepEqual([...received.bytes], [7]);
 * assert.equal(Deno.readLinkSync(`/proc/self/fd/${received.fds[0]}`), "/dev/null");
 * for (const fd of [...received.fds, devNull, accepted, connected, listening]) closeFd(fd);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function sendWithFds(fd: number, bytes: Uint8Array, fds: readonly number[]): void {
  if (fds.length > MAX_FDS) throw new Error(`at most ${MAX_FDS} descriptors at once`);
  const control = new Uint8Array(fds.length ? 16 + 8 * Math.ceil(fds.length / 2) : 0);
  if (fds.length) {
    const view = new DataView(control.buffer);
    view.setBigUint64(0, BigInt(16 + 4 * fds.length), true); // cmsg_len
    view.setInt32(8, SOL_SOCKET, true);
    view.setInt32(12, SCM_RIGHTS, true);
    fds.forEach((passed, index) => view.setInt32(16 + 4 * index, passed, true));
  }
  const data = new Uint8Array(bytes);
  const { header } = messageHeader(data, control);
  const sent = Number(requireLibc().sendmsg(fd, header, MSG_NOSIGNAL));
  if (sent < 0) throw lastError("sendmsg");
  if (sent !== data.length) throw new Error(`sendmsg: ${sent} of ${data.length} bytes sent`);
}

/**
 * Receives exactly `length` bytes, and the descriptors sent with them (close-on-exec
 * here); null once `stopped()` holds, or at end of file before `length` bytes. Throws on
 * a failed read, and where more descriptors came than one message may carry (those are
 * closed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptUnix, connectUnix, listenUnix, receiveWithFds } from "./unix_sockets.ts";
 * import { closeFd } from "./file_descriptors.ts";
 * const dir = Deno.makeTempDirSync();
 * const listening = listenUnix(`${dir}/s`);
 * const connected = connectUnix(`${dir}/s`);
 * const accepted = (await acceptUnix(listening, () => false))!;
 * closeFd(connected);
 * assert.equal(await receiveWithFds(accepted, 4, () => false), null); // end of file
 * for (const fd of [accepted, listening]) closeFd(fd);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function receiveWithFds(
  fd: number,
  length: number,
  stopped: () => boolean,
): Promise<{ bytes: Uint8Array; fds: number[] } | null> {
  const c = requireLibc();
  const bytes = new Uint8Array(length);
  const fds: number[] = [];
  let got = 0;
  while (got < length) {
    if (stopped()) return closedAll(fds);
    const chunk = new Uint8Array(length - got);
    const control = new Uint8Array(16 + 4 * MAX_FDS);
    const { header, view } = messageHeader(chunk, control);
    const count = Number(c.recvmsg(fd, header, MSG_CMSG_CLOEXEC));
    if (count < 0) {
      const errno = lastErrno();
      if (errno !== Errno.EAGAIN && errno !== Errno.EINTR) {
        closedAll(fds);
        throw new LibcError("recvmsg", errno);
      }
      await readableSoon(fd);
      continue;
    }
    if (count === 0) return closedAll(fds);
    fds.push(...descriptorsIn(control, Number(view.getBigUint64(40, true))));
    if (view.getInt32(48, true) & MSG_CTRUNC) {
      closedAll(fds);
      throw new Error("recvmsg: more descriptors came than expected");
    }
    bytes.set(chunk.subarray(0, count), got);
    got += count;
  }
  return { bytes, fds };
}

/** The descriptors SCM_RIGHTS messages in `control` carried. */
function descriptorsIn(control: Uint8Array<ArrayBuffer>, controlLength: number): number[] {
  const view = new DataView(control.buffer);
  const fds: number[] = [];
  for (let at = 0; at + 16 <= controlLength;) {
    const length = Number(view.getBigUint64(at, true));
    if (length < 16) break;
    if (view.getInt32(at + 8, true) === SOL_SOCKET && view.getInt32(at + 12, true) === SCM_RIGHTS) {
      for (let fd = at + 16; fd + 4 <= at + length; fd += 4) fds.push(view.getInt32(fd, true));
    }
    at += 8 * Math.ceil(length / 8);
  }
  return fds;
}

/** Closes every descriptor in `fds`; null, for the caller to return. */
function closedAll(fds: number[]): null {
  for (const fd of fds) requireLibc().close(fd);
  return null;
}

/**
 * Makes `target` a copy of `fd` (dup2): for this process's own stderr, say, to go where a
 * descriptor received from another process goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { duplicateOnto } from "./unix_sockets.ts";
 * import { closeFd, openDevNull } from "./file_descriptors.ts";
 * const a = openDevNull();
 * const b = openDevNull();
 * duplicateOnto(a, b);
 * assert.equal(Deno.readLinkSync(`/proc/self/fd/${b}`), "/dev/null");
 * closeFd(a);
 * closeFd(b);
 * ```
 */
export function duplicateOnto(fd: number, target: number): void {
  if (requireLibc().dup2(fd, target) < 0) throw lastError(`dup2(${fd}, ${target})`);
}
