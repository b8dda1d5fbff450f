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
});
