// Cheap 32-bit hashes for the simulator's checkers and trace. A collision can only hide a
// violation (two different things looking equal), never invent one.

/** Mixes one 32-bit value into a running hash (murmur3-style finalizer on the xor). */
export function mix(h: number, x: number): number {
  let k = Math.imul((h ^ x) >>> 0, 0x9e3779b1);
  k ^= k >>> 15;
  k = Math.imul(k, 0x85ebca77);
  k ^= k >>> 13;
  k = Math.imul(k, 0xc2b2ae3d);
  return (k ^ (k >>> 16)) >>> 0;
}

/** FNV-1a over the bytes, length included. */
export function hashBytes(data: Uint8Array): number {
  let h = 0x811c9dc5 ^ data.length;
  for (let i = 0; i < data.length; i++) {
    h = Math.imul(h ^ data[i]!, 0x01000193);
  }
  return h >>> 0;
}

/** Identity of a log entry given its predecessor's: equal chains mean equal entries and equal prefixes. */
export function chainHash(prevChain: number, term: number, kindConfig: boolean, dataHash: number): number {
  return mix(mix(mix(prevChain, term), kindConfig ? 0x636f6e66 : 0x6e6f726d), dataHash);
}

/** Hash of a short string (node ids, invariant names): deterministic, not cryptographic. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
