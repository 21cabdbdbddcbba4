/**
 * A consumer that pauses longer than `--peer-timeout` is waited for, as a pipe waits: its
 * host's kernel still answers, so the peer is not dead. Linux gives a connection up once
 * the peer's receive window has stayed shut for TCP_USER_TIMEOUT, so before the sender
 * lifted that bound while the window is shut, such a run failed (exit 2, "connection reset
 * by peer" or "never acknowledged"): it was the cause of a rare failure of the 50
 * concurrent transfers on a loaded host, whose halves can go unscheduled for the bound.
 */
import assert from "node:assert/strict";
import { block, LOCAL_LOGIN, randomFile, runCli, sha256File } from "../harness/run.ts";
import { DATA_PATHS, type DataPathCase, testWhere } from "../harness/register.ts";

const work = await Deno.makeTempDir({ prefix: "socketpipe-slow-consumer-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
/** More than the socket buffers and the pipes hold, so the sender meets a shut window. */
const input = await randomFile(work, "input", 24_000_000);
const expected = await sha256File(input);

/** The consumer's pause: well past the shortest bound (2 s) and the probes' first backoffs. */
const PAUSE_S = 5;

/** One run with a pausing consumer on `path`; returns what went wrong, or null. */
async function pausingRun(toward: "remote" | "output", path: DataPathCase) {
  const label = `input → ${toward} [${path.label}]`;
  const out = `${work}/out-${toward}-${path.label}`;
  const pausing = ["sh", "-c", `sleep ${PAUSE_S}; exec cat > ${out}`];
  const run = await runCli([
    ...path.args,
    "--peer-timeout",
    "2",
    ...block("-i", "cat", input),
    ...LOCAL_LOGIN,
    ...(toward === "remote"
      ? block("-r", ...pausing)
      : [...block("-r", "cat"), ...block("-o", ...pausing)]),
  ]);
  assert.equal(run.code, 0, `${label}: ${run.stderr}`);
  assert.equal(await sha256File(out), expected, label);
}

// The four at once: each spends its time waiting for its consumer.
testWhere(
  null,
  `a consumer that pauses ${PAUSE_S} s with --peer-timeout 2 is waited for (input → remote, ` +
    `input → output; both data paths): byte-exact, exit 0`,
  async () => {
    const toward = ["remote", "output"] as const;
    await Promise.all(toward.flatMap((end) => DATA_PATHS.map((path) => pausingRun(end, path))));
  },
);
