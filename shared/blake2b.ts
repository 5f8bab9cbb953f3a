/**
 * BLAKE2b (RFC 7693) with a chosen digest size: `blake2b(bytes, 32)` is Python's
 * `hashlib.blake2b(data, digest_size=32)`, the `blake2_256_digest` twine sends with an upload.
 * Node's crypto has only the 64-byte digest (blake2b512), and BLAKE2b of another size is a
 * different hash, not a truncation. 64-bit words are held as (low, high) 32-bit pairs.
 */

const IV = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a, 0xade682d1, 0x510e527f, 0x2b3e6c1f,
  0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);

const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
].map((row) => row.map((i) => i * 2));

const v = new Uint32Array(32);
const m = new Uint32Array(32);

function add(a: number, b: number): void {
  const lo = v[a] + v[b];
  v[a + 1] = v[a + 1] + v[b + 1] + (lo >= 0x100000000 ? 1 : 0);
  v[a] = lo;
}

function addWord(a: number, lo0: number, hi0: number): void {
  const lo = v[a] + lo0;
  v[a + 1] = v[a + 1] + hi0 + (lo >= 0x100000000 ? 1 : 0);
  v[a] = lo;
}

function g(a: number, b: number, c: number, d: number, x: number, y: number): void {
  add(a, b);
  addWord(a, m[x], m[x + 1]);
  let lo = v[d] ^ v[a];
  let hi = v[d + 1] ^ v[a + 1];
  v[d] = hi; // rotate right 32
  v[d + 1] = lo;
  add(c, d);
  lo = v[b] ^ v[c];
  hi = v[b + 1] ^ v[c + 1];
  v[b] = (lo >>> 24) ^ (hi << 8); // rotate right 24
  v[b + 1] = (hi >>> 24) ^ (lo << 8);
  add(a, b);
  addWord(a, m[y], m[y + 1]);
  lo = v[d] ^ v[a];
  hi = v[d + 1] ^ v[a + 1];
  v[d] = (lo >>> 16) ^ (hi << 16); // rotate right 16
  v[d + 1] = (hi >>> 16) ^ (lo << 16);
  add(c, d);
  lo = v[b] ^ v[c];
  hi = v[b + 1] ^ v[c + 1];
  v[b] = (hi >>> 31) ^ (lo << 1); // rotate right 63
  v[b + 1] = (lo >>> 31) ^ (hi << 1);
}

function compress(h: Uint32Array, block: Uint8Array, counter: number, last: boolean): void {
  for (let i = 0; i < 16; i++) {
    v[i] = h[i];
    v[i + 16] = IV[i];
  }
  v[24] ^= counter;
  v[25] ^= counter / 0x100000000;
  if (last) {
    v[28] = ~v[28];
    v[29] = ~v[29];
  }
  for (let i = 0; i < 32; i++) m[i] = block[4 * i] ^ (block[4 * i + 1] << 8) ^ (block[4 * i + 2] << 16) ^ (block[4 * i + 3] << 24);
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10];
    g(0, 8, 16, 24, s[0], s[1]);
    g(2, 10, 18, 26, s[2], s[3]);
    g(4, 12, 20, 28, s[4], s[5]);
    g(6, 14, 22, 30, s[6], s[7]);
    g(0, 10, 20, 30, s[8], s[9]);
    g(2, 12, 22, 24, s[10], s[11]);
    g(4, 14, 16, 26, s[12], s[13]);
    g(6, 8, 18, 28, s[14], s[15]);
  }
  for (let i = 0; i < 16; i++) h[i] = h[i] ^ v[i] ^ v[i + 16];
}

/** The BLAKE2b digest of `data`, `size` bytes long (1 to 64), unkeyed. */
export function blake2b(data: Uint8Array, size = 64): Buffer {
  if (!(size >= 1 && size <= 64)) throw new RangeError(`BLAKE2b digest size ${size} is not 1..64`);
  const h = new Uint32Array(IV);
  h[0] ^= 0x01010000 ^ size;
  const block = new Uint8Array(128);
  let offset = 0;
  // Every full block but the last is compressed as it comes; the last (full or not) is final.
  while (data.length - offset > 128) {
    compress(h, data.subarray(offset, offset + 128), offset + 128, false);
    offset += 128;
  }
  block.set(data.subarray(offset));
  compress(h, block, data.length, true);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = h[i >> 2] >>> (8 * (i & 3));
  return out;
}
