/**
 * Provisioning the remote half: with no `-x`, the login runs the bootstrap (see
 * `remote_bootstrap.ts`) instead of `socketpipe`, and this half sends it, on the same login
 * channel, what it lacks: this version's bundle and, when the remote host has no Deno of
 * the same version, the runtime this process runs on. Each is checked by sha256 there and
 * cached, so that the next run sends nothing.
 *
 * Over 300 lines on purpose: it is one conversation with the bootstrap, read in its
 * order (prepare, name the bundle, hear the need, say what goes, send each payload).
 *
 * @module
 */
import { REAL_CLOCK } from "../base/clock.ts";
import { messageOf } from "../base/message_of.ts";
import { Fault, FAULTS } from "../base/faults.ts";
import { type Bundle, localBundle } from "./local_bundle.ts";
import type { StepLog } from "../base/log.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import { formatBytes, formatDuration } from "../progress/progress.ts";
import type { NeedMessage } from "../login/protocol.ts";
import { bootstrapWords, scriptForLoader } from "./remote_bootstrap.ts";
import { PROTOCOL_VERSION, VERSION } from "../base/version.ts";

/**
 * How the remote half is found: "never" (only `socketpipe` on the remote PATH), "auto"
 * (what is cached or installed there, else sent), "always" (sent again).
 */
export type { ProvisionMode } from "../session/command_line_options.ts";

/** A provisioning run's bootstrap words and its bundle, which may still be on its way. */
export interface Provisioning {
  /** What the login runs on the remote host, before the remote half's arguments. */
  words: string[];
  /** The bundle to name and send if asked (found or built while the login starts), or why none. */
  bundle: Promise<Bundle | Fault>;
  /** What provisioning is doing now, for the line that says where it stalled. */
  step: string;
  /** The payload being sent and how many bytes the login took of it, while one is. */
  sending?: { what: string; sent: number };
  /** Each payload sent whole: its size, and the bytes it took on the login channel. */
  sent: Partial<Record<"bundle" | "runtime", { bytes: number; sent: number }>>;
  /** The payload being sent now, for a status line or a meter; absent between payloads. */
  progress?: ProvisionProgress;
}

/** How far the payload being sent has come. */
export interface ProvisionProgress {
  /** Which payload. */
  what: "bundle" | "runtime";
  /** Bytes of it read and sent so far (before compression). */
  bytes: number;
  /** Its size. */
  size: number;
  /** Seconds since its send began. */
  seconds: number;
}

/**
 * The line a status request or a meter shows while a payload goes out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { provisionProgressLine } from "./provision.ts";
 * assert.equal(
 *   provisionProgressLine({ what: "runtime", bytes: 52428800, size: 104857600, seconds: 2 }),
 *   "provision: sending the runtime: 50.0 MiB of 100 MiB, 50%, 25.0 MiB/s, 0:00:02",
 * );
 * ```
 */
export function provisionProgressLine(progress: ProvisionProgress): string {
  const { what, bytes, size, seconds } = progress;
  const percent = size > 0 ? `, ${Math.floor(bytes / size * 100)}%` : "";
  const rate = seconds > 0 ? `, ${formatBytes(bytes / seconds)}/s` : "";
  return `provision: sending the ${what}: ${formatBytes(bytes)} of ${formatBytes(size)}` +
    `${percent}${rate}, ${formatDuration(seconds)}`;
}

/** Payloads go in chunks of this size: each is one exact read on the remote host. */
const CHUNK_BYTES = 1 << 20;
/** The most written at once: what the login takes of a payload shows the link lives. */
const SIGN_BYTES = 64 * 1024;

/**
 * Prepares provisioning in `mode` ("auto" or "always"): the bootstrap's words at once, and
 * the bundle in the background, off the login's critical path. The bootstrap ends itself
 * once a payload stops arriving for `peerTimeout` seconds (0: never), and keeps what it is
 * sent in `cacheDir` ("": the first of its standard places that can run it).
 *
 * @example Not run as a test: it builds the bundle, which may download esbuild.
 * ```ts ignore
 * import { prepareProvisioning } from "./provision.ts";
 * const provisioning = prepareProvisioning("auto", log, 20);
 * ```
 */
