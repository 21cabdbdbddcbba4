/**
 * socketpipe as people distribute it: one bundled JavaScript file (also run from a URL
 * for the remote half) and a `deno compile` binary.
 */
import assert from "node:assert/strict";
import { block, DENO, REPO, runCli, sha256 } from "../harness/run.ts";
import { sshdAvailable, startSshd } from "../harness/sshd.ts";
import { testWhere } from "../harness/register.ts";

const noSshd = sshdAvailable ? null : "no sshd installed";

const decoder = new TextDecoder();

async function denoTask(task: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command(DENO, {
    args: ["task", "-q", task],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
}

testWhere(
  noSshd,
  "deno task bundle writes one self-contained file that runs both halves, the remote one from a URL",
  async () => {
    const built = await denoTask("bundle");
    assert.equal(built.code, 0, decoder.decode(built.stderr));
    const bundle = `${REPO}/dist/socketpipe.js`;
    const source = await Deno.readTextFile(bundle);
    assert.doesNotMatch(source, /^import .* from ["']\.\.?\//m, "the bundle imports no local file");

    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      async (request) => {
        const path = new URL(request.url).pathname;
        return path === "/socketpipe.js"
          ? new Response(await Deno.readFile(bundle), {
            headers: { "content-type": "application/javascript" },
          })
          : new Response("not found", { status: 404 });
      },
    );
    const sshd = await startSshd();
    try {
      const url = `http://127.0.0.1:${server.addr.port}/socketpipe.js`;
      const data = crypto.getRandomValues(new Uint8Array(50_000));
      const run = await runCli(
        [
          ...block("-i", "cat"),
          ...block("-l", ...sshd.login),
          ...block("-x", DENO, "run", "-A", "--quiet", "--reload", url),
          ...block("-r", "cat"),
          ...block("-o", "cat"),
        ],
        { program: [DENO, "run", "-A", "--quiet", bundle], stdin: data },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(await sha256(run.stdout), await sha256(data));
    } finally {
      await sshd.stop();
      await server.shutdown();
    }
  },
);

// `deno compile` downloads its runtime (denort) the first time; machines without a route
// to it cannot build the binary. Then this test is reported as not run, never faked.
const compiled = await denoTask("compile");
const compileError = decoder.decode(compiled.stderr);
const cannotDownload = compiled.code !== 0 &&
  /Setting up base binary|error sending request|dns error|denort/i.test(compileError);

testWhere(
  cannotDownload ? "deno compile cannot download its runtime on this machine" : null,
  "deno task compile builds a working single binary",
  async () => {
    assert.equal(compiled.code, 0, compileError);
    const binary = `${REPO}/dist/socketpipe`;
    const version = await new Deno.Command(binary, { args: ["--version"], stdout: "piped" })
      .output();
    assert.match(decoder.decode(version.stdout), /^socketpipe \d+\.\d+\.\d+$/m);
    const run = await runCli(
      [
        ...block("-i", "cat"),
        ...block("-l", "sh", "-c", 'eval "$*"', "sh"),
        "-h",
        "127.0.0.1",
        ...block("-x", binary),
        ...block("-r", "cat"),
        ...block("-o", "cat"),
      ],
      { stdin: "through the compiled binary\n" },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(decoder.decode(run.stdout), "through the compiled binary\n");
  },
);
