/**
 * The message of any thrown value, on one line. A system error reads as the system names
 * it, in lower case and without its number (`Broken pipe (os error 32)` → `broken pipe`),
 * the same words either data path prints for the same fault.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { messageOf } from "./message_of.ts";
 * assert.deepEqual(messageOf(new Error("a\nb")), "a b");
 * assert.deepEqual(messageOf(new Error("Broken pipe (os error 32)")), "broken pipe");
 * assert.deepEqual(messageOf(new Error("connect: Connection refused (os error 111)")), "connect: Connection refused");
 * ```
 */
export function messageOf(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error))
    .replace(/\s*\n\s*/g, " ").trim();
  const system = text.match(/^(.*?)\s*\(os error \d+\)$/);
  if (system) return system[1].charAt(0).toLowerCase() + system[1].slice(1);
  // A system error quoted inside a longer message loses its number too.
  return text.replace(/\s*\(os error \d+\)/g, "");
}
