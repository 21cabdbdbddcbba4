import assert from "node:assert/strict";
import type { CommandStatus } from "../../lib/base/command_status.ts";
import { decideOutcome, type RunEvidence } from "../../lib/local/outcome.ts";
import { FAULTS } from "../../lib/base/faults.ts";

const ok: CommandStatus = { status: 0, signal: null, failedToStart: null };
const exited = (status: number): CommandStatus => ({ status, signal: null, failedToStart: null });
const sigpipe: CommandStatus = { status: 141, signal: "SIGPIPE", failedToStart: null };
const sigkill: CommandStatus = { status: 137, signal: "SIGKILL", failedToStart: null };

/** A clean run of 100 bytes each way, with every command; `change` adjusts it. */
function report(change: (r: RunEvidence) => void = () => {}): RunEvidence {
  const r: RunEvidence = {
    input: { argv: ["tar", "cf", "-", "."], status: ok, cutOff: false },
    remote: {
      argv: ["gzip"],
      status: ok,
      cutOff: false,
      counts: { sent: 40, received: 100, delivered: 100 },
    },
    output: { argv: ["dd", "of=x"], status: ok, cutOff: false },
    local: { sent: 100, received: 40, delivered: 40 },
    remoteMissing: null,
    transportError: null,
  };
  change(r);
  return r;
}

Deno.test("exit 0 when every command exited 0 and the counts agree", () => {
  assert.deepEqual(decideOutcome(report()), { status: 0, messages: [] });
});

Deno.test("a failing input command is reported (the C original hid it)", () => {
  const outcome = decideOutcome(report((r) => r.input!.status = exited(2)));
  assert.deepEqual(outcome, {
    status: 2,
    messages: ["input command { tar cf - . } exited with status 2"],
    fault: { kind: "command", step: "command", retry: false, role: "input" },
  });
});

Deno.test("the rightmost failing command gives the status, as in set -o pipefail, a SIGPIPE included; every failure has a line", () => {
  for (const remote of [exited(4), sigpipe]) {
    const outcome = decideOutcome(report((r) => {
      r.input!.status = exited(3);
      r.remote!.status = remote;
      r.output!.status = exited(5);
    }));
    assert.equal(outcome.status, 5);
    assert.equal(outcome.messages.length, 3);
    assert.equal(
      decideOutcome(report((r) => {
        r.input!.status = exited(3);
        r.remote!.status = remote;
      })).status,
      remote.status,
    );
  }
});

Deno.test("a command killed by signal N gives 128+N", () => {
  const outcome = decideOutcome(report((r) => r.output!.status = sigkill));
  assert.equal(outcome.status, 137);
  assert.deepEqual(outcome.messages, ["output command { dd of=x } killed by SIGKILL"]);
});

Deno.test("SIGPIPE counts as in set -o pipefail, and its line names the reader that stopped", () => {
  const cutInput = decideOutcome(
    report((r) => r.input = { ...r.input!, status: sigpipe, cutOff: true }),
  );
  assert.equal(cutInput.status, 141);
  assert.deepEqual(cutInput.messages, [
    "input command { tar cf - . } killed by SIGPIPE: the remote command { gzip } " +
    "stopped reading after 100 bytes",
  ]);
  const cutRemote = decideOutcome(report((r) => {
    r.remote!.cutOff = true;
    r.remote!.status = sigpipe;
  }));
  assert.equal(cutRemote.status, 141);
  assert.match(
    cutRemote.messages[0],
    /killed by SIGPIPE: the output command \{ dd of=x \} stopped reading after \d+ bytes$/,
  );
  assert.equal(decideOutcome(report((r) => r.input!.status = sigpipe)).status, 141);
  assert.deepEqual(decideOutcome(report((r) => r.input!.status = sigpipe)).messages, [
    "input command { tar cf - . } killed by SIGPIPE",
  ]);
});

