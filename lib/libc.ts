/**
 * The few libc calls the zero-copy path needs, through Deno FFI. Linux (glibc) only: the
 * struct layouts and constants below are Linux's. Everything here is synchronous and
 * cheap except {@link waitForExit} and {@link readSome}, which block on a worker thread.
 *
 * @module
 */
import { signalName } from "./command_status.ts";

const SYMBOLS = {
  posix_spawnp: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  sigemptyset: { parameters: ["buffer"], result: "i32" },
  sigfillset: { parameters: ["buffer"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

// Linux constants.
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const F_GETFL = 3;
const F_SETFL = 4;
const EPOLL_CTL_DEL = 2;
const O_NONBLOCK = 0o4000;
const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const SHUT_WR = 1;
const SHUT_RDWR = 2;
const FIONREAD = 0x541b;
const IPPROTO_TCP = 6;
const TCP_INFO = 11;
const SOL_SOCKET = 1;
const SO_KEEPALIVE = 9;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const TCP_USER_TIMEOUT = 18;
/** Opaque libc structs: more room than glibc needs (80, 336 and 128 bytes). */
const OPAQUE_SIZE = 1024;

let loaded: Libc | null = null;
let loadError: string | null = null;

/**
 * Loads libc, once. Returns null, with {@link libcUnavailableReason} saying why, when
 * this is not Linux or FFI is not permitted.
 *
 * @example
 * ```ts
 * import { libc, libcUnavailableReason } from "./libc.ts";
 * if (!libc()) console.error(libcUnavailableReason());
 * ```
 */
export function libc(): Libc | null {
  if (loaded || loadError) return loaded;
  if (Deno.build.os !== "linux") {
    loadError = `the zero-copy path is implemented for Linux only, not ${Deno.build.os}`;
    return null;
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    loadError = "FFI is not permitted (run with --allow-ffi or -A for the zero-copy path)";
    return null;
  }
  try {
    loaded = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (error) {
    loadError = `libc could not be loaded: ${error instanceof Error ? error.message : error}`;
  }
  return loaded;
}

/**
 * Why {@link libc} returned null, or null if it did not.
 *
 * @example
 * ```ts
 * import { libcUnavailableReason } from "./libc.ts";
 * libcUnavailableReason(); // e.g. "FFI is not permitted (…)"
 * ```
 */
export function libcUnavailableReason(): string | null {
  return loadError;
}

function must(): Libc {
  const symbols = libc();
  if (!symbols) throw new Error(loadError ?? "libc unavailable");
  return symbols;
}

function errno(): number {
  const pointer = must().__errno_location();
  return pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
}

const encoder = new TextEncoder();

function cString(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${text}\0`);
}

/** A NULL-terminated array of pointers to the given C strings (which must stay alive). */
function pointerArray(strings: Uint8Array<ArrayBuffer>[]): Uint8Array<ArrayBuffer> {
  const pointers = new BigUint64Array(strings.length + 1);
  strings.forEach((string, index) => {
    pointers[index] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(string)));
  });
  return new Uint8Array(pointers.buffer);
}

/** Where a spawned command's stdin, stdout and stderr come from: file descriptors. */
export interface SpawnFds {
  stdin: number;
  stdout: number;
  stderr: number;
}

/**
 * Starts `argv` (looked up on PATH) with the given file descriptors as its stdin, stdout
 * and stderr, this process's environment, every signal at its default disposition
 * (SIGPIPE above all) and an empty signal mask. Returns the pid; throws with the cause.
 *
 * @example
 * ```ts
 * import { spawnWithFds, waitForExit } from "./libc.ts";
 * const pid = spawnWithFds(["true"], { stdin: 0, stdout: 1, stderr: 2 });
 * console.log(await waitForExit(pid)); // { status: 0, signal: null, failedToStart: null }
 * ```
 */
export function spawnWithFds(argv: readonly string[], fds: SpawnFds): number {
  const c = must();
  const actions = new Uint8Array(OPAQUE_SIZE);
  const attributes = new Uint8Array(OPAQUE_SIZE);
  const allSignals = new Uint8Array(OPAQUE_SIZE);
  const noSignals = new Uint8Array(OPAQUE_SIZE);
  c.posix_spawn_file_actions_init(actions);
  c.posix_spawnattr_init(attributes);
  try {
    // dup2 onto 0, 1, 2 in an order that cannot clobber a source still needed.
    for (const [target, source] of [[0, fds.stdin], [1, fds.stdout], [2, fds.stderr]]) {
      if (source !== target) c.posix_spawn_file_actions_adddup2(actions, source, target);
    }
    c.sigfillset(allSignals);
    c.sigemptyset(noSignals);
    c.posix_spawnattr_setsigdefault(attributes, allSignals);
    c.posix_spawnattr_setsigmask(attributes, noSignals);
    c.posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    const argvStrings = argv.map(cString);
    const environment = Object.entries(Deno.env.toObject()).map(([k, v]) => cString(`${k}=${v}`));
    const pid = new Int32Array(1);
    const result = c.posix_spawnp(
      new Uint8Array(pid.buffer),
      argvStrings[0],
      actions,
      attributes,
      pointerArray(argvStrings),
      pointerArray(environment),
    );
    if (result !== 0) throw new SpawnError(result);
    return pid[0];
  } finally {
    c.posix_spawn_file_actions_destroy(actions);
    c.posix_spawnattr_destroy(attributes);
  }
}

/**
 * posix_spawnp's failure, with its errno (ENOENT = 2 when the command is not found).
 *
 * @example
 * ```ts
 * import { SpawnError } from "./libc.ts";
 * new SpawnError(2).notFound; // true
 * ```
 */
export class SpawnError extends Error {
  /** Whether the command was not found on PATH. */
  readonly notFound: boolean;
  /** Makes the error from posix_spawnp's result code. */
  constructor(readonly code: number) {
    super(code === 2 ? "not found" : code === 13 ? "permission denied" : `errno ${code}`);
    this.notFound = code === 2;
  }
}

/**
 * Waits, on a worker thread, for a child to end; resolves with its exit status and, if a
 * signal ended it, the signal's name.
 *
 * @example
 * ```ts
 * import { spawnWithFds, waitForExit } from "./libc.ts";
 * const pid = spawnWithFds(["sh", "-c", "exit 3"], { stdin: 0, stdout: 1, stderr: 2 });
 * (await waitForExit(pid)).status; // 3
 * ```
 */
export async function waitForExit(
  pid: number,
): Promise<{ status: number; signal: string | null; failedToStart: null }> {
  const status = new Int32Array(1);
  for (;;) {
    const result = await must().waitpid(pid, new Uint8Array(status.buffer), 0);
    if (result === pid) break;
    if (result === -1 && errno() !== 4) throw new Error(`waitpid(${pid}) failed: errno ${errno()}`);
  }
  const raw = status[0];
  const signal = raw & 0x7f;
  if (signal === 0) return { status: (raw >> 8) & 0xff, signal: null, failedToStart: null };
  return {
    status: 128 + signal,
    signal: signalName(signal),
    failedToStart: null,
  };
}

/**
 * Sends signal number `signal` to `pid`; ignores a process that has already ended.
 *
 * @example
 * ```ts
 * import { signalProcess } from "./libc.ts";
 * signalProcess(12345, 15);
 * ```
 */
export function signalProcess(pid: number, signal: number): void {
  must().kill(pid, signal);
}

/**
 * Opens /dev/null for reading and writing; returns the file descriptor.
 *
 * @example
 * ```ts
 * import { closeFd, openDevNull } from "./libc.ts";
 * const fd = openDevNull();
 * closeFd(fd);
 * ```
 */
export function openDevNull(): number {
  const fd = must().open(cString("/dev/null"), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw new Error(`open(/dev/null) failed: errno ${errno()}`);
  return fd;
}

/**
 * Makes a pipe whose ends are closed on exec; returns [read end, write end].
 *
 * @example
 * ```ts
 * import { makePipe } from "./libc.ts";
 * const [readEnd, writeEnd] = makePipe();
 * ```
 */
export function makePipe(): [number, number] {
  const fds = new Int32Array(2);
  if (must().pipe2(new Uint8Array(fds.buffer), O_CLOEXEC) !== 0) {
    throw new Error(`pipe2 failed: errno ${errno()}`);
  }
  return [fds[0], fds[1]];
}

/**
 * Closes a file descriptor.
 *
 * @example
 * ```ts
 * import { closeFd } from "./libc.ts";
 * closeFd(99);
 * ```
 */
export function closeFd(fd: number): void {
  must().close(fd);
}

/**
 * Finds the file descriptor of a TCP connection, which Deno does not expose, by matching
 * its local and peer ports with getsockname and getpeername.
 *
 * @example
 * ```ts
 * import { socketFdOf } from "./libc.ts";
 * declare const conn: Deno.TcpConn;
 * const fd = socketFdOf(conn);
 * ```
 */
export function socketFdOf(conn: Deno.TcpConn): number {
  const c = must();
  const matches: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (
      portOf(c.getsockname, fd) === conn.localAddr.port &&
      portOf(c.getpeername, fd) === conn.remoteAddr.port
    ) {
      matches.push(fd);
    }
  }
  if (matches.length !== 1) {
    throw new Error(`found ${matches.length} file descriptors for the data connection, expected 1`);
  }
  return matches[0];
}

function portOf(call: Libc["getsockname"], fd: number): number | null {
  const address = new Uint8Array(128);
  const length = new Uint32Array([128]);
  if (call(fd, address, new Uint8Array(length.buffer)) !== 0) return null;
  const family = address[0] | (address[1] << 8);
  if (family !== 2 && family !== 10) return null; // AF_INET, AF_INET6
  return (address[2] << 8) | address[3];
}

/**
 * Removes a file descriptor from every epoll set of this process (Deno's event loop),
 * so that data arriving on it no longer wakes the loop. The descriptor stays open.
 *
 * @example
 * ```ts
 * import { detachFromEventLoops } from "./libc.ts";
 * detachFromEventLoops(3);
 * ```
 */
export function detachFromEventLoops(fd: number): void {
  const c = must();
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`) === "anon_inode:[eventpoll]") {
        c.epoll_ctl(Number(entry.name), EPOLL_CTL_DEL, fd, null);
      }
    } catch {
      // Closed meanwhile.
    }
  }
}

