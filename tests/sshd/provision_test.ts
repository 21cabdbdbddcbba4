/**
 * Provisioning through a real sshd whose sessions have neither `deno` nor `socketpipe` on
 * their PATH: the remote half is sent over the login, checked, cached and reused; every
 * transfer is compared byte for byte. Each test has its own cache directory on the
 * "remote" host (`XDG_CACHE_HOME`, or a home of its own), given by the login command.
 */
import assert from "node:assert/strict";
import {
  block,
  type CliRun,
  DENO,
  LEFTOVERS_GONE_MS,
  MAIN,
  processesMatching,
  REPO,
  runCli,
  sha256,
  spawnCli,
} from "../harness/run.ts";
import { bareSessionPath, type PrivateSshd, sshdAvailable, startSshd } from "../harness/sshd.ts";
import { shellQuote } from "../../lib/base/shell_quote.ts";
import { VERSION } from "../../lib/base/version.ts";
import { testWhere } from "../harness/register.ts";

const work = await Deno.makeTempDir({ prefix: "socketpipe-provision-" });
globalThis.addEventListener("unload", () => Deno.removeSync(work, { recursive: true }));
/** A session PATH with the system's commands, but neither deno nor socketpipe. */
const BARE_PATH = bareSessionPath(`${work}/system`);
const noSshd = sshdAvailable ? null : "no sshd installed";
const sshd: PrivateSshd | null = noSshd ? null : await startSshd({ sessionPath: BARE_PATH });
globalThis.addEventListener("unload", () => sshd?.stopSync());
const data = crypto.getRandomValues(new Uint8Array(65536)).map((_, i) => i * 7);
const unique = () => crypto.randomUUID().slice(0, 8);

/** A directory holding only a `deno` of this version, for a remote PATH with Deno. */
const denoOnly = `${work}/deno-only`;
await Deno.mkdir(denoOnly);
await Deno.symlink(DENO, `${denoOnly}/deno`);

/** A provisioning test: it needs the private sshd and, with `rootOnly`, root. */
function provisionTest(
  test: string | { name: string; rootOnly: boolean },
  fn: () => Promise<void>,
) {
  const { name, rootOnly } = typeof test === "string" ? { name: test, rootOnly: false } : test;
  testWhere(noSshd ?? (rootOnly && Deno.uid() !== 0 ? "not root" : null), name, fn);
}

/** A fresh cache directory for the remote host. */
async function freshCache(): Promise<string> {
  return await Deno.makeTempDir({ dir: work, prefix: "cache-" });
}

/**
 * `-v -i { cat } -l { ssh testhost env … } -r { cat } -o { cat }`, fed `data`: the
 * login's `env` sets the remote session's variables (`XDG_CACHE_HOME`, `PATH`, …).
 */
async function transfer(
  variables: string[],
  options: { args?: string[]; before?: string[]; environment?: Record<string, string> } = {},
): Promise<CliRun & { exact: boolean }> {
  const login = [...sshd!.login, ...(options.before ?? []), "env", ...variables];
  const run = await runCli([
    "-v",
    ...(options.args ?? []),
    ...block("-i", "cat"),
    ...block("-l", ...login),
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ], { stdin: data, environment: options.environment });
  return { ...run, exact: await sha256(run.stdout) === await sha256(data) };
}

const sent = (run: CliRun, what: string) =>
  new RegExp(`^socketpipe: provision: sent the ${what}: \\d+ bytes`, "m").test(run.stderr);

