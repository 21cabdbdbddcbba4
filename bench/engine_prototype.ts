/**
 * The first measurement for a copy engine off the main thread: one direction of the stream path (a command's stdout into
 * the data socket), moved by today's loop on the main thread (the pipe read through a
 * helper thread, `conn.write`, records sealed in between) against a worker of its own with
 * blocking `read` and `write` through FFI. The bytes come from `head -c` into a pipe and go
 * to a `cat` that holds the other end of a loopback connection, so that neither end is
 * JavaScript. Prints MB/s for each engine, plain and sealed.
 *
 * ```sh
 * deno run -A bench/engine_prototype.ts [bytes]     # default 2 GiB
 * ```
 *
 * @module
 */
import {
  closeFd,
  makePipe,
  openDevNull,
  readSome,
  setBlocking,
} from "../lib/platform/file_descriptors.ts";
import { detachFromEventLoops, socketFdOf } from "../lib/platform/deno_internals.ts";
import { spawnWithFds, waitForExit } from "../lib/platform/spawn_with_fds.ts";
import { writeAll } from "../lib/net/conn_io.ts";
import { RecordSealer, sealedLength } from "../lib/net/records.ts";
import { readyUserspaceCipher } from "../lib/net/record_cipher.ts";

const BYTES = Number(Deno.args[0] ?? 2 * 1024 ** 3);
const PIECE = 256 * 1024;
const KEYS = { key: new Uint8Array(32).fill(7), iv: new Uint8Array(12).fill(9) };

/** This process's CPU seconds so far, all its threads (utime + stime, at 100 ticks a second). */
function cpuSeconds(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A source pipe fed by `head`, a socket drained by `cat`; runs `move` between them. */
async function measure(
  name: string,
  move: (from: number, conn: Deno.TcpConn) => Promise<number>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const far = await listener.accept();
  listener.close();
  const devNull = openDevNull();
  // cat reads the socket itself: blocking, and no longer watched by Deno, which keeps it
  // open (closing it would shut the socket under cat) until the end.
  const farFd = socketFdOf(far);
  detachFromEventLoops(farFd);
  setBlocking(farFd);
  const sink = spawnWithFds(["cat"], { stdin: farFd, stdout: devNull, stderr: 2 });
  const [readEnd, writeEnd] = makePipe("read");
  const source = spawnWithFds(["head", "-c", String(BYTES), "/dev/zero"], {
    stdin: devNull,
    stdout: writeEnd,
    stderr: 2,
  });
  closeFd(writeEnd);
  const started = performance.now();
  const cpuBefore = cpuSeconds();
  const moved = await move(readEnd, conn);
  const cpu = cpuSeconds() - cpuBefore;
  conn.close();
  await waitForExit(sink);
  far.close();
  const seconds = (performance.now() - started) / 1000;
  await waitForExit(source);
  closeFd(readEnd);
  closeFd(devNull);
  if (moved !== BYTES) throw new Error(`${name}: moved ${moved} of ${BYTES}`);
  const perGb = (cpu / (BYTES / 1e9)).toFixed(2);
  console.log(
    `${name.padEnd(28)} ${(BYTES / seconds / 1e6).toFixed(0).padStart(6)} MB/s, ` +
      `${perGb} CPU s/GB in this process`,
  );
}

/** Today's loop: an async read of the pipe, then `conn.write`, on the main thread. */
function mainThread(sealed: boolean) {
  return async (from: number, conn: Deno.TcpConn) => {
    const buffer = new Uint8Array(PIECE);
    const sealer = sealed ? new RecordSealer(KEYS) : null;
    const out = new Uint8Array(sealedLength(PIECE));
    let moved = 0;
    for (let count; (count = await readSome(from, buffer)) > 0;) {
      const piece = buffer.subarray(0, count);
      await writeAll(conn, sealer ? out.subarray(0, sealer.sealInto(piece, out)) : piece);
      moved += count;
    }
    return moved;
  };
}

/** The prototype: a worker with blocking calls on its own thread. */
function inWorker(sealed: boolean) {
  return (from: number, conn: Deno.TcpConn) => {
    const to = socketFdOf(conn);
    detachFromEventLoops(to);
    setBlocking(to);
    setBlocking(from);
    const worker = new Worker(new URL("./engine_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const done = new Promise<number>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(event.message);
    });
    worker.postMessage({ from, to, piece: PIECE, ...(sealed ? { keys: KEYS } : {}) });
    return done.finally(() => worker.terminate());
  };
}

await readyUserspaceCipher();
for (let round = 0; round < 3; round++) {
  await measure("main thread, plain", mainThread(false));
  await measure("worker, blocking FFI, plain", inWorker(false));
  await measure("main thread, sealed", mainThread(true));
  await measure("worker, blocking FFI, sealed", inWorker(true));
}
