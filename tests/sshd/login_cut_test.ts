/**
 * `--reconnect` survives a cut of the login itself, through the real sshd: the ssh client
 * is killed mid-stream, the local half logs in again, and the new remote invocation hands
 * the login to the remote half that waited for it. The bytes each way are held to a
 * plain pipe's; a login that cannot come back within the bound ends the run with exit 2
 * and its line; nothing else on the host can join the waiting remote half.
 */
import assert from "node:assert/strict";
import {
  block,
  DENO,
  LEFTOVERS_GONE_MS,
  REMOTE_SOCKETPIPE,
  remoteHalfWithMarker,
  runCli,
  sha256,
  spawnCli,
  waitUntilGone,
} from "../harness/run.ts";
import { type PrivateSshd, sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";
import { connectUnix, receiveWithFds, sendWithFds } from "../../lib/platform/unix_sockets.ts";
import { closeFd } from "../../lib/platform/file_descriptors.ts";

const noSshd = sshdAvailable ? null : "no sshd installed";
const sshd: PrivateSshd | null = noSshd ? null : await startSshd();
globalThis.addEventListener("unload", () => sshd?.stopSync());
const MIB = 1024 * 1024;

/** Waits until `holds()` is true, or throws after `ms`: for a file a command makes. */
async function until(holds: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const exists = (path: string) => {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
};

/** The pids a noting login wrote, one per login started. */
const loginsIn = (file: string) =>
  exists(file) ? Deno.readTextFileSync(file).split("\n").filter(Boolean).map(Number) : [];

/**
 * One test's scene: a file of random bytes, an input command that sends the first 8 MiB
 * and then waits for `go` before the rest, an output command that says when the first
 * MiB came back through the remote `cat` (`ready`: the halves have met, and the remote
 * half has long said where it waits), and a login that notes each ssh it starts (its
 * pid, for the test to kill) and, from login `failFrom` on, fails as a refused connection
 * would, or waits for `loginGo` first. `provisioned`: no `-x`, the remote half is sent.
 */
async function scene(
  options: { failFrom?: number; holdSecondLogin?: boolean; provisioned?: boolean } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "socketpipe-login-cut-" });
  const data = crypto.getRandomValues(new Uint8Array(65536));
  const bytes = new Uint8Array(24 * MIB);
  for (let at = 0; at < bytes.length; at += data.length) bytes.set(data.map((b) => b ^ at), at);
  await Deno.writeFile(`${dir}/data`, bytes);
  // The remote half's TMPDIR, where it makes its socket's directory: to look at, and to
  // see emptied.
  await Deno.mkdir(`${dir}/remote-tmp`);
  const paths = {
    ready: `${dir}/ready`,
    go: `${dir}/go`,
    logins: `${dir}/logins`,
    loginGo: `${dir}/login-go`,
    remoteTmp: `${dir}/remote-tmp`,
  };
  const failFrom = options.failFrom ?? 99;
  const noting = [
    "sh",
    "-c",
    `n=0; [ -e "$LOGINS" ] && n=$(wc -l < "$LOGINS")
if [ "$n" -ge ${failFrom} ]; then
  echo "ssh: connect to host testhost port 22: Connection refused" >&2; exit 255
fi
if [ "$n" -ge 1 ] && [ -n "$HOLD" ]; then
  while [ ! -e "$LOGIN_GO" ]; do sleep 0.05; done
fi
echo $$ >> "$LOGINS"; exec "$0" "$@"`,
    ...sshd!.login,
  ];
  const input = [
    "sh",
    "-c",
    'head -c 8388608 "$0"; while [ ! -e "$1" ]; do sleep 0.05; done; tail -c +8388609 "$0"',
    `${dir}/data`,
    paths.go,
  ];
  const output = [
    "sh",
    "-c",
    'dd bs=1048576 count=1 iflag=fullblock status=none; touch "$0"; exec cat',
    paths.ready,
  ];
  const remoteHalf = options.provisioned
    ? ["--remote-cache", `${dir}/cache`]
    : block("-x", "env", `TMPDIR=${paths.remoteTmp}`, ...REMOTE_SOCKETPIPE);
  const marker = `logincut${crypto.randomUUID().slice(0, 8)}`;
  const args = (extra: string[]) => [
    ...extra,
    ...block("-i", ...input),
    ...block("-l", ...noting),
    ...remoteHalf,
    ...block("-r", "sh", "-c", "exec cat", marker),
    ...block("-o", ...output),
  ];
  const environment = {
    LOGINS: paths.logins,
    LOGIN_GO: paths.loginGo,
    HOLD: options.holdSecondLogin ? "1" : "",
  };
  /** Once the first MiB is back and, unprovisioned, the remote half's socket is there. */
  const met = async () => {
    await until(() => exists(paths.ready), "the first MiB back");
    if (options.provisioned) return;
    await until(() => Deno.readDirSync(paths.remoteTmp).some(() => true), "the socket");
  };
  /** Once the remote half's socket directory has been removed. */
  const socketGone = () =>
    until(() => [...Deno.readDirSync(paths.remoteTmp)].length === 0, "the socket gone");
  return { dir, bytes, paths, marker, args, environment, met, socketGone };
}

