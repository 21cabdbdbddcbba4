/**
 * The install step (`npm install`, `npm ci`: the `prepare` script): builds this checkout's
 * bundle into `dist/`, so that provisioning a remote host never needs the network at run
 * time. A build that fails does not fail the install: runs then build it when needed.
 */
import { installBundle } from "../lib/provision/local_bundle.ts";

console.error(await installBundle());
