import assert from "node:assert/strict";
import { messageOf } from "../lib/errors.ts";

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