Deno.test("a remote command that dies mid-stream is reported with what it read, not as a truncated stream", () => {
  const outcome = decideOutcome(report((r) => {
    r.remote!.status = sigkill;
    r.remote!.counts.delivered = 30;
  }));
  assert.equal(outcome.status, 137);
  assert.deepEqual(outcome.messages, [
    "remote command { gzip } killed by SIGKILL after reading 30 of the 100 bytes that arrived for it",
  ]);
});

Deno.test("exit 2 when the remote half received fewer bytes than were sent", () => {
  const outcome = decideOutcome(report((r) => r.remote!.counts.received = 60));
  assert.equal(outcome.status, 2);
  assert.deepEqual(outcome.messages, [
    "data connection: stream truncated: input sent 100 bytes, the remote half received 60",
  ]);
});

Deno.test("exit 2 when the local half received fewer bytes than the remote command sent", () => {
  const outcome = decideOutcome(report((r) => r.local.received = 10));
  assert.equal(outcome.status, 2);
  assert.deepEqual(outcome.messages, [
    "data connection: stream truncated: the remote command sent 40 bytes, the local half received 10",
  ]);
});

Deno.test("exit 2 when the remote half vanished, even if every local command exited 0", () => {
  const outcome = decideOutcome(report((r) => {
    r.remote = null;
    r.remoteMissing = FAULTS.remoteVanished.of("killed by SIGKILL");
  }));
  assert.deepEqual(outcome, {
    status: 2,
    messages: [
      "remote half vanished: the login channel closed before its report (login killed by SIGKILL)",
    ],
    fault: { kind: "remoteVanished", step: "transfer", retry: true },
  });
});

Deno.test("exit 2 when the data connection failed, named first, with the command failures after it", () => {
  const outcome = decideOutcome(report((r) => {
    r.transportError = "receiving failed after 10 bytes: Connection reset by peer";
    r.output!.status = exited(1);
  }));
  assert.equal(outcome.status, 2);
  assert.equal(outcome.messages.length, 2);
  // A stream cut between the hosts explains an output that then failed (gunzip: unexpected
  // end of file), not the other way round.
  assert.match(outcome.messages[0], /^data connection: receiving failed after 10 bytes/);
});

Deno.test("a command that could not start is named with why", () => {
  const outcome = decideOutcome(
    report((r) => r.remote!.status = { status: 127, signal: null, failedToStart: "not found" }),
  );
  assert.equal(outcome.status, 127);
  assert.match(
    outcome.messages[0],
    /^remote command \{ gzip \} could not start: not found on the remote host/,
  );
});

Deno.test("the cause comes first: the remote command that could not start, then the input it cut off", () => {
  const outcome = decideOutcome(report((r) => {
    r.input = { ...r.input!, status: sigpipe, cutOff: true };
    r.remote!.status = { status: 127, signal: null, failedToStart: "not found" };
    r.remote!.counts.delivered = 0;
  }));
  assert.equal(outcome.status, 127);
  assert.deepEqual(outcome.messages, [
    "remote command { gzip } could not start: not found on the remote host",
    "input command { tar cf - . } killed by SIGPIPE: the remote command { gzip } stopped reading after 0 bytes",
  ]);
});

Deno.test("the cause comes first: bytes lost between the hosts, then what the commands did", () => {
  const outcome = decideOutcome(report((r) => {
    r.remote!.counts.received = 60;
    r.output!.status = exited(1);
  }));
  assert.equal(outcome.status, 2);
  assert.match(outcome.messages[0], /^data connection: stream truncated: input sent 100 bytes/);
  assert.match(outcome.messages[1], /^output command \{ dd of=x \} exited with status 1/);
});

Deno.test("a stream that arrived longer than it was sent is said to be altered, not truncated", () => {
  const outcome = decideOutcome(report((r) => r.local.received = 45));
  assert.equal(outcome.status, 2);
  assert.deepEqual(outcome.messages, [
    "data connection: stream altered: the remote command sent 40 bytes, the local half received 45 (more than was sent: bytes were added on the path)",
  ]);
});
