/**
 * The version of this socketpipe.
 *
 * @example
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.log(`socketpipe ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";

/**
 * The version of the protocol the two halves speak on the login channel and in the data
 * handshake. Both halves must speak the same one.
 *
 * @example
 * ```ts
 * import { PROTOCOL_VERSION } from "./version.ts";
 * const session = { event: "session", version: PROTOCOL_VERSION };
 * ```
 */
export const PROTOCOL_VERSION = 5;
