/**
 * The progress figures and the meter, on a fake clock and a fake output: the figures a
 * watch takes, pauses left out, the meter's redraws on a terminal and its plain lines in a
 * log every ten seconds (no test here waits for real time to pass).
 */
import assert from "node:assert/strict";
import { size } from "../../lib/session/option.ts";
import { PLAIN_LINE_SECONDS, ProgressMeter } from "../../lib/progress/progress_meter.ts";
import {
  formatBytes,
  formatDuration,
  progressLine,
  progressOf,
  ProgressWatch,
} from "../../lib/progress/progress.ts";
import { statusLine } from "../../lib/progress/status_line.ts";
import { provisionProgressLine } from "../../lib/provision/provision.ts";

Deno.test("the meter on a terminal leaves its last figures as a line of their own", () => {
  const written: string[] = [];
  const meter = new ProgressMeter({ write: (text) => written.push(text), isTerminal: true });
  const figures = progressOf({ sent: 2048, received: 0 }, 2, { main: "sent" });
  meter.show(figures);
  meter.finish({ ...figures, done: true });
  assert.equal(
    written.at(-1),
    "\rsocketpipe: 2.00 KiB sent, 0 B received, 1.00 KiB/s (average 1.00 KiB/s), 0:00:02\x1b[K\n",
  );
  const quiet: string[] = [];
  const summaryOnly = new ProgressMeter({ write: (text) => quiet.push(text), isTerminal: true }, {
    summaryOnly: true,
  });
  summaryOnly.show(figures);
  assert.deepEqual(quiet, []); // nothing drawn while the output command writes
  summaryOnly.finish({ ...figures, done: true });
  assert.deepEqual(quiet, [
    "socketpipe: 2.00 KiB sent, 0 B received, 1.00 KiB/s (average 1.00 KiB/s), 0:00:02\n",
  ]);
});

Deno.test("time spent paused (Ctrl-Z) counts in neither the elapsed time, nor the average, nor the ETA", () => {
  let now = 0;
  let sent = 0;
  const watch = new ProgressWatch(() => ({ sent, received: 0 }), {
    main: "sent",
    size: 4000,
    onProgress: () => {},
    clock: { now: () => now, every: () => 0, after: () => 0, clear: () => {} },
  });
  try {
    now = 250;
    sent = 500;
    watch.take();
    now = 500;
    sent = 1000;
    watch.take();
    // Stopped for a minute: no timer fired, no byte moved.
    now = 60_500;
    // One interval of the wait counts (the timer's own); the minute does not.
    const resumed = watch.take();
    assert.equal(resumed.elapsedSeconds, 0.75);
    assert.equal(resumed.etaSeconds, 2.25); // 3000 bytes left at 1000 per 0.75 s
    now = 61_000;
    sent = 2000;
    const after = watch.take();
    assert.equal(after.elapsedSeconds, 1.25);
    assert.equal(after.averageRate, 1600);
    // Over the run's time since the pause (1000 bytes in 0.75 s), not over the minute.
    assert.equal(Math.round(after.rate), 1333);
  } finally {
    watch.stop();
  }
});

Deno.test("the meter shows provisioning's send before the data flows, and the data's own figures after", () => {
  const written: string[] = [];
  const meter = new ProgressMeter({ write: (text) => written.push(text), isTerminal: true });
  const sending = { what: "runtime" as const, bytes: 1048576, size: 4194304, seconds: 1 };
  meter.showLine(provisionProgressLine(sending), sending.seconds);
  assert.equal(
    written.at(-1),
    "\rsocketpipe: provision: sending the runtime: 1.00 MiB of 4.00 MiB, 25%, 1.00 MiB/s, 0:00:01\x1b[K",
  );
  meter.show(progressOf({ sent: 2048, received: 0 }, 2, { main: "sent" }));
  assert.match(written.at(-1)!, /^\rsocketpipe: 2\.00 KiB sent, /);
  meter.finish(null);
});

