/**
 * Where each half's CPU goes during one transfer over a local login: the seconds of its
 * main thread (with Deno's own threads) and of its copy engine's workers, sampled from
 * /proc/<pid>/task every 100 ms, with the transfer's MB/s. SHAPE is "in" (input → remote,
 * the default) or "out" (remote → output); BYTES the stream's size (default 2 GiB).
 *
 * ```sh
 * deno run -A bench/thread_cpu.ts --encrypt          # SHAPE=out BYTES=… to change
 * ```
 *
 * @module
 */
import { remoteHalfWithMarker } from "../tests/harness/run.ts";

const BYTES = Number(Deno.env.get("BYTES") ?? 2 * 1024 ** 3);
const SHAPE = Deno.env.get("SHAPE") ?? "in";
const DENO = Deno.execPath();
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const marker = `thread-cpu-${crypto.randomUUID().slice(0, 8)}`;
const zeros = `head -c ${BYTES} /dev/zero`;
// The remote command carries the marker, so that its half can be told from the rest.
const [producer, consumer] = SHAPE === "in"
  ? [["-i", "{", "sh", "-c", zeros, "}"], ["-r", "{", "sh", "-c", "exec wc -c", marker, "}"]]
  : [["-r", "{", "sh", "-c", `exec ${zeros}`, marker, "}"], ["-o", "{", "wc", "-c", "}"]];

/** Each thread's CPU seconds so far (utime + stime), by "half kind tid". */
function sampleThreads(half: string, pid: number, into: Map<string, number>): void {
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/stat`);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const kind = comm.startsWith("worker-") ? "copy engine's workers" : "main and Deno's threads";
      into.set(`${half}, ${kind} ${task.name}`, (Number(fields[11]) + Number(fields[12])) / 100);
    }
  } catch {
    // The half has ended: its last sample stands.
  }
}

const started = performance.now();
const child = new Deno.Command(DENO, {
  args: [
    ...["run", "-A", "--quiet", MAIN, ...Deno.args, ...producer],
    ...["-l", "{", "sh", "-c", 'eval "$*"', "sh", "}", "-h", "127.0.0.1"],
    ...["-x", "{", DENO, "run", "-A", "--quiet", MAIN, "}", ...consumer],
  ],
  stdout: "null",
  stderr: "inherit",
}).spawn();
let done = false;
const ended = child.status.finally(() => done = true);
const seconds = new Map<string, number>();
let remotePid: number | null = null;
while (!done) {
  remotePid ??= remoteHalfWithMarker(marker);
  sampleThreads("local", child.pid, seconds);
  if (remotePid) sampleThreads("remote", remotePid, seconds);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const { code } = await ended;
const wall = (performance.now() - started) / 1000;
const byKind = new Map<string, number>();
for (const [key, value] of seconds) {
  const kind = key.slice(0, key.lastIndexOf(" "));
  byKind.set(kind, (byKind.get(kind) ?? 0) + value);
}
console.log(
  `${Deno.args.join(" ") || "zero-copy"}, ${
    SHAPE === "in" ? "input → remote" : "remote → output"
  }: ` +
    `exit ${code}, ${wall.toFixed(2)} s, ${(BYTES / wall / 1e6).toFixed(0)} MB/s`,
);
for (const [kind, value] of [...byKind].sort()) {
  console.log(`  ${kind}: ${value.toFixed(2)} CPU s (${(value / (BYTES / 1e9)).toFixed(2)} s/GB)`);
}
