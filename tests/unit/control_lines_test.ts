import assert from "node:assert/strict";
import {
  CONTROL_MARKER,
  encodeMarkedLine,
  MAX_CONTROL_LINE,
  readMarkedLines,
} from "../../lib/login/control_lines.ts";

function streamOf(...chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c));
}

async function readAll(stream: ReadableStream<Uint8Array>) {
  const noise: string[] = [];
  const messages = [];
  for await (const message of readMarkedLines(stream, { onNoise: (l) => noise.push(l) })) {
    messages.push(message);
  }
  return { messages, noise };
}

Deno.test("reads marked lines split across chunks and shows other lines as noise", async () => {
  const line = new TextDecoder().decode(encodeMarkedLine({ event: "exit", code: 3 }));
  const { messages, noise } = await readAll(
    streamOf("Welcome to host\n", line.slice(0, 7), line.slice(7), "bye"),
  );
  assert.deepEqual(messages, [{ event: "exit", code: 3 }]);
  assert.deepEqual(noise, ["Welcome to host", "bye"]);
});

Deno.test("text a login printed without a newline is noise, and the marked line after it still counts", async () => {
  const line = new TextDecoder().decode(encodeMarkedLine({ event: "alive" }));
  const { messages, noise } = await readAll(streamOf(`junk${line}`, `Last login: today ${line}`));
  assert.deepEqual(messages, [{ event: "alive" }, { event: "alive" }]);
  assert.deepEqual(noise, ["junk", "Last login: today "]);
});

Deno.test("ignores garbled and unknown-shaped marked lines, saying so", async () => {
  const { messages, noise } = await readAll(
    streamOf(
      `${CONTROL_MARKER}{not json\n${CONTROL_MARKER}[1]\n${CONTROL_MARKER}{"event":"hello"}\n`,
    ),
  );
  assert.deepEqual(messages, [{ event: "hello" }]);
  assert.equal(noise.length, 2);
  assert.ok(noise.every((line) => line.startsWith("garbled control line ignored")));
});

Deno.test("skips an oversized line whole and carries on with the next", async () => {
  const huge = "x".repeat(MAX_CONTROL_LINE * 3);
  const { messages, noise } = await readAll(
    streamOf(
      CONTROL_MARKER,
      huge.slice(0, 100000),
      huge.slice(100000),
      `\n${CONTROL_MARKER}{"event":"ok"}\n`,
    ),
  );
  assert.deepEqual(messages, [{ event: "ok" }]);
  assert.equal(noise.length, 1);
  assert.match(noise[0], /^oversized line ignored/);
});

Deno.test("refuses to encode a message over the size cap", () => {
  assert.throws(() => encodeMarkedLine({ event: "x", pad: "y".repeat(MAX_CONTROL_LINE) }));
});
