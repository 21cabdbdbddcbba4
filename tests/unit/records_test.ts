/**
 * The encrypted connection's building blocks, held to their RFCs: the AEAD is RFC 8439's
 * ChaCha20-Poly1305 (its §2.8.2 vector), HKDF is RFC 5869's (test case 1), records are
 * framed as TLS 1.3 frames them (RFC 8446 §5.2: the header is the additional data, the
 * nonce the IV XOR the record's number, the content type after the data), and whatever is
 * changed, dropped, replayed or reordered fails.
 */
import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv } from "node:crypto";
import {
  RECORD_DATA_MAX,
  RecordError,
  RecordOpener,
  RecordSealer,
  sealedLength,
} from "../../lib/net/records.ts";
import { openSslAead } from "../../lib/platform/libcrypto.ts";
import { loadNodeCipher, nodeAead } from "../../lib/net/record_cipher.ts";
import { testWhere } from "../harness/register.ts";
import { deriveDataKeys } from "../../lib/net/data_keys.ts";

await loadNodeCipher();

const hex = (text: string) =>
  new Uint8Array(text.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const range = (from: number, count: number) => new Uint8Array(count).map((_, i) => from + i);

Deno.test("the platform's ChaCha20-Poly1305 is RFC 8439's (§2.8.2)", () => {
  const key = range(0x80, 32);
  const nonce = hex("07000000 4041424344454647");
  const aad = hex("50515253 c0c1c2c3c4c5c6c7");
  const plaintext = new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const cipher = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: 16 });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const ciphertext = new Uint8Array([...cipher.update(plaintext), ...cipher.final()]);
  assert.deepEqual(ciphertext.subarray(0, 16), hex("d31a8d34648e60db7b86afbc53ef7ec2"));
  assert.deepEqual(new Uint8Array(cipher.getAuthTag()), hex("1ae10b594f09e26a7e902ecbd0600691"));
});

Deno.test("the platform's HKDF-SHA-256 is RFC 5869's (test case 1)", async () => {
  const secret = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(22).fill(0x0b),
    "HKDF",
    false,
    ["deriveBits"],
  );
  const okm = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: range(0, 13), info: range(0xf0, 10) },
    secret,
    42 * 8,
  );
  assert.deepEqual(
    new Uint8Array(okm),
    hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
  );
});

Deno.test("a record is a TLS 1.3 application-data record: header as additional data, nonce the IV XOR its number", () => {
  const keys = { key: range(1, 32), iv: range(100, 12) };
  const sealer = new RecordSealer(keys);
  sealer.seal(new Uint8Array([1])); // record 0
  const record = sealer.seal(new TextEncoder().encode("data")); // record 1
  const header = record.subarray(0, 5);
  assert.deepEqual(header, new Uint8Array([23, 3, 3, 0, 4 + 1 + 16]));
  const nonce = keys.iv.slice();
  nonce[11] ^= 1;
  const decipher = createDecipheriv("chacha20-poly1305", keys.key, nonce, { authTagLength: 16 });
  decipher.setAAD(header, { plaintextLength: 5 });
  decipher.setAuthTag(record.subarray(record.length - 16));
  const inner = new Uint8Array([
    ...decipher.update(record.subarray(5, record.length - 16)),
    ...decipher.final(),
  ]);
  assert.deepEqual(inner, new Uint8Array([...new TextEncoder().encode("data"), 23]));
});

Deno.test("records carry at most 16 KiB of data; any split of the bytes opens to the same data", () => {
  const keys = { key: range(9, 32), iv: range(3, 12) };
  const data = new Uint8Array(3 * RECORD_DATA_MAX + 5).map((_, i) => i * 7);
  const sealed = new RecordSealer(keys).seal(data);
  assert.equal(sealed.length, data.length + 4 * (5 + 1 + 16));
  for (const piece of [1, 5, 4096, 65536]) {
    const opener = new RecordOpener(keys);
    const opened: number[] = [];
    for (let at = 0; at < sealed.length; at += piece) {
      for (const chunk of opener.open(sealed.subarray(at, at + piece))) opened.push(...chunk);
    }
    assert.deepEqual(new Uint8Array(opened), data, `in pieces of ${piece}`);
    assert.equal(opener.pending(), 0);
  }
  assert.equal(new RecordSealer(keys).seal(new Uint8Array()).length, 0);
});

