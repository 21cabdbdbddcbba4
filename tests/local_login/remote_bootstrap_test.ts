import assert from "node:assert/strict";
import {
  BOOTSTRAP_LOADER,
  bootstrapWords,
  scriptForLoader,
} from "../../lib/provision/remote_bootstrap.ts";
import { block, runCli, runFeeding, SHELL_LOGIN } from "../harness/run.ts";
import { shellQuote } from "../../lib/base/shell_quote.ts";

Deno.test("the loader on the login's command line is one plain line any login shell passes on", () => {
  assert.doesNotMatch(BOOTSTRAP_LOADER, /[\n\\']/);
  const words = bootstrapWords({
    protocol: 4,
    denoVersion: "2.9.6",
    platform: "Linux x86_64",
    mode: "auto",
    peerTimeout: 20,
    runtimeSize: 123456789,
    cacheDir: "/srv/socketpipe cache",
  });
  for (const word of words) assert.doesNotMatch(word, /[\n\\']/, word);
});

Deno.test("the loader runs exactly the framed script, with its arguments, and reads no byte past it", async () => {
  const script = 'echo "$1-$2"; read -r next; echo "then: $next"';
  const framed = new TextEncoder().encode(`${script.length}\n${script}the name line\n`);
  const { code, stdout } = await runFeeding(["sh", "-c", BOOTSTRAP_LOADER, "loader", "a", "b"], {
    stdin: framed,
  });
  assert.equal(code, 0);
  assert.equal(new TextDecoder().decode(stdout), "a-b\nthen: the name line\n");
  const real = new TextDecoder().decode(scriptForLoader());
  const [length, ...rest] = real.split("\n");
  assert.equal(Number(length), new TextEncoder().encode(rest.join("\n")).length);
});

Deno.test("a cache directory another run makes first is used, not passed over", async () => {
  const work = await Deno.makeTempDir({ prefix: "socketpipe-cache-race-" });
  try {
    const place = `${work}/named/socketpipe-${Deno.uid()}`;
    // A mkdir that loses the race for the cache: another run makes it between the
    // bootstrap's look and its own mkdir.
    await Deno.mkdir(`${work}/bin`);
    await Deno.writeTextFile(
      `${work}/bin/mkdir`,
      `#!/bin/sh\n[ "$2" = ${shellQuote(place)} ] && /bin/mkdir "$@"\nexec /bin/mkdir "$@"\n`,
      { mode: 0o755 },
    );
    const run = await runCli([
      "-v",
      "--remote-cache",
      `${work}/named`,
      ...block("-i", "echo", "hi"),
      ...block("-l", ...SHELL_LOGIN, "env", `PATH=${work}/bin:${Deno.env.get("PATH")}`),
      ...block("-r", "cat"),
      ...block("-o", "cat"),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(new TextDecoder().decode(run.stdout), "hi\n");
    assert.match(run.stderr, new RegExp(`^socketpipe: provision: .*, cache ${place}$`, "m"));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
