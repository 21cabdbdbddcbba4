/**
 * A private sshd on 127.0.0.1 for end-to-end tests: a random free port, host and user
 * keys in a temporary directory, and an ssh client config to reach it as host "testhost".
 * It never touches a system sshd.
 */
import { settledWithin } from "../../lib/base/settled_within.ts";

export interface PrivateSshd {
  /** The login command: `ssh -F <config> testhost`. */
  login: string[];
  /** The directory holding keys, configs and the log. */
  dir: string;
  port: number;
  /** How many logins sshd has accepted so far. */
  logins(): number;
  stop(): Promise<void>;
  /** Stops it at once (for an unload handler). */
  stopSync(): void;
}

const SSHD = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/** Whether an sshd binary exists here. */
export const sshdAvailable = SSHD !== undefined;

async function run(command: string, args: string[]): Promise<void> {
  const result = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
    .output();
  if (!result.success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`);
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** Where the private sshd runs: by default on 127.0.0.1 in this network namespace. */
export interface SshdPlace {
  /** The address it listens on (and the client connects to). */
  address?: string;
  /** The network namespace it runs in (`ip netns exec`). */
  netns?: string;
  /** PATH in its ssh sessions (default: this process's PATH). */
  sessionPath?: string;
}

/**
 * How long the private sshd may take to listen: beside a second copy of the suite on two
 * cores, its start has taken over 10 s. Its exit ends the wait at once.
 */
const SSHD_START_MS = 60_000;

/**
 * Waits until `listening()` holds ("listening"), or the daemon has exited ("exited"); past
 * {@link SSHD_START_MS}, throws.
 */
async function untilListening(
  daemon: Deno.ChildProcess,
  listening: () => Promise<boolean>,
): Promise<"listening" | "exited"> {
  let exited = false;
  daemon.status.then(() => exited = true);
  const deadline = Date.now() + SSHD_START_MS;
  while (Date.now() < deadline) {
    if (await listening()) return "listening";
    if (exited) return "exited";
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`private sshd did not listen within ${SSHD_START_MS / 1000} s`);
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
async function answers(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** What sshd wrote to its log so far. */
function logOf(log: string): string {
  try {
    return Deno.readTextFileSync(log);
  } catch {
    return "";
  }
}

/** Starts the private sshd. PATH in ssh sessions is this process's PATH unless told. */
export async function startSshd(place: SshdPlace = {}): Promise<PrivateSshd> {
  const address = place.address ?? "127.0.0.1";
  if (!SSHD) throw new Error("sshd is not installed (Debian: apt-get install openssh-server)");
  const dir = await Deno.makeTempDir({ prefix: "socketpipe-sshd-" });
  const user = Deno.env.get("USER") ?? new TextDecoder().decode(
    (await new Deno.Command("id", { args: ["-un"], stdout: "piped" }).output()).stdout,
  ).trim();
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/user_key`]);
  await Deno.copyFile(`${dir}/user_key.pub`, `${dir}/authorized_keys`);
  if (Deno.uid() === 0) await Deno.mkdir("/run/sshd", { recursive: true });
  const path = place.sessionPath ?? Deno.env.get("PATH") ?? "/usr/bin:/bin";
  // A port found free may be taken before sshd binds it (a suite beside this one): then
  // another.
  let port = 0;
  let daemon: Deno.ChildProcess;
  for (let attempt = 1;; attempt++) {
    port = freePort();
    await Deno.writeTextFile(
      `${dir}/sshd_config`,
      [
        `Port ${port}`,
        `ListenAddress ${address}`,
        `HostKey ${dir}/host_key`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        `PidFile ${dir}/sshd.pid`,
        "StrictModes no",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin yes",
        "PubkeyAuthentication yes",
        `SetEnv PATH=${path}`,
        "MaxStartups 100:30:200",
        "MaxSessions 100",
        "LogLevel INFO",
        "",
      ].join("\n"),
    );
    await Deno.writeTextFile(
      `${dir}/ssh_config`,
      [
        "Host testhost",
        `  HostName ${address}`,
        `  Port ${port}`,
        `  User ${user}`,
        `  IdentityFile ${dir}/user_key`,
        "  IdentitiesOnly yes",
        "  BatchMode yes",
        "  StrictHostKeyChecking no",
        "  UserKnownHostsFile /dev/null",
        "  LogLevel ERROR",
        "",
      ].join("\n"),
    );
    const sshdArgv = [SSHD, "-D", "-f", `${dir}/sshd_config`, "-E", `${dir}/sshd.log`];
    const argv = place.netns ? ["ip", "netns", "exec", place.netns, ...sshdArgv] : sshdArgv;
    daemon = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const log = `${dir}/sshd.log`;
    const started = await untilListening(
      daemon,
      place.netns
        ? () => Promise.resolve(logOf(log).includes("Server listening"))
        : () => answers(port),
    );
    if (started === "listening") break;
    if (attempt < 5 && /Address already in use/.test(logOf(log))) continue;
    throw new Error(`private sshd exited before it listened on port ${port}: ${logOf(log)}`);
  }
  return {
    login: ["ssh", "-F", `${dir}/ssh_config`, "testhost"],
    dir,
    port,
    logins() {
      try {
        return Deno.readTextFileSync(`${dir}/sshd.log`).split("\n")
          .filter((line) => line.includes("Accepted publickey")).length;
      } catch {
        return 0;
      }
    },
    stopSync() {
      try {
        daemon.kill("SIGKILL");
      } catch { /* gone */ }
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* gone */ }
    },
    async stop() {
      try {
        daemon.kill("SIGTERM");
      } catch { /* gone */ }
      if (!await settledWithin(daemon.status, 3000)) daemon.kill("SIGKILL");
      await daemon.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** The system's command directories, in the order a login's PATH lists them. */
export const SYSTEM_DIRS = [
  "/usr/local/sbin",
  "/usr/local/bin",
  "/usr/sbin",
  "/usr/bin",
  "/sbin",
  "/bin",
];

/**
 * A session PATH with every command of `dirs` except `deno` and `socketpipe`, for a remote
 * host that has neither: one directory under `root` per system directory, holding a
 * symbolic link to each of its other entries. Dropping a whole directory instead would lose
 * `/usr/bin` (and `sh`'s tools with it) wherever `npm install -g .` put socketpipe there.
 */
export function bareSessionPath(root: string, dirs: string[] = SYSTEM_DIRS): string {
  const made: string[] = [];
  dirs.forEach((dir, index) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return; // no such directory here
    }
    const copy = `${root}/${index}${dir.replaceAll("/", "-")}`;
    Deno.mkdirSync(copy, { recursive: true });
    for (const entry of entries) {
      if (entry.name === "deno" || entry.name === "socketpipe") continue;
      Deno.symlinkSync(`${dir}/${entry.name}`, `${copy}/${entry.name}`);
    }
    made.push(copy);
  });
  return made.join(":");
}
