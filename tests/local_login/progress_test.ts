/**
 * Progress, status and report: the meter in a real terminal (a private tmux server),
 * the plain lines of a log, the JSON report of each kind of end, and the proof that the
 * meter copies nothing (the commands still hold the socket itself).
 */
import assert from "node:assert/strict";
import {
  block,
  DENO,
  LOCAL_LOGIN,
  REMOTE_SOCKETPIPE,
  REPO,
  runCli,
  SHELL_LOGIN,
  SOCKETPIPE,
  spawnCli,
  waitUntilRunning,
} from "../harness/run.ts";
import { shellQuote } from "../../lib/base/shell_quote.ts";
import type { Progress } from "../../mod.ts";
import { testWhere } from "../harness/register.ts";

const tmuxAvailable = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const noTmux = tmuxAvailable ? null : "no tmux; tests/run.sh installs it as root";

/** An input command that writes `chunks` MiB, one every `pause` seconds. */
const throttled = (chunks: number, pause: number, chunkBytes = 1048576) => [
  "sh",
  "-c",
  `i=0; while [ $i -lt ${chunks} ]; do head -c ${chunkBytes} /dev/zero; sleep ${pause}; i=$((i+1)); done`,
];

/** A private tmux server with one window running `sh`, 200 columns wide. */
async function startTmux(name: string) {
  const tmux = (...args: string[]) =>
    new Deno.Command("tmux", { args: ["-L", name, "-f", "/dev/null", ...args], stdout: "piped" })
      .output();
  const started = await tmux("new-session", "-d", "-x", "200", "-y", "40", "sh");
  assert.ok(started.success, "tmux could not start");
  return {
    type: (text: string) => tmux("send-keys", "-l", text).then(() => tmux("send-keys", "Enter")),
    screen: async () => new TextDecoder().decode((await tmux("capture-pane", "-p")).stdout),
    stop: () => tmux("kill-server"),
  };
}

testWhere(
  noTmux,
  "progress on a terminal: after an ssh-style password prompt, the meter shows, updates, reaches 100% with --size, steps aside for the remote host's lines, and leaves one summary line, as pv does",
  async () => {
    const marker = `done-${crypto.randomUUID().slice(0, 8)}`;
    const tmux = await startTmux(`socketpipe-test-${marker}`);
    try {
      // A login that asks for a password on the terminal first, as ssh does.
      const prompting = [
        "sh",
        "-c",
        'printf "Password: " > /dev/tty; read -r answer < /dev/tty; exec "$@"',
        "sh",
        ...SHELL_LOGIN,
      ];
      const argv = [
        ...SOCKETPIPE,
        "-P",
        "--size",
        "8M",
        ...block("-i", ...throttled(8, 0.25)),
        ...block("-l", ...prompting),
        ...LOCAL_LOGIN.slice(LOCAL_LOGIN.indexOf("-h")),
        ...block("-r", "sh", "-c", "cat > /dev/null; echo remote-says-hello >&2; sleep 1"),
      ];
      await tmux.type(`${argv.map(shellQuote).join(" ")}; echo ${marker} $?`);
      const screens: string[] = [];
      const waitFor = async (pattern: RegExp, what: string) => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const screen = await tmux.screen();
          screens.push(screen);
          if (pattern.test(screen)) return screen;
          assert.ok(Date.now() < deadline, `${what} never showed:\n${screen}`);
          await new Promise((resolve) => setTimeout(resolve, 40));
        }
      };
      await waitFor(/^Password: ?$/m, "the password prompt");
      await tmux.type("hunter2");
      const end = await waitFor(new RegExp(`^${marker} \\d+$`, "m"), "the end of the run");
      const meterLines = new Set(
        screens.flatMap((screen) => screen.split("\n"))
          .filter((line) => /^socketpipe: .* sent, .* received, .*\/s \(average /.test(line)),
      );
      assert.ok(meterLines.size >= 2, `the meter did not update: ${[...meterLines]}`);
      assert.ok([...meterLines].some((line) => /, 100%/.test(line)), [...meterLines].join("\n"));
      assert.ok([...meterLines].some((line) => /, \d+%, ETA \d+:\d\d:\d\d$/.test(line)));
      assert.match(end, new RegExp(`^${marker} 0$`, "m"));
      assert.match(end, /^Password: hunter2$/m, "the prompt was overwritten");
      assert.match(end, /^remote-says-hello$/m, "the meter did not step aside for the remote line");
      const left = end.split("\n").filter((line) => line.startsWith("socketpipe: "));
      assert.equal(left.length, 1, `not one summary line:\n${end}`);
      assert.match(left[0], /^socketpipe: 8\.00 MiB sent, 0 B received, .*, 100%/);
    } finally {
      await tmux.stop();
    }
  },
);

