/**
 * On the stream path, every pipe of the stream that socketpipe makes (the input command's
 * stdout, the remote command's stdin and stdout, the output command's stdin) holds 1 MiB
 * where the kernel allows it, not the default 64 KiB: the copy engine and the commands
 * each move more per system call and wait less on the other.
 */
import assert from "node:assert/strict";
import { block, DENO, LOCAL_LOGIN, REPO, runCli } from "../harness/run.ts";

const PIPE_SIZE = [DENO, "run", "--allow-ffi", `${REPO}/tests/fixtures/pipe_size.ts`].join(" ");
const MOST = Number(Deno.readTextFileSync("/proc/sys/fs/pipe-max-size").trim());

Deno.test("--copy: the stream's pipes (input's stdout, remote's stdin and stdout, output's stdin) hold 1 MiB", async () => {
  const result = await runCli([
    "--copy",
    // Each command puts the size of its stdout pipe into the stream, or, the last, its
    // stdin's: the output shows them in order.
    ...block("-i", "sh", "-c", `${PIPE_SIZE} 1`),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", `cat; ${PIPE_SIZE} 0; ${PIPE_SIZE} 1`),
    ...block("-o", "sh", "-c", `cat; ${PIPE_SIZE} 0`),
  ]);
  assert.equal(result.code, 0, result.stderr);
  const expected = Math.min(1024 * 1024, MOST);
  assert.equal(new TextDecoder().decode(result.stdout), `${expected}\n`.repeat(4));
});
