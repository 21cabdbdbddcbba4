import type { ControlSender } from "./control_channel.ts";

/**
 * Liveness on the login channel: sends `{"event":"alive"}` every `seconds` / 3, and calls
 * `onSilence` once nothing has been heard from the peer for `seconds`. A cut link or a
 * crashed host leaves ssh itself unaware for many minutes; this bounds it. Anything the
 * peer sends counts as heard (call `heard()`); 0 seconds disables it.
 *
 * @example
 * ```ts
 * import { Heartbeat } from "./heartbeat.ts";
 * import { ControlSender } from "./control_channel.ts";
 * const beat = new Heartbeat(new ControlSender(Deno.stdout.writable), 20, () => Deno.exit(2));
 * beat.heard(); // on every message from the peer
 * beat.stop();
 * ```
 */
export class Heartbeat {
  #lastHeard = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(sender: ControlSender, readonly seconds: number, onSilence: () => void) {
    if (seconds <= 0) return;
    const periodMs = Math.max(200, (seconds * 1000) / 3);
    this.#timer = setInterval(() => {
      if (Date.now() - this.#lastHeard > seconds * 1000) {
        this.stop();
        onSilence();
      } else {
        sender.trySend({ event: "alive" });
      }
    }, periodMs);
  }

  /** Notes that the peer was heard from just now. */
  heard(): void {
    this.#lastHeard = Date.now();
  }

  /** Stops sending and watching. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