testWhere(
  noTmux,
  "progress when the output command writes on the same terminal: no piece of the meter inside the output, and the summary at the end",
  async () => {
    const marker = `done-${crypto.randomUUID().slice(0, 8)}`;
    const tmux = await startTmux(`socketpipe-test-${marker}`);
    try {
      const argv = [
        ...SOCKETPIPE,
        "-P",
        ...block("-i", ...throttled(4, 0.25)),
        ...LOCAL_LOGIN,
        ...block(
          "-r",
          "sh",
          "-c",
          "exec 3<&0; cat <&3 > /dev/null & for i in 1 2 3 4 5 6; do printf 'output-%s' $i; sleep 0.3; echo; done; wait",
        ),
        ...block("-o", "cat"),
      ];
      await tmux.type(`${argv.map(shellQuote).join(" ")}; echo ${marker} $?`);
      const deadline = Date.now() + 30_000;
      let end = "";
      while (!new RegExp(`^${marker} \\d+$`, "m").test(end)) {
        assert.ok(Date.now() < deadline, `the run did not end:\n${end}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        end = await tmux.screen();
      }
      assert.match(end, new RegExp(`^${marker} 0$`, "m"));
      const lines = end.split("\n");
      for (let i = 1; i <= 6; i++) assert.ok(lines.includes(`output-${i}`), end);
      assert.ok(!lines.some((line) => /output-/.test(line) && /socketpipe/.test(line)), end);
      const left = lines.filter((line) => line.startsWith("socketpipe: "));
      assert.equal(left.length, 1, end);
      assert.match(left[0], /^socketpipe: 4\.00 MiB sent, /);
    } finally {
      await tmux.stop();
    }
  },
);

/** The `socketpipe: …` progress lines of a run's stderr. */
const progressLines = (stderr: string) =>
  stderr.split("\n").filter((line) => /^socketpipe: .* sent, .* received, /.test(line));

Deno.test("progress in a log: a transfer under 10 s prints only the final line, at 100%", async () => {
  const run = await runCli([
    "-P",
    "--size",
    "4M",
    ...block("-i", ...throttled(4, 0.1)),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "cat > /dev/null"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const lines = progressLines(run.stderr);
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], /^socketpipe: 4\.00 MiB sent, 0 B received, .*, 0:00:0\d, 100%$/);
});

Deno.test("--progress adds no copy: on the zero-copy path the commands still hold the socket", async () => {
  const dir = await Deno.makeTempDir();
  const run = await runCli([
    "-P",
    ...block(
      "-i",
      "sh",
      "-c",
      'fd=$(readlink /proc/$$/fd/1); echo "$fd" > "$D/input"; head -c 1000000 /dev/zero',
    ),
    ...LOCAL_LOGIN,
    ...block("-r", "cat"),
    ...block(
      "-o",
      "sh",
      "-c",
      'fd=$(readlink /proc/$$/fd/0); echo "$fd" > "$D/output"; cat > /dev/null',
    ),
  ], { environment: { D: dir } });
  assert.equal(run.code, 0, run.stderr);
  for (const role of ["input", "output"]) {
    assert.match(await Deno.readTextFile(`${dir}/${role}`), /^socket:\[\d+\]\n$/, role);
  }
  await Deno.remove(dir, { recursive: true });
});

const REPORT_MARK = `report-${crypto.randomUUID().slice(0, 8)}`;

/** The report (the stderr line that is a JSON object) and the run. */
async function reportOf(args: string[], signal?: Deno.Signal) {
  let run;
  if (signal) {
    const child = spawnCli(["--report", "-", ...args]);
    await waitUntilRunning(`^sh -c sleep 30 ${REPORT_MARK}$`, 20_000); // the input runs
    child.kill(signal);
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    run = {
      code: output.code,
      stderr,
      errorLines: stderr.split("\n").filter((line) => line.startsWith("socketpipe: ")),
    };
  } else {
    run = await runCli(["--report", "-", ...args]);
  }
  const json = run.stderr.split("\n").filter((line) => line.startsWith("{"));
  assert.equal(json.length, 1, `${args.join(" ")}: ${run.stderr}`);
  return { run, report: JSON.parse(json[0]) };
}

Deno.test("--report -: one JSON object whose fields match the exit status and the lines", async () => {
  const cases: {
    name: string;
    args: string[];
    status: number;
    signal?: Deno.Signal;
    fault?: Record<string, unknown>;
  }[] = [
    {
      name: "success",
      args: [...block("-i", "printf", "abc"), ...LOCAL_LOGIN, ...block("-r", "cat")],
      status: 0,
    },
    {
      name: "a command fails",
      args: [
        ...block("-i", "printf", "abc"),
        ...LOCAL_LOGIN,
        ...block("-r", "sh", "-c", "cat; exit 3"),
      ],
      status: 3,
      fault: { kind: "command", step: "command", retry: false, role: "remote" },
    },
    {
      name: "the login fails",
      args: [...block("-i", "true"), ...block("-l", "sh", "-c", "exit 255"), ...block("-r", "cat")],
      status: 2,
      fault: { kind: "loginSessionEnded", step: "login", retry: true },
    },
    {
      name: "no data connection within -t",
      args: [
        "-t",
        "1",
        ...block("-i", "true"),
        ...block("-l", "sh", "-c", "sleep 30", "sh"),
        ...block("-r", "cat"),
      ],
      status: 2,
      fault: { kind: "loginNotFinished", step: "login", retry: true },
    },
    {
      name: "interrupted",
      args: [
        ...block("-i", "sh", "-c", "sleep 30", REPORT_MARK),
        ...LOCAL_LOGIN,
        ...block("-r", "cat"),
      ],
      status: 130,
      signal: "SIGINT",
      fault: { kind: "interrupted", step: "interrupted", retry: true },
    },
  ];
  for (const { name, args, status, signal, fault } of cases) {
    const { run, report } = await reportOf(args, signal);
    assert.equal(run.code, status, `${name}: ${run.stderr}`);
    assert.equal(report.version, 1, name);
    assert.equal(report.status, status, name);
    // What failed, for a script: absent on success.
    assert.deepEqual(report.fault, fault, name);
    assert.deepEqual(
      report.messages.map((message: string) => `socketpipe: ${message}`),
      run.errorLines,
      name,
    );
    assert.equal(typeof report.durations.setupSeconds, "number", name);
    assert.ok(report.local && "sent" in report.local, name);
    if (name === "success") {
      assert.deepEqual(report.input.argv, ["printf", "abc"]);
      assert.equal(report.remote.counts.received, 3);
      assert.equal(report.local.sent, 3);
      assert.equal(report.remote.status.status, 0);
    }
    if (name === "a command fails") assert.equal(report.remote.status.status, 3);
    if (name === "the login fails") {
      assert.equal(report.remote, null);
      assert.equal(report.dataPath, "none"); // no data path ever ran
    }
    if (name === "success") assert.match(report.dataPath, /^(zero-copy|stream)$/);
    if (name === "no data connection within -t") {
      assert.match(report.messages[0], /not finished within 1 s/);
    }
  }
});

Deno.test("the library's onProgress: figures while the data flows, and the last ones marked done", async () => {
  const { socketpipe } = await import("../../mod.ts");
  const seen: Progress[] = [];
  const result = await socketpipe({
    input: throttled(3, 0.3),
    login: SHELL_LOGIN,
    host: "127.0.0.1",
    remoteSocketpipe: REMOTE_SOCKETPIPE,
    remote: ["sh", "-c", "cat > /dev/null"],
  }, { onProgress: (progress) => seen.push(progress), progressSize: 3 * 1048576 });
  assert.equal(result.status, 0, result.messages.join("\n"));
  assert.ok(seen.length >= 3, `${seen.length} reports`);
  assert.ok(seen.slice(0, -1).every((progress) => !progress.done));
  const last = seen.at(-1)!;
  assert.equal(last.done, true);
  assert.equal(last.sent, 3 * 1048576);
  assert.equal(last.fraction, 1);
  assert.ok(seen.some((progress) => progress.fraction! > 0 && progress.fraction! < 1));
  assert.ok(result.durations.transferSeconds > 0.5 && result.durations.setupSeconds > 0);
});

Deno.test("a script that used the library is no child subreaper once the call has returned: its other commands' orphans do not come back to it", async () => {
  const run = await new Deno.Command(DENO, {
    args: ["run", "-A", "--quiet", `${REPO}/tests/fixtures/library_then_orphan.ts`, ...SHELL_LOGIN],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 0, stderr);
  const outcome = JSON.parse(new TextDecoder().decode(run.stdout));
  assert.equal(outcome.status, 0, outcome.messages.join("\n"));
  assert.notEqual(outcome.orphanParent, outcome.self);
});

Deno.test("--report /dev/fd/3: a script gets the JSON alone, apart from the commands' stderr", async () => {
  const args = [
    "--report",
    "/dev/fd/3",
    ...block("-i", "printf", "abc"),
    ...LOCAL_LOGIN,
    ...block("-r", "sh", "-c", "echo remote noise >&2; cat; exit 3"),
    ...block("-o", "sh", "-c", "cat >/dev/null; echo local noise >&2"),
  ];
  // As a script writes it: the report into a pipe of its own, stderr left as it is.
  const script = `${SOCKETPIPE.map(shellQuote).join(" ")} ${
    args.map(shellQuote).join(" ")
  } 3>&1 >/dev/null`;
  const run = await new Deno.Command("sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(run.stdout);
  const stderr = new TextDecoder().decode(run.stderr);
  assert.equal(run.code, 3, stderr);
  const report = JSON.parse(stdout); // the whole of it is the one JSON object
  assert.equal(report.status, 3);
  assert.match(stderr, /remote noise/);
  assert.match(stderr, /local noise/);
  assert.doesNotMatch(stderr, /"version"/);
});

testWhere(
  noTmux,
  "progress on a terminal while a first run provisions: the meter shows the runtime's send, then the data's figures",
  async () => {
    const marker = `done-${crypto.randomUUID().slice(0, 8)}`;
    const tmux = await startTmux(`socketpipe-test-${marker}`);
    const work = await Deno.makeTempDir({ prefix: "socketpipe-meter-provision-" });
    try {
      // The "remote host" has neither deno nor socketpipe: the runtime is sent.
      const { bareSessionPath } = await import("../harness/sshd.ts");
      const bare = bareSessionPath(`${work}/system`);
      const login = [
        "env",
        `PATH=${bare}`,
        `XDG_CACHE_HOME=${work}/cache`,
        "sh",
        "-c",
        'eval "$*"',
        "sh",
      ];
      const argv = [
        ...SOCKETPIPE,
        "-P",
        ...block("-i", "printf", "x"),
        ...block("-l", ...login),
        "-h",
        "127.0.0.1",
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ];
      await tmux.type(`${argv.map(shellQuote).join(" ")} > /dev/null; echo ${marker} $?`);
      const screens: string[] = [];
      const deadline = Date.now() + 60_000;
      while (!screens.some((screen) => new RegExp(`^${marker} \\d+$`, "m").test(screen))) {
        assert.ok(Date.now() < deadline, `the run did not end:\n${screens.at(-1)}`);
        await new Promise((resolve) => setTimeout(resolve, 30));
        screens.push(await tmux.screen());
      }
      const end = screens.at(-1)!;
      assert.match(end, new RegExp(`^${marker} 0$`, "m"));
      const lines = screens.flatMap((screen) => screen.split("\n"));
      assert.ok(
        lines.some((line) =>
          /^socketpipe: provision: sending the runtime: [\d.]+ \S+ of [\d.]+ MiB, \d+%, /.test(line)
        ),
        `no provisioning progress was shown:\n${end}`,
      );
      assert.match(end, /^socketpipe: 1 B sent, 1 B received, /m);
    } finally {
      await tmux.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
);
