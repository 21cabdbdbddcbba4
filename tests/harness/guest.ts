/**
 * A test guest with kernel TLS: Debian's own kernel (its `tls` module) booted by
 * `qemu-system-x86_64 -accel tcg` (KVM hangs on a nested host), on a small initramfs of
 * the project's making (busybox and the virtio, 9p and overlay modules), which mounts this
 * machine's own `/` read-only over 9p under a tmpfs overlay and `switch_root`s onto it (a
 * `chroot` would not do: the kernel's module loader runs in init's root). The guest runs
 * one script and powers off; what it printed on its console is the result. Needs root and
 * Debian's `qemu-system-x86`, `linux-image-amd64` and `busybox-static`, which
 * `tests/run.sh` installs as root; elsewhere the tests say why they did not run.
 */

const MODULES = [
  "virtio_ring",
  "virtio",
  "virtio_pci_legacy_dev",
  "virtio_pci_modern_dev",
  "virtio_pci",
  "netfs",
  "fscache",
  "9pnet",
  "9pnet_virtio",
  "9p",
  "overlay",
];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${MODULES.join(" ")}; do insmod /mods/$m.ko; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 host /lower
mount -t tmpfs tmp /upper; mkdir -p /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot
mount --move /dev /newroot/dev; mount --move /proc /newroot/proc; mount --move /sys /newroot/sys
exec switch_root /newroot /bin/sh -c 'sh "$sp_run"; echo o > /proc/sysrq-trigger; sleep 30'
`;

/** The Debian kernel to boot: its version, and its image. */
function guestKernel(): { version: string; image: string } | null {
  try {
    const versions = [...Deno.readDirSync("/lib/modules")].map((entry) => entry.name)
      .filter((name) => name.endsWith("-amd64")).sort();
    for (const version of versions.reverse()) {
      const image = `/boot/vmlinuz-${version}`;
      const modules = Deno.readTextFileSync(`/lib/modules/${version}/modules.dep`);
      if (modules.includes("/tls.ko:") && Deno.statSync(image).isFile) return { version, image };
    }
  } catch {
    // No such kernel here.
  }
  return null;
}

/** The static busybox (the guest's init has no libc), or null. */
function busybox(): string | null {
  try {
    Deno.statSync("/usr/share/doc/busybox-static");
  } catch {
    return null; // only the dynamic one, or none
  }
  for (const path of ["/usr/bin/busybox", "/bin/busybox"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there.
    }
  }
  return null;
}

/** Why a guest cannot run here, or null when it can. */
export function guestMissing(): string | null {
  if (Deno.uid() !== 0) return "needs root (to read the kernel and share / with the guest)";
  try {
    Deno.statSync("/usr/bin/qemu-system-x86_64");
  } catch {
    return "no qemu-system-x86_64; tests/run.sh installs it as root";
  }
  if (!guestKernel()) {
    return "no Debian kernel with TLS (linux-image-amd64); tests/run.sh installs it as root";
  }
  if (!busybox()) return "no busybox-static; tests/run.sh installs it as root";
  return null;
}

/** An initramfs (the kernel's "newc" cpio format, uncompressed) of `entries`. */
function cpio(entries: { name: string; mode: number; data?: Uint8Array }[]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const pad = (length: number) => parts.push(new Uint8Array((4 - (length % 4)) % 4));
  const hex = (value: number) => value.toString(16).padStart(8, "0");
  let inode = 1;
  for (const entry of [...entries, { name: "TRAILER!!!", mode: 0 }]) {
    const data = "data" in entry && entry.data ? entry.data : new Uint8Array();
    const name = encoder.encode(`${entry.name}\0`);
    const fields = [inode++, entry.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = encoder.encode(`070701${fields.map(hex).join("")}`);
    parts.push(header, name);
    pad(header.length + name.length);
    parts.push(data);
    pad(data.length);
  }
  const out = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  parts.reduce((at, part) => (out.set(part, at), at + part.length), 0);
  return out;
}

/** Builds the initramfs into `dir`; returns its path. */
function buildInitramfs(dir: string, version: string): string {
  const dep = Deno.readTextFileSync(`/lib/modules/${version}/modules.dep`);
  const modules = MODULES.map((name) => {
    const line = dep.split("\n").find((entry) => entry.split(":")[0].endsWith(`/${name}.ko`));
    if (!line) throw new Error(`no ${name}.ko for ${version}`);
    return {
      name: `mods/${name}.ko`,
      mode: 0o100644,
      data: Deno.readFileSync(`/lib/modules/${version}/${line.split(":")[0]}`),
    };
  });
  const directories = ["bin", "mods", "proc", "sys", "dev", "lower", "upper", "newroot"]
    .map((name) => ({ name, mode: 0o40755 }));
  const path = `${dir}/initramfs.cpio`;
  Deno.writeFileSync(
    path,
    cpio([
      ...directories,
      { name: "init", mode: 0o100755, data: new TextEncoder().encode(INIT) },
      { name: "bin/busybox", mode: 0o100755, data: Deno.readFileSync(busybox()!) },
      ...modules,
    ]),
  );
  return path;
}

/**
 * Boots the guest, runs the shell script `script` in it (a path on this machine, which
 * the guest sees at the same path), and returns what the guest printed on its console.
 */
export async function runInGuest(script: string, timeoutMs = 600_000): Promise<string> {
  const kernel = guestKernel()!;
  const dir = await Deno.makeTempDir({ prefix: "socketpipe-guest-" });
  try {
    const initramfs = buildInitramfs(dir, kernel.version);
    const child = new Deno.Command("qemu-system-x86_64", {
      args: [
        ...["-accel", "tcg", "-cpu", "max", "-m", "3072", "-smp", "2"],
        ...["-nographic", "-no-reboot", "-kernel", kernel.image, "-initrd", initramfs],
        ...["-append", `console=ttyS0 quiet panic=-1 sp_run=${script}`],
        "-virtfs",
        "local,path=/,mount_tag=host,security_model=passthrough,readonly=on,multidevs=remap",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const output = await child.output();
    clearTimeout(timer);
    return new TextDecoder().decode(output.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
