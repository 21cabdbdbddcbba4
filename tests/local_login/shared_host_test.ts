/**
 * Safe on a shared host: run as root with two real users made for the test, alice (whose
 * run it is) and mallory (who plants files where socketpipe might look). Mallory's files,
 * directories and symbolic links, in a named cache, in the default places and in the
 * local bundle cache, never run and never receive alice's data; alice's own files outside
 * what socketpipe made are never changed, modes included; what socketpipe keeps is checked
 * as the manual says, and what fails the check is replaced, once, with a line.
 *
 * The login is local (`runuser` to the user, then `sh -c 'eval "$*"'`, as sshd runs a login
 * shell): these tests are about the remote host's files, not about ssh.
 */
import assert from "node:assert/strict";
import { block, DENO, MAIN, REPO, runCli, sha256, SOCKETPIPE } from "../harness/run.ts";
import { testWhere } from "../harness/register.ts";
import { holdingMachineLock } from "../harness/machine_lock.ts";
import { sourcesHash } from "../../lib/provision/local_bundle.ts";
import { KEEP_BUNDLES } from "../../lib/provision/remote_bootstrap.ts";

const notRoot = Deno.uid() === 0 ? null : "not root";
const work = await Deno.makeTempDir({ prefix: "socketpipe-shared-host-" });
await Deno.chmod(work, 0o755);
const data = crypto.getRandomValues(new Uint8Array(65536));
const tag = crypto.randomUUID().slice(0, 6);
/** A PATH with the system's commands and no Deno: the runtime is sent. */
const NO_DENO = "/usr/bin:/bin";
/** A PATH with a Deno of this version: only the bundle is sent. */
const denoOnly = `${work}/deno-only`;

