/**
 * This socketpipe as one file, for a remote host that has none: the bundle the local half
 * sends when it provisions the remote half. Run from its bundle, socketpipe sends that
 * file itself; run from a source checkout, it uses the bundle the install built in `dist/`
 * (`npm install` / `npm ci` run `tools/prepare_bundle.ts`) while it matches the sources;
 * else it builds one with `deno bundle` (whose first run downloads esbuild) and keeps it in
 * a local cache, named after the sources. Each has its sha256 beside it
 * (`<name>.js.sha256`): a file that no longer matches is built again.
 *
 * Over 300 lines on purpose: finding, checking and building the bundle are one decision
 * (which file is this socketpipe), read top to bottom.
 *
 * @module
 */
import { toHex } from "../base/hex.ts";
import { messageOf } from "../base/message_of.ts";
import { Fault, type FaultEntry, FAULTS } from "../base/faults.ts";
import { trustedPlace } from "../platform/trusted_place.ts";

/** One version of socketpipe as a single JavaScript file. */
export interface Bundle {
  /** The file's bytes. */
  bytes: Uint8Array;
  /** Their sha256, in hex. */
  sha256: string;
  /** Where it came from, for `-v`. */
  origin: string;
}

/**
 * The bundle of the socketpipe this code belongs to, or the fault that says why there is
 * none.
 *
 * @example Not run as a test: it may run `deno bundle`, whose first run downloads esbuild.
 * ```ts ignore
 * import { localBundle } from "./local_bundle.ts";
 * const bundle = await localBundle();
 * if (!(bundle instanceof Fault)) console.log(bundle.bytes.length, bundle.sha256);
 * ```
 */
export async function localBundle(): Promise<Bundle | Fault> {
  const self = new URL(import.meta.url);
  const none = FAULTS.cannotProvision;
  if (self.protocol === "http:" || self.protocol === "https:") return await bundleFromUrl(self);
  if (self.protocol !== "file:") {
    return none.of(`socketpipe runs from ${self.href}, not from a file`);
  }
  if (self.pathname.includes("/deno-compile-")) {
    return none.of("this is a compiled binary, which does not carry its bundle");
  }
  // Bundled, every module shares the bundle's URL: this file is then the bundle itself.
  if (self.pathname.endsWith(".js")) return await bundleAt(decodeURIComponent(self.pathname));
  const main = decodeURIComponent(new URL("../../main.ts", self).pathname);
  try {
    Deno.statSync(main);
  } catch {
    return none.of(`cannot find the sources to bundle (${main})`);
  }
  return await bundleOfCheckout(main);
}

/**
 * The bundle this process runs from a URL (`deno run -A https://…/socketpipe.js`): the
 * copy Deno keeps in its cache, which is what runs, as `deno info` names it. Only a bundle
 * (one module, Node's built-ins aside) is one file to send.
 */
async function bundleFromUrl(self: URL): Promise<Bundle | Fault> {
  const none = FAULTS.cannotProvision;
  if (!self.pathname.endsWith(".js")) {
    return none.of(`socketpipe runs from ${self.href}, which is not a bundle (one .js file)`);
  }
  let modules: { specifier: string; kind?: string; local?: string }[];
  try {
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", self.href],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!info.success) throw new Error(new TextDecoder().decode(info.stderr).trim());
    modules = JSON.parse(new TextDecoder().decode(info.stdout)).modules;
  } catch (error) {
    return none.of(`cannot find ${self.href} in Deno's cache: ${messageOf(error)}`);
  }
  const others = modules.filter((module) =>
    module.specifier !== self.href && module.kind !== "node"
  );
  const local = modules.find((module) => module.specifier === self.href)?.local;
  if (others.length > 0 || !local) {
    return none.of(`socketpipe runs from ${self.href}, which is not a bundle (one .js file)`);
  }
  const bundle = await bundleAt(local);
  return bundle instanceof Fault ? bundle : { ...bundle, origin: `${self.href} (Deno's cache)` };
}

async function bundleAt(path: string): Promise<Bundle | Fault> {
  try {
    const bytes = await Deno.readFile(path);
    return { bytes, sha256: await sha256Hex(bytes), origin: path };
  } catch (error) {
    return FAULTS.cannotProvision.of(`cannot read the bundle ${path}: ${messageOf(error)}`);
  }
}

