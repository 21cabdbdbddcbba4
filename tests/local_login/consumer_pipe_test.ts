/**
 * On the stream path, the pipes socketpipe writes into (the remote command's stdin, the
 * output command's) hold 1 MiB where the kernel allows it, not the default 64 KiB: the copy
 * loop waits less on a command, and the command reads more at once.
 */
import assert from "node:assert/strict";
import { block, DENO, LOCAL_LOGIN, REPO, runCli } from "../harness/run.ts";

const PIPE_SIZE = [DENO, "run", "--allow-ffi", `${REPO}/tests/fixtures/pipe_size.ts`].join(" ");
const MOST = Number(Deno.readTextFileSync("/proc/sys/fs/pipe-max-size").trim());

Deno.test("--copy: the remote command's and the output command's stdin pipes hold 1 MiB", async () => {
  const result = await runCli([
    "--copy",
    ...block("-i", "printf", "x"),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", `${PIPE_SIZE}; cat > /dev/null`),
    ...block("-o", "sh", "-c", `${PIPE_SIZE}; cat`),
  ]);
  assert.equal(result.code, 0, result.stderr);
  const expected = Math.min(1024 * 1024, MOST);
  // The output command's own size first, then the remote command's, which it passes on.
  assert.equal(new TextDecoder().decode(result.stdout), `${expected}\n${expected}\n`);
});