interface User {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function run(argv: string[]): string {
  const output = new Deno.Command(argv[0], { args: argv.slice(1), stderr: "piped" })
    .outputSync();
  assert.ok(output.success, `${argv.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  return new TextDecoder().decode(output.stdout).trim();
}

const users: User[] = [];
function makeUser(role: string): User {
  const name = `sp${role}${tag}`;
  const home = `${work}/home-${role}`;
  run(["useradd", "-m", "-d", home, "-s", "/bin/sh", name]);
  const user = {
    name,
    uid: Number(run(["id", "-u", name])),
    gid: Number(run(["id", "-g", name])),
    home,
  };
  users.push(user);
  return user;
}

globalThis.addEventListener("unload", () => {
  for (const user of users) {
    new Deno.Command("userdel", { args: ["-f", user.name], stderr: "null" }).outputSync();
  }
  Deno.removeSync(work, { recursive: true });
});

const alice = notRoot ? null : makeUser("a");
const mallory = notRoot ? null : makeUser("m");
if (!notRoot) {
  await Deno.mkdir(denoOnly);
  await Deno.symlink(DENO, `${denoOnly}/deno`);
}

/**
 * A login as `user` (root: null) in `home` with `path` and `variables` alone in its
 * environment, through a shell as sshd runs it.
 */
function loginAs(user: User | null, home: string, path: string, variables: string[] = []) {
  const session = [
    "env",
    "-i",
    `HOME=${home}`,
    `PATH=${path}`,
    ...variables,
    "sh",
    "-c",
    'cd && eval "$*"',
    "sh",
  ];
  return user ? ["runuser", "-u", user.name, "--", ...session] : session;
}

/** A transfer of `data` through `cat` on the "remote host" as the login makes it. */
async function transfer(login: string[], args: string[] = []) {
  const result = await runCli([
    ...args,
    ...block("-i", "cat"),
    ...block("-l", ...login),
    "-h",
    "127.0.0.1",
    ...block("-r", "cat"),
    ...block("-o", "cat"),
  ], { stdin: data });
  return { ...result, exact: await sha256(result.stdout) === await sha256(data) };
}

const sent = (stderr: string, what: string) =>
  new RegExp(`^socketpipe: provision: sending socketpipe [^:]+: .*${what}`, "m").test(stderr);

/**
 * Mallory's runtime: a script of the real runtime's size that records who ran it, then runs
 * the real one (so that a run would succeed and hide it).
 */
async function plantRuntime(path: string, ranLog: string): Promise<void> {
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const script = new TextEncoder().encode(`#!/bin/sh\nid >> ${ranLog}\nexec ${DENO} "$@"\n`);
  const padded = new Uint8Array(Deno.statSync(DENO).size).fill(0x23); // "#"
  padded.set(script);
  await Deno.writeFile(path, padded, { mode: 0o755 });
}

/** Gives `paths` (and all below them) to `user`. */
function give(user: User, ...paths: string[]): void {
  run(["chown", "-R", `${user.uid}:${user.gid}`, ...paths]);
}

/** Every file and directory under `dir` with its mode, except below `except`. */
function snapshot(dir: string, except: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    const info = Deno.lstatSync(path);
    found.push(`${path} ${(info.mode ?? 0).toString(8)}`);
    if (info.isDirectory && path !== except) {
      for (const entry of Deno.readDirSync(path)) walk(`${path}/${entry.name}`);
    }
  };
  walk(dir);
  return found.sort();
}

function modeOf(path: string): number {
  return (Deno.statSync(path).mode ?? 0) & 0o7777;
}

testWhere(
  notRoot,
  "a named cache others can write into: mallory's runtime never runs as alice, the directory keeps its mode",
  async () => {
    const named = `${alice!.home}/shared`;
    await Deno.mkdir(named);
    give(alice!, named);
    await Deno.chmod(named, 0o1777);
    const ranLog = `${work}/ran-a-${crypto.randomUUID()}`;
    // Where the cache used to be: the named directory itself.
    await plantRuntime(`${named}/deno-${Deno.version.deno}/deno`, ranLog);
    give(mallory!, `${named}/deno-${Deno.version.deno}`);

    const first = await transfer(loginAs(alice, alice!.home, NO_DENO), ["--remote-cache", named]);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.exact);
    assert.ok(sent(first.stderr, "runtime"), first.stderr);
    const own = `${named}/socketpipe-${alice!.uid}`;
    assert.equal(Deno.statSync(own).uid, alice!.uid);
    assert.equal(modeOf(named), 0o1777);

    // Mallory gets there first: socketpipe's own directory for alice, made by mallory.
    const other = `${named}/socketpipe-${mallory!.uid}`;
    await Deno.mkdir(other);
    await plantRuntime(`${other}/deno-${Deno.version.deno}/deno`, ranLog);
    give(mallory!, other);
    // Made by mallory under the name socketpipe gives alice's directory:
    await Deno.remove(own, { recursive: true });
    await Deno.rename(other, own);
    const second = await transfer(loginAs(alice, alice!.home, NO_DENO), ["--remote-cache", named]);
    assert.equal(second.code, 2, second.stderr);
    assert.match(
      second.errorLines.at(-1)!,
      new RegExp(`provision: no cache directory here .*${own} belongs to uid ${mallory!.uid}`),
    );
    assert.equal(second.stdout.length, 0);
    await assert.rejects(Deno.stat(ranLog), Deno.errors.NotFound, "mallory's runtime ran");
  },
);

testWhere(
  notRoot,
  "as root, a root-owned named cache others can write into: mallory's runtime never runs as root; /tmp-like modes stay",
  async () => {
    const named = await Deno.makeTempDir({ dir: work, prefix: "tmp-like-" });
    await Deno.chmod(named, 0o1777);
    const ranLog = `${work}/ran-root-${crypto.randomUUID()}`;
    await plantRuntime(`${named}/deno-${Deno.version.deno}/deno`, ranLog);
    await plantRuntime(`${named}/socketpipe-0/deno-${Deno.version.deno}/deno`, ranLog);
    await Deno.writeTextFile(`${named}/socketpipe-0/.socketpipe-cache`, "");
    give(mallory!, `${named}/deno-${Deno.version.deno}`, `${named}/socketpipe-0`);

    const run = await transfer(loginAs(null, work, NO_DENO), ["--remote-cache", named]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.errorLines.at(-1)!, /belongs to uid \d+, not to uid 0/);
    assert.equal(modeOf(named), 0o1777);
    await assert.rejects(Deno.stat(ranLog), Deno.errors.NotFound, "mallory's runtime ran as root");
  },
);

