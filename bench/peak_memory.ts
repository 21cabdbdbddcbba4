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
const BYTES = Number(Deno.env.get("BYTES") ?? 16 * 1024 ** 3);
const DENO = Deno.execPath();
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const marker = `peak-memory-${crypto.randomUUID().slice(0, 8)}`;

/** A process's peak RSS in MB, or 0 once it is gone. */
function peakRssMb(pid: number): number {
  try {
    const match = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmHWM:\s+(\d+) kB/m);
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** The remote half: the Deno process whose command line ends with the marked command. */
function remoteHalfPid(): number | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const words = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      const comm = Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim();
      if (comm === "deno" && words.includes("-s") && words.includes(marker)) {
        return Number(entry.name);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}

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
  remotePid ??= remoteHalfPid();
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
