/**
 * The stream path's copy engine (a worker thread for each direction) through a local
 * login: byte-exact both ways at once at every record and read boundary and past 1 GiB,
 * the counts exact, `-v` naming the engine on both hosts; a worker that breaks mid-stream,
 * on either host and in either direction, fails the run (exit 2) with its line first.
 */
import assert from "node:assert/strict";
import { block, DENO, LOCAL_LOGIN, REPO, runCli, SHELL_LOGIN } from "../harness/run.ts";
import { testWhere } from "../harness/register.ts";

const ENGINE_LINE = "copy engine: a worker thread for each direction";
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
/** What a plain pipe gives for `command | sha256sum`: the oracle. */
async function throughPipe(command: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", `${command} | sha256sum`] }).output();
  return text(out.stdout).split(" ")[0];
}

/** Each side of a record (16384 bytes of data) and of nothing at all, and several MB. */
const SIZES = [0, 1, 16383, 16384, 16385, 3_000_000];

for (const mode of ["--copy", "--encrypt"]) {
  testWhere(
    null,
    `${mode}: streams of ${SIZES.join(", ")} bytes each way at once arrive exact, ` +
      `the counts exact, and -v names the copy engine on both hosts`,
    async () => {
      await Promise.all(SIZES.map(async (size) => {
        const generate = `head -c ${size} /dev/urandom`;
        const input = await new Deno.Command("sh", { args: ["-c", generate], stdout: "piped" })
          .output();
        const run = await runCli([
          "-v",
          mode,
          "--report",
          "-",
          ...block("-i", "cat"),
          ...LOCAL_LOGIN,
          ...block("-r", "cat"),
          ...block("-o", "sha256sum"),
        ], { stdin: input.stdout });
        assert.equal(run.code, 0, `${size}: ${run.stderr}`);
        const sha = await crypto.subtle.digest("SHA-256", input.stdout);
        const expected = [...new Uint8Array(sha)].map((b) => b.toString(16).padStart(2, "0"));
        assert.equal(text(run.stdout).split(" ")[0], expected.join(""), `${size} bytes`);
        const report = JSON.parse(run.stderr.trim().split("\n").at(-1)!);
        const whole = { sent: size, received: size, delivered: size };
        assert.deepEqual([report.local, report.remote.counts], [whole, whole], `${size} bytes`);
        assert.match(run.stderr, new RegExp(`^socketpipe: ${ENGINE_LINE}$`, "m"));
        assert.match(run.stderr, new RegExp(`^socketpipe -s: ${ENGINE_LINE}$`, "m"));
      }));
    },
  );
}