testWhere(
  notRoot,
  "with HOME unset the local half keeps no bundle under /tmp and sends none planted there",
  // /tmp/.cache is the machine's: a suite running beside this one waits for it.
  () => holdingMachineLock("tmp-cache", homeUnsetKeepsNoBundle),
);

/** See the test's name: the bundle's cache with HOME unset, and mallory's plant there. */
async function homeUnsetKeepsNoBundle(): Promise<void> {
  // A checkout whose sources differ from any dist/: its bundle would come from the cache.
  const checkout = await Deno.makeTempDir({ dir: work, prefix: "checkout-" });
  await Deno.copyFile(MAIN, `${checkout}/main.ts`);
  run(["cp", "-R", `${REPO}/lib`, checkout]);
  const name = await sourcesHash(checkout);
  const ranMark = `${work}/bundle-ran-${crypto.randomUUID()}`;
  const evil = new TextEncoder().encode(
    `Deno.writeTextFileSync(${JSON.stringify(ranMark)}, "");\n`,
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", evil));
  const sum = Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
  const planted = "/tmp/.cache/socketpipe/bundles";
  const madeHere = !(await Deno.stat("/tmp/.cache").catch(() => null));
  await Deno.mkdir(planted, { recursive: true });
  try {
    await Deno.writeFile(`${planted}/${name}.js`, evil);
    await Deno.writeTextFile(`${planted}/${name}.js.sha256`, `${sum}\n`);
    if (madeHere) give(mallory!, "/tmp/.cache");
    /** The checkout's socketpipe, provisioning, under `environment` (env's words). */
    const provisionUnder = (...environment: string[]) =>
      runCli([
        "--provision",
        "always",
        ...block("-i", "cat"),
        ...block("-l", ...loginAs(null, work, `${denoOnly}:${NO_DENO}`)),
        "-h",
        "127.0.0.1",
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ], {
        stdin: data,
        program: [
          "env",
          ...environment,
          `DENO_DIR=${work}/deno-dir`,
          ...SOCKETPIPE.slice(0, -1),
          `${checkout}/main.ts`,
        ],
      });
    const result = await provisionUnder("-u", "HOME", "-u", "XDG_CACHE_HOME");
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.errorLines.at(-1)!,
      /^socketpipe: provision: no safe place to keep the bundle built from these sources \(HOME and XDG_CACHE_HOME are unset\)/,
    );
    await assert.rejects(Deno.stat(ranMark), Deno.errors.NotFound, "mallory's bundle ran");

    // XDG_CACHE_HOME naming mallory's directory: refused, nothing of it sent.
    const mallorys = await Deno.makeTempDir({ dir: work, prefix: "mallory-cache-" });
    await Deno.mkdir(`${mallorys}/socketpipe/bundles`, { recursive: true });
    await Deno.copyFile(`${planted}/${name}.js`, `${mallorys}/socketpipe/bundles/${name}.js`);
    await Deno.copyFile(
      `${planted}/${name}.js.sha256`,
      `${mallorys}/socketpipe/bundles/${name}.js.sha256`,
    );
    give(mallory!, mallorys);
    const xdg = await provisionUnder("-u", "HOME", `XDG_CACHE_HOME=${mallorys}`);
    assert.equal(xdg.code, 2, xdg.stderr);
    assert.match(xdg.errorLines.at(-1)!, /no safe place to keep the bundle .*belongs to uid/);
    await assert.rejects(Deno.stat(ranMark), Deno.errors.NotFound, "mallory's bundle ran");
  } finally {
    if (madeHere) await Deno.remove("/tmp/.cache", { recursive: true });
    else {
      for (const file of [`${name}.js`, `${name}.js.sha256`]) {
        await Deno.remove(`${planted}/${file}`).catch(() => {});
      }
    }
  }
}

