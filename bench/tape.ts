/**
 * A consumer that behaves as a tape drive, for the buffer study: it writes (discards) its
 * input at a fixed rate in blocks, and when the next block is not there in time it stops,
 * and must reposition before it streams again (the "shoe-shining" that slack between
 * producer and drive prevents). At the end it prints, on stderr, one line:
 * `tape: BYTES bytes, N repositions, S s`.
 *
 * Usage: deno run bench/tape.ts RATE_MIB_PER_S [REPOSITION_MS]
 */
const rate = Number(Deno.args[0] ?? 100) * 1024 * 1024;
const repositionMs = Number(Deno.args[1] ?? 500);
const BLOCK = 256 * 1024;
/** How late a block may be before the drive has stopped. */
const LATE_MS = 50;

const block = new Uint8Array(BLOCK);
const started = performance.now();
let due = started;
let bytes = 0;
let repositions = 0;

/** Reads up to one block; the count, 0 at the end. */
async function readBlock(): Promise<number> {
  let filled = 0;
  while (filled < BLOCK) {
    const count = await Deno.stdin.read(block.subarray(filled));
    if (count === null) break;
    filled += count;
  }
  return filled;
}

for (;;) {
  const count = await readBlock();
  if (count === 0) break;
  const now = performance.now();
  if (bytes > 0 && now > due + LATE_MS) {
    // Starved: the drive stopped; it backs up and ramps up again before this block.
    repositions++;
    due = now + repositionMs;
  }
  bytes += count;
  due = Math.max(due, now) + (count / rate) * 1000;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
const seconds = (performance.now() - started) / 1000;
console.error(`tape: ${bytes} bytes, ${repositions} repositions, ${seconds.toFixed(2)} s`);