/**
 * Puts a file descriptor in blocking mode, as commands expect of their stdin and stdout.
 *
 * @example
 * ```ts
 * import { setBlocking } from "./libc.ts";
 * setBlocking(3);
 * ```
 */
export function setBlocking(fd: number): void {
  const c = must();
  const flags = c.fcntl(fd, F_GETFL, 0);
  if (flags < 0 || c.fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
    throw new Error(`fcntl(${fd}) failed: errno ${errno()}`);
  }
}

/**
 * Shuts the sending side of a socket: the peer reads end of file once the data already
 * sent arrives, and whoever writes to the socket after this gets EPIPE (and SIGPIPE).
 *
 * @example
 * ```ts
 * import { shutdownWrite } from "./libc.ts";
 * shutdownWrite(3);
 * ```
 */
export function shutdownWrite(fd: number): void {
  must().shutdown(fd, SHUT_WR);
}

/**
 * Shuts both sides of a socket: pending and later reads return end of file, writes fail.
 *
 * @example
 * ```ts
 * import { shutdownBoth } from "./libc.ts";
 * shutdownBoth(3);
 * ```
 */
export function shutdownBoth(fd: number): void {
  must().shutdown(fd, SHUT_RDWR);
}

/**
 * Reads up to `buffer.length` bytes on a worker thread (the socket is blocking). Resolves
 * with the count, 0 at end of file; throws on error.
 *
 * @example
 * ```ts
 * import { readSome } from "./libc.ts";
 * const count = await readSome(3, new Uint8Array(65536));
 * ```
 */