testWhere(
  notRoot,
  "--remote-cache at a directory of the user's own changes none of the user's files nor modes; the verbs touch only socketpipe's",
  async () => {
    const home = await Deno.makeTempDir({ dir: work, prefix: "home-" });
    const mine = `${home}/work`;
    for (const dir of ["2024-01-01", "2024-02-01", "2024-03-01", "deno-1.1"]) {
      await Deno.mkdir(`${mine}/${dir}`, { recursive: true });
      await Deno.writeTextFile(`${mine}/${dir}/notes`, dir);
    }
    await Deno.writeTextFile(`${mine}/2024-notes.txt`, "mine");
    await Deno.chmod(mine, 0o755);
    const ours = `${mine}/socketpipe-0`;
    const before = snapshot(mine, ours);
    const login = loginAs(null, home, `${denoOnly}:${NO_DENO}`);

    const first = await transfer(login, ["--remote-cache", mine]);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.exact);
    assert.deepEqual(snapshot(mine, ours).filter((line) => !line.startsWith(ours)), before);

    const list = await runCli(["--cache-list", "--remote-cache", mine, ...block("-l", ...login)]);
    assert.equal(list.code, 0, list.stderr);
    const listed = new TextDecoder().decode(list.stdout);
    assert.match(listed, new RegExp(`^${ours}$`, "m"));
    assert.doesNotMatch(listed, /2024|deno-1\.1/);

    const remove = await runCli([
      "--cache-remove",
      "--remote-cache",
      mine,
      ...block("-l", ...login),
    ]);
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal(new TextDecoder().decode(remove.stdout), `removed ${ours}\n`);
    assert.deepEqual(snapshot(mine, ours), before);

    // A directory its group can write into: refused, and left as it was.
    await Deno.chmod(mine, 0o2775);
    const shared = snapshot(mine, ours);
    const refused = await transfer(login, ["--remote-cache", mine]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.errorLines.at(-1)!,
      new RegExp(`${mine}, above it, can be written by others`),
    );
    assert.deepEqual(snapshot(mine, ours), shared);
    assert.equal(modeOf(mine), 0o2775);
  },
);

testWhere(
  notRoot,
  "the cache's pruning follows no symbolic link and removes only socketpipe's",
  async () => {
    const cache = await Deno.makeTempDir({ dir: work, prefix: "xdg-" });
    const login = loginAs(null, work, `${denoOnly}:${NO_DENO}`, [`XDG_CACHE_HOME=${cache}`]);
    const first = await transfer(login);
    assert.equal(first.code, 0, first.stderr);
    const top = `${cache}/socketpipe`;
    const precious = await Deno.makeTempDir({ dir: work, prefix: "precious-" });
    await Deno.writeTextFile(`${precious}/keep`, "keep");
    const old = new Date("2001-01-01");
    for (let n = 0; n <= KEEP_BUNDLES; n++) {
      const dir = `${top}/0.0.${n}-${"a".repeat(16)}`;
      await Deno.mkdir(dir);
      await Deno.writeTextFile(`${dir}/socketpipe.js`, "");
      await Deno.utime(dir, old, old);
    }
    await Deno.symlink(precious, `${top}/0.0.9-old`);
    await Deno.utime(precious, new Date("2000-01-01"), new Date("2000-01-01"));
    const again = await transfer(login, ["--provision", "always"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await Deno.readTextFile(`${precious}/keep`), "keep");
    const left = [...Deno.readDirSync(top)].map((entry) => entry.name)
      .filter((name) => /^\d+\.\d+\.\d+-/.test(name) && name !== "0.0.9-old");
    assert.equal(left.length, KEEP_BUNDLES, left.join(" "));
  },
);

testWhere(
  notRoot,
  "--cache-list shows only whole entries: an empty runtime directory is not a runtime",
  async () => {
    const cache = await Deno.makeTempDir({ dir: work, prefix: "xdg-" });
    const login = loginAs(null, work, `${denoOnly}:${NO_DENO}`, [`XDG_CACHE_HOME=${cache}`]);
    const first = await transfer(login);
    assert.equal(first.code, 0, first.stderr);
    await Deno.mkdir(`${cache}/socketpipe/deno-${Deno.version.deno}`);
    const list = await runCli(["--cache-list", ...block("-l", ...login)]);
    assert.equal(list.code, 0, list.stderr);
    // This cache's block: its line, then its entries (other caches of root's may follow).
    const lines = new TextDecoder().decode(list.stdout).split("\n");
    const start = lines.indexOf(`${cache}/socketpipe`);
    assert.ok(start >= 0, lines.join("\n"));
    const end = lines.findIndex((line, index) => index > start && !line.startsWith("  "));
    const listed = lines.slice(start + 1, end).join("\n");
    assert.match(listed, /bundle/);
    assert.doesNotMatch(listed, /runtime/);
  },
);

testWhere(notRoot, "a cached runtime damaged in place is replaced, once, with a line", async () => {
  const cache = await Deno.makeTempDir({ dir: work, prefix: "xdg-" });
  const login = loginAs(null, work, NO_DENO, [`XDG_CACHE_HOME=${cache}`]);
  const first = await transfer(login);
  assert.equal(first.code, 0, first.stderr);
  const runtime = `${cache}/socketpipe/deno-${Deno.version.deno}/deno`;
  for (const [offset, what] of [[0x40, "its program headers"], [0, "its ELF magic"]] as const) {
    const file = await Deno.open(runtime, { read: true, write: true });
    const byte = new Uint8Array(1);
    await file.seek(offset, Deno.SeekMode.Start);
    await file.read(byte);
    await file.seek(offset, Deno.SeekMode.Start);
    await file.write(byte.map((value) => value ^ 0x5a));
    file.close();
    const damaged = await transfer(login);
    assert.equal(damaged.code, 0, `${what}: ${damaged.stderr}`);
    assert.ok(damaged.exact, what);
    assert.match(
      damaged.stderr,
      /^socketpipe: provision: .*deno changed since it was installed \(its sha256 differs\): sending the Deno runtime again$/m,
    );
    assert.ok(sent(damaged.stderr, "runtime"), damaged.stderr);
    const next = await transfer(login);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.stderr, "", `${what}: the next run sends nothing and says nothing`);
  }
});