/** The files under `dir`, relative, sorted. */
function filesUnder(dir: string, prefix = ""): string[] {
  const found: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${prefix}${entry.name}`;
      if (entry.isDirectory) found.push(...filesUnder(`${dir}/${entry.name}`, `${path}/`));
      else found.push(path);
    }
  } catch { /* no such directory */ }
  return found.sort();
}

/** What socketpipe keeps in a cache directory: its entries, the runtime, any partial file. */
function cached(cache: string) {
  const files = filesUnder(`${cache}/socketpipe`).filter((file) => !file.startsWith("deno-dir/"));
  return {
    bundles: files.filter((file) => file.endsWith("/socketpipe.js")),
    runtimes: files.filter((file) => /^deno-[^/]+\/deno$/.test(file)),
    partial: files.filter((file) => file.includes(".part")),
  };
}

provisionTest("provision: the test sshd's sessions have neither deno nor socketpipe", async () => {
  const probe = await new Deno.Command(sshd!.login[0], {
    args: [...sshd!.login.slice(1), "command -v deno; command -v socketpipe; echo end"],
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(probe.stdout), "end\n");
});

provisionTest(
  "provision: a first transfer sends the bundle and the runtime; the next sends nothing; --provision always sends again; --provision never: not found, with the hint",
  async () => {
    const cache = await freshCache();
    const first = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.exact);
    assert.ok(sent(first, "bundle") && sent(first, "runtime"), first.stderr);
    assert.deepEqual(cached(cache).bundles.length, 1);
    assert.deepEqual(cached(cache).runtimes, [`deno-${Deno.version.deno}/deno`]);
    assert.ok(cached(cache).bundles[0].startsWith(`${VERSION}-`));
    assert.equal(Deno.statSync(`${cache}/socketpipe`).mode! & 0o777, 0o700);
    const runtimeWritten = Deno.statSync(`${cache}/socketpipe/${cached(cache).runtimes[0]}`).mtime;

    const second = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(second.exact);
    assert.ok(!sent(second, "bundle") && !sent(second, "runtime"), second.stderr);
    assert.match(second.stderr, /provision: the remote host uses the cached bundle, Deno at /);
    assert.deepEqual(
      Deno.statSync(`${cache}/socketpipe/${cached(cache).runtimes[0]}`).mtime,
      runtimeWritten,
    );

    const again = await transfer([`XDG_CACHE_HOME=${cache}`], { args: ["--provision", "always"] });
    assert.equal(again.code, 0, again.stderr);
    assert.ok(again.exact && sent(again, "bundle") && sent(again, "runtime"), again.stderr);
    assert.deepEqual(cached(cache).partial, []);

    const never = await transfer([`XDG_CACHE_HOME=${cache}`], { args: ["--provision", "never"] });
    assert.equal(never.code, 2);
    assert.match(
      never.errorLines.at(-1)!,
      /^socketpipe: login \{ .* \}: remote socketpipe \{ socketpipe \} not found \(status 127\); .*-x \{ \/path\/to\/socketpipe \}$/,
    );
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: with a Deno of this version on the remote PATH, only the bundle is sent",
  async () => {
    const cache = await freshCache();
    const run = await transfer([`XDG_CACHE_HOME=${cache}`, `PATH=${denoOnly}:${BARE_PATH}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.exact);
    assert.ok(sent(run, "bundle") && !sent(run, "runtime"), run.stderr);
    assert.match(run.stderr, new RegExp(`uses a new bundle, Deno at ${denoOnly}/deno`));
    assert.deepEqual(cached(cache).runtimes, []);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: a socketpipe on the remote PATH that speaks this protocol is used; nothing is sent",
  async () => {
    const cache = await freshCache();
    const bin = await Deno.makeTempDir({ dir: work, prefix: "bin-" });
    await Deno.writeTextFile(
      `${bin}/socketpipe`,
      `#!/bin/sh\nexec ${shellQuote(DENO)} run -A --quiet ${shellQuote(MAIN)} "$@"\n`,
      { mode: 0o755 },
    );
    const run = await transfer([`XDG_CACHE_HOME=${cache}`, `PATH=${bin}:${BARE_PATH}`]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.exact);
    assert.ok(!sent(run, "bundle") && !sent(run, "runtime"), run.stderr);
    assert.match(run.stderr, new RegExp(`uses ${bin}/socketpipe on the PATH`));
    assert.deepEqual(cached(cache).bundles, []);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: ten first runs at once all succeed, send the runtime once and leave one cache entry",
  async () => {
    const cache = await freshCache();
    const runs = await Promise.all(
      Array.from({ length: 10 }, () => transfer([`XDG_CACHE_HOME=${cache}`])),
    );
    for (const run of runs) {
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.exact);
      // What another run was still sending is not damage, nor a cache being made a failure.
      assert.doesNotMatch(run.stderr, /again|cannot be|passed over/, run.stderr);
    }
    const senders = runs.filter((run) => sent(run, "runtime"));
    assert.equal(senders.length, 1, runs.map((run) => run.stderr).join("\n---\n"));
    const entry = cached(cache);
    assert.equal(entry.bundles.length, 1);
    assert.equal(entry.runtimes.length, 1);
    assert.deepEqual(entry.partial, []);
    const again = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.ok(again.exact && !sent(again, "bundle") && !sent(again, "runtime"), again.stderr);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: a truncated bundle and a bundle whose hash differs are found and replaced",
  async () => {
    const cache = await freshCache();
    const variables = [`XDG_CACHE_HOME=${cache}`, `PATH=${denoOnly}:${BARE_PATH}`];
    const first = await transfer(variables);
    assert.equal(first.code, 0, first.stderr);
    const bundle = `${cache}/socketpipe/${cached(cache).bundles[0]}`;
    const original = await Deno.readFile(bundle);
    const damages = {
      truncated: original.subarray(0, original.length >> 1),
      tampered: original.map((byte, i) => i === original.length - 2 ? byte ^ 1 : byte),
    };
    for (const [damage, bytes] of Object.entries(damages)) {
      await Deno.writeFile(bundle, bytes);
      const run = await transfer(variables);
      assert.equal(run.code, 0, `${damage}: ${run.stderr}`);
      assert.ok(run.exact, damage);
      assert.ok(sent(run, "bundle"), `${damage}: ${run.stderr}`);
      assert.deepEqual(await Deno.readFile(bundle), original, damage);
    }
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: a read-only home falls back to a private directory under $TMPDIR",
  async () => {
    const home = await Deno.makeTempDir({ dir: work, prefix: "home-" });
    const tmp = await Deno.makeTempDir({ dir: work, prefix: "tmp-" });
    // root writes through a directory's mode bits: its home is made read-only by a
    // read-only bind mount in a mount namespace of the login's own.
    const asRoot = Deno.uid() === 0;
    if (!asRoot) await Deno.chmod(home, 0o555);
    const before = asRoot
      ? ["unshare", "-m", "sh", "-c", shellQuote('mount --bind -o ro "$0" "$0" && exec "$@"'), home]
      : [];
    const variables = [`HOME=${home}`, `TMPDIR=${tmp}`, `PATH=${denoOnly}:${BARE_PATH}`];
    const run = await transfer(variables, { before });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.exact);
    const fallback = `${tmp}/socketpipe-${Deno.uid()}`;
    assert.match(run.stderr, new RegExp(`cache ${fallback}`));
    // -v says why the home was passed over.
    assert.match(
      run.stderr,
      /\(passed over: \S+\/\.cache\/socketpipe: \S+\/\.cache does not exist\)/,
    );
    assert.equal(filesUnder(fallback).filter((f) => f.endsWith("/socketpipe.js")).length, 1);
    assert.deepEqual([...Deno.readDirSync(home)], []);
    if (!asRoot) await Deno.chmod(home, 0o755);
  },
);

