import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { codec, encodeFrame, FrameDecoder, FrameError, FrameWriter } from '../../src/protocol/frame.js';
import type { FrameSink } from '../../src/protocol/frame.js';

function frame(body: unknown): Buffer {
  return Buffer.concat(encodeFrame(body));
}

function header(length: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(length, 0);
  return out;
}

describe('FrameDecoder', () => {
  it("reads other languages' 64-bit integers as numbers while they are safe integers", () => {
    // {runAtMs: uint64 1795000000000, delta: int64 -1795000000000, huge: uint64 2^60}, as Python's msgpack writes them.
    const uint64 = (v: bigint): Buffer => Buffer.concat([Buffer.from([0xcf]), Buffer.from(new BigUint64Array([v]).buffer).reverse()]);
    const int64 = (v: bigint): Buffer => Buffer.concat([Buffer.from([0xd3]), Buffer.from(new BigInt64Array([v]).buffer).reverse()]);
    const key = (k: string): Buffer => Buffer.concat([Buffer.from([0xa0 | k.length]), Buffer.from(k)]);
    const body = Buffer.concat([Buffer.from([0x83]), key('runAtMs'), uint64(1795000000000n), key('delta'), int64(-1795000000000n), key('huge'), uint64(2n ** 60n)]);
    const [decoded] = new FrameDecoder().push(Buffer.concat([header(body.length), body]));
    expect(decoded).toEqual({ runAtMs: 1795000000000, delta: -1795000000000, huge: 2n ** 60n });
  });

  it('decodes a frame delivered one byte at a time', () => {
    const body = { id: 7, op: 'get', jobId: 'a', nested: { list: [1, 2, 3], text: 'héllo' } };
    const bytes = frame(body);
    const decoder = new FrameDecoder();
    const out: unknown[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...decoder.push(bytes.subarray(i, i + 1)));
    expect(out).toEqual([body]);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('decodes many frames from one chunk, in order', () => {
    const bodies = Array.from({ length: 500 }, (_, i) => ({ id: i, op: 'stats', queue: `q${i}` }));
    const decoder = new FrameDecoder();
    expect(decoder.push(Buffer.concat(bodies.map(frame)))).toEqual(bodies);
  });

  it('decodes frames split at every possible boundary across two chunks', () => {
    const bodies = [{ id: 1, op: 'a' }, { id: 2, op: 'b', payload: 'x'.repeat(300) }, { id: 3, op: 'c' }];
    const bytes = Buffer.concat(bodies.map(frame));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new FrameDecoder();
      const out = [...decoder.push(bytes.subarray(0, cut)), ...decoder.push(bytes.subarray(cut))];
      expect(out, `cut at ${cut}`).toEqual(bodies);
    }
  });

  it('reassembles a large frame from thousands of small chunks', () => {
    const body = { id: 1, blob: Buffer.alloc(200_000, 7) };
    const bytes = frame(body);
    const decoder = new FrameDecoder();
    const out: unknown[] = [];
    for (let at = 0; at < bytes.length; at += 37) out.push(...decoder.push(bytes.subarray(at, at + 37)));
    expect(out).toHaveLength(1);
    expect(Buffer.from((out[0] as { blob: Uint8Array }).blob).equals(body.blob)).toBe(true);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('keeps a partial frame until the rest arrives', () => {
    const bytes = frame({ id: 1, op: 'queues' });
    const decoder = new FrameDecoder();
    expect(decoder.push(bytes.subarray(0, 6))).toEqual([]);
    expect(decoder.pendingBytes).toBe(6);
    expect(decoder.push(bytes.subarray(6))).toEqual([{ id: 1, op: 'queues' }]);
  });

  it('rejects a length above the limit as soon as the header arrives', () => {
    const decoder = new FrameDecoder({ frameBytesMax: 1024 });
    expect(() => decoder.push(header(1025))).toThrow(FrameError);
    // Poisoned: the connection must go, so later chunks fail too.
    expect(() => decoder.push(frame({ id: 1, op: 'x' }))).toThrow(FrameError);
  });

  it('rejects the default maximum plus one', () => {
    expect(() => new FrameDecoder().push(header(16 * 1024 * 1024 + 1))).toThrow(/exceeds/);
  });

  it('rejects a zero-length frame', () => {
    expect(() => new FrameDecoder().push(header(0))).toThrow(FrameError);
  });

  it('rejects a body that is not msgpack', () => {
    // 0xc1 is the one byte msgpack never uses.
    const garbage = Buffer.concat([header(3), Buffer.from([0xc1, 0xc1, 0xc1])]);
    expect(() => new FrameDecoder().push(garbage)).toThrow(/undecodable/);
  });

  it('rejects a body with trailing bytes after its value', () => {
    const value = codec.pack({ id: 1 });
    const body = Buffer.concat([value, Buffer.from([0x01])]);
    expect(() => new FrameDecoder().push(Buffer.concat([header(body.length), body]))).toThrow(FrameError);
  });

  it('rejects a truncated body (length longer than the value)', () => {
    const value = codec.pack({ id: 1, op: 'abc' });
    const cut = value.subarray(0, value.length - 2);
    // The header claims the cut length, so the body is complete but the value inside is not.
    expect(() => new FrameDecoder().push(Buffer.concat([header(cut.length), cut]))).toThrow(FrameError);
  });
});

class FakeSink extends EventEmitter implements FrameSink {
  writes: Buffer[] = [];
  destroyed = false;
  accept = true;
  write(data: Buffer): boolean {
    this.writes.push(data);
    return this.accept;
  }
}

describe('FrameWriter', () => {
  it('coalesces frames written in one turn into one write', async () => {
    const sink = new FakeSink();
    const writer = new FrameWriter(sink);
    for (let i = 0; i < 50; i++) writer.write({ id: i });
    expect(sink.writes).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.writes).toHaveLength(1);
    expect(new FrameDecoder().push(sink.writes[0]!)).toEqual(Array.from({ length: 50 }, (_, i) => ({ id: i })));
  });

  it('holds frames while the socket is backed up and flushes them on drain', async () => {
    const sink = new FakeSink();
    const writer = new FrameWriter(sink);
    let drained = 0;
    writer.onDrain = () => drained++;
    sink.accept = false;
    writer.write({ id: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(writer.backedUp).toBe(true);
    writer.write({ id: 2 });
    writer.write({ id: 3 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.writes).toHaveLength(1); // nothing more until drain
    sink.accept = true;
    sink.emit('drain');
    expect(writer.backedUp).toBe(false);
    expect(drained).toBe(1);
    expect(sink.writes).toHaveLength(2);
    expect(new FrameDecoder().push(Buffer.concat(sink.writes))).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  it('drained() waits until the socket took every queued frame and is below its mark, or the writer closed', async () => {
    const sink = new FakeSink();
    const writer = new FrameWriter(sink);
    await writer.drained(); // nothing queued
    const settled: string[] = [];
    sink.accept = false;
    writer.write({ id: 1 });
    const first = writer.drained().then(() => settled.push('first'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.writes).toHaveLength(1);
    expect(settled).toEqual([]); // in the socket, but the socket is backed up
    writer.write({ id: 2 });
    sink.emit('drain'); // flushes id 2, which backs the socket up again
    await new Promise((resolve) => setImmediate(resolve));
    expect(sink.writes).toHaveLength(2);
    expect(settled).toEqual([]);
    sink.accept = true;
    sink.emit('drain');
    await first;
    expect(settled).toEqual(['first']);

    sink.accept = false;
    writer.write({ id: 3 });
    const closed = writer.drained().then(() => settled.push('closed'));
    await new Promise((resolve) => setImmediate(resolve));
    writer.close();
    await closed;
    expect(settled).toEqual(['first', 'closed']);
  });

  it('refuses a body above the frame limit without queueing anything', async () => {
    const sink = new FakeSink();
    const writer = new FrameWriter(sink, { frameBytesMax: 100 });
    expect(() => writer.write({ blob: 'x'.repeat(200) })).toThrow(FrameError);
    writer.write({ id: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(new FrameDecoder().push(Buffer.concat(sink.writes))).toEqual([{ id: 1 }]);
  });
});