testWhere(
  notRoot,
  "in the default places, mallory's link and directory are passed over: alice's cache is one of her own",
  async () => {
    // Alice's home cannot hold a cache (its .cache is mallory's); in the shared TMPDIR,
    // socketpipe's name for alice's place is mallory's link to mallory's directory.
    const home = await Deno.makeTempDir({ dir: work, prefix: "home-default-" });
    const tmp = await Deno.makeTempDir({ dir: work, prefix: "shared-tmp-" });
    const bait = await Deno.makeTempDir({ dir: work, prefix: "bait-" });
    const ranLog = `${work}/ran-default-${crypto.randomUUID()}`;
    await plantRuntime(`${bait}/deno-${Deno.version.deno}/deno`, ranLog);
    await Deno.writeTextFile(`${bait}/.socketpipe-cache`, "");
    await Deno.mkdir(`${home}/.cache/socketpipe`, { recursive: true });
    await plantRuntime(`${home}/.cache/socketpipe/deno-${Deno.version.deno}/deno`, ranLog);
    give(alice!, home);
    give(mallory!, bait, `${home}/.cache`);
    await Deno.chmod(tmp, 0o1777);
    await Deno.symlink(bait, `${tmp}/socketpipe-${alice!.uid}`);
    const fallback = `/var/tmp/socketpipe-${alice!.uid}`;
    try {
      const result = await transfer(
        loginAs(alice, home, NO_DENO, [`TMPDIR=${tmp}`]),
        ["-v"],
      );
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.exact);
      // Each place passed over is named, with why.
      assert.match(
        result.stderr,
        new RegExp(`cache ${fallback} \\(passed over: .*socketpipe-${alice!.uid}: .*\\)$`, "m"),
      );
      assert.equal(Deno.lstatSync(fallback).uid, alice!.uid);
      await assert.rejects(Deno.stat(ranLog), Deno.errors.NotFound, "mallory's runtime ran");
    } finally {
      await Deno.remove(fallback, { recursive: true }).catch(() => {});
    }
  },
);
