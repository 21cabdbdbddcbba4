/**
 * A cut of the login, survived (`--reconnect`), on the local host: the same login is run
 * again, its remote invocation is told where the remote half waits (`rejoin` in its
 * session line), and once it has handed the login over, the run's login channel goes on
 * on it. The remote side: `remote/login_rejoin.ts`.
 *
 * @module
 */
import { REAL_CLOCK } from "../base/clock.ts";
import type { CommandStatus } from "../base/command_status.ts";
import { Fault } from "../base/faults.ts";
import type { StepLog } from "../base/log.ts";
import { settledWithin, valueIfSettled } from "../base/settled_within.ts";
import type { LoginConnection } from "../login/login.ts";
import { LoginChannel, type LoginCut, type LoginStreams } from "../login/login_channel.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { type Provisioning, provisionRemote } from "../provision/provision.ts";

/** How long to wait between two logins that failed, in milliseconds. */
const RETRY_MS = 1000;

/**
 * The run's login, whichever it is now: the first, or the one started again after a cut.
 * What the run asks of its login (its end, its last words, to stop it) goes to the
 * current one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CurrentLogin } from "./login_again.ts";
 * const first = {
 *   readable: new ReadableStream<Uint8Array>(), writable: new WritableStream<Uint8Array>(),
 *   status: Promise.resolve({ status: 0, signal: null, failedToStart: null }),
 *   kill() {}, stop: () => Promise.resolve(),
 * };
 * const login = new CurrentLogin(first);
 * assert.equal((await login.status).status, 0);
 * assert.equal(login.cuts, 0);
 * ```
 */
export class CurrentLogin implements LoginConnection {
  #current: LoginConnection;
  /** The cuts of the login survived. */
  cuts = 0;
  /** Whether a cut login is being run again now. */
  rejoining = false;
  /** Why the last cut was not survived, once one was not. */
  notJoined: { seconds: number; cause: string } | null = null;

  constructor(first: LoginConnection) {
    this.#current = first;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#current.readable;
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#current.writable;
  }

  get status(): Promise<CommandStatus> {
    return this.#current.status;
  }

  lastWords(): Promise<string> {
    return this.#current.lastWords?.() ?? Promise.resolve("");
  }

  kill(signal: Deno.Signal): void {
    this.#current.kill(signal);
  }

  stop(): Promise<void> {
    return this.#current.stop();
  }

  /** From now on, `next` is the run's login. */
  follow(next: LoginConnection): void {
    this.#current = next;
  }
}

/** What logging in again needs. */
export interface LoginAgainContext {
  /** The run's login, which each new one replaces. */
  login: CurrentLogin;
  /** Starts the login again, as the first was started; a fault if it cannot start. */
  startLogin(): LoginConnection | Fault;
  /** The session line the first login was sent; sent again with `rejoin` set. */
  session: SessionMessage;
  /** The `--reconnect` bound in seconds. */
  seconds: number;
  /** When the remote half is provisioned: what its bootstrap may ask for again. */
  provisioning?: Provisioning;
  log: StepLog;
}

/**
 * Arms `channel` to survive a cut of its login (`--reconnect`): once the remote half has
 * said where it waits (`rejoin-at`), a cut login is stopped and run again, up to the
 * bound, until one hands itself over.
 *
 * @example Not run as a test: it logs in again (see tests/sshd/login_cut_test.ts).
 * ```ts ignore
 * import { armLoginAgain } from "./login_again.ts";
 * armLoginAgain(channel, { login, startLogin, session, seconds: 60, log });
 * ```
 */
export function armLoginAgain(channel: LoginChannel, context: LoginAgainContext): void {
  const waitsAt = channel.first("rejoin-at");
  const reported = channel.first("exit");
  channel.rejoinWith(async (why, signal) => {
    const at = await valueIfSettled(waitsAt);
    if (!at) return null; // the remote half could not wait for a login: the run ends
    // The remote half reported its end, or its failure: its login's end is its own.
    if (await valueIfSettled(reported) || await valueIfSettled(channel.problem)) return null;
    return await logInAgain(at.path, why, signal, context);
  }, { speaksFirst: true });
}

/** Logs in again until one login hands itself over, within the bound; its streams, or null. */
async function logInAgain(
  path: string,
  why: LoginCut,
  signal: AbortSignal,
  context: LoginAgainContext,
): Promise<LoginStreams | null> {
  const { login } = context;
  login.rejoining = true;
  try {
    return await runAgain(path, why, signal, context);
  } finally {
    login.rejoining = false;
  }
}

/** {@link logInAgain}'s attempts, one after another within the bound. */
async function runAgain(
  path: string,
  why: LoginCut,
  signal: AbortSignal,
  context: LoginAgainContext,
): Promise<LoginStreams | null> {
  const { login, log, seconds } = context;
  const cutAt = REAL_CLOCK.now();
  const left = () => cutAt + seconds * 1000 - REAL_CLOCK.now();
  log.step(
    `login ${why === "silent" ? "silent" : "cut"}: logging in again (--reconnect ${seconds})`,
  );
  await login.stop();
  let cause = "no login was started";
  while (!signal.aborted && left() > 0) {
    const next = context.startLogin();
    if (next instanceof Fault) {
      cause = next.line;
      break;
    }
    login.follow(next);
    const streams = await handedOver(next, path, context, Math.max(0, left()), signal);
    if (typeof streams !== "string") {
      login.cuts++;
      log.step(
        `login joined again after ${((REAL_CLOCK.now() - cutAt) / 1000).toFixed(1)} s ` +
          `(login cut ${login.cuts})`,
      );
      return streams;
    }
    cause = streams;
    log.step(`logging in again: ${cause}`);
    await next.stop();
    await settledWithin(
      new Promise((resolve) => signal.addEventListener("abort", resolve)),
      RETRY_MS,
    );
  }
  login.notJoined = { seconds, cause };
  return null;
}

/**
 * Introduces the new login as the first was (serving a bootstrap what it asks for), with
 * `rejoin` in its session line, and waits for it to say it `handed` itself over; the
 * login's streams then, with what follows still unread; else why not.
 */
async function handedOver(
  next: LoginConnection,
  path: string,
  context: LoginAgainContext,
  withinMs: number,
  signal: AbortSignal,
): Promise<LoginStreams | string> {
  const { log, provisioning } = context;
  const channel = new LoginChannel(next.readable, next.writable, {
    peer: "remote",
    onNoise: (line) => log.always(`login: ${line}`),
    lastMessage: (message) => message.event === "handed",
  });
  const introduced = (async () => {
    if (provisioning) {
      const fault = await provisionRemote(provisioning, channel, log);
      if (fault) return fault.line;
    }
    if (!await channel.first("hello")) {
      // ssh's own last line says why best ("Connection refused").
      return await next.lastWords?.() || "it ended before the remote half greeted";
    }
    await channel.send({ ...context.session, rejoin: path });
    if (!await channel.first("handed")) return "it ended before the login was handed over";
    return null;
  })();
  const stopped = new Promise<string>((resolve) => {
    const timer = REAL_CLOCK.after(withinMs, () => resolve(`no answer within the bound`));
    signal.addEventListener("abort", () => resolve("stopped"), { once: true });
    introduced.finally(() => REAL_CLOCK.clear(timer));
  });
  const cause = await Promise.race([introduced, channel.problem, stopped]);
  if (cause === null) return await channel.release();
  await channel.close();
  return cause;
}