Deno.test("a changed, dropped, replayed or reordered record, or one under another key, fails; a cut one is pending", () => {
  const keys = { key: range(5, 32), iv: range(6, 12) };
  const sealer = new RecordSealer(keys);
  const records = [1, 2, 3].map((n) => sealer.seal(new Uint8Array(10).fill(n)));
  const join = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((part) => [...part]));
  const opens = (bytes: Uint8Array, with_ = keys) => new RecordOpener(with_).open(bytes);
  assert.equal(opens(join(...records)).length, 3);
  const flipped = join(...records);
  flipped[40] ^= 0x01;
  for (
    const [what, bytes, otherKeys] of [
      ["changed", flipped, keys],
      ["dropped", join(records[0], records[2]), keys],
      ["replayed", join(records[0], records[0]), keys],
      ["reordered", join(records[1], records[0]), keys],
      ["under another key", records[0], { key: range(6, 32), iv: keys.iv }],
    ] as const
  ) {
    assert.throws(() => opens(bytes, otherKeys), RecordError, what);
  }
  const cut = new RecordOpener(keys);
  assert.equal(cut.open(records[0].subarray(0, 20)).length, 0);
  assert.equal(cut.pending(), 20);
});

Deno.test("the two directions and every connection get keys of their own", async () => {
  const token = range(40, 32);
  const nonces = { listener: range(1, 32), connector: range(2, 32) };
  const keys = await deriveDataKeys(token, nonces);
  const swapped = await deriveDataKeys(token, {
    listener: nonces.connector,
    connector: nonces.listener,
  });
  const otherToken = await deriveDataKeys(range(41, 32), nonces);
  const all = [keys, swapped, otherToken].flatMap((k) => [k.localToRemote, k.remoteToLocal]);
  assert.equal(new Set(all.map((k) => k.key.join())).size, all.length);
  assert.equal(new Set(all.map((k) => k.iv.join())).size, all.length);
  assert.deepEqual(await deriveDataKeys(token, nonces), keys); // deterministic: both halves agree
});

const noLibcrypto = openSslAead(new Uint8Array(32)) ? null : "no libcrypto.so.3 through FFI here";

testWhere(
  noLibcrypto,
  "OpenSSL through FFI and node:crypto seal the same records, and each opens the other's",
  () => {
    const keys = { key: range(11, 32), iv: range(12, 12) };
    const openssl = openSslAead(keys.key)!;
    const data = new Uint8Array(2 * RECORD_DATA_MAX + 99).map((_, i) => i * 3);
    const byOpenSsl = new RecordSealer(keys, openssl).seal(data);
    const byNode = new RecordSealer(keys, nodeAead(keys.key)).seal(data);
    assert.deepEqual(byOpenSsl, byNode);
    const opened = (aead: typeof openssl, bytes: Uint8Array) =>
      new Uint8Array(new RecordOpener(keys, aead).open(bytes).flatMap((piece) => [...piece]));
    assert.deepEqual(opened(nodeAead(keys.key), byOpenSsl), data);
    assert.deepEqual(opened(openssl, byNode), data);
    const flipped = byOpenSsl.slice();
    flipped[9] ^= 0x80;
    assert.throws(() => new RecordOpener(keys, openssl).open(flipped), RecordError);
  },
);

testWhere(noLibcrypto, "OpenSSL's ChaCha20-Poly1305 is RFC 8439's (§2.8.2)", () => {
  const aead = openSslAead(range(0x80, 32))!;
  const plaintext = new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const sealed = new Uint8Array(plaintext.length + 16);
  sealed.set(plaintext);
  aead.seal(hex("07000000 4041424344454647"), hex("50515253 c0c1c2c3c4c5c6c7"), sealed);
  assert.deepEqual(sealed.subarray(0, 16), hex("d31a8d34648e60db7b86afbc53ef7ec2"));
  assert.deepEqual(sealed.subarray(plaintext.length), hex("1ae10b594f09e26a7e902ecbd0600691"));
});

Deno.test("records opened in place leave their data together at the front, and a cut record for later", () => {
  const keys = { key: range(21, 32), iv: range(22, 12) };
  const data = new Uint8Array(2 * RECORD_DATA_MAX + 10).map((_, i) => i * 5);
  const sealed = new RecordSealer(keys).seal(data);
  const opener = new RecordOpener(keys);
  const cutAt = sealed.length - 7; // inside the third record
  const first = sealed.slice(0, cutAt);
  const { data: opened, used } = opener.openInPlace(first);
  assert.equal(opened, 2 * RECORD_DATA_MAX);
  assert.deepEqual(first.subarray(0, opened), data.subarray(0, opened));
  assert.equal(used, 2 * (5 + RECORD_DATA_MAX + 1 + 16));
  const rest = new Uint8Array([...first.subarray(used), ...sealed.subarray(cutAt)]);
  assert.deepEqual(opener.openInPlace(rest), { data: 10, used: rest.length });
  assert.deepEqual(rest.subarray(0, 10), data.subarray(opened));
});

Deno.test("sealing into a buffer of the sealed length gives the same records as seal", () => {
  const keys = { key: range(31, 32), iv: range(32, 12) };
  const data = new Uint8Array(RECORD_DATA_MAX + 3).map((_, i) => i);
  const out = new Uint8Array(sealedLength(data.length) + 9);
  assert.equal(new RecordSealer(keys).sealInto(data, out), sealedLength(data.length));
  assert.deepEqual(out.subarray(0, sealedLength(data.length)), new RecordSealer(keys).seal(data));
});