provisionTest(
  "provision: a remote host of another platform with no Deno gets one line naming it",
  async () => {
    const bin = await Deno.makeTempDir({ dir: work, prefix: "uname-" });
    await Deno.writeTextFile(`${bin}/uname`, "#!/bin/sh\necho FreeBSD amd64\n", { mode: 0o755 });
    const cache = await freshCache();
    const run = await transfer([`XDG_CACHE_HOME=${cache}`, `PATH=${bin}:${BARE_PATH}`]);
    assert.equal(run.code, 2);
    assert.deepEqual(run.errorLines.slice(-1), [
      `socketpipe: remote half: provision: the remote host is FreeBSD amd64 and has no Deno ${Deno.version.deno}; ` +
      `this socketpipe can send one only to Linux ${Deno.build.arch}: install Deno ${Deno.version.deno} or socketpipe there, or use -x`,
    ]);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: a runtime transfer cut off leaves no file that a later run uses",
  async () => {
    const cache = await freshCache();
    const marker = `spcut${unique()}`;
    const runtimeDir = `${cache}/socketpipe/deno-${Deno.version.deno}`;
    const login = [...sshd!.login, "env", `MARK=${marker}`, `XDG_CACHE_HOME=${cache}`];
    const child = spawnCli(
      [...block("-i", "cat"), ...block("-l", ...login), ...block("-r", "cat")],
      {
        stdout: "null",
      },
    );
    const deadline = Date.now() + 20_000;
    while (!filesUnder(runtimeDir).some((file) => file.includes(".part"))) {
      assert.ok(Date.now() < deadline, "the runtime never started to arrive");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const ssh = await processesMatching(`(^|/)ssh -F .* MARK=${marker}`);
    assert.equal(ssh.length, 1, (await processesMatching(marker)).join("\n"));
    Deno.kill(Number(ssh[0].split(" ")[0]), "SIGKILL");
    const status = await child.status;
    assert.equal(status.code, 2);
    while (filesUnder(runtimeDir).some((file) => file.includes(".part"))) {
      assert.ok(Date.now() < deadline + 10_000, "the partial runtime was left behind");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(cached(cache).runtimes, []);
    const later = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(later.code, 0, later.stderr);
    assert.ok(later.exact && sent(later, "runtime"), later.stderr);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: the partial runtime of a bootstrap killed outright (SIGKILL) goes with the next run that sends",
  async () => {
    const cache = await freshCache();
    const runtimeDir = `${cache}/socketpipe/deno-${Deno.version.deno}`;
    const login = [...sshd!.login, "env", `XDG_CACHE_HOME=${cache}`];
    const child = spawnCli(
      [...block("-i", "cat"), ...block("-l", ...login), ...block("-r", "cat")],
      { stdout: "null" },
    );
    const deadline = Date.now() + 20_000;
    let partial: string | undefined;
    while (!(partial = filesUnder(runtimeDir).find((file) => /^deno\.\d+\.part$/.test(file)))) {
      assert.ok(Date.now() < deadline, "the runtime never started to arrive");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The file is named after the bootstrap's process: killed, it cleans up nothing.
    Deno.kill(Number(partial.split(".")[1]), "SIGKILL");
    assert.equal((await child.status).code, 2);
    assert.ok(cached(cache).partial.length > 0, "the killed bootstrap left no partial file");
    const later = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(later.code, 0, later.stderr);
    assert.ok(later.exact && sent(later, "runtime"), later.stderr);
    assert.deepEqual(cached(cache).partial, []);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest("provision: a local half run from its bundle sends that same file", async () => {
  const bundle = `${work}/socketpipe.js`;
  const built = await new Deno.Command(DENO, { args: ["bundle", "--quiet", MAIN, "-o", bundle] })
    .output();
  assert.ok(built.success);
  const cache = await freshCache();
  const login = [...sshd!.login, "env", `XDG_CACHE_HOME=${cache}`, `PATH=${denoOnly}:${BARE_PATH}`];
  const run = await runCli(
    [
      "-v",
      ...block("-i", "cat"),
      ...block("-l", ...login),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ],
    { stdin: data, program: [DENO, "run", "-A", "--quiet", bundle] },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await sha256(run.stdout), await sha256(data));
  assert.match(
    run.stderr,
    new RegExp(`^socketpipe: provision: bundle [0-9a-f]{16} \\(${bundle}\\)$`, "m"),
  );
  const sentBundle = `${cache}/socketpipe/${cached(cache).bundles[0]}`;
  assert.deepEqual(await Deno.readFile(sentBundle), await Deno.readFile(bundle));
  await Deno.remove(cache, { recursive: true });
});

provisionTest({
  name: "provision: a full cache fails with one line naming the directory and the cause",
  // A full file system is made with a tiny tmpfs in the login's own mount namespace.
  rootOnly: true,
}, async () => {
  const home = await Deno.makeTempDir({ dir: work, prefix: "full-" });
  const mount = 'mount -t tmpfs -o size=64k tmpfs "$0" && exec "$@"';
  const before = ["unshare", "-m", "sh", "-c", shellQuote(mount), home];
  const run = await transfer([`HOME=${home}`, `PATH=${denoOnly}:${BARE_PATH}`], { before });
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.errorLines.at(-1)!,
    new RegExp(
      `^socketpipe: remote half: provision: cannot store the bundle in ${home}/\\.cache/socketpipe/[^ ]+: .*No space left on device`,
    ),
  );
  assert.deepEqual([...Deno.readDirSync(home)], []);
});

provisionTest({
  name:
    "provision: a cache that fills while the runtime arrives fails with the catalogued line, not noise",
  rootOnly: true,
}, async () => {
  const home = await Deno.makeTempDir({ dir: work, prefix: "full-runtime-" });
  // Room for the bundle, not for the runtime.
  const mount = 'mount -t tmpfs -o size=8m tmpfs "$0" && exec "$@"';
  const before = ["unshare", "-m", "sh", "-c", shellQuote(mount), home];
  const run = await transfer([`HOME=${home}`, `PATH=${BARE_PATH}`], { before });
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.errorLines.at(-1)!,
    new RegExp(
      `^socketpipe: remote half: provision: cannot store the runtime in ${home}/\\.cache/socketpipe/deno-[^ ]+: .*No space left on device`,
    ),
  );
  assert.doesNotMatch(run.stderr, /oversized line|same version/);
});

provisionTest({
  name:
    "provision: a cache directory that stops taking changes while the runtime arrives fails with one line naming the cause and the file left; the next run clears it and succeeds",
  rootOnly: true,
}, async () => {
  const cache = await freshCache();
  const runtimeDir = `${cache}/socketpipe/deno-${Deno.version.deno}`;
  const login = [...sshd!.login, "env", `XDG_CACHE_HOME=${cache}`];
  const child = spawnCli(
    [...block("-i", "cat"), ...block("-l", ...login), ...block("-r", "cat")],
    { stdout: "null" },
  );
  const deadline = Date.now() + 20_000;
  // Both the partial runtime and its checksum's file are there before the first byte.
  while (!filesUnder(runtimeDir).some((file) => file.endsWith(".part.sum"))) {
    assert.ok(Date.now() < deadline, "the runtime never started to arrive");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // What a chmod does to another user, immutability does to root: nothing in the directory
  // can be added, renamed or removed any more, while the open file still takes its bytes.
  const chattr = (flag: string) =>
    new Deno.Command("chattr", { args: [flag, runtimeDir], stderr: "piped" }).output();
  const frozen = await chattr("+i");
  assert.equal(frozen.code, 0, new TextDecoder().decode(frozen.stderr));
  try {
    const { code, stderr } = await child.output();
    const lines = new TextDecoder().decode(stderr).trimEnd().split("\n");
    assert.equal(code, 2, lines.join("\n"));
    const dir = runtimeDir.replaceAll(".", "\\.");
    assert.match(
      lines.at(-1)!,
      new RegExp(
        `^socketpipe: remote half: provision: cannot install the runtime in ${dir}: .*Operation not permitted; (${dir}/deno\\.\\d+\\.part) and \\1\\.sum are left there: remove them$`,
      ),
    );
    assert.ok(!lines.some((line) => /stopped sending|cut off/.test(line)), lines.join("\n"));
  } finally {
    await chattr("-i");
  }
  assert.equal(cached(cache).partial.length, 2);
  const later = await transfer([`XDG_CACHE_HOME=${cache}`]);
  assert.equal(later.code, 0, later.stderr);
  assert.ok(later.exact && sent(later, "runtime"), later.stderr);
  assert.deepEqual(cached(cache).partial, []);
  await Deno.remove(cache, { recursive: true });
});

provisionTest(
  "provision: a claim on the runtime's send held by a process that has ended but is not reaped (a zombie) is taken over at once",
  async () => {
    const cache = await freshCache();
    const first = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(first.code, 0, first.stderr);
    const [runtime] = cached(cache).runtimes;
    await Deno.truncate(`${cache}/socketpipe/${runtime}`, 1 << 20);
    // A process whose parent does not reap it: it answers kill -0 though it has ended, as
    // a bootstrap does whose session ended under a reaper that never waits.
    const holder = new Deno.Command("sh", {
      args: ["-c", "sleep 0 & echo $!; exec sleep 600"],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const zombie = Number((await reader.read()).value!.trim());
    reader.releaseLock();
    const state = () => Deno.readTextFileSync(`/proc/${zombie}/stat`).split(") ")[1][0];
    while (state() !== "Z") await new Promise((resolve) => setTimeout(resolve, 10));
    await Deno.writeTextFile(
      `${cache}/socketpipe/${runtime.split("/")[0]}.claim`,
      `${Deno.hostname()} ${zombie}\n`,
    );
    try {
      // Were the claim taken for a living one, the run would wait for its payload for
      // hours (twice the peer timeout), and -t would end it.
      const second = await transfer([`XDG_CACHE_HOME=${cache}`], {
        args: ["--peer-timeout", "3600", "-t", "120"],
      });
      assert.equal(second.code, 0, second.stderr);
      assert.ok(second.exact && sent(second, "runtime"), second.stderr);
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      await holder.stdout.cancel().catch(() => {});
    }
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: a truncated cached runtime is sent again, and the run succeeds",
  async () => {
    const cache = await freshCache();
    const first = await transfer([`XDG_CACHE_HOME=${cache}`, `PATH=${BARE_PATH}`]);
    assert.equal(first.code, 0, first.stderr);
    const [runtime] = cached(cache).runtimes;
    const path = `${cache}/socketpipe/${runtime}`;
    await Deno.truncate(path, 1 << 20);
    const second = await transfer([`XDG_CACHE_HOME=${cache}`, `PATH=${BARE_PATH}`]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(second.exact);
    assert.ok(sent(second, "runtime"), second.stderr);
    assert.ok(Deno.statSync(path).size > 1 << 20);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: a bundle and a runtime missing from their directories (another run still sending them, or one cut short) are sent without a line calling them damaged",
  async () => {
    const cache = await freshCache();
    const first = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(first.code, 0, first.stderr);
    const [bundle] = cached(cache).bundles;
    const [runtime] = cached(cache).runtimes;
    // As a run that is sending them leaves them: the directories, the runtime's sha256.
    await Deno.remove(`${cache}/socketpipe/${bundle}`);
    await Deno.remove(`${cache}/socketpipe/${runtime}`);
    const second = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(second.exact);
    assert.ok(sent(second, "bundle") && sent(second, "runtime"), second.stderr);
    assert.doesNotMatch(second.stderr, /again|damaged|cannot be looked at/);
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "provision: a cached runtime that hangs at start ends the run within --peer-timeout, naming the step, and leaves nothing on the remote host",
  async () => {
    const cache = await freshCache();
    const first = await transfer([`XDG_CACHE_HOME=${cache}`]);
    assert.equal(first.code, 0, first.stderr);
    const [runtime] = cached(cache).runtimes;
    const marker = `hangs-${unique()}`;
    // In place of the runtime: a program that never speaks and never ends, of the
    // runtime's size (the bootstrap takes a runtime of another size for a truncated one).
    const path = `${cache}/socketpipe/${runtime}`;
    const size = (await Deno.stat(path)).size;
    await Deno.writeTextFile(path, `#!/bin/sh\nexec sh -c 'sleep 1000' ${marker}\n`, {
      mode: 0o700,
    });
    await Deno.truncate(path, size);
    // Its own sha256 beside it, written after it: a runtime that passes its check and still
    // hangs (the check would replace any other change).
    await Deno.writeTextFile(`${path}.sha256`, `${await sha256(await Deno.readFile(path))}\n`);
    const hung = await transfer([`XDG_CACHE_HOME=${cache}`], { args: ["--peer-timeout", "2"] });
    assert.equal(hung.code, 2, hung.stderr);
    assert.match(
      hung.stderr,
      /^socketpipe: provision: stalled waiting for the remote half to start: nothing from the remote host for 2 s/m,
    );
    const deadline = Date.now() + LEFTOVERS_GONE_MS;
    let left = await processesMatching(marker);
    while (left.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      left = await processesMatching(marker);
    }
    for (const line of left) Deno.kill(Number(line.split(" ")[0]), "SIGKILL");
    assert.deepEqual(left, [], "the hung runtime is gone after the run's end");
  },
);

provisionTest(
  {
    name:
      "provision: a named cache on a noexec mount gets a line naming it, before anything is sent, not the same-version hint",
    rootOnly: true,
  },
  async () => {
    const cache = await freshCache();
    // The remote session alone sees a noexec tmpfs on the cache directory; a named
    // directory is the only one tried.
    const before = [
      "unshare",
      "-m",
      "sh",
      "-c",
      shellQuote('mount -t tmpfs -o noexec tmpfs "$0" && exec "$@"'),
      cache,
    ];
    const run = await transfer([`PATH=${BARE_PATH}`], {
      before,
      args: ["--remote-cache", cache],
    });
    assert.equal(run.code, 2);
    assert.equal(
      run.errorLines.at(-1),
      `socketpipe: remote half: provision: no cache directory here can hold and run socketpipe ` +
        `(${cache}/socketpipe-${Deno.uid()}: no program can run from it (mounted noexec?)): ` +
        `name one only you can write with --remote-cache DIR, or SOCKETPIPE_CACHE=DIR on the ` +
        `remote host, or use -x`,
    );
    assert.doesNotMatch(run.stderr, /same version|sent the runtime/);
    await Deno.remove(cache, { recursive: true });
  },
);

/**
 * Starts a first run to a fresh cache on a host with no Deno, and resolves once the
 * runtime is arriving there (its partial file exists): the moment to interrupt the send.
 */
async function whileTheRuntimeArrives(): Promise<{ cache: string; child: Deno.ChildProcess }> {
  const cache = await freshCache();
  const login = [...sshd!.login, "env", `XDG_CACHE_HOME=${cache}`, `PATH=${BARE_PATH}`];
  const child = spawnCli([
    ...block("-i", "true"),
    ...block("-l", ...login),
    ...block("-r", "cat"),
  ]);
  const runtimeDir = `${cache}/socketpipe/deno-${Deno.version.deno}`;
  const deadline = Date.now() + 60_000;
  while (!filesUnder(runtimeDir).some((file) => file.includes(".part"))) {
    assert.ok(Date.now() < deadline, "the runtime never started to arrive");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { cache, child };
}

provisionTest(
  "provision: ssh killed while the runtime is sent says so, with the bytes sent",
  async () => {
    // Once the runtime is arriving on the remote host, kill this run's ssh.
    const { cache, child } = await whileTheRuntimeArrives();
    const ssh = childrenOf(child.pid).find((pid) =>
      /(^|\/)ssh$/.test(Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0")[0])
    );
    if (!ssh) {
      const output = await child.output();
      assert.fail(`no ssh: ${new TextDecoder().decode(output.stderr)}`);
    }
    Deno.kill(ssh, "SIGKILL");
    const output = await child.output();
    const errorLines = new TextDecoder().decode(output.stderr).split("\n")
      .filter((line) => line.startsWith("socketpipe: "));
    assert.equal(output.code, 2);
    // The notice of what is sent, said before sending, then the one line of the failure.
    assert.equal(errorLines.length, 2, errorLines.join("\n"));
    assert.match(errorLines[0], /^socketpipe: provision: sending socketpipe /);
    assert.match(
      errorLines[1],
      /^socketpipe: provision: sending the runtime failed after \d+ bytes: the login channel closed/,
    );
    await Deno.remove(cache, { recursive: true });
  },
);

/** The children of `pid`, by their parent pid in `/proc`. */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) {
        found.push(Number(entry.name));
      }
    } catch { /* gone */ }
  }
  return found;
}

Deno.test("a damaged bundle in a local cache (or dist/) is refused, to be built again, never sent to fail there", async () => {
  const { checkedBundle, installBundle } = await import("../../lib/provision/local_bundle.ts");
  // The install's bundle, copied with its stamp, then damaged.
  const line = await installBundle();
  assert.match(line, /^socketpipe: bundle [0-9a-f]+ in dist\/socketpipe\.js$/, line);
  const dir = await Deno.makeTempDir({ dir: work, prefix: "bundle-" });
  await Deno.copyFile(`${REPO}/dist/socketpipe.js`, `${dir}/socketpipe.js`);
  await Deno.copyFile(`${REPO}/dist/socketpipe.js.sha256`, `${dir}/socketpipe.js.sha256`);
  const whole = await checkedBundle(`${dir}/socketpipe.js`);
  assert.ok(whole, "an intact bundle is taken");
  const stamp = (await Deno.readTextFile(`${dir}/socketpipe.js.sha256`)).trim().split(" ");
  assert.ok(await checkedBundle(`${dir}/socketpipe.js`, stamp[1]), "for its own sources");
  assert.equal(await checkedBundle(`${dir}/socketpipe.js`, "other-sources"), null);
  const bytes = await Deno.readFile(`${dir}/socketpipe.js`);
  await Deno.writeFile(`${dir}/socketpipe.js`, bytes.subarray(0, 1000));
  assert.equal(await checkedBundle(`${dir}/socketpipe.js`), null, "a truncated one is refused");
  await Deno.remove(`${dir}/socketpipe.js.sha256`);
  await Deno.writeFile(`${dir}/socketpipe.js`, bytes);
  assert.equal(await checkedBundle(`${dir}/socketpipe.js`), null, "one without its stamp too");
});

/** A login prefix that mounts a noexec tmpfs over each of `dirs`, for this session only. */
function noexecOver(...dirs: string[]): string[] {
  const mounts = dirs.map((_, i) => `mount -t tmpfs -o noexec tmpfs "$${i + 1}"`).join(" && ");
  return [
    "unshare",
    "-m",
    "sh",
    "-c",
    shellQuote(`${mounts} && shift ${dirs.length} && exec "$@"`),
    "sh",
    ...dirs,
  ];
}

provisionTest({
  name:
    "provision: a noexec home falls back to a directory that runs programs; the second run sends nothing",
  rootOnly: true,
}, async () => {
  const home = await Deno.makeTempDir({ dir: work, prefix: "noexec-home-" });
  const tmp = await Deno.makeTempDir({ dir: work, prefix: "tmp-" });
  const variables = [`HOME=${home}`, `TMPDIR=${tmp}`, `PATH=${BARE_PATH}`];
  const first = await transfer(variables, { before: noexecOver(home) });
  assert.equal(first.code, 0, first.stderr);
  assert.ok(first.exact);
  const fallback = `${tmp}/socketpipe-${Deno.uid()}`;
  assert.match(first.stderr, new RegExp(`cache ${fallback}`));
  assert.ok(sent(first, "runtime"), first.stderr);
  const second = await transfer(variables, { before: noexecOver(home) });
  assert.equal(second.code, 0, second.stderr);
  assert.ok(second.exact);
  assert.ok(!sent(second, "runtime") && !sent(second, "bundle"), second.stderr);
});

provisionTest({
  name:
    "provision: where no directory can run programs, one line names each one tried, before a byte is sent",
  rootOnly: true,
}, async () => {
  const home = await Deno.makeTempDir({ dir: work, prefix: "noexec-home-" });
  const tmp = await Deno.makeTempDir({ dir: work, prefix: "noexec-tmp-" });
  const variables = ["-u", "XDG_RUNTIME_DIR", `HOME=${home}`, `TMPDIR=${tmp}`, `PATH=${BARE_PATH}`];
  const run = await transfer(variables, { before: noexecOver(home, tmp, "/var/tmp") });
  assert.equal(run.code, 2, run.stderr);
  const uid = Deno.uid();
  assert.equal(
    run.errorLines.at(-1),
    `socketpipe: remote half: provision: no cache directory here can hold and run socketpipe (` +
      `${home}/.cache/socketpipe: no program can run from it (mounted noexec?); ` +
      `${tmp}/socketpipe-${uid}: no program can run from it (mounted noexec?); ` +
      `/var/tmp/socketpipe-${uid}: no program can run from it (mounted noexec?)): ` +
      `name one only you can write with --remote-cache DIR, or SOCKETPIPE_CACHE=DIR on the ` +
      `remote host, or use -x`,
  );
  // Nothing was sent: no payload began (the bootstrap failed before its `need`).
  assert.doesNotMatch(run.stderr, /provision: (sent|sending) the (runtime|bundle)/);
  assert.doesNotMatch(run.stderr, /the remote host uses/);
});

provisionTest(
  "provision: --remote-cache names the directory the remote host keeps it in",
  async () => {
    const named = `${await Deno.makeTempDir({ dir: work, prefix: "named-" })}/cache`;
    const other = await freshCache();
    const run = await transfer([`XDG_CACHE_HOME=${other}`, `PATH=${denoOnly}:${BARE_PATH}`], {
      args: ["--remote-cache", named],
    });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.exact);
    // socketpipe's own directory in it, for this user: nothing else of the named one is used.
    assert.match(run.stderr, new RegExp(`cache ${named}/socketpipe-${Deno.uid()}$`, "m"));
    assert.deepEqual(filesUnder(other), []);
    assert.equal(filesUnder(named).filter((file) => file.endsWith("/socketpipe.js")).length, 1);
  },
);

provisionTest(
  "provision: the first run says, without -v, what it sends, how large and where; the second says nothing",
  async () => {
    const cache = await freshCache();
    const login = [...sshd!.login, "env", `XDG_CACHE_HOME=${cache}`, `PATH=${BARE_PATH}`];
    const reportFile = `${cache}.report.json`;
    const args = [
      "--report",
      reportFile,
      ...block("-i", "cat"),
      ...block("-l", ...login),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ];
    const first = await runCli(args, { stdin: data });
    assert.equal(first.code, 0, first.stderr);
    const lines = first.stderr.split("\n").filter((line) => line !== "");
    assert.equal(lines.length, 1, first.stderr);
    assert.match(
      lines[0],
      new RegExp(
        `^socketpipe: provision: sending socketpipe ${VERSION.replaceAll(".", "\\.")}: ` +
          `the bundle \\([\\d.]+ KiB\\) and the Deno ${Deno.version.deno.replaceAll(".", "\\.")} ` +
          `runtime \\([\\d.]+ MiB, compressed as it goes\\) to ${cache}/socketpipe on the ` +
          `remote host, once \\(later runs use what is kept there\\)$`,
      ),
    );
    // --report records what was sent: each payload's size, and its bytes on the channel.
    const report = JSON.parse(await Deno.readTextFile(reportFile));
    assert.equal(report.provisioned.runtime.bytes, (await Deno.stat(Deno.execPath())).size);
    assert.ok(report.provisioned.runtime.sent > 0);
    assert.ok(report.provisioned.bundle.bytes > 0);
    const second = await runCli(args, { stdin: data });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr, "");
    assert.equal(JSON.parse(await Deno.readTextFile(reportFile)).provisioned, undefined);
    await Deno.remove(cache, { recursive: true });
    await Deno.remove(reportFile);
  },
);

provisionTest(
  "provision: a first run on a machine with no registry works: the bundle is the install's, nothing is downloaded",
  async () => {
    // A machine as fresh as it gets: no bundle cache, no Deno cache (so no esbuild), and
    // an npm registry that cannot be reached.
    const local = await Deno.makeTempDir({ dir: work, prefix: "offline-" });
    const environment = {
      XDG_CACHE_HOME: `${local}/cache`,
      DENO_DIR: `${local}/deno`,
      NPM_CONFIG_REGISTRY: "http://127.0.0.1:9/",
    };
    const run = await transfer([`XDG_CACHE_HOME=${await freshCache()}`], { environment });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.exact);
    assert.match(run.stderr, /provision: bundle [0-9a-f]+ \(.*\/dist\/socketpipe\.js\)/);
    assert.deepEqual(filesUnder(`${local}/deno`).filter((file) => /esbuild/.test(file)), []);
  },
);

Deno.test("a failed deno bundle names its real cause, not a bare <unknown>", async () => {
  const { bundleError } = await import("../../lib/provision/local_bundle.ts");
  const stderr =
    "\x1b[0m\x1b[1m\x1b[31merror\x1b[0m: Import 'https://registry.npmjs.org/esbuild' " +
    "failed: error sending request: Connection refused\n    at <unknown>\n0: <unknown>\n";
  assert.match(bundleError(stderr, 1), /^error: Import .*esbuild.* Connection refused$/);
});

provisionTest(
  "provision: SIGUSR1 while the runtime is sent says how far the send has come",
  async () => {
    const { cache, child } = await whileTheRuntimeArrives();
    child.kill("SIGUSR1");
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.match(
      stderr,
      /^socketpipe: status: provision: sending the runtime: [\d.]+ [KMG]?i?B of [\d.]+ MiB, \d+%/m,
    );
    await Deno.remove(cache, { recursive: true });
  },
);

provisionTest(
  "fleet verbs: --install provisions and exits 0, a run then sends nothing; --cache-list shows it; --cache-remove leaves no file of ours",
  async () => {
    // A named cache: the verbs then touch that directory alone, never this machine's own.
    const cache = `${await freshCache()}/named`;
    const login = [...sshd!.login, "env", `PATH=${BARE_PATH}`];
    const named = ["--remote-cache", cache];
    const installReport = ["--report", "/dev/fd/1"];
    const install = await runCli([
      "--install",
      ...installReport,
      ...named,
      ...block("-l", ...login),
    ]);
    assert.equal(install.code, 0, install.stderr);
    assert.match(install.stderr, /^socketpipe: provision: sending socketpipe /m);
    // Whether it changed anything, in a line and in the report, as configuration management asks.
    assert.match(
      install.stderr,
      /^socketpipe: install: socketpipe \S+ on the remote host is ready: sent the bundle and the runtime$/m,
    );
    assert.equal(JSON.parse(new TextDecoder().decode(install.stdout)).changed, true);
    const unchanged = await runCli([
      "--install",
      ...installReport,
      ...named,
      ...block("-l", ...login),
    ]);
    assert.equal(unchanged.code, 0, unchanged.stderr);
    assert.deepEqual(unchanged.errorLines, [
      `socketpipe: install: socketpipe ${VERSION} on the remote host was ready already: nothing changed`,
    ]);
    assert.equal(JSON.parse(new TextDecoder().decode(unchanged.stdout)).changed, false);
    const run = await transfer([`PATH=${BARE_PATH}`], { args: named });
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.exact && !sent(run, "bundle") && !sent(run, "runtime"), run.stderr);
    const list = await runCli(["--cache-list", ...named, ...block("-l", ...login)]);
    assert.equal(list.code, 0, list.stderr);
    const shown = new TextDecoder().decode(list.stdout);
    const ours = `${cache}/socketpipe-${Deno.uid()}`;
    assert.match(shown, new RegExp(`^${ours}$`, "m"));
    assert.match(
      shown,
      new RegExp(`^  ${VERSION.replaceAll(".", "\\.")}-[0-9a-f]{16} +bundle +\\d+ KiB$`, "m"),
    );
    assert.match(
      shown,
      new RegExp(`^  deno-${Deno.version.deno.replaceAll(".", "\\.")} +runtime +\\d+ KiB$`, "m"),
    );
    const remove = await runCli(["--cache-remove", ...named, ...block("-l", ...login)]);
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal(new TextDecoder().decode(remove.stdout), `removed ${ours}\n`);
    assert.deepEqual(filesUnder(cache), []);
    assert.throws(() => Deno.statSync(ours), "socketpipe's own directory is gone");
    assert.ok(Deno.statSync(cache).isDirectory, "the named directory, the user's, stays");
    const again = await runCli(["--cache-list", ...named, ...block("-l", ...login)]);
    assert.equal(new TextDecoder().decode(again.stdout), "no socketpipe cache here\n");
  },
);

provisionTest(
  "provision: a cache keeps the newest 3 versions' bundles and 2 runtimes, no more",
  async () => {
    const cache = await freshCache();
    const top = `${cache}/socketpipe`;
    // Older versions' entries, as earlier upgrades left them.
    const old = ["0.0.1-aaaaaaaaaaaaaaaa", "0.0.2-bbbbbbbbbbbbbbbb", "0.0.3-cccccccccccccccc"];
    for (const [i, name] of [...old, "deno-1.0.0", "deno-1.0.1"].entries()) {
      await Deno.mkdir(`${top}/${name}`, { recursive: true, mode: 0o700 });
      await Deno.writeTextFile(`${top}/${name}/file`, "old");
      await Deno.utime(`${top}/${name}`, 1_000_000 + i, 1_000_000 + i);
    }
    await Deno.chmod(top, 0o700);
    const run = await transfer([`XDG_CACHE_HOME=${cache}`, `PATH=${BARE_PATH}`]);
    assert.equal(run.code, 0, run.stderr);
    const entries = [...Deno.readDirSync(top)].map((entry) => entry.name).sort();
    const bundles = entries.filter((name) => /^\d+\.\d+\.\d+-/.test(name));
    const runtimes = entries.filter((name) => /^deno-\d/.test(name));
    assert.equal(bundles.length, 3, entries.join(" "));
    assert.equal(runtimes.length, 2, entries.join(" "));
    assert.ok(bundles.some((name) => name.startsWith(`${VERSION}-`)), "the new one stays");
    assert.ok(runtimes.includes(`deno-${Deno.version.deno}`));
    assert.ok(!bundles.includes(old[0]), "the oldest goes");
    await Deno.remove(cache, { recursive: true });
  },
);
