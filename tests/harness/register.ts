/**
 * How a test is registered: where it cannot run, it is listed as "name (not run: why)"
 * and ignored, never faked; a test of data movement runs once per data path.
 */

/** A data path as the tests select it: its label and the words that ask for it. */
export interface DataPathCase {
  /** How test names show it. */
  label: string;
  /** The words on socketpipe's command line that select it. */
  args: string[];
}

/** The two data paths every end-to-end test runs on. */
export const DATA_PATHS: readonly DataPathCase[] = [
  { label: "zero-copy", args: [] },
  { label: "--copy", args: ["--copy"] },
];

/** What else a test may set (sanitizers), as `Deno.test` takes it. */
export type TestOptions = Omit<Deno.TestDefinition, "name" | "fn" | "ignore">;

/**
 * Registers `fn` as `name` where `why` is null; elsewhere the test is listed, not run, as
 * `name (not run: why)`.
 */
export function testWhere(
  why: string | null,
  name: string,
  fn: (t: Deno.TestContext) => void | Promise<void>,
  options: TestOptions = {},
): void {
  Deno.test({
    ...options,
    name: why === null ? name : `${name} (not run: ${why})`,
    ignore: why !== null,
    fn,
  });
}

/**
 * Registers `fn` once per data path, as `name [label]`, given that path (its `args` select
 * it on the command line); where `why` is not null, each is listed as not run.
 */
export function testEachPath(
  name: string,
  fn: (path: DataPathCase) => void | Promise<void>,
  why: string | null = null,
  options: TestOptions = {},
): void {
  for (const path of DATA_PATHS) {
    testWhere(why, `${name} [${path.label}]`, () => fn(path), options);
  }
}

/** Why a shell's tests cannot run here: it is not installed; null when it is. */
export function shellMissing(shell: string, installed: boolean): string | null {
  return installed ? null : `no ${shell}; tests/run.sh installs it as root`;
}