/**
 * The checkout's bundle: the one built at install time (`dist/`, named after the sources
 * it was built from), else the cache's, else built now. A run that finds the install's
 * never needs the network (the first `deno bundle` downloads esbuild).
 */
async function bundleOfCheckout(main: string): Promise<Bundle | Fault> {
  const root = main.slice(0, -"/main.ts".length);
  const name = await sourcesHash(root);
  const installed = await checkedBundle(`${root}/${INSTALLED_BUNDLE}`, name);
  if (installed) return installed;
  const cache = bundleCache(root);
  if (cache instanceof Fault) return cache;
  const cached = `${cache}/${name}.js`;
  // Only a file of this user's own, in a directory nobody else can change, is sent.
  const mine = [cached, `${cached}.sha256`].every((path) => trustedPlace(path, "file").trusted);
  const fromCache = mine ? await checkedBundle(cached) : null;
  if (fromCache) return fromCache;
  const built = await buildBundle(main, FAULTS.cannotProvision);
  if (built instanceof Fault) return built;
  await storeBundle(cached, built);
  return { ...built, origin: `${main}, built now` };
}

/**
 * The directory bundles built from a checkout are kept in, made if missing: the user's
 * cache's `bundles/`, only where nobody but the user (and root) can change it; else the
 * fault that says why (never a shared place such as `/tmp`).
 */
function bundleCache(root: string): string | Fault {
  const base = cacheDirectory();
  if (base === null) return FAULTS.noSafeBundleCache.of("HOME and XDG_CACHE_HOME are unset", root);
  const bundles = `${base}/bundles`;
  try {
    Deno.mkdirSync(bundles, { recursive: true, mode: 0o700 });
  } catch {
    // Judged below: a place that cannot be made cannot be looked at either.
  }
  for (const place of [base, bundles]) {
    const verdict = trustedPlace(place, "directory");
    if (!verdict.trusted) return FAULTS.noSafeBundleCache.of(verdict.why, root);
  }
  return bundles;
}

/** Where the install puts the checkout's bundle (see {@link installBundle}). */
const INSTALLED_BUNDLE = "dist/socketpipe.js";

/**
 * Builds the checkout's bundle into `dist/` with the name of its sources beside it: what
 * `npm install` / `npm ci` run (the `prepare` script), so that no run needs the network.
 * Returns the line to print.
 *
 * @example Not run as a test: it writes the checkout's dist/ and may download esbuild.
 * ```ts ignore
 * import { installBundle } from "./local_bundle.ts";
 * console.log(await installBundle());
 * ```
 */
export async function installBundle(): Promise<string> {
  const main = decodeURIComponent(new URL("../../main.ts", import.meta.url).pathname);
  const root = main.slice(0, -"/main.ts".length);
  const built = await buildBundle(main, FAULTS.bundleNotBuilt);
  if (built instanceof Fault) return `socketpipe: ${built.line}`;
  const path = `${root}/${INSTALLED_BUNDLE}`;
  await storeBundle(path, built, await sourcesHash(root));
  return `socketpipe: bundle ${built.sha256.slice(0, 16)} in ${INSTALLED_BUNDLE}`;
}

/**
 * The bundle at `path` if it is whole (its sha256 is the one stored beside it) and, when
 * `sources` is given, built from those sources; else null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkedBundle } from "./local_bundle.ts";
 * assert.equal(await checkedBundle("/nonexistent/socketpipe.js"), null);
 * ```
 */
export async function checkedBundle(path: string, sources?: string): Promise<Bundle | null> {
  try {
    const bytes = await Deno.readFile(path);
    const sha256 = await sha256Hex(bytes);
    // A bundle counts only as its build left it: a damaged file (a full disk, a crash, a
    // hand) is built again, never sent to fail there with a raw SyntaxError.
    const [sum, from] = (await Deno.readTextFile(`${path}.sha256`)).trim().split(" ");
    if (sum !== sha256 || (sources !== undefined && from !== sources)) return null;
    return { bytes, sha256, origin: path };
  } catch {
    return null; // not built (for these sources)
  }
}