for (const encrypt of [false, true]) {
  testWhere(
    noSshd,
    `--reconnect${
      encrypt ? " --encrypt" : ""
    }: the ssh client killed mid-stream, the login is run again and joins the run; both ways exact, the report counts the cut`,
    async () => {
      const { dir, bytes, paths, marker, args, environment, met, socketGone } = await scene();
      const report = `${dir}/report.json`;
      const running = runCli(
        args(["-v", "--reconnect", "30", "--report", report, ...(encrypt ? ["--encrypt"] : [])]),
        { environment },
      );
      await met();
      // The remote half is waiting for a cut: its socket is where it said.
      await until(() => Deno.readDirSync(paths.remoteTmp).some(() => true), "the socket");
      Deno.kill(loginsIn(paths.logins)[0], "SIGKILL");
      await until(() => loginsIn(paths.logins).length === 2, "the second login");
      await Deno.writeTextFile(paths.go, "");
      const run = await running;
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.length, bytes.length, run.stderr);
      assert.equal(await sha256(run.stdout), await sha256(bytes));
      assert.match(run.stderr, /^socketpipe: login cut: logging in again \(--reconnect 30\)$/m);
      assert.match(run.stderr, /^socketpipe: login joined again after \d+\.\d s \(login cut 1\)$/m);
      const { applied } = JSON.parse(await Deno.readTextFile(report));
      assert.match(applied.local.reconnect, /; 1 login cut survived$/);
      assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
      // Nothing of the run stays on the remote host: its socket's directory is gone.
      await socketGone();
      await Deno.remove(dir, { recursive: true });
    },
  );
}

testWhere(
  noSshd,
  "--reconnect, the remote half provisioned: the login run again goes through the bootstrap (the cache already holds it) and joins; exact",
  async () => {
    const { dir, bytes, paths, marker, args, environment, met } = await scene({
      provisioned: true,
    });
    const report = `${dir}/report.json`;
    const running = runCli(args(["-v", "--reconnect", "30", "--report", report]), { environment });
    await met();
    Deno.kill(loginsIn(paths.logins)[0], "SIGKILL");
    await until(() => loginsIn(paths.logins).length === 2, "the second login");
    await Deno.writeTextFile(paths.go, "");
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256(run.stdout), await sha256(bytes));
    assert.match(run.stderr, /^socketpipe: provision: the remote host uses the cached bundle/m);
    const { applied } = JSON.parse(await Deno.readTextFile(report));
    assert.match(applied.local.reconnect, /; 1 login cut survived$/);
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
    await Deno.remove(dir, { recursive: true });
  },
);

