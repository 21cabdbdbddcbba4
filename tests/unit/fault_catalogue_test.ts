/**
 * The manual cannot drift from the code: every fault in the catalogue appears in the
 * man page's FAULTS section with its example line and its exit status.
 */
import assert from "node:assert/strict";
import { COMMAND_LINES, FAULTS } from "../../lib/base/faults.ts";
import { REPO } from "../harness/run.ts";

/** The FAULTS section as plain text, one entry (a .TP paragraph) per element. */
function faultsSection(): string[] {
  const page = Deno.readTextFileSync(`${REPO}/man/socketpipe.1`);
  const start = page.indexOf("\n.SH FAULTS\n");
  const end = page.indexOf("\n.SH ", start + 1);
  assert.ok(start >= 0 && end > start, "the man page has a FAULTS section");
  const plain = page.slice(start, end)
    .replaceAll("\\-", "-")
    .replaceAll("\\(aq", "'")
    .replaceAll("\\e", "\\")
    .replace(/\\f[BIRP]/g, "")
    .split("\n")
    .filter((line) => !/^\.(nf|fi|RS|RE|IP|PP|B|BR|I)?$/.test(line))
    .map((line) => line.replace(/^\.(B|I|BR|BI) /, ""))
    .join("\n");
  return plain.split("\n.TP\n").slice(1).map((entry) => `${entry}\n`);
}

Deno.test("every fault in the catalogue appears in the manual's FAULTS section with its line and exit status", () => {
  const entries = faultsSection();
  const missing: string[] = [];
  for (const [name, fault] of Object.entries(FAULTS)) {
    const line = (fault.line as (...args: unknown[]) => string)(...fault.example);
    const status = (fault.status as (...args: unknown[]) => number)(...fault.example);
    const entry = entries.find((text) => text.includes(`: ${line}\n`));
    if (!entry) {
      missing.push(`${name}: no line "${line}"`);
      continue;
    }
    const said = status === 0 ? /exit status unchanged/i : new RegExp(`\\bexit ${status}\\b`, "i");
    if (!said.test(entry)) missing.push(`${name}: its entry does not say ${said}`);
  }
  assert.deepEqual(missing, []);
});

Deno.test("a fault's line is one line, and its status is 2, 1 for a closed stream, 128+N for an interrupt, or unchanged", () => {
  for (const [name, fault] of Object.entries(FAULTS)) {
    const line = (fault.line as (...args: unknown[]) => string)(...fault.example);
    const status = (fault.status as (...args: unknown[]) => number)(...fault.example);
    assert.ok(!line.includes("\n") && line.length > 0, name);
    const signalled = ["interrupted", "interruptedUnconfirmed", "remoteHalfStopped"].includes(name);
    assert.ok(
      [0, 2].includes(status) || name === "closedStream" || (signalled && status > 128),
      `${name}: ${status}`,
    );
  }
  assert.equal(FAULTS.interrupted.status("SIGTERM"), 143);
  assert.equal(FAULTS.remoteHalfStopped.status("SIGHUP"), 129);
});

Deno.test("every line the bootstrap's shell can fail with is in the manual's FAULTS section", async () => {
  const { BOOTSTRAP_SCRIPT } = await import("../../lib/provision/remote_bootstrap.ts");
  const section = faultsSection().join("\n");
  const missing: string[] = [];
  const templates = BOOTSTRAP_SCRIPT.split("\n")
    .filter((line) => /\bfail "/.test(line) && !/^fail\(\)/.test(line.trim()))
    .map((line) => line.slice(line.indexOf('fail "') + 6, line.lastIndexOf('"')));
  assert.ok(templates.length >= 10, `${templates.length} fail lines found`);
  for (const template of templates) {
    // Each $variable or $(command) stands for some text in the manual's example line.
    const pattern = template
      .replace(/\$\([^()]*\)/g, "\0")
      .replace(/\$\{?[a-z_0-9]+\}?/g, "\0")
      .split("\0")
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".+");
    if (!new RegExp(`socketpipe: remote half: provision: ${pattern}`).test(section)) {
      missing.push(template);
    }
  }
  assert.deepEqual(missing, []);
});

/** Example lines of each kind of command line, as the manual shows them. */
const COMMAND_LINE_EXAMPLES: string[] = [
  COMMAND_LINES.ended("remote", "{ dd of=/dev/st0 }", "exited with status 1", " on tapehost"),
  COMMAND_LINES.ended("remote", "{ gzip }", "killed by SIGKILL", " on tapehost") +
  COMMAND_LINES.took(1048576, 67108864),
  COMMAND_LINES.cutOff(
    COMMAND_LINES.ended("input", "{ yes }", "killed by SIGPIPE", ""),
    "remote",
    "{ head -c 1000 }",
    1000,
  ),
  COMMAND_LINES.asThroughPipe("input", "{ cat big }", 8388608, "remote", "{ head -c 10 }", 10, 141),
  COMMAND_LINES.ended("remote", "{ nosuch }", "could not start: not found", " on tapehost"),
  COMMAND_LINES.ended("remote", "{ dd if=/dev/stdin }", "exited with status 1", " on tapehost") +
  COMMAND_LINES.reopened,
];

Deno.test("every kind of command line (outcome's) is shown in the manual's FAULTS section", () => {
  const section = faultsSection().join("\n");
  const missing = COMMAND_LINE_EXAMPLES.filter((line) =>
    !section.includes(`socketpipe: ${line}\n`)
  );
  assert.deepEqual(missing, []);
});

Deno.test("outcome.ts and the other modules write no line of their own: every line's words come from the catalogue", async () => {
  // The phrases a line is made of live in faults.ts alone.
  for (
    const file of [
      "local/outcome.ts",
      "local/local_half.ts",
      "local/explain_ending.ts",
      "remote/remote_half.ts",
      "local/meeting.ts",
    ]
  ) {
    const text = await Deno.readTextFile(new URL(`../../lib/${file}`, import.meta.url));
    for (
      const phrase of [
        "stopped reading after",
        "as through a pipe",
        "vanished before",
        "stream truncated",
      ]
    ) {
      assert.ok(!text.includes(`${phrase}`) || text.includes(`// ${phrase}`), `${file}: ${phrase}`);
    }
  }
});
