/**
 * A run's settings, resolved once from its options, as both halves use them and as the
 * session line carries them: every option of {@link CONNECTION_OPTIONS}, its default in
 * place of an absent value.
 *
 * @module
 */
import { CONNECTION_OPTIONS, SETTING_KEYS, type Settings } from "./connection_options.ts";
import { OPTIONS, type ProvisionMode } from "./command_line_options.ts";
import { isOfKind, type WireKind } from "./wire_kinds.ts";

/**
 * The settings of a run with these options: each given value, else its default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { settingsOf } from "./settings.ts";
 * const settings = settingsOf({ limit: 1024, copy: true });
 * assert.equal(settings.limit, 1024);
 * assert.equal(settings.copy, true);
 * assert.equal(settings.peerTimeout, 20);
 * ```
 */
export function settingsOf(options: Partial<Settings>): Settings {
  const resolved = withDefaults(options);
  return Object.fromEntries(SETTING_KEYS.map((key) => [key, resolved[key]])) as unknown as Settings;
}

/** The options of a run that have a default, besides its {@link Settings}. */
export interface RunDefaults {
  /** `-t`: seconds to wait for the data connection; 0 waits for ever. */
  timeout: number;
  /** `--provision`: how the remote host gets socketpipe without `-x`. */
  provision: ProvisionMode;
  /** `--listen`: which host listens for the data connection. */
  listen: "local" | "remote";
}

/** Options with every declared default in place. */
export type WithDefaults<O> = O & Settings & RunDefaults;

/**
 * `options` with every declared default in place of an absent value: the one place a
 * default is applied.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { withDefaults } from "./settings.ts";
 * const run = withDefaults({ login: ["ssh", "h"], limit: 1024 });
 * assert.deepEqual([run.timeout, run.provision, run.listen, run.peerTimeout, run.limit], [
 *   0, "auto", "local", 20, 1024,
 * ]);
 * assert.deepEqual(run.login, ["ssh", "h"]);
 * ```
 */
export function withDefaults<O extends Partial<Settings & RunDefaults>>(
  options: O,
): WithDefaults<O> {
  const resolved: Record<string, unknown> = { ...options };
  for (const option of OPTIONS) {
    if (option.into?.target !== "options" || option.default === undefined) continue;
    resolved[option.into.key] ??= option.default;
  }
  return resolved as unknown as WithDefaults<O>;
}

/**
 * The settings a session line carries, each checked against its kind; null when one is
 * missing or of the wrong kind (fields it does not know are left out).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSettings, settingsOf } from "./settings.ts";
 * const sent = settingsOf({ buffer: 4096 });
 * assert.deepEqual(decodeSettings({ ...sent, unknown: 1 }), sent);
 * assert.equal(decodeSettings({ ...sent, buffer: -1 }), null);
 * ```
 */
export function decodeSettings(value: unknown): Settings | null {
  if (!value || typeof value !== "object") return null;
  const settings: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const field = (value as Record<string, unknown>)[key];
    if (!isOfKind(field, CONNECTION_OPTIONS[key].wire)) return null;
    settings[key] = field;
  }
  return settings as unknown as Settings;
}

/**
 * The settings' part of the wire schema: each setting's kind of field, by its key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SETTINGS_SCHEMA } from "./settings.ts";
 * assert.equal(SETTINGS_SCHEMA.limit, "count");
 * ```
 */
export const SETTINGS_SCHEMA: Readonly<Record<keyof Settings, WireKind>> = Object.fromEntries(
  SETTING_KEYS.map((key) => [key, CONNECTION_OPTIONS[key].wire]),
) as Record<keyof Settings, WireKind>;
