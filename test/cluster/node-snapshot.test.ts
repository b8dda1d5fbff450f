// A node's snapshot written in pieces (encodeNodeSnapshotSteps with a piece size): the pieces put
// together are the image written whole, and a step stays small even though the caller takes
// the bytes and resets the writer between steps. Read back in pieces (NodeSnapshotDecoder,
// readNodeSnapshot), it decodes to the state decoded whole.
import { describe, expect, it } from 'vitest';
import { decodeNodeSnapshot, encodeNodeSnapshot, encodeNodeSnapshotSteps, NodeSnapshotDecoder, readNodeSnapshot } from '../../cluster/node-snapshot.js';
import { StorageCorruptError } from '../../raft/memory-storage.js';
import type { SnapshotSource } from '../../raft/types.js';
import { crc32 } from 'node:zlib';
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

/** `image` cut into pieces of `pieceBytes`, pushed one by one. */
function decodedInPieces(image: Uint8Array, pieceBytes: number): ReturnType<NodeSnapshotDecoder['finish']> {
  const decoder = new NodeSnapshotDecoder();
  for (let at = 0; at < image.byteLength; at += pieceBytes) decoder.push(image.subarray(at, at + pieceBytes));
  return decoder.finish();
}

/** A SnapshotSource over bytes in memory that checks them against `crc` as WalSnapshotSource does. */
function sourceOf(data: Uint8Array, crc: number): SnapshotSource & { closed: boolean } {
  let offset = 0;
  let running = 0;
  return {
    meta: { index: 1, term: 1, config: { voters: ['n1'] } },
    bytes: data.byteLength,
    closed: false,
    async read(length: number): Promise<Uint8Array> {
      const piece = data.slice(offset, offset + length);
      offset += piece.byteLength;
      running = crc32(piece, running);
      if (offset === data.byteLength && running >>> 0 !== crc) throw new StorageCorruptError('snapshot: checksum mismatch');
      return piece;
    },
    async close(): Promise<void> {
      this.closed = true;
    },
  };
}

describe('a node snapshot read back in pieces', () => {
  it('decodes to the state decoded whole, whatever the pieces\' size (values cut anywhere, larger than a piece)', () => {
    const withBigResult = (h: Harness): Harness => {
      // A session result of 16 KiB of payload: one value larger than most pieces below.
      h.enqueueOne({ queue: 'big', payload: new Uint8Array(16 * 1024).fill(9) });
      h.apply({ op: 'lease', workerId: 'w', queues: ['big'], max: 1 }, 'worker-big', 1);
      return h;
    };
    const small = withBigResult(new Harness());
    small.enqueue(...Array.from({ length: 20 }, (_, i) => ({ queue: 'q', payload: new Uint8Array([i]) })));
    const busy = withBigResult(busyMachine());
    for (const [h, sizes] of [[small, [1, 7, 1000]], [busy, [4096, 65_536, 1 << 20]]] as const) {
      const image = encodeNodeSnapshot(h.machine, MEMBERS);
      const whole = decodeNodeSnapshot(image);
      expect(whole.sm.stateHash()).toBe(h.machine.stateHash());
      for (const pieceBytes of sizes) {
        const decoded = decodedInPieces(image, pieceBytes);
        expect(decoded.sm.stateHash(), `pieces of ${pieceBytes} B`).toBe(whole.sm.stateHash());
        expect(decoded.members).toEqual(MEMBERS);
        expect(decoded.sm.sessionResultBytes).toBe(whole.sm.sessionResultBytes);
      }
    }
  });

  it('refuses an image cut short, inside a value or between two', () => {
    const image = encodeNodeSnapshot(busyMachine().machine, MEMBERS);
    expect(() => decodedInPieces(image.subarray(0, image.byteLength - 3), 4096)).toThrow(/snapshot ends inside a value/);
    expect(() => decodedInPieces(image.subarray(0, 20), 4096)).toThrow(/snapshot ends inside a value|does not start with \{members\}/);
  });

  it('reports damage the checksum finds as the source\'s StorageCorruptError, even when a value failed to decode first', async () => {
    const image = Buffer.from(encodeNodeSnapshot(busyMachine().machine, MEMBERS));
    const crc = crc32(image) >>> 0;
    const intact = await readNodeSnapshot(sourceOf(image, crc), 4096);
    expect(intact.members).toEqual(MEMBERS);
    // 0xc1 is no msgpack type: the very first value fails to decode, the rest is still read to the checksum.
    const damaged = Buffer.from(image);
    damaged[0] = 0xc1;
    const source = sourceOf(damaged, crc);
    await expect(readNodeSnapshot(source, 4096)).rejects.toBeInstanceOf(StorageCorruptError);
    expect(source.closed).toBe(true);
  });
});
