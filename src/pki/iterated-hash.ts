/**
 * H applied `times` times to a digest: the PKCS#12 KDF's rounds (2048 of them, several
 * KDF calls per file). Each round hashes one digest, which with its padding is a single
 * block whose words are the previous state, so a round is one compression here, ~0.3 µs,
 * where a crypto.hash call costs ~3 µs of crossing into C++: ~35 ms of blocked event loop
 * per PKCS#12 file before. Checked against crypto.hash in the tests.
 */

const sha256Initial = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
] as const

const sha256K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
])

const wordsOf = (bytes: Uint8Array): Int32Array => {
  const words = new Int32Array(bytes.length / 4)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < words.length; i++) words[i] = view.getInt32(4 * i)
  return words
}

const bytesOf = (words: Int32Array): Uint8Array => {
  const bytes = new Uint8Array(words.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < words.length; i++) view.setInt32(4 * i, words[i]!)
  return bytes
}

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n))

/** One SHA-1 of the 20-byte message held in `h`, in place. */
const sha1Round = (h: Int32Array, w: Int32Array): void => {
  w.set(h)
  w[5] = 0x80000000 | 0
  w.fill(0, 6, 15)
  w[15] = 160
  for (let t = 16; t < 80; t++) w[t] = rotl(w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!, 1)
  let a = 0x67452301
  let b = 0xefcdab89 | 0
  let c = 0x98badcfe | 0
  let d = 0x10325476
  let e = 0xc3d2e1f0 | 0
  for (let t = 0; t < 80; t++) {
    const f =
      t < 20
        ? ((b & c) | (~b & d)) + 0x5a827999
        : t < 40
          ? (b ^ c ^ d) + 0x6ed9eba1
          : t < 60
            ? ((b & c) | (b & d) | (c & d)) + 0x8f1bbcdc
            : (b ^ c ^ d) + 0xca62c1d6
    const next = (((a << 5) | (a >>> 27)) + f + e + w[t]!) | 0
    e = d
    d = c
    c = (b << 30) | (b >>> 2)
    b = a
    a = next
  }
  h[0] = (0x67452301 + a) | 0
  h[1] = (0xefcdab89 + b) | 0
  h[2] = (0x98badcfe + c) | 0
  h[3] = (0x10325476 + d) | 0
  h[4] = (0xc3d2e1f0 + e) | 0
}

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n))

/** One SHA-256 of the 32-byte message held in `h`, in place. */
const sha256Round = (h: Int32Array, w: Int32Array): void => {
  w.set(h)
  w[8] = 0x80000000 | 0
  w.fill(0, 9, 15)
  w[15] = 256
  for (let t = 16; t < 64; t++) {
    const w15 = w[t - 15]!
    const w2 = w[t - 2]!
    const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3)
    const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10)
    w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0
  }
  let a = sha256Initial[0] | 0
  let b = sha256Initial[1] | 0
  let c = sha256Initial[2] | 0
  let d = sha256Initial[3] | 0
  let e = sha256Initial[4] | 0
  let f = sha256Initial[5] | 0
  let g = sha256Initial[6] | 0
  let hh = sha256Initial[7] | 0
  for (let t = 0; t < 64; t++) {
    const t1 =
      (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + sha256K[t]! + w[t]!) | 0
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0
    hh = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  h[0] = (sha256Initial[0] + a) | 0
  h[1] = (sha256Initial[1] + b) | 0
  h[2] = (sha256Initial[2] + c) | 0
  h[3] = (sha256Initial[3] + d) | 0
  h[4] = (sha256Initial[4] + e) | 0
  h[5] = (sha256Initial[5] + f) | 0
  h[6] = (sha256Initial[6] + g) | 0
  h[7] = (sha256Initial[7] + hh) | 0
}

/** `digest` hashed `times` more times with `hash` (digest: 20 bytes for SHA-1, 32 for SHA-256). */
export const rehash = (hash: "sha1" | "sha256", digest: Uint8Array, times: number): Uint8Array => {
  const h = wordsOf(digest)
  const round = hash === "sha1" ? sha1Round : sha256Round
  const w = new Int32Array(80)
  for (let i = 0; i < times; i++) round(h, w)
  return bytesOf(h)
}
