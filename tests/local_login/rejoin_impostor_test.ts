/**
 * The remote invocation of a login run again (`--reconnect`) hands its login only to this
 * user's own waiting half: a socket another user made at the path it was given gets
 * neither the login nor a proof made with the token.
 */
import assert from "node:assert/strict";
import { DENO, SOCKETPIPE } from "../harness/run.ts";
import { testWhere } from "../harness/register.ts";
import { encodeControlMessage } from "../../lib/login/protocol.ts";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";
import { settingsOf } from "../../lib/session/settings.ts";

testWhere(
  Deno.uid() === 0 ? null : "needs root, to make a socket as another user",
  "a remote invocation told to join a socket another user listens on refuses it: exit 2, the line, no proof sent",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "socketpipe-impostor-" });
    await Deno.chown(dir, 65534, 65534);
    const path = `${dir}/login`;
    // Another user's listener, which notes whatever comes to it.
    const impostor = new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        DENO,
        "eval",
        `const l = Deno.listen({ transport: "unix", path: Deno.args[0] });
console.log("listening");
const c = await l.accept();
const got = new Uint8Array(64);
await c.write(new Uint8Array(32)).catch(() => 0);
console.log("got", (await c.read(got).catch(() => 0)) ?? 0);`,
        path,
      ],
      env: { DENO_DIR: `${dir}/deno`, HOME: dir },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = impostor.stdout.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal((await lines.read()).value?.trim(), "listening");
    const session = encodeControlMessage({
      event: "session",
      version: PROTOCOL_VERSION,
      token: "ab".repeat(32),
      listen: "local",
      port: 9,
      ports: null,
      bind: null,
      host: null,
      candidates: [],
      identity: null,
      input: true,
      output: false,
      settings: settingsOf({ reconnect: 30 }),
      rejoin: path,
    });
    const half = new Deno.Command(SOCKETPIPE[0], {
      args: [...SOCKETPIPE.slice(1), "-s", "--", "cat"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = half.stdin.getWriter();
    await writer.write(session);
    await writer.close(); // it reads nothing past its session line anyway
    const [status, said] = await Promise.all([
      half.status,
      new Response(half.stdout).text(),
      new Response(half.stderr).text(),
    ]);
    assert.equal(status.code, 2, said);
    assert.match(
      said,
      /"message":"login joined again, but the remote half waiting at \S+ refused the login: its socket is user 65534's, not this user's"/,
    );
    // The other user's socket got no proof: the connection closed with nothing sent.
    assert.equal((await lines.read()).value?.trim(), "got 0");
    await impostor.status;
    await Deno.remove(dir, { recursive: true });
  },
);
