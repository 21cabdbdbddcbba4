/**
 * The kinds of value a control message's field can have, each by name and with its one
 * check: the protocol's schema names a field's kind, the decoder checks it by that name,
 * and the schema's test pins the names to the protocol version.
 *
 * @module
 */

/** Whether `value` is a whole number from 0 up: a count of bytes, a port, a status. */
function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Whether `value` is a TCP port. */
function isPort(value: unknown): value is number {
  return isCount(value) && value >= 1 && value <= 65535;
}

/** Every kind of field, by its name in the schema. */
export const WIRE_KINDS = {
  boolean: (value: unknown): value is boolean => typeof value === "boolean",
  count: isCount,
  /** A duration in seconds, fractions allowed (a bound: 0 for none). */
  seconds: (value: unknown): value is number =>
    typeof value === "number" && Number.isFinite(value) && value >= 0,
  port: isPort,
  /** A port, or 0 where none is meant. */
  portOrNone: (value: unknown): value is number => isCount(value) && value <= 65535,
  string: (value: unknown): value is string => typeof value === "string",
  strings: (value: unknown): value is string[] =>
    Array.isArray(value) && value.every((item) => typeof item === "string"),
  /** A name a kernel knows a thing by (a congestion control algorithm), or "": none. */
  kernelName: (value: unknown): value is string =>
    typeof value === "string" && /^[a-z0-9_-]{0,15}$/.test(value),
  /** What each option did on a host, by option: `{ congestion: "cubic" }`. */
  applied: (value: unknown): value is Record<string, string> =>
    !!value && typeof value === "object" && !Array.isArray(value) &&
    Object.values(value).every((item) => typeof item === "string"),
  /** The token, 32 bytes in hex. */
  token: (value: unknown): value is string =>
    typeof value === "string" && /^[0-9a-f]{64}$/i.test(value),
  listen: (value: unknown): value is "local" | "remote" => value === "local" || value === "remote",
  portRange: (value: unknown): value is [number, number] =>
    Array.isArray(value) && value.length === 2 && value.every(isPort) &&
    value[0] <= value[1],
  /** A command's status as a shell has it (see `login/protocol.ts`), checked there. */
  status: (value: unknown): value is Record<string, unknown> =>
    !!value && typeof value === "object" && !Array.isArray(value),
  /** Byte counts: `{ sent, received, delivered }`. */
  counts: (value: unknown): value is { sent: number; received: number; delivered: number } => {
    const v = value as Record<string, unknown> | null;
    return !!v && typeof v === "object" && isCount(v.sent) && isCount(v.received) &&
      isCount(v.delivered);
  },
} as const;

/** The name of a kind of field. */
export type WireKind = keyof typeof WIRE_KINDS;

/** The value a field of kind `K` has. */
export type WireValue<K extends WireKind> = (typeof WIRE_KINDS)[K] extends
  (value: unknown) => value is infer T ? T : never;

/**
 * Whether `value` is of kind `kind`, or, for a field that may be absent or null
 * (`kind?`, `kind|null`), is that.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isOfKind } from "./wire_kinds.ts";
 * assert.deepEqual(
 *   [isOfKind(3, "count"), isOfKind(-3, "count"), isOfKind(null, "string|null"),
 *     isOfKind(undefined, "string?"), isOfKind(undefined, "string")],
 *   [true, false, true, true, false],
 * );
 * ```
 */
export function isOfKind(value: unknown, kind: string): boolean {
  if (kind.endsWith("?")) return value === undefined || isOfKind(value, kind.slice(0, -1));
  if (kind.endsWith("|null")) return value === null || isOfKind(value, kind.slice(0, -5));
  const check = WIRE_KINDS[kind as WireKind];
  if (!check) throw new RangeError(`no kind of field is called ${kind}`);
  return check(value);
}
