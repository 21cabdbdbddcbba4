/**
 * Peak memory of each half over a long stream: socketpipe moves BYTES (default 16 GiB) of
 * zeros each way at once (input → remote → output) over a local login, with the options
 * given (e.g. `--encrypt`, `--copy`), and samples each half's peak RSS (VmHWM) from /proc
 * while it runs. Memory must not grow with the stream: the figures should match a short
 * run's.
 *
 * ```sh
 * deno run -A bench/peak_memory.ts [--encrypt|--copy …]     # BYTES=… to change the size
 * ```
 *
 * @module
 */
import { peakRssMb, remoteHalfWithMarker } from "../tests/harness/run.ts";

const BYTES = Number(Deno.env.get("BYTES") ?? 16 * 1024 ** 3);
const DENO = Deno.execPath();
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const marker = `peak-memory-${crypto.randomUUID().slice(0, 8)}`;

const started = performance.now();
const child = new Deno.Command(DENO, {
  args: [
    "run",
    "-A",
    "--quiet",
    MAIN,
    ...Deno.args,
    ...["-i", "{", "head", "-c", String(BYTES), "/dev/zero", "}"],
    ...["-l", "{", "sh", "-c", 'eval "$*"', "sh", "}", "-h", "127.0.0.1"],
    ...["-x", "{", DENO, "run", "-A", "--quiet", MAIN, "}"],
    ...["-r", "{", "sh", "-c", "exec cat", marker, "}"],
    ...["-o", "{", "wc", "-c", "}"],
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
let done = false;
const output = child.output().finally(() => done = true);
let local = 0;
let remote = 0;
let remotePid: number | null = null;
while (!done) {
  local = Math.max(local, peakRssMb(child.pid));
  remotePid ??= remoteHalfWithMarker(marker);
  if (remotePid) remote = Math.max(remote, peakRssMb(remotePid));
  await new Promise((resolve) => setTimeout(resolve, 200));
}
const { code, stdout } = await output;
const seconds = (performance.now() - started) / 1000;
const delivered = Number(new TextDecoder().decode(stdout).trim());
console.log(
  `${Deno.args.join(" ") || "zero-copy"}: ${(BYTES / 2 ** 30).toFixed(1)} GiB each way, ` +
    `exit ${code}, ${delivered === BYTES ? "whole" : `${delivered} bytes arrived`}, ` +
    `${seconds.toFixed(1)} s; peak RSS local ${local.toFixed(1)} MB, remote ${
      remote.toFixed(1)
    } MB`,
);
