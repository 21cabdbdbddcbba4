/**
 * The version of this socketpipe.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VERSION } from "./version.ts";
 * assert.match(VERSION, /^\d+\.\d+\.\d+$/);
 * ```
 */
export const VERSION = "0.1.0";

/**
 * The version of the protocol the two halves speak on the login channel and in the data
 * handshake. Both halves must speak the same one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROTOCOL_VERSION } from "./version.ts";
 * assert.ok(Number.isInteger(PROTOCOL_VERSION) && PROTOCOL_VERSION > 0 && PROTOCOL_VERSION < 256);
 * ```
 */
export const PROTOCOL_VERSION = 11;