export function prepareProvisioning(
  mode: "auto" | "always",
  log: StepLog,
  peerTimeout: number,
  cacheDir = "",
): Provisioning {
  const bundle = localBundle().then((found) => {
    if (!(found instanceof Fault)) {
      log.step(`provision: bundle ${found.sha256.slice(0, 16)} (${found.origin})`);
    }
    return found;
  }, (error) => FAULTS.cannotProvision.of(`cannot make the bundle: ${messageOf(error)}`));
  const words = bootstrapWords({
    protocol: PROTOCOL_VERSION,
    denoVersion: Deno.version.deno,
    platform: unamePlatform(),
    mode,
    peerTimeout: Math.ceil(peerTimeout),
    runtimeSize: runtimeSize(),
    cacheDir,
  });
  return { words, bundle, step: "sending the bootstrap", sent: {} };
}

/**
 * Names the bundle to the bootstrap (its first line of input), then sends what its `need`
 * message asks for. Null when all was sent, or when the channel closed first (the meeting
 * names that end); else the fault. The `need` comes through `channel`.
 *
 * @example Not run as a test: it needs a bootstrap on a login channel.
 * ```ts ignore
 * import { provisionRemote } from "./provision.ts";
 * const fault = await provisionRemote(provisioning, channel, log);
 * ```
 */
export async function provisionRemote(
  provisioning: Provisioning,
  channel: LoginChannel,
  log: StepLog,
): Promise<Fault | null> {
  await channel.sendBytes(scriptForLoader()); // the loader on the command line reads it
  const bundle = await provisioning.bundle;
  if (bundle instanceof Fault) return bundle;
  const entry = `${VERSION}-${bundle.sha256.slice(0, 16)}`;
  await channel.sendBytes(new TextEncoder().encode(`${entry} ${bundle.sha256}\n`));
  provisioning.step = "waiting for the bootstrap to say what it needs";
  const need = await channel.first("need");
  if (!need) return null;
  const fault = await serveNeed(need, bundle, channel, log, provisioning);
  provisioning.step = "waiting for the remote half to start";
  return fault;
}

/**
 * The line said before anything is sent: what, how large, and where; null when nothing is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { provisionNotice } from "./provision.ts";
 * const need = { event: "need" as const, bundle: true, runtime: true, gzip: true, using: "",
 *   cache: "/home/u/.cache/socketpipe" };
 * assert.match(
 *   provisionNotice(need, 133120, 104857600)!,
 *   /: the bundle \(130 KiB\) and the Deno \S+ runtime \(100 MiB, compressed as it goes\) to \/home\/u\/\.cache\/socketpipe on the remote host, once/,
 * );
 * assert.equal(provisionNotice({ ...need, bundle: false, runtime: false }, 0, 0), null);
 * ```
 */
export function provisionNotice(
  need: NeedMessage,
  bundleBytes: number,
  runtimeBytes: number,
): string | null {
  const compressed = need.gzip ? ", compressed as it goes" : "";
  const parts = [
    ...(need.bundle ? [`the bundle (${formatBytes(bundleBytes)})`] : []),
    ...(need.runtime
      ? [`the Deno ${Deno.version.deno} runtime (${formatBytes(runtimeBytes)}${compressed})`]
      : []),
  ];
  if (parts.length === 0) return null;
  const where = need.cache ? `to ${need.cache} on the remote host` : "to the remote host";
  return `provision: sending socketpipe ${VERSION}: ${parts.join(" and ")} ${where}, once ` +
    `(later runs use what is kept there)`;
}

/** The size of the runtime this process runs on (what would be sent), or 0 if unknown. */
function runtimeSize(): number {
  try {
    return Deno.statSync(Deno.execPath()).size;
  } catch {
    return 0;
  }
}

/**
 * This host's platform as `uname -sm` prints it ("Linux x86_64"): the runtime this
 * process runs on can be sent only to a host of the same.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unamePlatform } from "./provision.ts";
 * assert.match(unamePlatform(), /^Linux (x86_64|aarch64)$/); // as `uname -sm` says it
 * ```
 */
export function unamePlatform(): string {
  const system = Deno.build.os === "darwin"
    ? "Darwin"
    : Deno.build.os.charAt(0).toUpperCase() + Deno.build.os.slice(1);
  return `${system} ${Deno.build.arch}`;
}

/**
 * Sends the bootstrap what its `need` message asks for: the bundle, then the runtime,
 * compressed when it can decompress. Null when all was sent; else the fault.
 */
