/**
 * Waits for `promise` to settle, but at most `ms` milliseconds. Resolves true if it
 * settled in time; never rejects.
 *
 * @example
 * ```ts
 * import { settledWithin } from "./_settled_within.ts";
 * const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
 * if (!await settledWithin(child.status, 1000)) child.kill("SIGKILL");
 * ```
 */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
