// How the state machine keeps payload and result bytes: as one-byte (latin1) strings, one
// character per byte. V8 stores such a string as a 16-byte header followed by the bytes, in the
// JS heap, owning its memory; a Uint8Array per job would cost ~100 bytes of objects (view,
// ArrayBuffer, backing-store record) on top of the bytes, and a subarray of the Raft entry would
// keep the whole entry buffer alive as long as any one of its jobs. The mapping is exact and
// deterministic in both directions, so snapshots and replicas see the same bytes.

/** The bytes as a one-byte string: a copy, independent of the buffer `bytes` views. */
export function storeBytes(bytes: Uint8Array): string {
  const view = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return view.toString('latin1');
}

/**
 * The bytes back, as a Buffer (from Node's shared pool when small: a read answer or a lease
 * answer is short-lived, and a fresh ArrayBuffer per job costs more CPU than the copy itself).
 */
export function loadBytes(stored: string): Uint8Array {
  return Buffer.from(stored, 'latin1');
}

/** `loadBytes` for a value that may be absent. */
export function loadBytesOrNull(stored: string | null): Uint8Array | null {
  return stored === null ? null : loadBytes(stored);
}

/** `storeBytes` for a value that may be absent. */
export function storeBytesOrNull(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : storeBytes(bytes);
}