async function serveNeed(
  need: NeedMessage,
  bundle: Bundle,
  channel: LoginChannel,
  log: StepLog,
  provisioning: Provisioning,
): Promise<Fault | null> {
  log.step(`provision: the remote host uses ${need.using}`);
  // A cached file that failed its check is news even without -v: it is replaced, once.
  if (need.replaced) log.always(`provision: ${need.replaced}`);
  // Never a surprise for the host's administrator: what goes there, how much, and where,
  // said before it is sent (not only with -v).
  const runtimeBytes = need.runtime ? runtimeSize() : 0;
  const notice = provisionNotice(need, bundle.bytes.length, runtimeBytes);
  if (notice) log.always(notice);
  if (need.bundle) {
    const source = ReadableStream.from([bundle.bytes]);
    const size = bundle.bytes.length;
    const fault = await sendPayload("bundle", source, size, need.gzip, channel, log, provisioning);
    if (fault) return fault;
  }
  if (need.runtime) {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(Deno.execPath());
    } catch (error) {
      return FAULTS.cannotProvision.of(`cannot read ${Deno.execPath()}: ${messageOf(error)}`);
    }
    const fault = await sendPayload(
      "runtime",
      file.readable,
      runtimeBytes,
      need.gzip,
      channel,
      log,
      provisioning,
    );
    if (fault) return fault;
  }
  return null;
}

/** One payload: its header, its chunks (each compressed on its own), its sha256. */
async function sendPayload(
  name: "bundle" | "runtime",
  source: ReadableStream<Uint8Array>,
  size: number,
  gzip: boolean,
  channel: LoginChannel,
  log: StepLog,
  provisioning: Provisioning,
): Promise<Fault | null> {
  const started = REAL_CLOCK.now();
  // Loaded only here, on a first run: Node's modules cost every start-up some 20 ms.
  const { createHash } = await import("node:crypto");
  const { gzipSync } = await import("node:zlib");
  const hash = createHash("sha256");
  const encoder = new TextEncoder();
  let bytes = 0;
  let sent = 0;
  // In pieces the size of a pipe: each piece ssh takes is a sign of the link, so that a
  // send stalled by a cut link is found within --peer-timeout, and a slow one is not.
  const send = async (data: Uint8Array) => {
    for (let at = 0; at < data.length; at += SIGN_BYTES) {
      const piece = data.subarray(at, at + SIGN_BYTES);
      if (!await channel.sendBytes(piece)) throw FAULTS.provisionCutOff.of(name, sent);
      sent += piece.length;
      provisioning.step = `sending the ${name} (${sent} bytes taken)`;
      provisioning.sending = { what: name, sent };
    }
  };
  provisioning.progress = { what: name, bytes: 0, size, seconds: 0 };
  try {
    await send(encoder.encode(`socketpipe-payload ${name} ${gzip ? "gzip" : "raw"}\n`));
    for await (const chunk of inChunks(source, CHUNK_BYTES)) {
      hash.update(chunk);
      bytes += chunk.length;
      const seconds = (REAL_CLOCK.now() - started) / 1000;
      provisioning.progress = { what: name, bytes, size, seconds };
      const payload = gzip ? gzipSync(chunk, { level: 1 }) : chunk;
      await send(encoder.encode(`${payload.length}\n`));
      await send(payload);
    }
    await send(encoder.encode(`0 ${hash.digest("hex")}\n`));
    provisioning.sending = undefined;
    provisioning.progress = undefined;
    provisioning.sent[name] = { bytes, sent };
  } catch (error) {
    await source.cancel().catch(() => {});
    // A cut-off send leaves the loop as its fault; anything else is the source's.
    if (error instanceof Fault) return error;
    return FAULTS.cannotProvision.of(`reading the ${name}: ${messageOf(error)}`);
  }
  const seconds = (REAL_CLOCK.now() - started) / 1000;
  log.step(
    `provision: sent the ${name}: ${bytes} bytes as ${sent} in ${seconds.toFixed(2)} s`,
  );
  return null;
}

/** The stream's bytes in chunks of `size` (the last may be shorter). */
async function* inChunks(
  source: ReadableStream<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(size);
  let filled = 0;
  for await (let piece of source) {
    while (piece.length > 0) {
      const taken = Math.min(size - filled, piece.length);
      buffer.set(piece.subarray(0, taken), filled);
      filled += taken;
      piece = piece.subarray(taken);
      if (filled === size) {
        yield buffer;
        buffer = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}
