/**
 * `--encrypt` on a kernel that has TLS: a guest (tests/harness/guest.ts) runs the cases of
 * tests/guest/in_guest.ts through a local login: the module there but not loaded, the
 * kernel engine on both hosts, against the userspace engine both ways, and a tampered
 * record; each case is a test here.
 */
import assert from "node:assert/strict";
import { guestMissing, runInGuest } from "../harness/guest.ts";
import { testWhere } from "../harness/register.ts";
import { DENO, REPO } from "../harness/run.ts";
import { CASES } from "./cases.ts";

const why = guestMissing();
let guestOutput = "";
if (why === null) {
  const script = await Deno.makeTempFile({ prefix: "socketpipe-guest-", suffix: ".sh" });
  await Deno.writeTextFile(
    script,
    [
      "export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp",
      "ip link set lo up",
      // in_guest.ts loads the tls module itself, after its first case.
      `cd ${REPO} && ${DENO} run -A --quiet tests/guest/in_guest.ts`,
    ].join("\n") + "\n",
  );
  try {
    guestOutput = await runInGuest(script);
  } finally {
    await Deno.remove(script);
  }
}

/** The guest's line for `name`: "case NAME: ok (…)" or "case NAME: FAILED: why". */
const lineOf = (name: string) =>
  guestOutput.split(/\r?\n/).map((line) => line.slice(line.indexOf("case ")))
    .find((line) => line.startsWith(`case ${name}: `)) ?? "";

testWhere(why, "the guest boots, has kernel TLS, and runs every case", () => {
  assert.ok(!guestOutput.includes("guest: modprobe tls failed"), guestOutput.slice(-3000));
  assert.match(guestOutput, /^cases done\r?$/m, guestOutput.slice(-3000));
});

for (const name of Object.values(CASES)) {
  testWhere(why, `in a guest with kernel TLS: ${name}`, () => {
    assert.match(lineOf(name), /: ok \(\d+ ms\)\r?$/, lineOf(name) || guestOutput.slice(-3000));
  });
}
