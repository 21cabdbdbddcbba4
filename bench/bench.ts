/**
 * `deno task bench`: socketpipe against ssh pipes and an nc pair, through the test
 * suite's private sshd on 127.0.0.1. Prints a Markdown table: throughput in three shapes,
 * socketpipe's own CPU time and peak RSS per half (sampled from /proc, so the commands'
 * own CPU is not counted), and setup latency against `ssh host true`.
 *
 * Then the setup of a provisioned remote half: its first run (bundle and runtime sent) and
 * its cached runs.
 *
 * Then `--limit`'s accuracy, and the buffer study: a bursty producer (bursts of 64 MiB
 * at full speed, 0.4 s pauses, as `zfs send` on a fragmented pool) into a consumer that
 * behaves as a tape drive (bench/tape.ts: 100 MiB/s, a 0.5 s reposition whenever it is
 * starved), with the kernel's own socket buffers, with `--buffer 64M`, and with
 * `mbuffer -m 64M` on the remote side (where mbuffer is installed).
 *
 * BENCH_BYTES sets the stream size (default 2 GiB); BENCH_RUNS the latency runs (21).
 * BENCH_ONLY (words separated by commas) runs only the throughput rows whose method names
 * one of them, and the setup latency only if one is "setup": a quick look at a change,
 * printed but not charted (a full run writes the chart).
 */
import { block } from "../tests/harness/run.ts";
import { startSshd } from "../tests/harness/sshd.ts";
import { barChartSvg } from "./chart.ts";

const BYTES = Number(Deno.env.get("BENCH_BYTES") ?? 2 * 1024 ** 3);
const LATENCY_RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 21);
const ONLY = Deno.env.get("BENCH_ONLY")?.split(",").map((word) => word.trim()) ?? null;
/** Whether the row (a method, or "setup") is in this run. */
const selected = (name: string) => !ONLY || ONLY.some((word) => name.includes(word));
const DENO = Deno.execPath();
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const SOCKETPIPE = [DENO, "run", "-A", "--quiet", MAIN];
const CLOCK_TICKS = 100; // Linux USER_HZ
const decoder = new TextDecoder();

const sshd = await startSshd();
const ssh = sshd.login;
const quoted = (words: string[]) => words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
const zeros = `head -c ${BYTES} /dev/zero`;
const sink = "dd of=/dev/null bs=1M status=none";
/** A remote PATH without deno or socketpipe, for the provisioned runs. */
const BARE_PATH = "/usr/local/bin:/usr/bin:/bin";
const FIRST_RUNS = 3;

interface Measurement {
  seconds: number;
  cpuSeconds?: number;
  localRssMb?: number;
  remoteRssMb?: number;
}

/** /proc/<pid>: CPU seconds (this process only) and peak RSS in MB; null once gone. */
function sample(pid: number): { cpu: number; rssMb: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpu = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime + stime
    const hwm = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmHWM:\s+(\d+) kB/m);
    return hwm ? { cpu, rssMb: Number(hwm[1]) / 1024 } : null; // a zombie has no memory figures
  } catch {
    return null;
  }
}

function remoteHalfPid(): number | null {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (cmdline[0] === DENO && cmdline.includes("-s") && cmdline.includes(MAIN)) {
        return Number(entry.name);
      }
    } catch {
      // Gone.
    }
  }
  return null;
}

