/**
 * Logging in: the login started (with the provisioning bootstrap where the remote half
 * is provisioned), and the login channel opened on it.
 *
 * @module
 */
import { Fault, FAULTS } from "../base/faults.ts";
import type { StepLog } from "../base/log.ts";
import { handleStopRequests } from "../login/job_control.ts";
import { type LoginConnection, startLogin, stopLogin } from "../login/login.ts";
import { LoginChannel } from "../login/login_channel.ts";
import { ignoreStopsForLogin } from "../platform/ignore_stops.ts";
import type { ProcessTree } from "../process/process_tree.ts";
import { prepareProvisioning, type Provisioning } from "../provision/provision.ts";
import type { WithDefaults } from "../session/settings.ts";
import type { LocalHalfSeams, RunControl, SocketpipeOptions } from "./socketpipe_types.ts";
/**
 * Starts the login (or takes the test's), with the provisioning bootstrap in place of the
 * remote socketpipe unless `-x` or `--provision never` says otherwise; and how to start it
 * again, the same way (after a cut, with `--reconnect`).
 *
 * @example Not run as a test: it logs in to a host.
 * ```ts ignore
 * import { logIn } from "./log_in.ts";
 * const loggedIn = logIn(withDefaults(options), {}, {}, { log, tree });
 * ```
 */
export function logIn(
  options: WithDefaults<SocketpipeOptions>,
  control: RunControl,
  seams: LocalHalfSeams,
  { log, tree }: { log: StepLog; tree: ProcessTree },
): {
  login: LoginConnection;
  provisioning?: Provisioning;
  /** Starts the same login again (after a cut, with --reconnect). */
  startAgain(): LoginConnection | Fault;
} | Fault {
  const provisioning = provisioningFor(options, log) ?? undefined;
  if (provisioning) control.onProvisioning?.(() => provisioning.progress ?? null);
  if (control.jobControl) ignoreStopsForLogin(); // ssh must not stop on Ctrl-Z
  const starter = provisioning?.words;
  const start = () =>
    startLogin({ ...options, starter, onStderr: control.onLoginOutput }, log, tree);
  const login = seams.login ?? start();
  // A login a test supplied cannot be started again.
  const startAgain = seams.login
    ? () => FAULTS.loginCouldNotStart.of("given", "it cannot be started again")
    : start;
  return login instanceof Fault ? login : { login, provisioning, startAgain };
}

/**
 * The remote half is provisioned unless `-x` names it or `--provision never` says to use
 * only what is installed there.
 */
function provisioningFor(
  options: WithDefaults<SocketpipeOptions>,
  log: StepLog,
): Provisioning | null {
  const mode = options.provision;
  if (options.remoteSocketpipe || mode === "never") return null;
  return prepareProvisioning(mode, log, options.peerTimeout, options.remoteCache ?? "");
}

/**
 * The login channel on `login`, and how to end both (the login's grace in milliseconds).
 *
 * @example Not run as a test: it needs a login.
 * ```ts ignore
 * import { openChannel } from "./log_in.ts";
 * const { channel, endLogin } = openChannel(login, {}, log);
 * await endLogin(5000);
 * ```
 */
export function openChannel(login: LoginConnection, control: RunControl, log: StepLog) {
  const channel = new LoginChannel(login.readable, login.writable, {
    peer: "remote",
    onNoise: (line) => log.always(`login: ${line}`),
  });
  const stopHandlingStops = control.jobControl ? handleStopRequests(channel) : () => {};
  const endLogin = async (graceMs: number) => {
    stopHandlingStops();
    await channel.endRejoins();
    await channel.close();
    await stopLogin(login, graceMs);
  };
  return { channel, endLogin };
}
