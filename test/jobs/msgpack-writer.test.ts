import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MsgpackWriter } from '../../src/jobs/msgpack-writer.js';

const unpackr = new Unpackr({ useRecords: false });

describe('MsgpackWriter', () => {
  it('writes a stream of values msgpackr decodes back exactly, growing past its first estimate', () => {
    const numbers = [0, 1, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 1_700_000_000_123, Number.MAX_SAFE_INTEGER, -1, -32, -33, -(2 ** 31), -(2 ** 31) - 1, 0.2, -1.5];
    const latin1 = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
    const w = new MsgpackWriter(8);
    for (const n of numbers) w.number(n);
    w.numberOrNil(null);
    w.bool(true);
    w.bool(false);
    for (const s of ['', 'a', 'é€😀', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(300), 'y'.repeat(70_000)]) w.str(s);
    w.strOrNil(null);
    for (const s of ['', latin1, latin1.repeat(300)]) w.latin1BinOrNil(s);
    w.latin1BinOrNil(null);
    w.binOfCodes([0, 255, 106]);
    w.array(2);
    w.number(1);
    w.array(0);
    w.map(1);
    w.str('k');
    w.value({ nested: [1, 'two', null] });
    w.array(20);
    for (let i = 0; i < 20; i++) w.number(i);
    const values = unpackr.unpackMultiple(w.finish()) as unknown[];
    const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
    expect(values).toEqual([
      ...numbers, null, true, false,
      '', 'a', 'é€😀', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(300), 'y'.repeat(70_000), null,
      bin(''), bin(latin1), bin(latin1.repeat(300)), null, Buffer.from([0, 255, 106]),
      [1, []],
      { k: { nested: [1, 'two', null] } },
      Array.from({ length: 20 }, (_, i) => i),
    ]);
    expect(w.length).toBe(w.finish().byteLength);
  });

  it('writes plain data as msgpackr decodes it back (absent for undefined properties), reused after reset', () => {
    const w = new MsgpackWriter(4);
    const value = {
      nowMs: 1_795_425_237_502,
      envelopes: [
        { clientId: 'c-1', seq: 7, cmd: { op: 'enqueue', jobs: [{ queue: 'q', payload: Uint8Array.of(0x81, 0xa1, 0x61, 1), priority: -3, backoff: { baseMs: 10, jitter: 0.25 } }] } },
        { clientId: 'c-2', seq: 2 ** 40, seqFloor: 0, cmd: { op: 'fail', jobId: 'é€😀', token: 't', error: 'x'.repeat(70_000), retryable: false } },
        { clientId: '', seq: 0, cmd: { op: 'tick' } },
      ],
      gone: undefined,
      nothing: null,
      bytes: new Uint8Array(300).fill(7),
      nested: [[], {}, [-(2 ** 31) - 1, -1.5, Number.MAX_SAFE_INTEGER]],
    };
    for (let round = 0; round < 2; round++) {
      w.reset();
      expect(w.plain(value)).toBe(true);
      const { gone: _gone, ...present } = value;
      const decoded = unpackr.unpack(w.copy()) as Record<string, unknown>;
      expect(decoded).toEqual({ ...present, bytes: Buffer.from(value.bytes), envelopes: [{ ...value.envelopes[0], cmd: { ...value.envelopes[0]!.cmd, jobs: [{ ...value.envelopes[0]!.cmd.jobs![0], payload: Buffer.of(0x81, 0xa1, 0x61, 1) }] } }, value.envelopes[1], value.envelopes[2]] });
      expect(Object.keys(decoded)).not.toContain('gone');
    }
  });

  it('keeps its remembered map keys right when the buffer they were first written to is reused', () => {
    const w = new MsgpackWriter(16);
    const encode = (value: Record<string, unknown>): unknown => {
      w.reset();
      expect(w.plain(value)).toBe(true);
      return unpackr.unpack(w.copy());
    };
    expect(encode({ alpha: 1, beta: 'b' })).toEqual({ alpha: 1, beta: 'b' });
    expect(encode({ omega: 'zzzzzzzz', psi: 'yyyyyyyy' })).toEqual({ omega: 'zzzzzzzz', psi: 'yyyyyyyy' });
    expect(encode({ beta: 2, alpha: 3 })).toEqual({ beta: 2, alpha: 3 });
  });

  it('gives back a buffer grown past what reset() is told to keep once a value fits again, not between large ones', () => {
    const w = new MsgpackWriter(1024);
    const keep = 64 * 1024;
    expect(w.plain({ big: new Uint8Array(200 * 1024) })).toBe(true);
    const grown = w.capacityBytes;
    expect(grown).toBeGreaterThan(200 * 1024);
    w.reset(keep);
    expect(w.capacityBytes).toBe(grown); // the last value was large: another may follow
    expect(w.plain({ small: new Uint8Array(10 * 1024) })).toBe(true);
    expect(unpackr.unpack(w.copy())).toEqual({ small: Buffer.alloc(10 * 1024) });
    w.reset(keep);
    expect(w.capacityBytes).toBe(keep);
    expect(w.plain({ small: new Uint8Array(10 * 1024) })).toBe(true);
    w.reset(keep);
    expect(w.capacityBytes).toBe(keep);
  });

  it('answers false for what is not plain data, so the caller encodes it another way', () => {
    class Job {
      id = 'a';
    }
    for (const odd of [new Map(), new Job(), new Date(0), { at: undefined, f: () => 1 }, [1n]]) {
      const w = new MsgpackWriter(16);
      expect(w.plain(odd), String(odd)).toBe(false);
    }
  });
});
