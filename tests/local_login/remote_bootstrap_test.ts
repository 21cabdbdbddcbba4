import assert from "node:assert/strict";
import {
  BOOTSTRAP_LOADER,
  bootstrapWords,
  scriptForLoader,
} from "../../lib/provision/remote_bootstrap.ts";
import { runFeeding } from "../harness/run.ts";

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
