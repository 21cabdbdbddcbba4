/**
 * The local half run in-process, its login replaced by a pair of streams: the remote half
 * at the other end is either the real one (serveRemoteHalf, in this process) or a script
 * that misbehaves on purpose. No login command, no ssh, no second Deno.
 */
import assert from "node:assert/strict";
import { type CommandStatus, signalNumber } from "../../lib/base/command_status.ts";
import { dialListener } from "../../lib/net/connect_back.ts";
import { Fault, FAULTS } from "../../lib/base/faults.ts";
import { TOKEN_LENGTH } from "../../lib/net/handshake.ts";
import { fromHex } from "../../lib/base/hex.ts";
import { runLocalHalf } from "../../lib/local/local_half.ts";
import type { SocketpipeOptions } from "../../lib/local/socketpipe_types.ts";
import type { LoginConnection } from "../../lib/login/login.ts";
import { LoginChannel } from "../../lib/login/login_channel.ts";
import type { SessionMessage } from "../../lib/login/protocol.ts";
import { serveRemoteHalf } from "../../lib/remote/remote_half.ts";
import { PROTOCOL_VERSION, VERSION } from "../../lib/base/version.ts";
import { sha256 } from "../harness/run.ts";
import { testWhere } from "../harness/register.ts";
import { zeroCopyPath } from "../../lib/data/zero_copy_path.ts";
import { kernelTlsUnavailable } from "../../lib/platform/kernel_tls.ts";

const ok: CommandStatus = { status: 0, signal: null, failedToStart: null };

/** The remote host's end of an in-process login: what it reads and what it writes. */
interface RemoteEnd {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}

/**
 * A login made of streams, whose "remote host" is `remote`, run in this process.
 * `remote` resolves with the login's exit status; killing the login resolves it at once.
 */
function inProcessLogin(remote: (end: RemoteEnd) => Promise<number>): LoginConnection {
  const toRemote = new TransformStream<Uint8Array, Uint8Array>();
  const fromRemote = new TransformStream<Uint8Array, Uint8Array>();
  const killed = Promise.withResolvers<CommandStatus>();
  const ran = remote({ readable: toRemote.readable, writable: fromRemote.writable });
  const status = Promise.race([ran.then((status) => ({ ...ok, status })), killed.promise]);
  const kill = (signal: Deno.Signal) =>
    killed.resolve({ status: 128 + signalNumber(signal), signal, failedToStart: null });
  return {
    readable: fromRemote.readable,
    writable: toRemote.writable,
    status,
    kill,
    stop: async () => {
      kill("SIGTERM");
      await status;
    },
  };
}

/** An in-process login whose remote half is a script speaking on its own login channel. */
function scriptedLogin(script: (channel: LoginChannel) => Promise<number>): LoginConnection {
  return inProcessLogin((end) =>
    script(new LoginChannel(end.readable, end.writable, { peer: "local", onNoise() {} }))
  );
}

/** A scripted remote half: greets, reads the session line, connects back with its token. */
async function meetLocalHalf(
  channel: LoginChannel,
): Promise<{ session: SessionMessage; conn: Deno.TcpConn }> {
  await channel.send({ event: "hello", version: PROTOCOL_VERSION, program: VERSION });
  const session = await channel.first("session");
  assert.ok(session, "the local half sends its session line");
  const conn = await dialListener({
    addresses: ["127.0.0.1"],
    port: session.port,
    token: fromHex(session.token, TOKEN_LENGTH)!,
    faults: { refused: FAULTS.connectBackRefused, unreachable: FAULTS.connectBackFailed },
  });
  if (conn instanceof Fault) throw conn;
  return { session, conn };
}

async function readToEnd(conn: Deno.TcpConn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(65536);
  for (let count; (count = await conn.read(buffer)) !== null;) chunks.push(buffer.slice(0, count));
  return new Uint8Array(chunks.flatMap((chunk) => [...chunk]));
}

const options = (more: Partial<SocketpipeOptions>): SocketpipeOptions => ({
  login: ["in-process"],
  remote: ["scripted"],
  host: "127.0.0.1",
  provision: "never", // the remote half is at the other end of the streams already
  ...more,
});

Deno.test("in-process: the real remote half at the other end of the streams moves the bytes exactly", async () => {
  const input = crypto.getRandomValues(new Uint8Array(60000));
  const path = await Deno.makeTempFile();
  await Deno.writeFile(path, input);
  const out = await Deno.makeTempFile();
  const result = await runLocalHalf(
    options({ input: ["cat", path], remote: ["sh", "-c", `cat > ${out}`] }),
    {},
    {
      login: inProcessLogin((end) =>
        serveRemoteHalf(["sh", "-c", `cat > ${out}`], {
          controlIn: end.readable,
          controlOut: end.writable,
          sshClient: null,
        })
      ),
    },
  );
  assert.equal(result.status, 0, result.messages.join("\n"));
  assert.equal(await sha256(out), await sha256(input));
  assert.equal(result.local.sent, 60000);
  assert.equal(result.remote?.counts.received, 60000);
  await Deno.remove(path);
  await Deno.remove(out);
});

