/**
 * The remote half's side of the meeting (the local half's is `local/meeting.ts`): connect
 * back to the local half's listener, trying the addresses the login and the session
 * name, or, with `--listen remote`, listen and say where. Either way, only a peer that
 * proves the run's token is taken.
 *
 * @module
 */
import { Fault, FAULTS } from "../base/faults.ts";
import { fromHex } from "../base/hex.ts";
import type { StepLog } from "../base/log.ts";
import { messageOf } from "../base/message_of.ts";
import type { LoginChannel } from "../login/login_channel.ts";
import type { SessionMessage } from "../login/protocol.ts";
import { addressesToTry, dialListener, formatAddress } from "../net/connect_back.ts";
import { acceptAuthenticated, candidateAddresses, openDataListener } from "../net/data_listener.ts";
import { TOKEN_LENGTH } from "../net/handshake.ts";
import { watchPeerHostEarly } from "../net/peer_timeout.ts";
import { networkIdentity, ownAddresses, sameNetwork } from "../net/host_identity.ts";

/**
 * Gets the data connection: connects to the local half's listener (the default; first to
 * the address `sshClient`, the login's `$SSH_CLIENT`, came from), or listens and says
 * where (`--listen remote`); a fault if neither works.
 */
export async function meetLocalHalf(
  session: SessionMessage,
  channel: LoginChannel,
  sshClient: string | undefined,
  log: StepLog,
): Promise<Deno.TcpConn | Fault> {
  const token = fromHex(session.token, TOKEN_LENGTH)!;
  if (session.listen === "remote") return await listenForLocalHalf(session, token, channel, log);
  return await dialListener({
    addresses: addressesToTry({
      host: session.host,
      fromLogin: sshClient?.trim().split(/\s+/)[0] ?? null,
      candidates: session.candidates,
      sameNetwork: sameNetwork(session.identity, networkIdentity()),
      ownAddresses: ownAddresses(),
    }),
    port: session.port,
    token,
    onAttempt: (address) => log.step(`connecting to ${formatAddress(address, session.port)}`),
    // From here the local host's kernel answers, even while the local half, starved of CPU
    // on a crowded host, takes long to prove itself: its silence is waited on longer.
    onConnected: (conn) =>
      watchPeerHostEarly(conn, session.settings.peerTimeout, (h) => channel.hearHostAlso(h)),
    faults: {
      refused: FAULTS.connectBackRefused,
      unreachable: FAULTS.connectBackFailed,
      notPermitted: FAULTS.remoteHalfNotPermitted,
    },
  });
}

/** `--listen remote`: listens, tells the local half where, accepts its proven connection. */
async function listenForLocalHalf(
  session: SessionMessage,
  token: Uint8Array,
  channel: LoginChannel,
  log: StepLog,
): Promise<Deno.TcpConn | Fault> {
  let listener: Deno.TcpListener;
  try {
    listener = openDataListener({ bind: session.bind, ports: session.ports });
  } catch (error) {
    return FAULTS.cannotListen.of(messageOf(error));
  }
  const { port } = listener.addr;
  log.step(`listening on ${formatAddress(listener.addr.hostname, port)}`);
  const reached = Deno.env.get("SSH_CONNECTION")?.trim().split(/\s+/)[2] ?? null;
  const addresses = session.bind
    ? [session.bind]
    : candidateAddresses(listener.addr.hostname === "::");
  await channel.send({ event: "listening", port, addresses, reached, identity: networkIdentity() });
  const gone = new AbortController();
  let why = FAULTS.localHalfGone.of();
  channel.closed.then(() => gone.abort());
  channel.silent.then(() => {
    why = FAULTS.localHalfSilent.of(session.settings.peerTimeout);
    gone.abort();
  });
  try {
    return await acceptAuthenticated(listener, token, {
      signal: gone.signal,
      onRefused: (address, reason) =>
        log.step(`refused ${formatAddress(address.hostname, address.port)}: ${reason}`),
    });
  } catch {
    return why;
  } finally {
    listener.close();
  }
}

/** How long the remote half waits between attempts to meet the local half again. */
const REDIAL_MS = 500;

/**
 * After a cut (`--reconnect`): connects back to the local half's listener again, and
 * again, until it proves itself or `signal` is aborted (then null).
 *
 * @example Not run as a test: it needs the local half's listener.
 * ```ts ignore
 * import { meetLocalHalfAgain } from "./meeting.ts";
 * const conn = await meetLocalHalfAgain(session, channel, sshClient, log, AbortSignal.timeout(60_000));
 * ```
 */
export async function meetLocalHalfAgain(
  session: SessionMessage,
  channel: LoginChannel,
  sshClient: string | undefined,
  log: StepLog,
  signal: AbortSignal,
): Promise<Deno.TcpConn | null> {
  while (!signal.aborted) {
    const attempt = meetLocalHalf(session, channel, sshClient, log);
    const aborted = new Promise<null>((resolve) =>
      signal.addEventListener("abort", () => resolve(null), { once: true })
    );
    const met = await Promise.race([attempt, aborted]);
    if (met === null) {
      attempt.then((late) => late instanceof Fault || late.close());
      return null;
    }
    if (met instanceof Fault) {
      log.step(`meeting the local half again: ${met.line}`);
      await new Promise((resolve) => setTimeout(resolve, REDIAL_MS));
      continue;
    }
    return met;
  }
  return null;
}