/** Runs a shell command line; for socketpipe, samples both halves every 20 ms. */
async function measure(script: string, watchSocketpipe = false): Promise<Measurement> {
  const started = performance.now();
  const child = new Deno.Command("sh", { args: ["-c", script], stdout: "null", stderr: "piped" })
    .spawn();
  const last = { local: { cpu: 0, rssMb: 0 }, remote: { cpu: 0, rssMb: 0 } };
  let remotePid: number | null = null;
  let localPid: number | null = null;
  let done = false;
  const status = child.status.then((s) => {
    done = true;
    return s;
  });
  while (watchSocketpipe && !done) {
    localPid ??= childOf(child.pid);
    remotePid ??= remoteHalfPid();
    for (const [half, pid] of [["local", localPid], ["remote", remotePid]] as const) {
      const now = pid ? sample(pid) : null;
      if (now) {
        last[half] = {
          cpu: Math.max(last[half].cpu, now.cpu),
          rssMb: Math.max(last[half].rssMb, now.rssMb),
        };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const result = await status;
  const seconds = (performance.now() - started) / 1000;
  if (!result.success) {
    const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
    throw new Error(`failed (${result.code}): ${script}\n${stderr}`);
  }
  await child.stderr.cancel();
  return watchSocketpipe
    ? {
      seconds,
      cpuSeconds: last.local.cpu + last.remote.cpu,
      localRssMb: last.local.rssMb,
      remoteRssMb: last.remote.rssMb,
    }
    : { seconds };
}

/** Runs a shell command line to its end: its seconds and its stderr (it must succeed). */
async function runScript(script: string): Promise<{ seconds: number; stderr: string }> {
  const started = performance.now();
  const { success, code, stderr } = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = decoder.decode(stderr);
  if (!success) throw new Error(`failed (${code}): ${script}\n${text}`);
  return { seconds: (performance.now() - started) / 1000, stderr: text };
}

/** The socketpipe process started by `sh -c` (sh execs it, so it is the child itself). */
function childOf(pid: number): number | null {
  return sample(pid) ? pid : null;
}

function socketpipeScript(args: string[]): string {
  return `exec ${
    quoted([...SOCKETPIPE, ...args, "-l", "{", ...ssh, "}", "-x", "{", ...SOCKETPIPE, "}"])
  }`;
}

/**
 * socketpipe with the remote half provisioned (no -x), on a remote session whose PATH has
 * no deno and whose cache is `cache`: the first run to a fresh cache sends the bundle and
 * the runtime, later ones use them.
 */
function provisionedScript(args: string[], cache: string): string {
  const login = [...ssh, "env", `PATH=${BARE_PATH}`, `XDG_CACHE_HOME=${cache}`];
  return `exec ${quoted([...SOCKETPIPE, ...args, "-l", "{", ...login, "}"])}`;
}

const shapes = {
  "input → remote": {
    ssh: (cipher: string[]) => `${zeros} | ${quoted([...ssh, ...cipher])} ${quoted([sink])}`,
    socketpipe: [
      ...block("-i", "head", "-c", String(BYTES), "/dev/zero"),
      ...block("-r", ...sink.split(" ")),
    ],
    nc: (port: number) =>
      `nc -l 127.0.0.1 ${port} > /dev/null & sleep 0.2; ${zeros} | nc -N 127.0.0.1 ${port}; wait`,
  },
  "remote → output": {
    ssh: (cipher: string[]) => `${quoted([...ssh, ...cipher])} ${quoted([zeros])} | ${sink}`,
    socketpipe: [
      ...block("-r", "head", "-c", String(BYTES), "/dev/zero"),
      ...block("-o", ...sink.split(" ")),
    ],
    nc: (port: number) =>
      `${zeros} | nc -N -l 127.0.0.1 ${port} & sleep 0.2; nc 127.0.0.1 ${port} | ${sink}; wait`,
  },
  "input → remote → output": {
    ssh: (cipher: string[]) => `${zeros} | ${quoted([...ssh, ...cipher])} cat | ${sink}`,
    socketpipe: [
      ...block("-i", "head", "-c", String(BYTES), "/dev/zero"),
      ...block("-r", "cat"),
      ...block("-o", ...sink.split(" ")),
    ],
    nc: null,
  },
};

const haveNc =
  (await new Deno.Command("sh", { args: ["-c", "command -v nc"], stdout: "null" }).output())
    .success;
const mb = BYTES / 1024 / 1024;
const rows: string[] = [];
const ratios: Record<string, number> = {};
const encryptRatios: Record<string, number> = {};
/** Each shape's seconds by method, for the targets that compare two methods. */
const secondsOf: Record<string, Record<string, number>> = {};
const chart: { shape: string; method: string; mbps: number }[] = [];
let zeroCopyCpuPerGb = 0;
const fmt = (n: number, digits = 1) => n.toFixed(digits);

for (const [shape, commands] of Object.entries(shapes)) {
  const sshPipe = await measure(commands.ssh([]));
  const methods: [string, () => Promise<Measurement | null>][] = [
    ["ssh pipe (default cipher)", () => Promise.resolve(sshPipe)],
    ["ssh pipe, aes128-gcm", () => measure(commands.ssh(["-c", "aes128-gcm@openssh.com"]))],
    ["socketpipe, zero-copy", () => measure(socketpipeScript(commands.socketpipe), true)],
    [
      "socketpipe --copy",
      () => measure(socketpipeScript(["--copy", ...commands.socketpipe]), true),
    ],
    [
      "socketpipe --encrypt (userspace)",
      () => measure(socketpipeScript(["--encrypt", ...commands.socketpipe]), true),
    ],
    [
      "socketpipe --reconnect",
      () => measure(socketpipeScript(["--reconnect", "60", ...commands.socketpipe]), true),
    ],
    ...(shape === "input → remote"
      ? [[
        "socketpipe, zero-copy, --progress",
        () => measure(socketpipeScript(["--progress", ...commands.socketpipe]), true),
      ] as [string, () => Promise<Measurement>]]
      : []),
    [
      "nc pair",
      () =>
        haveNc && commands.nc
          ? measure(commands.nc(40000 + Math.floor(Math.random() * 20000)))
          : Promise.resolve(null),
    ],
  ];
  const variants: [string, Measurement | null][] = [];
  for (const [name, run] of methods) {
    if (name === "ssh pipe (default cipher)" || selected(name)) variants.push([name, await run()]);
  }
  for (const [name, m] of variants) {
    if (!m) {
      rows.push(`| ${shape} | ${name} | n/a | | | | |`);
      continue;
    }
    const ratio = sshPipe.seconds / m.seconds;
    (secondsOf[shape] ??= {})[name] = m.seconds;
    chart.push({ shape, method: name, mbps: mb / m.seconds });
    if (name === "socketpipe --encrypt (userspace)") encryptRatios[shape] = ratio;
    if (name === "socketpipe, zero-copy") {
      ratios[shape] = ratio;
      zeroCopyCpuPerGb = Math.max(zeroCopyCpuPerGb, (m.cpuSeconds ?? 0) / (BYTES / 1024 ** 3));
    }
    rows.push(
      `| ${shape} | ${name} | ${fmt(mb / m.seconds, 0)} | ${fmt(ratio, 2)}× | ${
        m.cpuSeconds === undefined ? "" : fmt(m.cpuSeconds, 2)
      } | ${m.localRssMb === undefined ? "" : fmt(m.localRssMb)} | ${
        m.remoteRssMb === undefined ? "" : fmt(m.remoteRssMb)
      } |`,
    );
  }
}

const MIB = 1024 * 1024;
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

// --limit: a limited transfer's own seconds (from its report, so setup does not count)
// against what the rate allows.
const limitRows: string[] = [];
if (selected("limit")) {
  const bytes = 200 * MIB;
  for (const [rate, perSecond] of [["20M", 20 * MIB], ["100M", 100 * MIB]] as const) {
    for (const [path, flags] of [["zero-copy", []], ["--copy", ["--copy"]]] as const) {
      const report = await Deno.makeTempFile({ prefix: "socketpipe-bench-report-" });
      await runScript(socketpipeScript([
        ...flags,
        "--limit",
        rate,
        "--report",
        report,
        ...block("-i", "head", "-c", String(bytes), "/dev/zero"),
        ...block("-r", ...sink.split(" ")),
      ]));
      const seconds = JSON.parse(await Deno.readTextFile(report)).durations.transferSeconds;
      await Deno.remove(report);
      const expected = bytes / perSecond;
      limitRows.push(
        `| ${rate} | ${path} | ${fmt(seconds, 2)} | ${fmt(expected, 2)} | ${
          fmt(bytes / MIB / seconds, 1)
        } | ${fmt((100 * (expected - seconds)) / expected, 1)} % |`,
      );
    }
  }
}

// Interrupted: how soon a run ends after SIGTERM, once its data connection is up, with its
// sender held to a byte a second (the paced sender must not hold the run; the manual says
// about two seconds). The suite asserts only that it ends, with 143 and the right line.
const interruptRows: string[] = [];
if (selected("interrupt")) {
  for (const [path, flags] of [["zero-copy", []], ["--copy", ["--copy"]]] as const) {
    const times: number[] = [];
    for (let run = 0; run < 5; run++) {
      const first = await Deno.makeTempFile({ prefix: "socketpipe-bench-first-" });
      const child = new Deno.Command("sh", {
        args: [
          "-c",
          socketpipeScript([
            ...flags,
            "--limit",
            "1",
            ...block("-i", "yes"),
            ...block("-r", "sh", "-c", 'head -c 1 > "$1"; cat > /dev/null', "sh", first),
          ]),
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      while ((await Deno.stat(first)).size === 0) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const signalled = performance.now();
      child.kill("SIGTERM");
      const { code } = await child.status;
      times.push((performance.now() - signalled) / 1000);
      await Deno.remove(first);
      if (code !== 143) throw new Error(`--limit 1 then SIGTERM (${path}) ended ${code}, not 143`);
    }
    interruptRows.push(`| ${path} | ${fmt(median(times), 2)} | ${fmt(Math.max(...times), 2)} |`);
  }
}

// The buffer study: does a large socket buffer give a stalling consumer the slack that
// mbuffer gives it, without the copy?
const bufferRows: string[] = [];
if (selected("buffer")) {
  const bursts = 8;
  const producer = [
    "sh",
    "-c",
    `i=0; while [ $i -lt ${bursts} ]; do head -c ${
      64 * MIB
    } /dev/zero; sleep 0.4; i=$((i+1)); done`,
  ];
  const tape = quoted([
    DENO,
    "run",
    "--quiet",
    new URL("./tape.ts", import.meta.url).pathname,
    "100",
    "500",
  ]);
  const haveMbuffer = (await new Deno.Command("sh", {
    args: ["-c", "command -v mbuffer"],
    stdout: "null",
  }).output()).success;
  for (const [path, flags] of [["zero-copy", []], ["--copy", ["--copy"]]] as const) {
    const slacks: [string, string[], string | null][] = [
      ["the kernel's own socket buffers", [], tape],
      ["--buffer 64M", ["--buffer", "64M"], tape],
      ["mbuffer -m 64M on the remote side", [], haveMbuffer ? `mbuffer -q -m 64M | ${tape}` : null],
    ];
    for (const [slack, more, remote] of slacks) {
      if (remote === null) {
        bufferRows.push(`| ${path} | ${slack} | n/a | | |`);
        continue;
      }
      const { stderr } = await runScript(socketpipeScript([
        ...flags,
        ...more,
        ...block("-i", ...producer),
        ...block("-r", "sh", "-c", remote),
      ]));
      const line = stderr.match(/tape: (\d+) bytes, (\d+) repositions, ([\d.]+) s/);
      if (!line) throw new Error(`no tape line in: ${stderr}`);
      const seconds = Number(line[3]);
      bufferRows.push(
        `| ${path} | ${slack} | ${fmt(seconds, 2)} | ${line[2]} | ${
          fmt(Number(line[1]) / MIB / seconds, 0)
        } |`,
      );
    }
  }
}

const runSetup = selected("setup");
const loginTimes: number[] = [];
const transferTimes: number[] = [];
const cachedTimes: number[] = [];
const firstTimes: number[] = [];
if (runSetup) {
  const oneByte = [...block("-i", "printf", "x"), ...block("-r", "cat"), ...block("-o", "cat")];
  for (let run = 0; run < FIRST_RUNS; run++) {
    const fresh = await Deno.makeTempDir({ prefix: "socketpipe-bench-cache-" });
    firstTimes.push((await measure(provisionedScript(oneByte, fresh))).seconds);
    await Deno.remove(fresh, { recursive: true });
  }
  const cache = await Deno.makeTempDir({ prefix: "socketpipe-bench-cache-" });
  await measure(provisionedScript(oneByte, cache));
  for (let run = 0; run < LATENCY_RUNS; run++) {
    loginTimes.push((await measure(`${quoted(ssh)} true`)).seconds);
    transferTimes.push((await measure(socketpipeScript(oneByte))).seconds);
    cachedTimes.push((await measure(provisionedScript(oneByte, cache))).seconds);
  }
  await Deno.remove(cache, { recursive: true });
}
const loginMedian = median(loginTimes);
const transferMedian = median(transferTimes);
const cachedMedian = median(cachedTimes);
const firstMedian = median(firstTimes);
await sshd.stop();

const cpu = decoder.decode(
  (await new Deno.Command("sh", {
    args: ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2; nproc; uname -r"],
    stdout: "piped",
  }).output()).stdout,
).trim().split("\n");
console.log(
  `socketpipe benchmark, ${fmt(mb / 1024, 2)} GiB of zeros per run, through an sshd on 127.0.0.1`,
);
console.log(
  `machine: ${cpu[0].trim()}, ${cpu[1]} cores, Linux ${cpu[2]}; ${
    new Date().toISOString().slice(0, 10)
  }\n`,
);
console.log(
  "| shape | method | MB/s | vs ssh pipe | socketpipe CPU s | local RSS MB | remote RSS MB |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
if (limitRows.length > 0) {
  console.log(`\n--limit, 200 MiB into dd, the transfer's own seconds (from --report):\n`);
  console.log("| --limit | path | seconds | at the rate | MiB/s | error |");
  console.log("| --- | --- | ---: | ---: | ---: | ---: |");
  for (const row of limitRows) console.log(row);
}
if (interruptRows.length > 0) {
  console.log(
    `\n--limit 1, SIGTERM once the first byte has crossed: seconds until it ended (5 runs):\n`,
  );
  console.log("| path | median | slowest |");
  console.log("| --- | ---: | ---: |");
  for (const row of interruptRows) console.log(row);
}
if (bufferRows.length > 0) {
  console.log(
    "\nbuffer study: 8 bursts of 64 MiB with 0.4 s pauses into a tape-like consumer " +
      "(100 MiB/s, a 0.5 s reposition when starved):\n",
  );
  console.log("| path | slack | tape seconds | repositions | MiB/s at the tape |");
  console.log("| --- | --- | ---: | ---: | ---: |");
  for (const row of bufferRows) console.log(row);
}
if (runSetup) {
  console.log(
    `\nsetup latency (median of ${LATENCY_RUNS}): 1-byte socketpipe transfer ${
      fmt(transferMedian * 1000, 0)
    } ms, ` +
      `ssh host true ${fmt(loginMedian * 1000, 0)} ms: ${
        fmt(transferMedian / loginMedian, 2)
      }× (-x)`,
  );
  console.log(
    `provisioned remote half (no -x, no deno on the remote PATH): first run ${
      fmt(firstMedian * 1000, 0)
    } ms (median of ${FIRST_RUNS}, bundle and runtime sent); cached run ${
      fmt(cachedMedian * 1000, 0)
    } ms: ${fmt(cachedMedian / loginMedian, 2)}× ssh host true`,
  );
}
console.log("\ntargets:");
const verdict = (ok: boolean) => (ok ? "met" : "NOT MET");
if (ratios["input → remote"] !== undefined) {
  console.log(
    `- zero-copy input → remote ≥ 2.5× the ssh pipe: ${fmt(ratios["input → remote"], 2)}× — ${
      verdict(ratios["input → remote"] >= 2.5)
    }`,
  );
  console.log(
    `- socketpipe's CPU on the zero-copy path < 0.1 s per GB: ${fmt(zeroCopyCpuPerGb, 3)} s/GB — ${
      verdict(zeroCopyCpuPerGb < 0.1)
    }`,
  );
}
const encrypted = Object.values(encryptRatios);
if (encrypted.length > 0) {
  console.log(
    `- --encrypt (userspace) ≥ the ssh pipe (default cipher) in every shape: ${
      encrypted.map((ratio) => `${fmt(ratio, 2)}×`).join(", ")
    } — ${verdict(encrypted.every((ratio) => ratio >= 1))}`,
  );
}
/** In every shape that ran both: how many times faster `method` was than `than`. */
const fasterThan = (method: string, than: string) =>
  Object.values(secondsOf).filter((by) => by[method] && by[than]).map((by) =>
    by[than] / by[method]
  );
const targets: [string, string, string, number][] = [
  ["--encrypt (userspace)", "socketpipe --encrypt (userspace)", "ssh pipe, aes128-gcm", 1.5],
  ["--encrypt (userspace)", "socketpipe --encrypt (userspace)", "ssh pipe (default cipher)", 2],
  ["--copy", "socketpipe --copy", "socketpipe, zero-copy", 0.8],
  ["--reconnect (no cut)", "socketpipe --reconnect", "socketpipe --copy", 0.9],
];
for (const [label, method, than, least] of targets) {
  const found = fasterThan(method, than);
  if (found.length === 0) continue;
  console.log(
    `- ${label} ≥ ${least}× ${than} in every shape: ${
      found.map((ratio) => `${fmt(ratio, 2)}×`).join(", ")
    } — ${verdict(found.every((ratio) => ratio >= least))}`,
  );
}
if (runSetup) {
  console.log(
    `- setup latency ≤ 1.15× ssh host true: ${fmt(transferMedian / loginMedian, 2)}× with -x, ${
      fmt(cachedMedian / loginMedian, 2)
    }× provisioned and cached — ${verdict(cachedMedian / loginMedian <= 1.15)}`,
  );
}
if (ONLY) Deno.exit(0); // a partial run: no chart

// The chart beside the table: throughput per shape and method, and setup latency.
const chartPath = new URL("./throughput.svg", import.meta.url).pathname;
const shapeNames = [...new Set(chart.map((entry) => entry.shape))];
await Deno.writeTextFile(
  chartPath,
  barChartSvg(`socketpipe benchmark, ${new Date().toISOString().slice(0, 10)}`, [
    ...shapeNames.map((shape) => ({
      heading: `${shape} (MB/s, ${fmt(mb / 1024, 2)} GiB)`,
      unit: "MB/s",
      bars: chart.filter((entry) => entry.shape === shape)
        .map((entry) => ({ label: entry.method, value: entry.mbps })),
    })),
    {
      heading: `setup latency (ms, median of ${LATENCY_RUNS})`,
      unit: "ms",
      bars: [
        { label: "ssh host true", value: loginMedian * 1000 },
        { label: "socketpipe -x, 1 byte", value: transferMedian * 1000 },
        { label: "socketpipe provisioned, cached", value: cachedMedian * 1000 },
      ],
    },
  ]),
);
console.log(`\nchart: ${chartPath}`);