/** `deno bundle` of `main`, or the caller's fault naming the real cause. */
async function buildBundle(
  main: string,
  failed: FaultEntry<[cause: string]>,
): Promise<Bundle | Fault> {
  const root = main.slice(0, -"/main.ts".length);
  let built: Deno.CommandOutput;
  try {
    built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", main],
      cwd: root,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    return failed.of(`deno bundle could not start: ${messageOf(error)}`);
  }
  if (!built.success || built.stdout.length === 0) {
    const stderr = new TextDecoder().decode(built.stderr);
    return failed.of(`deno bundle failed: ${bundleError(stderr, built.code)}`);
  }
  return { bytes: built.stdout, sha256: await sha256Hex(built.stdout), origin: main };
}

/**
 * The line of `deno bundle`'s stderr that names its cause (an error line, without colour),
 * rather than its last, which may be a bare "<unknown>".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bundleError } from "./local_bundle.ts";
 * assert.equal(
 *   bundleError("\x1b[31merror\x1b[0m: failed to fetch esbuild: connection refused\n  at <unknown>\n", 1),
 *   "error: failed to fetch esbuild: connection refused",
 * );
 * assert.equal(bundleError("", 3), "status 3");
 * ```
 */
export function bundleError(stderr: string, status: number): string {
  // deno-lint-ignore no-control-regex
  const lines = stderr.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((line) => line.trim())
    .filter((line) => line !== "" && !/^(\d+: )?<unknown>$/.test(line) && !/^at /.test(line));
  const cause = lines.find((line) => /error/i.test(line)) ?? lines[0];
  return cause ?? `status ${status}`;
}

/** Stores a bundle with its sha256 (and the sources it was built from) beside it. */
async function storeBundle(path: string, bundle: Bundle, sources = ""): Promise<void> {
  await storeAtomically(path, bundle.bytes);
  const stamp = `${bundle.sha256}${sources ? ` ${sources}` : ""}\n`;
  await storeAtomically(`${path}.sha256`, new TextEncoder().encode(stamp));
}

/**
 * A name for the sources as they are: the Deno version and the bytes of `main.ts` and of
 * every `.ts` file under `lib/`, at any depth (a file the name left out would let a stale
 * bundle reach remote hosts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sourcesHash } from "./local_bundle.ts";
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/lib/deep/er`, { recursive: true });
 * await Deno.writeTextFile(`${root}/main.ts`, "");
 * const before = await sourcesHash(root);
 * await Deno.writeTextFile(`${root}/lib/deep/er/new.ts`, "export {};");
 * assert.notEqual(await sourcesHash(root), before);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function sourcesHash(root: string): Promise<string> {
  const encoder = new TextEncoder();
  const parts = [encoder.encode(`deno ${Deno.version.deno}\0`)];
  for (const name of ["main.ts", ...sourceFilesUnder(root, "lib")].sort()) {
    parts.push(encoder.encode(`${name}\0`), await Deno.readFile(`${root}/${name}`));
  }
  const all = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  parts.reduce((offset, part) => (all.set(part, offset), offset + part.length), 0);
  return (await sha256Hex(all)).slice(0, 32);
}

/** Every `.ts` file under `root/folder`, at any depth, as a path from `root`. */
function sourceFilesUnder(root: string, folder: string): string[] {
  return [...Deno.readDirSync(`${root}/${folder}`)].flatMap((entry) => {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory) return sourceFilesUnder(root, path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Writes by rename, so that a reader never sees half a file; a cache that fails is skipped. */
async function storeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const part = `${path}.${Deno.pid}.part`;
  try {
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    await Deno.writeFile(part, bytes, { mode: 0o600 });
    await Deno.rename(part, path);
  } catch {
    await Deno.remove(part).catch(() => {});
  }
}

/**
 * This user's cache directory for socketpipe: `$XDG_CACHE_HOME/socketpipe`, or
 * `~/.cache/socketpipe`; null when neither variable is set (no shared place stands in).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cacheDirectory } from "./local_bundle.ts";
 * assert.equal(cacheDirectory()?.endsWith("/socketpipe"), true);
 * ```
 */
export function cacheDirectory(): string | null {
  const home = Deno.env.get("HOME");
  const base = Deno.env.get("XDG_CACHE_HOME") || (home ? `${home}/.cache` : null);
  return base === null ? null : `${base}/socketpipe`;
}

/**
 * The sha256 of `bytes`, in hex.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sha256Hex } from "./local_bundle.ts";
 * assert.deepEqual((await sha256Hex(new Uint8Array())).slice(0, 8), "e3b0c442");
 * ```
 */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}
