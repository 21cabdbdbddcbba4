/**
 * Faults: hostile and broken input, many transfers at once. Every test here counts
 * towards the summary line "faults survived: N/N" printed at the end.
 */
import assert from "node:assert/strict";
import { parseArgs } from "../../lib/cli/parse_args.ts";
import { UsageError } from "../../lib/base/faults.ts";
import { CONTROL_MARKER, readMarkedLines } from "../../lib/login/control_lines.ts";
import { PROTOCOL_VERSION } from "../../lib/base/version.ts";
import { serveRemoteHalf } from "../../lib/remote/remote_half.ts";
import {
  block,
  DENO,
  peakRssMb,
  randomFile,
  REMOTE_HALF,
  REPO,
  runCli,
  sha256File,
  spawnCli,
} from "../harness/run.ts";
import { sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

let faults = 0;
let survived = 0;
globalThis.addEventListener("unload", () => console.log(`faults survived: ${survived}/${faults}`));

/** A hostile case, counted in "faults survived"; `why`: it cannot run here. */
function faultTest(name: string, fn: () => Promise<void> | void, why: string | null = null) {
  testWhere(why, name, async () => {
    faults++;
    await fn();
    survived++;
  });
}

const noSshd = sshdAvailable ? null : "no sshd installed";

/** A small deterministic random source, so a failing case can be replayed. */
function randomSource(seed: number) {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

const WORDS = [
  "-i",
  "-l",
  "-r",
  "-o",
  "-x",
  "-h",
  "-t",
  "-b",
  "-v",
  "--copy",
  "{",
  "}",
  "cat",
  "ssh",
  "host",
  "5",
  "",
  "-",
  "--",
  "-s",
  "x y",
  "-t5",
  "-hh",
];

faultTest(
  "the argument parser, fed 20,000 random word sequences, only ever returns a command line or a usage error",
  () => {
    const random = randomSource(20261122);
    for (let round = 0; round < 20_000; round++) {
      const length = Math.floor(random() * 14);
      const argv = Array.from({ length }, () => WORDS[Math.floor(random() * WORDS.length)]);
      try {
        const parsed = parseArgs(argv);
        if (parsed.mode === "run") {
          assert.ok(
            parsed.options.login.length > 0 && parsed.options.remote.length > 0,
            JSON.stringify(argv),
          );
          assert.ok(parsed.options.input || parsed.options.output, JSON.stringify(argv));
        }
      } catch (error) {
        if (!(error instanceof UsageError)) {
          throw new Error(`argv ${JSON.stringify(argv)} threw ${error}`);
        }
        assert.ok(error.message.length > 0 && !error.message.includes("\n"));
      }
    }
  },
);

faultTest(
  "the control channel reader survives random, truncated and oversized lines and still finds the real ones",
  async () => {
    const random = randomSource(7);
    const chunks: Uint8Array[] = [];
    let expected = 0;
    for (let round = 0; round < 2000; round++) {
      const kind = Math.floor(random() * 5);
      let text: string;
      if (kind === 0) {
        text = `${CONTROL_MARKER}{"event":"ok","n":${round}}\n`;
        expected++;
      } else if (kind === 1) {
        text = `${CONTROL_MARKER}{"event":"ok","n":${round}`.slice(0, Math.floor(random() * 20)) +
          "\n";
      } else if (kind === 2) text = `${CONTROL_MARKER}${"[".repeat(Math.floor(random() * 5000))}\n`;
      else if (kind === 3) text = "x".repeat(Math.floor(random() * 200_000)) + "\n";
      else {text = String.fromCharCode(...Array.from({ length: 64 }, () =>
          Math.floor(random() * 256))) + "\n";}
      const bytes = new TextEncoder().encode(text);
      for (let offset = 0; offset < bytes.length;) {
        const size = 1 + Math.floor(random() * 70_000);
        chunks.push(bytes.subarray(offset, offset + size));
        offset += size;
      }
    }
    let found = 0;
    for await (
      const message of readMarkedLines(ReadableStream.from(chunks), { onNoise: () => {} })
    ) {
      assert.equal(message.event, "ok");
      found++;
    }
    assert.equal(found, expected);
  },
);

faultTest(
  "a remote half given garbage instead of a session line says so and exits 2, without hanging",
  async () => {
    const output: Uint8Array[] = [];
    const status = await serveRemoteHalf(["cat"], {
      controlIn: ReadableStream.from([new TextEncoder().encode("garbage\n#socketpipe:{oops\n")]),
      controlOut: new WritableStream({ write: (chunk) => void output.push(chunk) }),
    });
    assert.equal(status, 2);
    const text = new TextDecoder().decode(new Uint8Array(output.flatMap((c) => [...c])));
    assert.match(
      text,
      /"event":"error","step":"session","message":"login channel closed before the session line"/,
    );
  },
);

faultTest(
  "a remote half of another protocol version is refused with both versions named",
  async () => {
    const output: Uint8Array[] = [];
    const line = `${CONTROL_MARKER}{"event":"session","version":99,"token":"${
      "00".repeat(32)
    }","port":1}\n`;
    const status = await serveRemoteHalf(["cat"], {
      controlIn: ReadableStream.from([new TextEncoder().encode(line)]),
      controlOut: new WritableStream({ write: (chunk) => void output.push(chunk) }),
    });
    assert.equal(status, 2);
    const text = new TextDecoder().decode(new Uint8Array(output.flatMap((c) => [...c])));
    assert.match(
      text,
      new RegExp(
        `protocol mismatch: the local socketpipe speaks protocol 99, ` +
          `this remote socketpipe speaks ${PROTOCOL_VERSION}`,
      ),
    );
  },
);

const sshd = sshdAvailable ? await startSshd() : null;
globalThis.addEventListener("unload", () => sshd?.stopSync());
const work = await Deno.makeTempDir({ prefix: "socketpipe-faults-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));

faultTest(
  "500 hostile connections (wrong, short, oversized, slow) during setup, then the real one: byte-exact",
  async () => {
    const input = await randomFile(work, "flood-in", 8_000_000);
    const out = `${work}/flood-out`;
    const run = await runCli([
      ...block("-i", "cat", input),
      ...block("-l", ...sshd!.login),
      ...block("-x", DENO, "run", "-A", "--quiet", `${REPO}/tests/fixtures/flood_then_serve.ts`),
      ...block("-r", "dd", `of=${out}`, "bs=64k", "status=none"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^flood: 500 hostile connections, 0 accepted, \d+ ms$/m);
    assert.match(run.stderr, /^socketpipe: refused \d+ unauthenticated data connection\(s\)$/m);
    assert.equal(await sha256File(out), await sha256File(input));
  },
  noSshd,
);

faultTest(
  "50 concurrent transfers to the same remote host: all byte-exact, all exit 0",
  async () => {
    const runs = Array.from({ length: 50 }, async (_, index) => {
      const input = await randomFile(work, `concurrent-${index}`, 200_000 + index * 1000);
      const out = `${input}.out`;
      // Fifty ssh logins at once (most of a second of CPU each here) saturate a two-core
      // host for a minute and more: a half can go unscheduled longer than the default 20 s
      // dead-peer bound, which its host's answers on the data connection extend.
      const run = await runCli([
        ...(index % 2 ? ["--copy"] : []),
        ...block("-i", "cat", input),
        ...block("-l", ...sshd!.login),
        ...REMOTE_HALF,
        ...block("-r", "cat"),
        ...block("-o", "dd", `of=${out}`, "status=none"),
      ]);
      assert.equal(run.code, 0, `transfer ${index}: ${run.stderr}`);
      assert.equal(await sha256File(out), await sha256File(input), `transfer ${index}`);
    });
    await Promise.all(runs);
  },
  noSshd,
);

async function remoteHalfPid(marker: string): Promise<number | null> {
  const out = await new Deno.Command("pgrep", {
    args: ["-f", `main\\.ts -s -- .*${marker}`],
    stdout: "piped",
  })
    .output();
  // The login shell's -c string holds the same words: keep the Deno process itself.
  const pids = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim()).map(Number)
    .filter((pid) => {
      try {
        return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === "deno";
      } catch {
        return false;
      }
    });
  return pids.length ? pids[0] : null;
}

for (const pathArgs of [[], ["--copy"]]) {
  faultTest(
    `a slow consumer (256 MB through a rate-limited reader${
      pathArgs.length ? ", --copy" : ""
    }): peak RSS of each half stays under 100 MB`,
    async () => {
      const marker = `slow${crypto.randomUUID().slice(0, 8)}`;
      const child = spawnCli([
        ...pathArgs,
        ...block("-i", "head", "-c", String(256 * 1024 * 1024), "/dev/zero"),
        ...block("-l", ...sshd!.login),
        ...REMOTE_HALF,
        ...block("-r", "sh", "-c", "exec cat", marker),
        ...block("-o", DENO, "run", "--quiet", `${REPO}/tests/fixtures/slow_reader.ts`),
      ]);
      const ended = child.output();
      let done = false;
      ended.then(() => done = true);
      let local = 0;
      let remote = 0;
      let remotePid: number | null = null;
      while (!done) {
        local = Math.max(local, peakRssMb(child.pid));
        remotePid ??= await remoteHalfPid(marker);
        if (remotePid) remote = Math.max(remote, peakRssMb(remotePid));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const output = await ended;
      assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
      assert.equal(new TextDecoder().decode(output.stdout).trim(), String(256 * 1024 * 1024));
      console.log(
        `peak RSS: local half ${local.toFixed(1)} MB, remote half ${remote.toFixed(1)} MB`,
      );
      assert.ok(remotePid !== null, "the remote half was sampled");
      assert.ok(local > 0 && local < 100, `local half peak RSS ${local} MB`);
      assert.ok(remote > 0 && remote < 100, `remote half peak RSS ${remote} MB`);
    },
    noSshd,
  );
}
