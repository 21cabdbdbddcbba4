/**
 * A lock every copy of the suite on this machine shares, for the few tests that must use a
 * machine-wide path (what socketpipe does with HOME unset: /tmp/.cache): a second suite
 * running beside this one waits, rather than finding that path half made or removed.
 */

/** Runs `fn` holding the machine-wide lock `name` (flock on a file in /tmp). */
export async function holdingMachineLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const file = await Deno.open(`/tmp/socketpipe-tests-${name}.lock`, {
    create: true,
    write: true,
  });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // releases the lock
  }
}
