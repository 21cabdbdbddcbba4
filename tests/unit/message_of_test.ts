import assert from "node:assert/strict";
import { messageOf } from "../../lib/base/message_of.ts";

Deno.test("messageOf: one line; a system error named as strerror names it, without its number", () => {
  assert.equal(messageOf(new Error("first\n  second")), "first second");
  assert.equal(messageOf(new Error("Broken pipe (os error 32)")), "broken pipe");
  assert.equal(
    messageOf(new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)")),
    "connection reset by peer",
  );
  assert.equal(messageOf("plain"), "plain");
  assert.equal(messageOf(new Error("Options (see -h)")), "Options (see -h)");
});

Deno.test("messageOf drops a system error's number wherever it sits in the message", () => {
  assert.equal(
    messageOf(new Error("127.0.0.1:9: Connection refused (os error 111); 10.0.0.1:9: x")),
    "127.0.0.1:9: Connection refused; 10.0.0.1:9: x",
  );
  assert.equal(messageOf(new Error("Connection refused (os error 111)")), "connection refused");
});
