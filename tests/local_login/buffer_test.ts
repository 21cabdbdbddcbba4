/**
 * `--buffer`: the data socket's own buffers made large on both hosts, the commands still
 * holding the socket; a user the kernel holds to smaller buffers gets one line saying why
 * and how to have them, and the run goes on; a bad size is a usage error.
 */
import assert from "node:assert/strict";
import { block, DENO, LOCAL_LOGIN, REPO, runCli, sha256, SOCKETPIPE } from "../harness/run.ts";
import { testWhere } from "../harness/register.ts";

const MIB = 1024 * 1024;
const notRoot = Deno.uid() === 0 ? null : "needs root: forcing buffers past net.core.*mem_max";

testWhere(
  notRoot,
  "--buffer 64M: the remote command's socket has 64 MiB each way, and -v says so on both hosts",
  async () => {
    const result = await runCli([
      "-v",
      "--buffer",
      "64M",
      ...block("-i", "head", "-c", "1000", "/dev/zero"),
      ...LOCAL_LOGIN,
      ...block("-r", DENO, "run", "--allow-ffi", `${REPO}/tests/fixtures/socket_buffers.ts`),
      ...block("-o", "cat"),
    ]);
    assert.equal(result.code, 0, result.stderr);
    // The kernel books twice the size asked for.
    assert.equal(
      new TextDecoder().decode(result.stdout).trim(),
      `sndbuf ${128 * MIB} rcvbuf ${128 * MIB}`,
    );
    for (const half of ["socketpipe", "socketpipe -s"]) {
      assert.match(result.stderr, new RegExp(`^${half}: socket buffers: 64.0 MiB each way`, "m"));
    }
  },
);

testWhere(
  notRoot,
  "--buffer past what the kernel allows a user: one line with the limit and the remedy, and the bytes arrive exact",
  async () => {
    const home = await Deno.makeTempDir();
    await Deno.chmod(home, 0o777);
    const data = new Uint8Array(300_000).map((_, i) => i * 7);
    const args = ["--buffer", "1G", ...block("-i", "cat"), ...LOCAL_LOGIN, ...block("-r", "cat")];
    const result = await runCli([...args, ...block("-o", "cat")], {
      program: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...SOCKETPIPE],
      environment: { HOME: home, DENO_DIR: `${home}/deno` },
      stdin: data,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await sha256(result.stdout), await sha256(data));
    for (const half of ["socketpipe", "socketpipe -s"]) {
      assert.match(
        result.stderr,
        new RegExp(
          `^${half}: --buffer 1.00 GiB not set: the kernel allows this user \\d+ bytes \\(net\\.core\\.wmem_max\\); run as root, or raise net\\.core\\.wmem_max and net\\.core\\.rmem_max; going on with the kernel's own buffers$`,
          "m",
        ),
      );
    }
    await Deno.remove(home, { recursive: true });
  },
);

Deno.test("--buffer takes a size with K, M or G up to 1G; anything else is a usage error", async () => {
  for (const bad of ["big", "0", "2G", "-1M", "1T", ""]) {
    const result = await runCli([
      "--buffer",
      bad,
      ...block("-i", "true"),
      ...LOCAL_LOGIN,
      ...block("-r", "true"),
    ]);
    assert.equal(result.code, 1, `--buffer '${bad}': ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^socketpipe: bad value for --buffer: '${bad}'`, "m"));
  }
});
