import assert from "node:assert/strict";
import { acceptAuthenticated } from "../lib/data_listener.ts";
import { addressesToTry, connectBack } from "../lib/connect_back.ts";
import { readExactly, writeAll } from "../lib/conn_io.ts";
import { encodeHandshake, newToken } from "../lib/handshake.ts";

Deno.test("refuses wrong, short and silent handshakes, then accepts the right token without eating data", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const token = newToken();
  const refused: string[] = [];
  const accepting = acceptAuthenticated(listener, token, {
    handshakeTimeoutMs: 300,
    onRefused: (_address, reason) => refused.push(reason),
  });
  const port = listener.addr.port;
  const wrong = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(wrong, encodeHandshake(newToken()));
  assert.equal(await readExactly(wrong, 1), null, "a wrong token gets no acceptance byte");
  wrong.close();
  const short = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(short, new TextEncoder().encode("socketpipe"));
  short.close();
  const silent = await Deno.connect({ hostname: "127.0.0.1", port });
  assert.equal(await readExactly(silent, 1), null, "a silent peer is closed after the timeout");
  silent.close();

  const right = await connectBack({ port, token, host: "127.0.0.1" });
  await writeAll(right, new TextEncoder().encode("DATA"));
  const accepted = await accepting;
  assert.deepEqual(await readExactly(accepted, 4), new TextEncoder().encode("DATA"));
  assert.equal(refused.length, 3);
  right.close();
  accepted.close();
  listener.close();
});

Deno.test("connects back to -h alone, else $SSH_CLIENT's address, then the candidates", () => {
  assert.deepEqual(addressesToTry({ host: "h", sshClient: "10.0.0.1 5 22", candidates: ["c"] }), [
    "h",
  ]);
  assert.deepEqual(addressesToTry({ sshClient: "10.0.0.1 5 22", candidates: ["c", "10.0.0.1"] }), [
    "10.0.0.1",
    "c",
  ]);
  assert.deepEqual(addressesToTry({ sshClient: null, candidates: ["c"] }), ["c"]);
});
