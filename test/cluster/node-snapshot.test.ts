// A node's snapshot written in pieces (encodeNodeSnapshotSteps with a piece size): the pieces put
// together are the image written whole, and a step stays small even though the caller takes
// the bytes and resets the writer between steps.
import { describe, expect, it } from 'vitest';
import { encodeNodeSnapshot, encodeNodeSnapshotSteps } from '../../cluster/node-snapshot.js';
import type { MemberAddresses } from '../../cluster/members.js';
import type { NodeId } from '../../raft/types.js';
import { SNAPSHOT_BYTES_PER_STEP } from '../../src/jobs/snapshot.js';
import { Harness } from '../jobs/harness.js';

const MEMBERS: [NodeId, MemberAddresses][] = [['n1', { client: '127.0.0.1:7001', peer: '127.0.0.1:7101', http: '127.0.0.1:8001' }]];
const JOBS_PER_ENQUEUE = 200;
const ENQUEUES = 300;

/** 60,000 jobs, and one client session remembering 300 results of 200 ids each (~1.2 MB). */
function busyMachine(): Harness {
  const h = new Harness();
  for (let seq = 1; seq <= ENQUEUES; seq++) {
    h.applyEntry([{ clientId: 'client-a', seq, cmd: { op: 'enqueue', jobs: Array.from({ length: JOBS_PER_ENQUEUE }, (_, i) => ({ queue: `q${i % 3}`, payload: new Uint8Array([seq & 0xff, i & 0xff]) })) } }]);
  }
  return h;
}

/** Runs the encoder, copying out each piece it yields (the next step reuses their memory). */
function inPieces(h: Harness, pieceBytes: number): { pieces: Buffer[]; image: Buffer } {
  const steps = encodeNodeSnapshotSteps(h.machine, MEMBERS, pieceBytes);
  const pieces: Buffer[] = [];
  for (;;) {
    const next = steps.next();
    if (next.done) {
      pieces.push(Buffer.from(next.value));
      break;
    }
    if (next.value !== undefined) pieces.push(Buffer.from(next.value));
  }
  return { pieces, image: Buffer.concat(pieces) };
}

describe('a node snapshot written in pieces', () => {
  it('puts together to the image written whole, each piece at least the size asked but the last', () => {
    const h = busyMachine();
    const whole = Buffer.from(encodeNodeSnapshot(h.machine, MEMBERS));
    const { pieces, image } = inPieces(h, 64 * 1024);
    expect(image.equals(whole)).toBe(true);
    expect(pieces.length).toBeGreaterThan(whole.byteLength / (128 * 1024));
    for (const piece of pieces.slice(0, -1)) expect(piece.byteLength).toBeGreaterThanOrEqual(64 * 1024);
  });

  it('keeps each step small when every step\'s bytes are taken (session results stepped by bytes written since the last step)', () => {
    const h = busyMachine();
    // A piece of one byte: every step yields what it wrote, so each piece is one step.
    const { pieces, image } = inPieces(h, 1);
    expect(image.equals(Buffer.from(encodeNodeSnapshot(h.machine, MEMBERS)))).toBe(true);
    const oneResultBytesMax = JOBS_PER_ENQUEUE * 64;
    expect(Math.max(...pieces.map((p) => p.byteLength))).toBeLessThanOrEqual(SNAPSHOT_BYTES_PER_STEP + oneResultBytesMax);
  });
});
