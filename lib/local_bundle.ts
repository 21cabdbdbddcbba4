/**
 * This socketpipe as one file, for a remote host that has none: the bundle the local half
 * sends when it provisions the remote half. Run from its bundle, socketpipe sends that
 * file itself; run from a source checkout, it builds the bundle once with `deno bundle`
 * and keeps it in a local cache, named after the sources it was built from, with its
 * sha256 beside it (`<name>.js.sha256`): a cached file that no longer matches is rebuilt.
 *
 * @module
 */
import { toHex } from "./hex.ts";
import { messageOf } from "./errors.ts";

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
 * The bundle of the socketpipe this code belongs to, or why there is none (one line).
 *
 * @example
 * ```ts ignore
 * import { localBundle } from "./local_bundle.ts";
 * const bundle = await localBundle();
 * if (typeof bundle !== "string") console.log(bundle.bytes.length, bundle.sha256);
 * ```
 */
export async function localBundle(): Promise<Bundle | string> {
  const self = new URL(import.meta.url);
  if (self.protocol !== "file:") return `socketpipe runs from ${self.href}, not from a file`;
  if (self.pathname.includes("/deno-compile-")) {
    return "this is a compiled binary, which does not carry its bundle";
  }
  // Bundled, every module shares the bundle's URL: this file is then the bundle itself.
  if (self.pathname.endsWith(".js")) return await bundleAt(decodeURIComponent(self.pathname));
  const main = decodeURIComponent(new URL("../main.ts", self).pathname);
  try {
    Deno.statSync(main);
  } catch {
    return `cannot find the sources to bundle (${main})`;
  }
  return await bundleOfCheckout(main);
}

async function bundleAt(path: string): Promise<Bundle | string> {
  try {
    const bytes = await Deno.readFile(path);
    return { bytes, sha256: await sha256Hex(bytes), origin: path };
  } catch (error) {
    return `cannot read the bundle ${path}: ${messageOf(error)}`;
  }
}

/** The checkout's bundle, from the cache when the sources have not changed since. */
async function bundleOfCheckout(main: string): Promise<Bundle | string> {
  const root = main.slice(0, -"/main.ts".length);
  const cached = `${cacheDirectory()}/bundles/${await sourcesHash(root)}.js`;
  try {
    const bytes = await Deno.readFile(cached);
    const sha256 = await sha256Hex(bytes);
    // A cached bundle counts only as its build left it: a damaged file (a full disk, a
    // crash, a hand) is built again, never sent to fail there with a raw SyntaxError.
    if ((await Deno.readTextFile(`${cached}.sha256`)).trim() === sha256) {
      return { bytes, sha256, origin: cached };
    }
  } catch {
    // Not built yet for these sources.
  }
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--quiet", main],
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!built.success || built.stdout.length === 0) {
    const why = new TextDecoder().decode(built.stderr).trim().split("\n").pop();
    return `deno bundle failed: ${why || `status ${built.code}`}`;
  }
  const bytes = built.stdout;
  const sha256 = await sha256Hex(bytes);
  await storeAtomically(cached, bytes);
  await storeAtomically(`${cached}.sha256`, new TextEncoder().encode(`${sha256}\n`));
  return { bytes, sha256, origin: `${main}, built now` };
}

/** A name for the sources as they are: the Deno version and every source file's bytes. */
async function sourcesHash(root: string): Promise<string> {
  const encoder = new TextEncoder();
  const parts = [encoder.encode(`deno ${Deno.version.deno}\0`)];
  const files = ["main.ts", ...[...Deno.readDirSync(`${root}/lib`)].map((e) => `lib/${e.name}`)]
    .filter((name) => name.endsWith(".ts")).sort();
  for (const name of files) {
    parts.push(encoder.encode(`${name}\0`), await Deno.readFile(`${root}/${name}`));
  }
  const all = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  parts.reduce((offset, part) => (all.set(part, offset), offset + part.length), 0);
  return (await sha256Hex(all)).slice(0, 32);
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
 * `~/.cache/socketpipe`.
 *
 * @example
 * ```ts
 * import { cacheDirectory } from "./local_bundle.ts";
 * cacheDirectory().endsWith("/socketpipe"); // true
 * ```
 */
export function cacheDirectory(): string {
  const base = Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME") ?? "/tmp"}/.cache`;
  return `${base}/socketpipe`;
}

/**
 * The sha256 of `bytes`, in hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./local_bundle.ts";
 * (await sha256Hex(new Uint8Array())).slice(0, 8); // "e3b0c442"
 * ```
 */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}
