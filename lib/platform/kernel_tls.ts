/**
 * Kernel TLS (Linux's `tls` module): once a TCP socket has the `tls` upper layer and its
 * keys (`TCP_ULP`, then `TLS_TX` and `TLS_RX` with TLS 1.3 and ChaCha20-Poly1305), plain
 * reads and writes on it carry sealed records, so the commands can hold the socket itself
 * and nothing is copied. The records are the ones `net/records.ts` makes, bit for bit.
 * socketpipe uses the module only where it is loaded: loading a kernel module is the
 * administrator's decision, never a side effect of a transfer.
 *
 * @module
 */
import { lastError, libc, requireLibc } from "./libc.ts";
import { IPPROTO_TCP } from "./tcp_socket_options.ts";

const TCP_ULP = 31;
const SOL_TLS = 282;
const TLS_TX = 1;
const TLS_RX = 2;
const TLS_1_3_VERSION = 0x0304;
const TLS_CIPHER_CHACHA20_POLY1305 = 54;
/** struct tls12_crypto_info_chacha20_poly1305: version, cipher, iv[12], key[32], rec_seq[8]. */
const CRYPTO_INFO_LENGTH = 4 + 12 + 32 + 8;
/** What each record adds to its data: header, content type, tag. */
export const RECORD_OVERHEAD = 5 + 1 + 16;

/** One direction's key and IV, as `net/records.ts` has them. */
export interface KernelTlsKeys {
  /** The ChaCha20-Poly1305 key (32 bytes). */
  key: Uint8Array;
  /** The IV (12 bytes). */
  iv: Uint8Array;
}

/**
 * Why this host cannot seal a socket in the kernel, or null when it can: Linux, libc
 * through FFI, and the `tls` module loaded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { kernelTlsUnavailable } from "./kernel_tls.ts";
 * import { libc } from "./libc.ts";
 * const loaded = (() => { try { return !!Deno.statSync("/proc/net/tls_stat"); } catch { return false; } })();
 * const why = kernelTlsUnavailable();
 * assert.equal(why === null, libc() !== null && loaded);
 * if (libc() && !loaded) assert.match(why!, /modprobe tls/);
 * ```
 */
export function kernelTlsUnavailable(): string | null {
  if (!libc()) return "no FFI for kernel TLS";
  try {
    Deno.statSync("/proc/net/tls_stat");
    return null;
  } catch {
    return "this host's kernel has no TLS loaded (as root, modprobe tls enables it)";
  }
}

function cryptoInfo(keys: KernelTlsKeys): Uint8Array {
  const info = new Uint8Array(CRYPTO_INFO_LENGTH);
  const view = new DataView(info.buffer);
  view.setUint16(0, TLS_1_3_VERSION, true);
  view.setUint16(2, TLS_CIPHER_CHACHA20_POLY1305, true);
  info.set(keys.iv, 4);
  info.set(keys.key, 16);
  return info; // the record sequence starts at 0
}

/**
 * Puts the `tls` upper layer on the connected socket `fd` and installs its keys: `send`
 * for what it writes, `receive` for what it reads. Returns null once the socket is
 * sealed. Where the kernel refuses before any key is in place (the upper layer, or the
 * first key: a kernel without this cipher, a sandbox that forbids it), returns why: the
 * socket then still carries plain bytes, so the userspace engine can seal them instead.
 * Throws a `LibcError` naming the step if it fails with one direction's key in place.
 *
 * @example Not run as a test: it needs a connected socket and the tls module.
 * ```ts ignore
 * import { sealInKernel } from "./kernel_tls.ts";
 * const refused = sealInKernel(fd, { send: keys.localToRemote, receive: keys.remoteToLocal });
 * ```
 */
export function sealInKernel(
  fd: number,
  keys: { send: KernelTlsKeys; receive: KernelTlsKeys },
): string | null {
  const c = requireLibc();
  const ulp = new TextEncoder().encode("tls");
  if (c.setsockopt(fd, IPPROTO_TCP, TCP_ULP, ulp, ulp.length) !== 0) {
    return lastError("setsockopt(TCP_ULP tls)").message;
  }
  // With the upper layer but no key yet, the socket reads and writes plain bytes.
  const send = cryptoInfo(keys.send);
  if (c.setsockopt(fd, SOL_TLS, TLS_TX, send, send.length) !== 0) {
    return lastError("setsockopt(TLS_TX)").message;
  }
  const receive = cryptoInfo(keys.receive);
  if (c.setsockopt(fd, SOL_TLS, TLS_RX, receive, receive.length) !== 0) {
    throw lastError("setsockopt(TLS_RX)");
  }
  return null;
}

/**
 * How many records the kernel has sealed on `fd` (`sent`) and opened (`received`), from
 * each direction's record sequence number: what turns the socket's byte counts, which
 * are the records', back into the data's.
 *
 * @example Not run as a test: it needs a socket sealed in the kernel.
 * ```ts ignore
 * import { kernelRecordCounts, RECORD_OVERHEAD } from "./kernel_tls.ts";
 * const { sent } = kernelRecordCounts(fd);
 * const dataSent = bytesAcked - sent * RECORD_OVERHEAD;
 * ```
 */
export function kernelRecordCounts(fd: number): { sent: number; received: number } {
  const c = requireLibc();
  const count = (option: number, name: string) => {
    const info = new Uint8Array(CRYPTO_INFO_LENGTH);
    const length = new Uint32Array([info.length]);
    if (c.getsockopt(fd, SOL_TLS, option, info, new Uint8Array(length.buffer)) !== 0) {
      throw lastError(`getsockopt(${name})`);
    }
    // rec_seq, big-endian, in the last 8 bytes.
    return Number(new DataView(info.buffer).getBigUint64(CRYPTO_INFO_LENGTH - 8, false));
  };
  return { sent: count(TLS_TX, "TLS_TX"), received: count(TLS_RX, "TLS_RX") };
}