testWhere(
  null,
  "--encrypt: 1.1 GB each way at once arrives exact, as through a plain pipe",
  async () => {
    const size = 1_100_000_000;
    const run = await runCli([
      "--encrypt",
      "--report",
      "-",
      ...block("-i", "head", "-c", String(size), "/dev/zero"),
      ...LOCAL_LOGIN,
      ...block("-r", "cat"),
      ...block("-o", "sha256sum"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(text(run.stdout).split(" ")[0], await throughPipe(`head -c ${size} /dev/zero`));
    const report = JSON.parse(run.stderr.trim().split("\n").at(-1)!);
    assert.deepEqual(report.remote.counts, { sent: size, received: size, delivered: size });
  },
);

/** A run whose `half` runs `tests/fixtures/engine_breaks.ts`, breaking `direction`. */
function breakingRun(half: "local" | "remote", direction: "send" | "receive") {
  const breaks = [DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/engine_breaks.ts`];
  const whole = [DENO, "run", "-A", "--quiet", `${REPO}/main.ts`];
  const environment = `BREAK=${half === "remote" ? direction : "none"}`;
  return runCli([
    "--copy",
    ...block("-i", "head", "-c", "50000000", "/dev/zero"),
    ...block("-l", "env", environment, ...SHELL_LOGIN),
    "-h",
    "127.0.0.1",
    ...block("-x", ...(half === "remote" ? breaks : whole)),
    ...block("-r", "cat"),
    ...block("-o", "wc", "-c"),
  ], {
    program: half === "local" ? breaks : undefined,
    environment: { BREAK: half === "local" ? direction : "none" },
  });
}

testWhere(
  null,
  "a copy engine worker that breaks mid-stream (either host, either direction) " +
    "fails the run, exit 2, its line first",
  async () => {
    const cases = (["local", "remote"] as const).flatMap((half) =>
      (["send", "receive"] as const).map((direction) => ({ half, direction }))
    );
    await Promise.all(cases.map(async ({ half, direction }) => {
      const run = await breakingRun(half, direction);
      const label = `${half} ${direction}`;
      assert.equal(run.code, 2, `${label}: ${run.stderr}`);
      const worker = direction === "send" ? "sending" : "receiving";
      assert.equal(
        run.errorLines[0],
        `socketpipe: data connection: ${half === "remote" ? "remote " : ""}copy engine: ` +
          `the ${worker} worker failed: broken on purpose after 20 calls`,
        `${label}: ${run.stderr}`,
      );
    }));
  },
);

for (const mode of ["copy", "encrypt"]) {
  testWhere(
    null,
    `a library caller's abort mid-stream (--${mode}) ends the run within the manual's bound, ` +
      `and nothing of it (no worker) keeps the caller's process alive`,
    async () => {
      const script = `${REPO}/tests/fixtures/library_abort.ts`;
      const child = new Deno.Command(DENO, {
        args: ["run", "-A", "--quiet", script, mode, ...SHELL_LOGIN],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // The process must end by itself once the call has returned; this only bounds a
      // failure (a worker left running holds it for ever).
      const deadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const { code, stdout, stderr } = await child.output();
      clearTimeout(deadline);
      assert.equal(code, 0, `the caller's process ended by itself: ${text(stderr)}`);
      const outcome = JSON.parse(text(stdout));
      assert.equal(outcome.status, 130, text(stdout));
      assert.match(outcome.first, /^interrupted/, text(stdout));
      // The manual: "within about two seconds".
      assert.ok(outcome.ms < 2_500, `ended ${outcome.ms} ms after the abort`);
    },
  );
}

testWhere(
  null,
  "workers that cannot load (on both hosts): the run copies on the main thread, -v says why, " +
    "and the bytes arrive exact both ways",
  async () => {
    const breaks = [DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/engine_breaks.ts`];
    const bytes = new Uint8Array(3_000_000).map((_, i) => (i * 131 + (i >> 9)) & 0xff);
    const run = await runCli([
      "-v",
      "--encrypt",
      ...block("-i", "cat"),
      ...block("-l", ...SHELL_LOGIN),
      "-h",
      "127.0.0.1",
      ...block("-x", ...breaks),
      ...block("-r", "cat"),
      ...block("-o", "sha256sum"),
    ], { program: breaks, stdin: bytes, environment: { BREAK: "load" } });
    assert.equal(run.code, 0, run.stderr);
    const sha = await crypto.subtle.digest("SHA-256", bytes);
    const expected = [...new Uint8Array(sha)].map((b) => b.toString(16).padStart(2, "0"));
    assert.equal(text(run.stdout).split(" ")[0], expected.join(""));
    for (const half of ["socketpipe", "socketpipe -s"]) {
      const line = `^${half}: copy engine: the main thread \\(a worker cannot start: .*\\)$`;
      assert.match(run.stderr, new RegExp(line, "m"));
    }
  },
);

testWhere(
  null,
  "--reconnect with workers that cannot load: the run fails at once, exit 2, naming the cause " +
    "(the main thread's loops cannot frame a stream that survives cuts)",
  async () => {
    const breaks = [DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/engine_breaks.ts`];
    const run = await runCli([
      "--reconnect",
      "10",
      ...block("-i", "echo", "hi"),
      ...block("-l", ...SHELL_LOGIN),
      "-h",
      "127.0.0.1",
      ...block("-x", ...breaks),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ], { program: breaks, environment: { BREAK: "load" } });
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.errorLines[0] ?? "",
      /--reconnect needs the copy engine, which cannot run here: a worker cannot start: /,
      run.stderr,
    );
  },
);
