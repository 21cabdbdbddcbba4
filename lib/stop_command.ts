import { settledWithin } from "./_settled_within.ts";
import type { RunningCommand } from "./data_path.ts";

/**
 * Stops a command: SIGTERM, then SIGKILL if it has not ended within `graceMs`.
 * Resolves once it has ended.
 *
 * @example
 * ```ts ignore
 * import { stopCommand } from "./stop_command.ts";
 * import type { RunningCommand } from "./data_path.ts";
 * declare const command: RunningCommand;
 * await stopCommand(command);
 * ```
 */
export async function stopCommand(command: RunningCommand, graceMs = 1000): Promise<void> {
  command.kill("SIGTERM");
  if (!await settledWithin(command.status, graceMs)) {
    command.kill("SIGKILL");
    await command.status;
  }
}