Deno.test("progress in a log: a longer transfer prints a plain line every 10 s, then the final one", () => {
  // 64 KiB every half second for 11.5 s, as a throttled input sends it; figures every 250 ms.
  let now = 0;
  let sent = 0;
  const lines: string[] = [];
  const meter = new ProgressMeter({ write: (text) => lines.push(text), isTerminal: false });
  const watch = new ProgressWatch(() => ({ sent, received: 0 }), {
    main: "sent",
    onProgress: (progress) => meter.show(progress),
    clock: { now: () => now, every: () => 0, after: () => 0, clear: () => {} },
  });
  for (let tick = 1; tick <= 46; tick++) {
    now = tick * 250;
    if (tick % 2 === 0) sent += 65536;
    meter.show(watch.take());
  }
  meter.finish(watch.stop());
  assert.equal(PLAIN_LINE_SECONDS, 10);
  assert.equal(lines.length, 2, lines.join(""));
  assert.match(lines[0], /, 0:00:1[01]\n$/);
  assert.match(lines[1], /^socketpipe: 1\.44 MiB sent, 0 B received, /);
});

Deno.test("a meter in a log shows another kind's figures on their own clock: the data's first line comes 10 s into the data", () => {
  const lines: string[] = [];
  const meter = new ProgressMeter({ write: (text) => lines.push(text), isTerminal: false });
  meter.showLine("provision: sending the runtime", 12); // provisioning, 12 s in: a line
  meter.show(progressOf({ sent: 1, received: 0 }, 3, { main: "sent" })); // the data, 3 s in: none
  meter.show(progressOf({ sent: 2, received: 0 }, 10, { main: "sent" })); // 10 s in: a line
  assert.deepEqual(lines.map((line) => line.split(",")[0]), [
    "socketpipe: provision: sending the runtime\n",
    "socketpipe: 2 B sent",
  ]);
});

Deno.test("the figures: sizes in binary units, durations as h:mm:ss, the ETA from the average rate", () => {
  assert.deepEqual(
    [0, 1023, 1024, 1536, 10 * 2 ** 20, 3 * 2 ** 40].map(formatBytes),
    ["0 B", "1023 B", "1.00 KiB", "1.50 KiB", "10.0 MiB", "3.00 TiB"],
  );
  assert.deepEqual([0, 59, 61, 3600, 36_000].map(formatDuration), [
    "0:00:00",
    "0:00:59",
    "0:01:01",
    "1:00:00",
    "10:00:00",
  ]);
  assert.deepEqual(["4M", "1k", "2G", "10", "1.5M", "lots", "-1"].map(size), [
    4 * 2 ** 20,
    1024,
    2 * 2 ** 30,
    10,
    1.5 * 2 ** 20,
    null,
    null,
  ]);
  const halfway = progressOf({ sent: 0, received: 500 }, 5, { main: "received", size: 1000 });
  assert.deepEqual(
    [halfway.averageRate, halfway.fraction, halfway.etaSeconds, halfway.rate],
    [100, 0.5, 5, 100],
  );
  const unknown = progressOf({ sent: 0, received: 0 }, 0, { main: "sent" });
  assert.deepEqual([unknown.averageRate, unknown.fraction, unknown.etaSeconds], [0, null, null]);
  assert.equal(progressOf({ sent: 5, received: 0 }, 1, { main: "sent", size: 0 }).fraction, 1);
  assert.equal(
    progressLine(halfway),
    "0 B sent, 500 B received, 100 B/s (average 100 B/s), 0:00:05, 50%, ETA 0:00:05",
  );
});

Deno.test("the SIGUSR1 line before and after the data connection", () => {
  assert.equal(statusLine(null, 1500, { main: "sent" }), "status: setting up (1.5 s)");
  assert.equal(
    statusLine({ sent: 2048, received: 0 }, 2000, { main: "sent" }),
    "status: 2.00 KiB sent, 0 B received, 1.00 KiB/s (average 1.00 KiB/s), 0:00:02",
  );
});
