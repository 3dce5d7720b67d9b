// A state proof checked in the browser: the JavaScript twin of `interop::state_proof::verify`,
// written from the book's byte-by-byte description (Transactions and formats, "A state proof").
// The state is a QMDB `current` database over an MMR of operations with its activity bitmap
// grafted in at height 8 (chunks of 256 bits); every hash is SHA-256 of the concatenated parts.
"use strict";

(() => {
  const GRAFT = 8; // log2 of the 256 bits of a bitmap chunk
  const CHUNK = 32; // bytes of a bitmap chunk
  const UPDATE = 0xd2; // an `Update` operation's first byte
  const MAX_DIGESTS = 128;

  class Invalid extends Error {}

  const sha256 = async (...parts) => {
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  };
  const be64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, n); return b; };
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const compare = (a, b) => { for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i]; return 0; };
  const varint = (n) => { const out = []; do { let b = Number(n & 0x7fn); n >>= 7n; if (n) b |= 0x80; out.push(b); } while (n); return Uint8Array.from(out); };
  const popcount = (n) => { let c = 0n; while (n) { c += n & 1n; n >>= 1n; } return c; };

  function hex(text) {
    const s = text.startsWith("0x") ? text.slice(2) : text;
    if (s.length % 2 || /[^0-9a-f]/i.test(s)) throw new Invalid("not hex");
    return Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
  }

  // A cursor over untrusted bytes: every read is bounded, a short input is an error.
  function reader(bytes) {
    let at = 0;
    const take = (n) => { if (at + n > bytes.length) throw new Invalid("the proof ends early"); at += n; return bytes.subarray(at - n, at); };
    return {
      take,
      byte: () => take(1)[0],
      u32le: () => new DataView(take(4).slice().buffer).getUint32(0, true),
      varint() {
        let n = 0n;
        for (let shift = 0n; shift < 70n; shift += 7n) {
          const b = take(1)[0];
          n |= BigInt(b & 0x7f) << shift;
          if (!(b & 0x80)) return n;
        }
        throw new Invalid("a varint is too long");
      },
      done: () => { if (at !== bytes.length) throw new Invalid("bytes after the proof"); },
    };
  }

  // OperationProof = loc varint | chunk [32] | leaves varint | inactive_peaks varint
  //                | n varint | n x digest [32] | partial? (0 | 1 digest [32]) | ops_root [32]
  function operationProof(r) {
    const loc = r.varint();
    const chunk = r.take(CHUNK);
    const leaves = r.varint();
    const inactive = r.varint();
    const n = r.varint();
    if (n > BigInt(MAX_DIGESTS)) throw new Invalid("too many digests");
    const digests = Array.from({ length: Number(n) }, () => r.take(32));
    const flag = r.byte();
    if (flag > 1) throw new Invalid("a bad option tag");
    const partial = flag ? r.take(32) : null;
    const opsRoot = r.take(32);
    return { loc, chunk, leaves, inactive, digests, partial, opsRoot };
  }

  // The peaks of an MMR of `leaves` leaves, left to right: [position, height, first leaf].
  function peaks(leaves) {
    const out = [];
    let start = 0n;
    let pos = -1n;
    for (let h = 63n; h >= 0n; h--) {
      const count = 1n << h;
      if (leaves - start >= count) {
        pos += (count << 1n) - 1n;
        out.push({ pos, height: h, start });
        start += count;
      }
    }
    return out;
  }

  // Does the operation encoded as `op` sit at `p.loc`, active, under `root`?
  async function checkOperation(p, op, root) {
    const { loc, chunk, leaves, inactive, digests } = p;
    if (loc >= leaves) throw new Invalid("the location is past the log");
    const bit = Number(loc % 256n);
    if (!(chunk[bit >> 3] & (1 << (bit & 7)))) throw new Invalid("the operation is not active");
    const chunkIndex = loc >> BigInt(GRAFT);
    const complete = leaves >> BigInt(GRAFT);
    const nextBit = leaves % 256n;
    if ((nextBit !== 0n) !== (p.partial !== null)) throw new Invalid("the partial chunk does not match the log's length");
    if (p.partial && chunkIndex === complete && !equal(p.partial, await sha256(chunk))) throw new Invalid("the partial chunk's digest");

    const all = peaks(leaves);
    const k = all.findIndex((q) => loc >= q.start && loc < q.start + (1n << q.height));
    const before = all.slice(0, k);
    const after = all.slice(k + 1);
    const inactivePeaks = Number(inactive);
    if (inactivePeaks > all.length) throw new Invalid("more inactive peaks than peaks");
    // Backward bagging: inactive peaks before the range fold into one accumulator; active
    // peaks after it, past the inactive ones, into another.
    const foldCount = Math.min(inactivePeaks, before.length);
    const afterListed = Math.min(Math.max(inactivePeaks - (k + 1), 0), after.length);
    const hasSuffix = after.length > afterListed;
    const layout = (foldCount ? 1 : 0) + (before.length - foldCount) + afterListed + (hasSuffix ? 1 : 0);

    // The siblings on the path, in the order of their leaves.
    let next = layout;
    const element = op;
    async function digest(pos, height, start) {
      const end = start + (1n << height);
      if (loc < start || loc >= end) {
        if (next >= digests.length) throw new Invalid("too few digests");
        return digests[next++];
      }
      if (height === 0n) return sha256(be64(pos), element);
      const left = await digest(pos - (1n << height), height - 1n, start);
      const right = await digest(pos - 1n, height - 1n, start + (1n << (height - 1n)));
      const node = await sha256(be64(pos), left, right);
      // At the grafting height the chunk's bits join the subtree's root (an all-zero chunk
      // leaves it as it is).
      if (height === BigInt(GRAFT) && start >> BigInt(GRAFT) === chunkIndex && chunkIndex < complete && chunk.some((b) => b)) {
        return sha256(chunk, node);
      }
      return node;
    }
    const peak = all[k];
    const reconstructed = await digest(peak.pos, peak.height, peak.start);
    if (next !== digests.length) throw new Invalid("digests left over");

    let i = 0;
    const list = [];
    if (foldCount) list.push(digests[i++]);
    for (let j = foldCount; j < before.length; j++) list.push(digests[i++]);
    list.push(reconstructed);
    for (let j = 0; j < afterListed; j++) list.push(digests[i++]);
    if (hasSuffix) list.push(digests[i++]);

    const toFold = foldCount ? inactivePeaks - foldCount + 1 : inactivePeaks;
    let acc = list[0];
    let at = 1;
    for (let j = 0; j < toFold - 1; j++) {
      if (at >= list.length) throw new Invalid("more inactive peaks than peaks");
      acc = await sha256(acc, list[at++]);
    }
    const rest = list.slice(at);
    if (rest.length) {
      let bag = rest[rest.length - 1];
      for (let j = rest.length - 2; j >= 0; j--) bag = await sha256(rest[j], bag);
      acc = await sha256(acc, bag);
    }
    const domain = Uint8Array.of(0, 1); // the MMR family, backward bagging
    const grafted = inactivePeaks
      ? await sha256(domain, be64(leaves), be64(BigInt(inactivePeaks)), acc)
      : await sha256(domain, be64(leaves), acc);
    const canonical = p.partial
      ? await sha256(p.opsRoot, grafted, be64(nextBit), p.partial)
      : await sha256(p.opsRoot, grafted);
    if (!equal(canonical, root)) throw new Invalid("the proof does not reach the state root");
  }

  const update = (key, value, nextKey) => Uint8Array.of(UPDATE, ...key, ...varint(BigInt(value.length)), ...value, ...nextKey);

  // Checks `proofHex` for state key `keyHex` against `rootHex`: the key's value (bytes), or
  // null when the proof shows it has none. Throws when the proof does not hold.
  async function verify(rootHex, keyHex, proofHex) {
    const root = hex(rootHex);
    const hashed = await sha256(hex(keyHex));
    const r = reader(hex(proofHex));
    const tag = r.byte();
    if (tag === 0) {
      const len = r.u32le();
      if (len > 64 * 1024) throw new Invalid("a value over 64 KiB");
      const value = r.take(len).slice();
      const p = operationProof(r);
      const nextKey = r.take(32);
      r.done();
      await checkOperation(p, update(hashed, value, nextKey), root);
      return value;
    }
    if (tag === 1) {
      // An exclusion: the two neighbouring keys, active, with no key between them.
      if (r.byte() !== 0) throw new Invalid("only exclusions between two keys are checked here");
      const p = operationProof(r);
      const key = r.take(32);
      const len = r.varint();
      if (len > 65536n) throw new Invalid("a value over 64 KiB");
      const value = r.take(Number(len));
      const nextKey = r.take(32);
      r.done();
      const inside = compare(key, nextKey) < 0
        ? compare(key, hashed) < 0 && compare(hashed, nextKey) < 0
        : compare(key, hashed) < 0 || compare(hashed, nextKey) < 0;
      if (!inside) throw new Invalid("the key is not between the proof's neighbours");
      await checkOperation(p, update(key, value, nextKey), root);
      return null;
    }
    throw new Invalid(`unknown proof tag ${tag}`);
  }

  globalThis.LaminaProof = { verify, hex, Invalid };
})();
