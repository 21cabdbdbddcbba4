/**
 * The first measurement for a copy engine off the main thread: each direction of the stream
 * path alone, moved by today's loop on the main thread against a worker of its own with
 * blocking `read` and `write` through FFI. Sending: a command's stdout (`head -c` into a
 * pipe) into the data socket, plain and sealed in records, to a `cat` that holds the other
 * end of a loopback connection. Receiving: sealed records sent by `cat` from a file, opened
 * and written into a pipe that another `cat` drains. Neither end is JavaScript. Prints MB/s
 * and this process's CPU seconds per GB for each.
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
  writeToPipe,
} from "../lib/platform/file_descriptors.ts";
import { detachFromEventLoops, socketFdOf } from "../lib/platform/deno_internals.ts";
import { spawnWithFds, waitForExit } from "../lib/platform/spawn_with_fds.ts";
import { writeAll } from "../lib/net/conn_io.ts";
import { RecordSealer, sealedLength } from "../lib/net/records.ts";
import { sealedWire } from "../lib/net/data_wire.ts";
import { readyUserspaceCipher } from "../lib/net/record_cipher.ts";
import { requireLibc } from "../lib/platform/libc.ts";

const BYTES = Number(Deno.args[0] ?? 2 * 1024 ** 3);
const PIECE = 256 * 1024;
const KEYS = { key: new Uint8Array(32).fill(7), iv: new Uint8Array(12).fill(9) };

/** This process's CPU seconds so far, all its threads (utime + stime, at 100 ticks a second). */
function cpuSeconds(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * A loopback connection: this end for the engine, and the far end's descriptor for a `cat`,
 * blocking and no longer watched by Deno, which keeps it open (closing it would shut the
 * socket under `cat`) until the caller closes `far`.
 */
async function loopbackPair(): Promise<{ conn: Deno.TcpConn; far: Deno.TcpConn; farFd: number }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const far = await listener.accept();
  listener.close();
  const farFd = socketFdOf(far);
  detachFromEventLoops(farFd);
  setBlocking(farFd);
  return { conn, far, farFd };
}

/** Prints one engine's figures, after checking it moved every byte. */
function report(name: string, moved: number, seconds: number, cpu: number): void {
  if (moved !== BYTES) throw new Error(`${name}: moved ${moved} of ${BYTES}`);
  console.log(
    `${name.padEnd(28)} ${(BYTES / seconds / 1e6).toFixed(0).padStart(6)} MB/s, ` +
      `${(cpu / (BYTES / 1e9)).toFixed(2)} CPU s/GB in this process`,
  );
}

/** Runs the prototype worker on `job` and resolves with the bytes it moved. */
function runWorker(job: Record<string, unknown>): Promise<number> {
  const worker = new Worker(new URL("./engine_worker.ts", import.meta.url).href, {
    type: "module",
  });
  const done = new Promise<number>((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => reject(event.message);
  });
  worker.postMessage(job);
  return done.finally(() => worker.terminate());
}

/** A source pipe fed by `head`, a socket drained by `cat`; runs `move` between them. */
async function measure(
  name: string,
  move: (from: number, conn: Deno.TcpConn) => Promise<number>,
): Promise<void> {
  const { conn, far, farFd } = await loopbackPair();
  const devNull = openDevNull();
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
  report(name, moved, seconds, cpu);
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
    return runWorker({ from, to, piece: PIECE, ...(sealed ? { keys: KEYS } : {}) });
  };
}

/**
 * The receiving direction: `cat` sends `file` (sealed records) into a loopback connection;
 * `move` opens them and writes the data to a pipe that another `cat` drains.
 */
async function measureReceiving(
  name: string,
  file: string,
  move: (conn: Deno.TcpConn, to: number) => Promise<number>,
  pipeBytes = 0,
): Promise<void> {
  const { conn, far, farFd } = await loopbackPair();
  const devNull = openDevNull();
  const source = spawnWithFds(["cat", file], { stdin: devNull, stdout: farFd, stderr: 2 });
  const [readEnd, writeEnd] = makePipe("write");
  // F_SETPIPE_SZ: a larger pipe to the consumer, where asked (the kernel's default is 64 KiB).
  if (pipeBytes) requireLibc().fcntl(writeEnd, 1031, pipeBytes);
  const sink = spawnWithFds(["cat"], { stdin: readEnd, stdout: devNull, stderr: 2 });
  closeFd(readEnd);
  const started = performance.now();
  const cpuBefore = cpuSeconds();
  const moving = move(conn, writeEnd);
  await waitForExit(source);
  far.close(); // the sender's end of the stream
  const moved = await moving;
  closeFd(writeEnd);
  await waitForExit(sink);
  const cpu = cpuSeconds() - cpuBefore;
  const seconds = (performance.now() - started) / 1000;
  conn.close();
  closeFd(devNull);
  report(name, moved, seconds, cpu);
}

/** Today's receiving loop: the sealed wire's read, then a write into the consumer's pipe. */
async function receiveOnMainThread(conn: Deno.TcpConn, to: number): Promise<number> {
  const wire = sealedWire(conn, { send: KEYS, receive: KEYS });
  let moved = 0;
  for (let data; (data = await wire.read()) !== null;) {
    for (let at = 0; at < data.length;) at += await writeToPipe(to, data.subarray(at));
    moved += data.length;
  }
  return moved;
}

/** The prototype's receiving side: a worker with blocking calls on its own thread. */
function receiveInWorker(conn: Deno.TcpConn, to: number): Promise<number> {
  const from = socketFdOf(conn);
  detachFromEventLoops(from);
  setBlocking(from);
  setBlocking(to);
  return runWorker({ from, to, piece: PIECE, keys: KEYS, opening: true });
}

/** `BYTES` of zeros sealed as the sending side seals them, in a file. */
function sealedFile(): string {
  const path = Deno.makeTempFileSync({ prefix: "socketpipe-sealed-" });
  const file = Deno.openSync(path, { write: true });
  const sealer = new RecordSealer(KEYS);
  const piece = new Uint8Array(PIECE);
  const out = new Uint8Array(sealedLength(PIECE));
  for (let done = 0; done < BYTES; done += PIECE) {
    const length = sealer.sealInto(piece.subarray(0, Math.min(PIECE, BYTES - done)), out);
    for (let at = 0; at < length;) at += file.writeSync(out.subarray(at, length));
  }
  file.close();
  return path;
}

await readyUserspaceCipher();
const sealed = sealedFile();
for (let round = 0; round < 3; round++) {
  await measure("send, main thread, plain", mainThread(false));
  await measure("send, worker, plain", inWorker(false));
  await measure("send, main thread, sealed", mainThread(true));
  await measure("send, worker, sealed", inWorker(true));
  await measureReceiving("receive, main thread, sealed", sealed, receiveOnMainThread);
  await measureReceiving("receive, worker, sealed", sealed, receiveInWorker);
  await measureReceiving("receive, main, 1 MiB pipe", sealed, receiveOnMainThread, 1 << 20);
  await measureReceiving("receive, worker, 1 MiB pipe", sealed, receiveInWorker, 1 << 20);
}
Deno.removeSync(sealed);
