/**
 * Ctrl-Z for a run, as for a shell job: SIGTSTP stops every local command (the terminal
 * sends it to the whole foreground group) and socketpipe itself, and `fg` (SIGCONT)
 * resumes them, however long the pause. Two things make that work across hosts:
 *
 * - the login (ssh) must not stop with the group, or nothing could tell the remote half
 *   why the local half fell silent: it is started with SIGTSTP ignored (an ignored
 *   signal stays ignored across exec; the local commands are started with every signal
 *   at its default);
 * - before stopping, socketpipe tells the remote half it is paused, and after SIGCONT
 *   that it resumed: a pause is not silence. A SIGSTOP that nobody announced still is.
 *
 * @module
 */
import type { LoginChannel } from "./login_channel.ts";

/**
 * Handles SIGTSTP for the run on `channel` until the returned function is called:
 * announce the pause, stop this process, announce the resumption once continued.
 *
 * @example Not run as a test: it needs a login channel, and stops this process on SIGTSTP.
 * ```ts ignore
 * import { handleStopRequests } from "./job_control.ts";
 * const stopHandling = handleStopRequests(channel);
 * // … the run …
 * stopHandling();
 * ```
 */
export function handleStopRequests(channel: LoginChannel): () => void {
  let pausing = false;
  const onStop = async () => {
    if (pausing) return;
    pausing = true;
    try {
      await channel.announcePause();
      Deno.kill(Deno.pid, "SIGSTOP"); // returns once continued
      await channel.announceResume();
    } finally {
      pausing = false;
    }
  };
  Deno.addSignalListener("SIGTSTP", onStop);
  return () => Deno.removeSignalListener("SIGTSTP", onStop);
}
