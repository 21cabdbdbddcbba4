/**
 * The canary for lib/deno_internals.ts, and errno read on the right thread. If a Deno
 * upgrade breaks how socketpipe finds a connection's fd or takes it out of Deno's event
 * loop, these fail first, naming the Deno version the workarounds were verified on.
 */
import assert from "node:assert/strict";
import {
  detachFromEventLoops,
  socketFdOf,
  VERIFIED_ON_DENO,
} from "../../lib/platform/deno_internals.ts";
import { closeFd, makePipe, readSome, receiveSome } from "../../lib/platform/file_descriptors.ts";
import { LibcError } from "../../lib/platform/libc.ts";
import { spawnWithFds, waitForExit } from "../../lib/platform/spawn_with_fds.ts";
import { testWhere } from "../harness/register.ts";

const notLinux = Deno.build.os === "linux" ? null : "not Linux";
const upgradeHint = `(verified on Deno ${VERIFIED_ON_DENO}, running ${Deno.version.deno})`;

async function tcpPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  return [client, server];
}

testWhere(
  notLinux,
  "canary: each end of a Deno TCP connection has exactly one fd, found by its ports",
  async () => {
    const [client, server] = await tcpPair();
    const clientFd = socketFdOf(client);
    const serverFd = socketFdOf(server);
    assert.notEqual(clientFd, serverFd, upgradeHint);
    assert.match(Deno.readLinkSync(`/proc/self/fd/${clientFd}`), /^socket:/, upgradeHint);
    client.close();
    server.close();
  },
);

testWhere(
  notLinux,
  "canary: a detached socket leaves Deno's epoll set and still carries data to its fd",
  async () => {
    const [client, server] = await tcpPair();
    const fd = socketFdOf(server);
    assert.ok(detachFromEventLoops(fd) >= 1, `no epoll set held the socket ${upgradeHint}`);
    await client.write(new TextEncoder().encode("still here"));
    const buffer = new Uint8Array(64);
    const count = await receiveSome(fd, buffer);
    assert.equal(new TextDecoder().decode(buffer.subarray(0, count)), "still here");
    client.close();
    assert.equal(await receiveSome(fd, buffer), 0, "end of file after the peer closed");
    server.close();
  },
);

testWhere(
  notLinux,
  "a reset connection is named by its cause, read on the thread that made the call",
  async () => {
    const [client, server] = await tcpPair();
    // Closing a socket with unread data in it sends a reset, not a FIN.
    await server.write(new Uint8Array(10));
    await client.read(new Uint8Array(1));
    const fd = socketFdOf(server);
    detachFromEventLoops(fd);
    // Closed under Deno's feet (Deno's own close would shut the sending side first, a
    // FIN); the leaked resource is why this test does not sanitize resources.
    const clientFd = socketFdOf(client);
    detachFromEventLoops(clientFd);
    closeFd(clientFd);
    const failure = await receiveSome(fd, new Uint8Array(64)).catch((error) => error);
    assert.ok(failure instanceof LibcError, String(failure));
    assert.equal(failure.message, "recv: connection reset by peer");
    server.close();
  },
  { sanitizeResources: false },
);

testWhere(
  notLinux,
  "a pipe's end of file and a wait for a process that is not a child are told apart by name",
  async () => {
    const [readEnd, writeEnd] = makePipe();
    const pid = spawnWithFds(["sh", "-c", "printf abc >&2"], {
      stdin: 0,
      stdout: 1,
      stderr: writeEnd,
    });
    closeFd(writeEnd);
    const buffer = new Uint8Array(16);
    assert.equal(await readSome(readEnd, buffer), 3);
    assert.equal(await readSome(readEnd, buffer), 0);
    closeFd(readEnd);
    assert.equal((await waitForExit(pid)).status, 0);
    const failure = await waitForExit(1).catch((error) => error);
    assert.equal(failure.message, "waitpid(1): no child processes");
  },
);
