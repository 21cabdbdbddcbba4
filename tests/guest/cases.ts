/** The cases the guest runs (tests/guest/in_guest.ts) and the host checks, by name. */
export const CASES = {
  notLoaded:
    "a kernel that has the tls module but not loaded: userspace on both hosts, -v says why, and the module is left unloaded",
  bothKernel:
    "kernel on both hosts: the commands hold the socket, the kernel seals it, the bytes arrive exact",
  kernelToUserspace: "a kernel local half and a userspace remote half interoperate",
  userspaceToKernel: "a userspace local half and a kernel remote half interoperate",
  tampered:
    "a record changed on the way fails on the kernel engine too: exit 2, naming the data connection",
} as const;
