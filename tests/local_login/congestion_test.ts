/**
 * `--congestion ALGO`: each host's sender runs the algorithm asked for, on both data paths,
 * as the kernel shows it (`ss -ti` on the data connection); `-v` and `--report` say so; an
 * algorithm the host does not allow is a usage error naming those it does.
 */
import assert from "node:assert/strict";
import { block, LOCAL_LOGIN, runCli } from "../harness/run.ts";
import { testWhere } from "../harness/register.ts";
import { congestionControlsAllowed } from "../../lib/platform/tcp_socket_options.ts";

const kernelDefault = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_congestion_control").trim();
/** An algorithm other than the default, that this host lets the test set. */
const other = ["cubic", "reno", "bbr"].find((name) =>
  name !== kernelDefault && congestionControlsAllowed()?.includes(name)
);
const noOther = other ? null : `no algorithm other than ${kernelDefault} is allowed here`;
const noSs = new Deno.Command("ss", { args: ["-V"] }).outputSync().success
  ? null
  : "needs ss (iproute2)";

/** A free port for the local half's listener: the data connection is then told by it. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * A run whose input command, then remote command, first write what `ss -ti` shows of
 * their own half's data socket (the local half's has the listening port as its own, the
 * remote half's as its peer's), each once its half has set the connection up. Any state
 * but listening or closed: by the time the remote command looks, the input may have been
 * sent whole and its FIN have arrived (CLOSE-WAIT).
 */
async function runShowingSockets(copy: boolean, congestion: string[]) {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "socketpipe-congestion-" });
  const ss = (side: string, file: string) =>
    `ss -tinH state connected '( ${side} = :${port} )' > ${dir}/${file}`;
  const result = await runCli([
    "-v",
    ...(copy ? ["--copy"] : []),
    ...congestion,
    ...["--port", String(port), "--report", `${dir}/report.json`],
    ...block("-i", "sh", "-c", `${ss("sport", "local")}; head -c 100000 /dev/zero`),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", `${ss("dport", "remote")}; cat`),
    ...block("-o", "wc", "-c"),
  ]);
  const read = (file: string) => Deno.readTextFileSync(`${dir}/${file}`);
  const shown = {
    local: read("local"),
    remote: read("remote"),
    report: JSON.parse(read("report.json")),
  };
  await Deno.remove(dir, { recursive: true });
  return { result, ...shown };
}

for (const copy of [false, true]) {
  const path = copy ? "--copy" : "zero-copy";
  testWhere(
    noOther ?? noSs,
    `--congestion ${other}, the kernel's default being ${kernelDefault}: ss shows ${other} on each host's data socket, -v and --report say so [${path}]`,
    async () => {
      const { result, local, remote, report } = await runShowingSockets(copy, [
        "--congestion",
        other!,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(new TextDecoder().decode(result.stdout).trim(), "100000");
      for (const [half, shown] of [["local", local], ["remote", remote]]) {
        assert.match(shown, new RegExp(`\\s${other}\\s`), `${half}: ${shown}`);
        assert.doesNotMatch(shown, new RegExp(`\\s${kernelDefault}\\s`), `${half}: ${shown}`);
      }
      for (const half of ["socketpipe", "socketpipe -s"]) {
        assert.match(
          result.stderr,
          new RegExp(`^${half}: congestion control: ${other} \\(--congestion\\)$`, "m"),
        );
      }
      assert.deepEqual(report.applied, {
        local: { congestion: other },
        remote: { congestion: other },
      });
    },
  );
}

testWhere(
  noSs,
  `without --congestion, the data socket keeps the kernel's default (${kernelDefault}), and --report says nothing of it`,
  async () => {
    const { result, local, remote, report } = await runShowingSockets(false, []);
    assert.equal(result.code, 0, result.stderr);
    for (const shown of [local, remote]) {
      assert.match(shown, new RegExp(`\\s${kernelDefault}\\s`), shown);
    }
    assert.doesNotMatch(result.stderr, /congestion control:/);
    assert.equal(report.applied, undefined);
  },
);

Deno.test("--congestion with an algorithm this host does not allow is a usage error naming those it does", async () => {
  const result = await runCli([
    ...["--congestion", "nosuch"],
    ...block("-i", "true"),
    ...LOCAL_LOGIN,
    ...block("-r", "true"),
  ]);
  assert.equal(result.code, 1, result.stderr);
  const allowed = congestionControlsAllowed()!.join(", ");
  assert.equal(
    result.stderr.split("\n")[0],
    `socketpipe: bad value for --congestion: 'nosuch' (a congestion control algorithm this host allows: ${allowed})`,
  );
});