export async function readSome(fd: number, buffer: Uint8Array<ArrayBuffer>): Promise<number> {
  for (;;) {
    const count = Number(await must().read(fd, buffer, BigInt(buffer.length)));
    if (count >= 0) return count;
    const code = errno();
    if (code !== 4) {
      throw new Error(code === 104 ? "connection reset by peer" : `read failed: errno ${code}`);
    }
  }
}

/**
 * Bytes received on a socket and not yet read.
 *
 * @example
 * ```ts
 * import { unreadBytes } from "./libc.ts";
 * unreadBytes(3); // e.g. 0
 * ```
 */
export function unreadBytes(fd: number): number {
  const count = new Int32Array(1);
  return must().ioctl(fd, BigInt(FIONREAD), new Uint8Array(count.buffer)) === 0 ? count[0] : 0;
}

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
}

/**
 * Reads TCP_INFO for a socket.
 *
 * @example
 * ```ts
 * import { tcpInfo } from "./libc.ts";
 * tcpInfo(3).bytesReceived;
 * ```
 */
export function tcpInfo(fd: number): TcpInfo {
  const info = new Uint8Array(256);
  const length = new Uint32Array([256]);
  if (must().getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, new Uint8Array(length.buffer)) !== 0) {
    throw new Error(`getsockopt(TCP_INFO) failed: errno ${errno()}`);
  }
  const view = new DataView(info.buffer);
  return {
    state: info[0],
    unacked: view.getUint32(24, true),
    bytesAcked: Number(view.getBigUint64(120, true)),
    bytesReceived: Number(view.getBigUint64(128, true)),
  };
}

/**
 * Bounds how long a TCP connection outlives a dead peer: keepalive probes after
 * `seconds` / 3 of silence (three, `seconds` / 9 apart), and at most `seconds` for sent
 * data to be acknowledged (TCP_USER_TIMEOUT). A dead peer then fails reads and writes on
 * the socket with ETIMEDOUT within about `seconds`; a live but idle one answers probes.
 *
 * @example
 * ```ts
 * import { setPeerTimeout } from "./libc.ts";
 * setPeerTimeout(3, 20);
 * ```
 */
export function setPeerTimeout(fd: number, seconds: number): void {
  const c = must();
  const set = (level: number, option: number, value: number) => {
    const buffer = new Int32Array([value]);
    if (c.setsockopt(fd, level, option, new Uint8Array(buffer.buffer), 4) !== 0) {
      throw new Error(`setsockopt(${option}) failed: errno ${errno()}`);
    }
  };
  set(SOL_SOCKET, SO_KEEPALIVE, 1);
  set(IPPROTO_TCP, TCP_KEEPIDLE, Math.max(1, Math.floor(seconds / 3)));
  set(IPPROTO_TCP, TCP_KEEPINTVL, Math.max(1, Math.floor(seconds / 9)));
  set(IPPROTO_TCP, TCP_KEEPCNT, 3);
  set(IPPROTO_TCP, TCP_USER_TIMEOUT, Math.round(seconds * 1000));
}
