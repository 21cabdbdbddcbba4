/**
 * A data connection that dies while the login stays up, on a real two-host network
 * (namespaces joined by a veth pair; the login is a local one into the remote namespace,
 * so only the data connection crosses the link). The commands hold the socket: a reader
 * that takes a read error for the end of its input (a shell's `while read`) exits 0, and
 * the kernel's counts on both hosts then agree. Only the sender's count of bytes never
 * acknowledged tells the cut stream from a whole one: the run must exit 2 and name the
 * data connection, on both data paths.
 */
import assert from "node:assert/strict";
import { block, REMOTE_SOCKETPIPE, SOCKETPIPE } from "../harness/run.ts";
import { DATA_PATHS, testWhere } from "../harness/register.ts";
import { buildNetwork } from "../harness/netns.ts";

const built = await buildNetwork();
const net = typeof built === "string" ? null : built;
const why = typeof built === "string" ? built : "";
globalThis.addEventListener("unload", () => net?.destroy());

const workspace = await Deno.makeTempDir({ prefix: "socketpipe-data-connection-" });
globalThis.addEventListener("unload", () => Deno.removeSync(workspace, { recursive: true }));
// 40 MB: far more than the socket buffers of both hosts hold (a few MB each), so that
// however late the cut comes on a busy host, most of the stream has not crossed.
const lines = 400_000;
const dataFile = `${workspace}/lines`;
await Deno.writeTextFile(
  dataFile,
  Array.from({ length: lines }, (_, n) => `${String(n).padStart(8, "0")} ${"x".repeat(91)}\n`)
    .join(""),
);

/**
 * Waits until `path` holds more than `bytes` bytes; fails at once, with the run's stderr,
 * if the run ends first (so that a run that failed early names its own cause).
 */
async function waitForGrowth(
  path: string,
  bytes: number,
  deadlineMs: number,
  run: Promise<Deno.CommandOutput>,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  const state: { ended: Deno.CommandOutput | null } = { ended: null };
  run.then((output) => state.ended = output, () => {});
  for (;;) {
    let size = 0;
    try {
      size = Deno.statSync(path).size;
    } catch {
      // Not created yet.
    }
    if (size > bytes) return;
    const { ended } = state;
    if (ended) {
      const stderr = new TextDecoder().decode(ended.stderr);
      throw new Error(`the run ended (${ended.code}) after ${size} bytes: ${stderr}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${path} did not grow past ${bytes} bytes (${size})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const INPUTS = [
  { label: "cat", argv: ["cat", dataFile] },
  // As when the whole stream fits in the socket's buffers: the input has exited 0 before
  // the cut, and no command sees anything wrong.
  {
    label: "an input that ignores its write error",
    argv: ["sh", "-c", 'cat "$1" 2>/dev/null; exit 0', "sh", dataFile],
  },
];

for (const path of DATA_PATHS) {
  for (const input of INPUTS) {
    testWhere(
      net ? null : why,
      `a data connection cut while the login stays up, with a reader that takes the error for an end of file, exits 2 naming the data connection [${path.label}, ${input.label}]`,
      async () => {
        const received = `${workspace}/received-${path.label}-${input.argv[0]}`;
        const argv = net!.inside(net!.localNs, [
          ...SOCKETPIPE,
          ...path.args,
          "--peer-timeout",
          "3",
          "-h",
          net!.localAddress,
          ...block("-i", ...input.argv),
          ...block("-l", ...net!.inside(net!.remoteNs, ["sh", "-c", 'eval "$*"', "sh"])),
          ...block("-x", ...REMOTE_SOCKETPIPE),
          // A slow reader (dash reads a socket a byte at a time) whose loop ends with
          // status 0 when read fails, as on a timed-out connection.
          ...block(
            "-r",
            "sh",
            "-c",
            'while read -r line; do echo "$line"; done > "$1"',
            "sh",
            received,
          ),
        ]);
        const child = new Deno.Command(argv[0], {
          args: argv.slice(1),
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const ended = child.output();
        try {
          await waitForGrowth(received, 100_000, 20_000, ended);
          await net!.setLink(false);
          const { code, stderr } = await ended;
          const text = new TextDecoder().decode(stderr);
          const got = Deno.statSync(received).size;
          assert.ok(got < lines * 100, `the cut must lose data for the test to mean anything`);
          assert.equal(
            code,
            2,
            `exit 2, not ${code}, with ${got} of ${lines * 100} bytes: ${text}`,
          );
          assert.match(text, /^socketpipe: data connection: /m, text);
        } finally {
          await net!.setLink(true);
          try {
            child.kill("SIGKILL");
          } catch {
            // Ended.
          }
          await ended;
        }
      },
    );
  }
}

async function ip(...args: string[]): Promise<string> {
  const result = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  if (!result.success) throw new Error(`ip ${args.join(" ")}: ${text.trim()}`);
  return text;
}

testWhere(
  net ? null : why,
  "the remote half dials again while the local host is unreachable (a link just back), and the run exits 0 byte-exact",
  async () => {
    const { localNs, remoteNs, localLink, remoteLink, localAddress } = net!;
    const received = `${workspace}/received-unreachable`;
    const resolutionMs = `/proc/sys/net/ipv4/neigh/${remoteLink}/retrans_time_ms`;
    // The local host answers no address resolution, and the remote host gives up on one
    // in 0.3 s (3 tries, 0.1 s apart): its first connection fails "no route to host", as
    // one does just after a link comes back, long before the remote half's 5 s are up.
    await ip("-n", localNs, "link", "set", localLink, "arp", "off");
    await ip("netns", "exec", remoteNs, "sh", "-c", `echo 100 > ${resolutionMs}`);
    await net!.setLink(true);
    const argv = net!.inside(localNs, [
      ...SOCKETPIPE,
      "-h",
      localAddress,
      ...block("-i", "cat", dataFile),
      ...block("-l", ...net!.inside(remoteNs, ["sh", "-c", 'eval "$*"', "sh"])),
      ...block("-x", ...REMOTE_SOCKETPIPE),
      ...block("-r", "sh", "-c", 'cat > "$1"', "sh", received),
    ]);
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const run = child.output();
    const state: { ended: Deno.CommandOutput | null } = { ended: null };
    run.then((output) => state.ended = output, () => {});
    try {
      // Waits for the failed resolution (an event of the kernel's), then lets the local
      // host answer: only a remote half that dials again can still meet.
      while (!/FAILED/.test(await ip("-n", remoteNs, "neigh", "show", localAddress))) {
        if (state.ended) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await ip("-n", localNs, "link", "set", localLink, "arp", "on");
      await ip("netns", "exec", remoteNs, "sh", "-c", `echo 1000 > ${resolutionMs}`);
    }
    const { code, stderr } = await run;
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 0, text);
    assert.equal(text, "");
    assert.deepEqual(Deno.readFileSync(received), Deno.readFileSync(dataFile));
  },
);
