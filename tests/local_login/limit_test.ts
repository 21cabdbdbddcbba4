/**
 * `--limit`: each direction's sender held to the rate, by the kernel's pacing on the
 * zero-copy path (the commands still hold the socket) and by the copy loop on the stream
 * path; the meter shows the limited rate; a bad rate is a usage error. The transfer's own
 * seconds come from the report, so setup does not count. Only lower bounds on time here: a
 * busy host slows a run; the rate's accuracy is measured in bench/.
 */
import assert from "node:assert/strict";
import {
  block,
  LEFTOVERS_GONE_MS,
  LOCAL_LOGIN,
  runCli,
  spawnCli,
  waitUntilGone,
} from "../harness/run.ts";

const MIB = 1024 * 1024;
const BYTES = 100 * MIB; // 5 s at the rate

/** The run's report, read from the file it was written to. */
async function reportOf(path: string) {
  return JSON.parse(await Deno.readTextFile(path));
}

for (
  const [name, flags, direction] of [
    ["zero-copy, input → remote", [], "up"],
    ["zero-copy, remote → output", [], "down"],
    ["the stream path (--copy), input → remote", ["--copy"], "up"],
    ["the stream path (--copy), remote → output", ["--copy"], "down"],
    // The receiving worker wakes the sending one for each confirmation: still paced.
    [
      "the stream framed to survive cuts (--reconnect), input → remote",
      ["--reconnect", "30"],
      "up",
    ],
  ] as const
) {
  Deno.test(`--limit 20M: 100 MiB take at least 4.5 s, ${name}`, async () => {
    const dir = await Deno.makeTempDir();
    const producer = [
      "sh",
      "-c",
      `fd=$(readlink /proc/$$/fd/1); echo "$fd" > ${dir}/held; exec head -c ${BYTES} /dev/zero`,
    ];
    const consumer = ["sh", "-c", "exec wc -c"];
    const result = await runCli([
      "-v",
      ...flags,
      "--limit",
      "20M",
      "--report",
      `${dir}/report.json`,
      ...(direction === "up" ? block("-i", ...producer) : []),
      ...LOCAL_LOGIN,
      ...block("-r", ...(direction === "up" ? consumer : producer)),
      ...(direction === "down" ? block("-o", ...consumer) : []),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const report = await reportOf(`${dir}/report.json`);
    const seconds = report.durations.transferSeconds;
    // The limit holds: never faster than the rate. How close to the rate it comes on an idle
    // host is bench/'s to measure (a busy host only slows a run).
    assert.ok(seconds >= 4.5, `100 MiB at 20 MiB/s took ${seconds} s`);
    const sender = direction === "up" ? "socketpipe" : "socketpipe -s";
    const pacedBy = flags.length ? "the copy loop" : "the kernel's pacing of the socket";
    assert.match(
      result.stderr,
      new RegExp(
        `^${sender}: sending limited to 20 MiB/s \\(20971520 bytes/s\\) by ${pacedBy}`,
        "m",
      ),
    );
    const held = (await Deno.readTextFile(`${dir}/held`)).trim();
    assert.match(held, flags.length ? /^pipe:/ : /^socket:/, `the producer's stdout is ${held}`);
    if (direction === "down") {
      assert.equal(new TextDecoder().decode(result.stdout).trim(), String(BYTES));
    }
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test(
  "--limit with -P: the meter's average rate is the limited one",
  async () => {
    const result = await runCli([
      "-P",
      "--limit",
      "8M",
      ...block("-i", "head", "-c", String(24 * MIB), "/dev/zero"),
      ...LOCAL_LOGIN,
      ...block("-r", "sh", "-c", "cat > /dev/null"),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const average = [...result.stderr.matchAll(/average ([\d.]+) MiB\/s/g)].at(-1);
    assert.ok(average, result.stderr);
    const rate = Number(average[1]);
    // At most the limit (unlimited, this host moves GB/s); how near it is bench/'s.
    assert.ok(rate > 0 && rate <= 8.4, `the average rate was ${rate} MiB/s`);
  },
);

Deno.test("--limit takes bytes per second, with K, M or G; anything else is a usage error", async () => {
  for (const bad of ["fast", "0", "-5", "10T", "1e6", "20 M", ""]) {
    const result = await runCli([
      "--limit",
      bad,
      ...block("-i", "true"),
      ...LOCAL_LOGIN,
      ...block("-r", "true"),
    ]);
    assert.equal(result.code, 1, `--limit '${bad}': ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^socketpipe: bad value for --limit: '${bad}'`, "m"));
  }
});

for (
  const [name, flags] of [["zero-copy", []], ["the stream path (--copy)", ["--copy"]]] as const
) {
  Deno.test(`--limit 1 then SIGTERM: both hosts stop, exit 143, nothing left (${name})`, async () => {
    const dir = await Deno.makeTempDir();
    const mark = `limited-${crypto.randomUUID().slice(0, 8)}`;
    // A sender held to a byte a second, stopped once its first byte has crossed (the data
    // connection is up): the paced sender must not hold the run. How soon it ends is
    // bench/'s to measure.
    const child = spawnCli([
      ...flags,
      "--limit",
      "1",
      ...block("-i", "sh", "-c", "yes", mark),
      ...LOCAL_LOGIN,
      ...block("-r", "sh", "-c", 'head -c 1 > "$1"; cat > /dev/null', mark, `${dir}/first`),
    ]);
    const ended = child.output();
    let over = false;
    ended.finally(() => over = true);
    while (!over && !await Deno.stat(`${dir}/first`).then((info) => info.size > 0, () => false)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGTERM");
    const output = await ended;
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 143, stderr);
    assert.match(
      stderr,
      /^socketpipe: interrupted by SIGTERM: stopped every command of this run on both hosts$/m,
    );
    assert.deepEqual(await waitUntilGone(mark, LEFTOVERS_GONE_MS), []);
    await Deno.remove(dir, { recursive: true });
  });
}
