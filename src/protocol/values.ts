// Payloads and results cross the wire as msgpack bytes that the broker never decodes. The edges
// that speak in values do the encoding: the SDK (a producer's submit, a worker's ack) and the HTTP
// API (JSON in and out) encode here, once, with the protocol's own msgpack settings, and decode
// here when a job comes back (lease, get, waitResult, dlq list).

import { RaftqError } from '../errors.js';
import type { Job, LeasedJob, WireJob, WireLeasedJob } from '../jobs/types.js';
import { codec } from './frame.js';

/**
 * The msgpack encoding of `value`. The result views msgpackr's shared buffer (no copy): send it
 * or store it, never write to it. Throws BAD_REQUEST (with `field`) for a value msgpack cannot
 * encode (for example one nested beyond the stack).
 */
export function encodeValue(value: unknown, field = 'payload'): Uint8Array {
  try {
    return codec.pack(value);
  } catch (error) {
    throw new RaftqError('BAD_REQUEST', `${field}: cannot be encoded as msgpack: ${messageOf(error)}`, { field });
  }
}

export type DecodedValue = { ok: true; value: unknown } | { ok: false; error: RaftqError };

/**
 * Decodes bytes that should hold exactly one msgpack value. Never throws: bytes that do not
 * decode (sent by a client that bypassed the SDK) are reported as a BAD_REQUEST naming `field`.
 */
export function decodeValue(bytes: Uint8Array, field = 'payload'): DecodedValue {
  try {
    return { ok: true, value: codec.unpack(bytes) };
  } catch (error) {
    return { ok: false, error: new RaftqError('BAD_REQUEST', `${field}: ${bytes.byteLength} bytes that are not one msgpack value: ${messageOf(error)}`, { field }) };
  }
}

/**
 * A value for reading: decoded, or when the bytes are not msgpack, the raw bytes as a Buffer (so
 * a reader can still see what was stored; the HTTP API shows them as `{base64}`).
 */
export function valueOrRawBytes(bytes: Uint8Array | null, field: string): unknown {
  if (bytes === null) return null;
  const decoded = decodeValue(bytes, field);
  return decoded.ok ? decoded.value : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A job read back (get, waitResult, dlq list) with payload and result decoded. */
export function decodeJob(wire: WireJob): Job {
  return { ...wire, payload: valueOrRawBytes(wire.payload, 'payload'), result: valueOrRawBytes(wire.result, 'result') };
}

/**
 * A leased job with its payload decoded. `payloadError` is set when the payload bytes are not
 * msgpack: such a job can never be handled, and the worker dead-letters it instead of retrying.
 */
export function decodeLeasedJob(wire: WireLeasedJob): { job: LeasedJob; payloadError: RaftqError | null } {
  if (wire.payload === null) return { job: { ...wire, payload: null }, payloadError: null };
  const decoded = decodeValue(wire.payload, 'payload');
  if (decoded.ok) return { job: { ...wire, payload: decoded.value }, payloadError: null };
  return { job: { ...wire, payload: Buffer.from(wire.payload.buffer, wire.payload.byteOffset, wire.payload.byteLength) }, payloadError: decoded.error };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
