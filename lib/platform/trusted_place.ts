/**
 * Whether nobody but this user (and root) can change a place socketpipe keeps what it
 * runs or sends: the rule the remote cache's scripts apply in `sh`
 * (`provision/remote_bootstrap.ts`, `CACHE_TRUST`), here for the local half's own cache.
 * The place must be this user's, writable by no one else, and no symbolic link; every
 * directory above it (its physical path) this user's or root's and writable by no one
 * else unless sticky (as `/tmp` is), so that nobody can rename it away and put another in
 * its place.
 *
 * @module
 */
import { messageOf } from "../base/message_of.ts";

/** A place found safe (its physical path), or why it is not, on one line. */
export type PlaceVerdict = { trusted: true; path: string } | { trusted: false; why: string };

/**
 * Judges `path`, a directory or a regular file, by the rule above.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trustedPlace } from "./trusted_place.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(trustedPlace(dir, "directory").trusted, true);
 * await Deno.chmod(dir, 0o777);
 * assert.match((trustedPlace(dir, "directory") as { why: string }).why, /written by others/);
 * await Deno.remove(dir);
 * ```
 */
export function trustedPlace(path: string, kind: "directory" | "file"): PlaceVerdict {
  const refused = (why: string): PlaceVerdict => ({ trusted: false, why });
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch (error) {
    return refused(`${path} cannot be looked at (${messageOf(error)})`);
  }
  if (info.isSymlink) return refused(`${path} is a symbolic link`);
  if (kind === "directory" ? !info.isDirectory : !info.isFile) {
    return refused(`${path} is not a ${kind}`);
  }
  if (info.uid !== Deno.uid()) {
    return refused(`${path} belongs to uid ${info.uid}, not to uid ${Deno.uid()}`);
  }
  if (((info.mode ?? 0) & 0o022) !== 0) {
    return refused(`${path} can be written by others (mode ${modeOf(info)})`);
  }
  let physical: string;
  try {
    physical = `${Deno.realPathSync(parentOf(path)).replace(/\/$/, "")}/${path.split("/").pop()}`;
  } catch (error) {
    return refused(`${parentOf(path)} cannot be looked at (${messageOf(error)})`);
  }
  for (let above = parentOf(physical);; above = parentOf(above)) {
    const why = whyAboveIsOpen(above);
    if (why) return refused(why);
    if (above === "/") break;
  }
  return { trusted: true, path: physical };
}

/** Why someone else could replace what is below `above`, or null. */
function whyAboveIsOpen(above: string): string | null {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(above);
  } catch (error) {
    return `${above} cannot be looked at (${messageOf(error)})`;
  }
  if (info.uid !== Deno.uid() && info.uid !== 0) {
    return `${above}, above it, belongs to uid ${info.uid}`;
  }
  const mode = info.mode ?? 0;
  if ((mode & 0o022) !== 0 && (mode & 0o1000) === 0) {
    return `${above}, above it, can be written by others (mode ${modeOf(info)})`;
  }
  return null;
}

function parentOf(path: string): string {
  const parent = path.replace(/\/+$/, "").replace(/\/[^/]*$/, "");
  return parent === "" ? "/" : parent;
}

function modeOf(info: Deno.FileInfo): string {
  return ((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0");
}
