/**
 * The installed command: after the install command, `socketpipe` runs from another
 * directory and completes a transfer (both halves are the installed command, found on
 * PATH, as on a real pair of hosts).
 */
import assert from "node:assert/strict";
import { block, DENO, REPO, runFeeding, sha256 } from "../harness/run.ts";
import { bareSessionPath } from "../harness/sshd.ts";

const decoder = new TextDecoder();
const data = crypto.getRandomValues(new Uint8Array(60000));

/** A transfer through a local login with `bin` (and `also`) first on PATH; run from `cwd`. */
async function transferWith(bin: string, cwd: string, also: string[] = []) {
  const path = [bin, ...also, Deno.env.get("PATH")].join(":");
  const environment = { ...Deno.env.toObject(), PATH: path };
  const { code, stdout, stderr } = await runFeeding([
    `${bin}/socketpipe`,
    ...block("-i", "cat"),
    ...block("-l", "sh", "-c", 'eval "$*"', "sh"),
    "-h",
    "127.0.0.1",
    ...block("-r", "sha256sum"),
    ...block("-o", "cat"),
  ], { stdin: data, env: environment, cwd });
  return { code, hash: decoder.decode(stdout).split(" ")[0], stderr };
}

Deno.test("npm install -g . installs socketpipe and its man page; it works from another directory", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "socketpipe-npm-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "socketpipe-cwd-" });
  try {
    const install = await new Deno.Command("npm", {
      args: ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "."],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(install.success, decoder.decode(install.stderr));
    const version = await new Deno.Command(`${prefix}/bin/socketpipe`, {
      args: ["--version"],
      cwd: elsewhere,
    })
      .output();
    assert.match(decoder.decode(version.stdout), /^socketpipe \d+\.\d+\.\d+\nprotocol \d+\n$/);
    assert.ok(Deno.statSync(`${prefix}/share/man/man1/socketpipe.1`).isFile);
    const run = await transferWith(`${prefix}/bin`, elsewhere);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.hash, await sha256(data));
  } finally {
    await Deno.remove(prefix, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("deno install -g -A -n socketpipe main.ts installs a command that works from another directory", async () => {
  const root = await Deno.makeTempDir({ prefix: "socketpipe-deno-install-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "socketpipe-cwd-" });
  try {
    const install = await new Deno.Command(DENO, {
      args: ["install", "-g", "-A", "--root", root, "-n", "socketpipe", `${REPO}/main.ts`],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(install.success, decoder.decode(install.stderr));
    // The shim runs `deno` from PATH: the suite's own.
    const run = await transferWith(`${root}/bin`, elsewhere, [
      DENO.slice(0, DENO.lastIndexOf("/")),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.hash, await sha256(data));
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("the provisioning tests' bare remote PATH keeps the system's commands where an installed socketpipe sits beside them", async () => {
  const root = await Deno.makeTempDir({ prefix: "socketpipe-bare-path-" });
  try {
    // A system directory as `npm install -g .` leaves /usr/bin: socketpipe beside sh's tools.
    const system = `${root}/usr-bin`;
    await Deno.mkdir(system);
    for (const name of ["socketpipe", "deno", "cat"]) {
      await Deno.writeTextFile(`${system}/${name}`, "#!/bin/sh\n", { mode: 0o755 });
    }
    const path = bareSessionPath(`${root}/bare`, [system, `${root}/absent`]).split(":");
    const found = (name: string) => path.some((dir) => existsSync(`${dir}/${name}`));
    assert.equal(found("cat"), true);
    assert.equal(found("socketpipe"), false);
    assert.equal(found("deno"), false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("package-lock.json matches package.json, so npm ci installs from a fresh clone", async () => {
  const manifest = JSON.parse(await Deno.readTextFile(`${REPO}/package.json`));
  const lock = JSON.parse(await Deno.readTextFile(`${REPO}/package-lock.json`));
  const root = lock.packages[""];
  assert.equal(lock.name, manifest.name);
  assert.equal(root.name, manifest.name);
  assert.deepEqual(root.dependencies ?? {}, manifest.dependencies ?? {});
  assert.deepEqual(root.devDependencies ?? {}, manifest.devDependencies ?? {});
  assert.deepEqual(root.bin ?? {}, manifest.bin ?? {});
  for (const [name, version] of Object.entries({ ...manifest.dependencies })) {
    assert.equal(lock.packages[`node_modules/${name}`]?.version, version, name);
  }
});

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("CI runs exactly the README's test command", async () => {
  const readme = await Deno.readTextFile(`${REPO}/README.md`);
  const command = readme.match(/^(npm ci && npm test)\s+#/m)?.[1];
  assert.equal(command, "npm ci && npm test");
  const ci = (await Deno.readTextFile(`${REPO}/.ci/run`)).trim().split("\n");
  assert.equal(ci.at(-1), command);
});
