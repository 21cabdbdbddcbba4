/**
 * Every libc binding socketpipe makes, through the one `Deno.dlopen` here ({@link
 * bindLibc}), and how their failures are named. The zero-copy path's symbols are bound
 * once, when it is chosen ({@link libc}); the signal takeover and the login's ignored
 * SIGTSTP bind their few at start-up, where binding all of libc would delay the run.
 * Linux (glibc) only: the struct layouts and constants in the modules that use these
 * are Linux's.
 *
 * Deno runs a `nonblocking: true` symbol on a worker thread, and errno is per thread, so
 * errno is never read after one of those: the two here (`poll`, `waitpid`) are only ever
 * asked "ready?" or "done?", and the call whose errno matters is then made synchronously,
 * on this thread (see {@link lastError}).
 *
 * @module
 */
import { messageOf } from "../base/message_of.ts";
import { bytesOfWord } from "../base/words.ts";

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
  /** Blocks until the child ends: on a worker thread, so its errno is never read. */
  waitpidBlocking: {
    name: "waitpid",
    parameters: ["i32", "buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  /** Blocks until an fd is ready: on a worker thread, so its errno is never read. */
  pollBlocking: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  /** Blocks this thread until an fd is ready: for the copy engine's own worker threads. */
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  kill: { parameters: ["i32", "i32"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "isize" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The loaded libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** errno values socketpipe acts on (Linux). */
export const Errno = {
  ENOENT: 2,
  EINTR: 4,
  ENOEXEC: 8,
  EAGAIN: 11,
  EACCES: 13,
  EPIPE: 32,
} as const;

let loaded: Libc | null = null;
let loadError: string | null = null;

/**
 * Loads libc, once. Returns null, with {@link libcUnavailableReason} saying why, when
 * this is not Linux or FFI is not permitted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { libc, libcUnavailableReason } from "./libc.ts";
 * assert.equal(libc() === null, libcUnavailableReason() !== null);
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
    loaded = bindLibc(SYMBOLS);
  } catch (error) {
    loadError = `libc could not be loaded: ${messageOf(error)}`;
  }
  return loaded;
}

/**
 * Binds `symbols` of libc: the one place socketpipe opens it. Throws where this is not
 * Linux or FFI is not permitted; callers that can do without say so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindLibc } from "./libc.ts";
 * const { getpid } = bindLibc({ getpid: { parameters: [], result: "i32" } });
 * assert.equal(getpid(), Deno.pid);
 * ```
 */
export function bindLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] {
  return bindLibrary("libc.so.6", symbols);
}

/**
 * Binds `symbols` of the shared library `file` (libc, or OpenSSL's libcrypto): the one
 * `Deno.dlopen` of socketpipe. Throws where this is not Linux, FFI is not permitted or
 * the library is absent; callers that can do without say so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindLibrary } from "./libc.ts";
 * assert.throws(() => bindLibrary("libnothing-here.so.9", {}));
 * ```
 */
export function bindLibrary<S extends Deno.ForeignLibraryInterface>(
  file: string,
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] {
  if (Deno.build.os !== "linux") {
    throw new Error(`native bindings are for Linux, not ${Deno.build.os}`);
  }
  return Deno.dlopen(file, symbols).symbols;
}

/**
 * Why {@link libc} returned null, or null if it did not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { libc, libcUnavailableReason } from "./libc.ts";
 * libc();
 * assert.equal(libcUnavailableReason(), null); // else, e.g. "FFI is not permitted (…)"
 * ```
 */
export function libcUnavailableReason(): string | null {
  return loadError;
}

/**
 * libc, or an error saying why it is unavailable (for code that runs only once the
 * zero-copy path was chosen).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requireLibc } from "./libc.ts";
 * assert.equal(requireLibc().close(999), -1); // not open
 * ```
 */
export function requireLibc(): Libc {
  const symbols = libc();
  if (!symbols) throw new Error(loadError ?? "libc unavailable");
  return symbols;
}

/**
 * A failed libc call: which call, its errno, and the system's words for it
 * (`read: connection reset by peer`), never a bare number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Errno, LibcError } from "./libc.ts";
 * assert.deepEqual(new LibcError("open(/nope)", Errno.ENOENT).message, "open(/nope): no such file or directory");
 * ```
 */
export class LibcError extends Error {
  /** Makes the error for `call`, which failed with `errno`. */
  constructor(readonly call: string, readonly errno: number) {
    super(`${call}: ${describeErrno(errno)}`);
    this.name = "LibcError";
  }
}

/**
 * The error of the synchronous libc call just made on this thread. Only valid right after
 * a call that returned its failure value, and never after a `nonblocking` symbol, whose
 * errno is set on a worker thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lastError, requireLibc } from "./libc.ts";
 * if (requireLibc().close(999) !== 0) {
 *   assert.equal(lastError("close(999)").message, "close(999): bad file descriptor");
 * }
 * ```
 */
export function lastError(call: string): LibcError {
  return new LibcError(call, lastErrno());
}

/**
 * The errno of the synchronous libc call just made on this thread, as a number: for a
 * loop that meets EAGAIN at every turn, where building an error each time would cost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Errno, lastErrno, requireLibc } from "./libc.ts";
 * if (requireLibc().close(999) !== 0) assert.equal(lastErrno(), 9); // EBADF
 * assert.equal(typeof Errno.EAGAIN, "number");
 * ```
 */
export function lastErrno(): number {
  const pointer = requireLibc().__errno_location();
  return pointer ? new Deno.UnsafePointerView(pointer).getInt32() : 0;
}

/**
 * The system's description of an errno value, in lower case: 104 →
 * "connection reset by peer".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeErrno } from "./libc.ts";
 * assert.deepEqual(describeErrno(110), "connection timed out");
 * ```
 */
export function describeErrno(errno: number): string {
  const pointer = libc()?.strerror(errno);
  const text = pointer ? Deno.UnsafePointerView.getCString(pointer) : `system error ${errno}`;
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/**
 * A C string: the word's exact bytes (its UTF-8, and each byte that is not UTF-8 as it
 * was: `base/words.ts`) and a NUL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cString } from "./libc.ts";
 * assert.deepEqual(cString("sh").length, 3);
 * assert.deepEqual([...cString("\udcff\r")], [0xff, 0x0d, 0]);
 * ```
 */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  return bytesOfWord(`${text}\0`);
}

/**
 * A NULL-terminated array of pointers to C strings (which must stay alive while it is
 * used), as `argv` and `envp` are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cString, cStringArray } from "./libc.ts";
 * assert.equal(cStringArray([cString("sh"), cString("-c")]).length, 24); // three pointers
 * ```
 */
export function cStringArray(strings: Uint8Array<ArrayBuffer>[]): Uint8Array<ArrayBuffer> {
  const pointers = new BigUint64Array(strings.length + 1);
  strings.forEach((string, index) => {
    pointers[index] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(string)));
  });
  return new Uint8Array(pointers.buffer);
}