testWhere(
  noSshd,
  "--reconnect: a login that cannot come back within the bound ends the run, exit 2, with the bytes each way; nothing is left behind",
  async () => {
    const { dir, paths, marker, args, environment, met, socketGone } = await scene({ failFrom: 1 });
    const running = runCli(args(["--reconnect", "3"]), { environment });
    await met();
    Deno.kill(loginsIn(paths.logins)[0], "SIGKILL");
    const run = await running;
    assert.equal(run.code, 2, run.stderr);
    // Without -v, the line to act on is socketpipe's first (ssh's own lines come before).
    assert.match(
      run.errorLines[0] ?? run.stderr,
      /^socketpipe: login cut and not joined again within 3 s \(--reconnect\): ssh: connect to host testhost port 22: Connection refused; stopped the commands; \d+ bytes sent, \d+ received; none lost silently$/,
    );
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
    await socketGone();
    await Deno.remove(dir, { recursive: true });
  },
);

testWhere(
  noSshd,
  "--reconnect: the waiting remote half refuses a process without the run's token, and another user cannot reach it at all; the real login then joins, exact",
  async () => {
    const { dir, bytes, paths, marker, args, environment, met } = await scene({
      holdSecondLogin: true,
    });
    const running = runCli(args(["-v", "--reconnect", "30"]), { environment });
    await met();
    const [place] = [...Deno.readDirSync(paths.remoteTmp)];
    const socket = `${paths.remoteTmp}/${place.name}/login`;
    assert.equal(Deno.statSync(`${paths.remoteTmp}/${place.name}`).mode! & 0o777, 0o700);
    if (Deno.uid() === 0) {
      // Another user: the directory keeps it out.
      const other = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          DENO,
          "eval",
          "try { await Deno.connect({ transport: 'unix', path: Deno.args[0] }); console.log('joined') } catch (e) { console.log(e.name) }",
          socket,
        ],
        env: { DENO_DIR: `${dir}/nobody-deno`, HOME: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(other.stdout).trim(), "PermissionDenied");
    }
    Deno.kill(loginsIn(paths.logins)[0], "SIGKILL");
    // This user, without the token: it is asked for a proof, gives a wrong one with its
    // stdin, stdout and stderr, and is shut out without taking the run's login.
    const fd = connectUnix(socket);
    const challenge = await receiveWithFds(fd, 32, () => false);
    assert.equal(challenge?.bytes.length, 32);
    sendWithFds(fd, new Uint8Array(32), [0, 1, 2]);
    assert.equal(await receiveWithFds(fd, 1, () => false), null);
    closeFd(fd);
    // The real login, run again, joins.
    await Deno.writeTextFile(paths.loginGo, "");
    await until(() => loginsIn(paths.logins).length === 2, "the second login");
    await Deno.writeTextFile(paths.go, "");
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await sha256(run.stdout), await sha256(bytes));
    assert.match(run.stderr, /^socketpipe: login joined again after/m);
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
    await Deno.remove(dir, { recursive: true });
  },
);

testWhere(
  noSshd,
  "--reconnect: SIGINT mid-stream stops every command on both hosts, without logging in again or waiting out the bound",
  async () => {
    const { dir, paths, marker, args, environment, met } = await scene();
    const child = spawnCli(args(["-v", "--reconnect", "600"]), {
      environment,
      stdout: "null",
    });
    await met();
    child.kill("SIGINT");
    const output = await child.output();
    const said = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 130, said);
    assert.doesNotMatch(said, /logging in again/);
    assert.equal(loginsIn(paths.logins).length, 1);
    // Well within the bound: the remote half heard that the run ends, not a cut.
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
    await Deno.remove(dir, { recursive: true });
  },
);

testWhere(
  noSshd,
  "--reconnect: the remote half killed outright (SIGKILL): its watchdog removes its socket's directory, and the run ends within the bound, exit 2",
  async () => {
    const { dir, marker, args, environment, met, socketGone } = await scene();
    const running = runCli(args(["--reconnect", "3"]), { environment });
    await met();
    Deno.kill(remoteHalfWithMarker(marker)!, "SIGKILL");
    const run = await running;
    assert.equal(run.code, 2, run.stderr);
    assert.deepEqual(await waitUntilGone(marker, LEFTOVERS_GONE_MS), []);
    await socketGone();
    await Deno.remove(dir, { recursive: true });
  },
);