Deno.test("in-process: a remote report whose count disagrees is exit 2 with both counts named", async () => {
  const result = await runLocalHalf(options({ input: ["printf", "hello"] }), {}, {
    login: scriptedLogin(async (channel) => {
      const { conn } = await meetLocalHalf(channel);
      const received = (await readToEnd(conn)).length;
      conn.close();
      await channel.send({
        event: "exit",
        status: ok,
        cutOff: false,
        counts: { sent: 0, received: received - 2, delivered: received - 2 },
        error: null,
      });
      await channel.close();
      return 0;
    }),
  });
  assert.equal(result.status, 2);
  assert.deepEqual(result.messages, [FAULTS.truncatedToRemote.line(5, 3)]);
  assert.match(result.messages[0], /input sent 5 bytes, the remote half received 3$/);
});

Deno.test("in-process: a remote half of another protocol version is named, with both versions, within 1 s", async () => {
  const started = Date.now();
  const result = await runLocalHalf(options({ input: ["true"] }), {}, {
    login: scriptedLogin(async (channel) => {
      await channel.send({ event: "hello", version: 99, program: "9.9.9" });
      await channel.closed; // it stays, as an old remote half would, until the login ends
      return 0;
    }),
  });
  const elapsedMs = Date.now() - started;
  assert.equal(result.status, 2);
  assert.deepEqual(result.messages, [
    `protocol mismatch: the remote socketpipe speaks protocol 99, this local socketpipe speaks ${PROTOCOL_VERSION}; install the same version on both hosts`,
  ]);
  assert.ok(elapsedMs < 1000, `took ${elapsedMs} ms`);
});

Deno.test("in-process: a remote half that falls silent after connecting, its host still answering on the data connection, ends the run after three times --peer-timeout, exit 2", async () => {
  let remoteConn: Deno.TcpConn | null = null;
  const started = Date.now();
  const result = await runLocalHalf(options({ input: ["sleep", "30"], peerTimeout: 2 }), {}, {
    login: scriptedLogin(async (channel) => {
      const { conn } = await meetLocalHalf(channel);
      remoteConn = conn;
      await new Promise<void>(() => {}); // silent: no heartbeat, no report, no end
      return 0;
    }),
  });
  const elapsedMs = Date.now() - started;
  (remoteConn as Deno.TcpConn | null)?.close();
  assert.equal(result.status, 2);
  assert.ok(
    result.messages.includes(FAULTS.remoteUnresponsive.line(2)),
    result.messages.join("\n"),
  );
  assert.equal(result.input?.status.signal, "SIGTERM", "the input command was stopped");
  // It ended (not the input's 30 s), and not before three times the bound: its host (this
  // one) answered all along. An upper bound is bench's.
  assert.ok(elapsedMs >= 6000, `took ${elapsedMs} ms`);
});

Deno.test("in-process: a report that comes seconds after the data connection closed is waited for", async () => {
  const result = await runLocalHalf(options({ input: ["printf", "abc"] }), {}, {
    login: scriptedLogin(async (channel) => {
      const { conn } = await meetLocalHalf(channel);
      const received = (await readToEnd(conn)).length;
      conn.close();
      await new Promise((resolve) => setTimeout(resolve, 2500)); // a remote dd still flushing
      await channel.send({
        event: "exit",
        status: { status: 3, signal: null, failedToStart: null },
        cutOff: false,
        counts: { sent: 0, received, delivered: received },
        error: null,
      });
      await channel.close();
      return 0;
    }),
  });
  assert.equal(result.status, 3, result.messages.join("\n"));
  assert.deepEqual(result.messages, ["remote command { scripted } exited with status 3"]);
});

/**
 * Why this host cannot show the kernel refusing to seal a socket: where it seals, or where
 * a root process would load the tls module by asking (the suite never loads modules).
 */
function kernelWillNotRefuse(): string | null {
  if (kernelTlsUnavailable() === null) return "this host's kernel seals sockets";
  const root = Deno.uid() === 0;
  const release = Deno.osRelease();
  for (
    const dir of [
      `/lib/modules/${release}/kernel/net/tls`,
      `/usr/lib/modules/${release}/kernel/net/tls`,
    ]
  ) {
    try {
      if (root && Deno.statSync(dir).isDirectory) return "root here would load the tls module";
    } catch {
      // Not there: the kernel refuses.
    }
  }
  return null;
}

testWhere(
  kernelWillNotRefuse(),
  "in-process: --encrypt on the zero-copy path where the kernel refuses TLS falls back to userspace on both halves, the bytes exact",
  async () => {
    const input = new Uint8Array(300000).map((_, i) => (i * 131) ^ (i >> 9));
    const path = await Deno.makeTempFile();
    await Deno.writeFile(path, input);
    const out = await Deno.makeTempFile();
    const remote = ["sh", "-c", `cat > ${out}`];
    const result = await runLocalHalf(
      options({ input: ["cat", path], remote, encrypt: true }),
      {},
      {
        dataPath: zeroCopyPath, // imposed, as if this kernel had TLS loaded
        login: inProcessLogin((end) =>
          serveRemoteHalf(remote, {
            controlIn: end.readable,
            controlOut: end.writable,
            sshClient: null,
            dataPath: zeroCopyPath,
          })
        ),
      },
    );
    assert.equal(result.status, 0, result.messages.join("\n"));
    assert.equal(await sha256(out), await sha256(input));
    assert.equal(result.dataPath, "stream");
    assert.deepEqual(result.encryption, {
      cipher: "ChaCha20-Poly1305",
      local: "userspace",
      remote: "userspace",
    });
    assert.equal(result.local.sent, input.length);
    assert.equal(result.remote?.counts.received, input.length);
    await Deno.remove(path);
    await Deno.remove(out);
  },
);
