/**
 * Provisioning what runs, wherever it came from: socketpipe run from a URL (`deno run -A
 * http://…/socketpipe.js`) sends that bundle, the copy Deno runs from its cache.
 */
import assert from "node:assert/strict";
import { block, DENO, REPO, SHELL_LOGIN } from "../harness/run.ts";

Deno.test("run from a URL, socketpipe provisions the remote host with the bundle it runs", async () => {
  const bundle = await Deno.readFile(`${REPO}/dist/socketpipe.js`);
  const work = await Deno.makeTempDir({ prefix: "socketpipe-url-" });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(bundle, { headers: { "content-type": "application/javascript" } }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}/socketpipe.js`;
    const run = await new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        "--quiet",
        url,
        "-v",
        ...block("-i", "echo", "hi"),
        ...block("-l", ...SHELL_LOGIN, "env", `XDG_CACHE_HOME=${work}/remote-cache`),
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ],
      env: { DENO_DIR: `${work}/deno-dir` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, stderr);
    assert.equal(new TextDecoder().decode(run.stdout), "hi\n");
    assert.match(
      stderr,
      new RegExp(
        `^socketpipe: provision: bundle [0-9a-f]{16} \\(${url} \\(Deno's cache\\)\\)$`,
        "m",
      ),
    );
    assert.match(stderr, /^socketpipe: provision: sent the bundle: \d+ bytes/m);
  } finally {
    await server.shutdown();
    await Deno.remove(work, { recursive: true });
  }
});
