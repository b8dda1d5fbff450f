import { describe, expect, it } from 'vitest';
import { CRON_EXPRESSION_LENGTH_MAX, nextCronMs, parseCron, type CronSpec } from '../../src/jobs/cron.js';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

function spec(expression: string): CronSpec {
  const parsed = parseCron(expression);
  if (typeof parsed === 'string') throw new Error(`${expression}: ${parsed}`);
  return parsed;
}

function error(expression: string): string {
  const parsed = parseCron(expression);
  if (typeof parsed !== 'string') throw new Error(`${expression} parsed, expected an error`);
  return parsed;
}

function range(first: number, last: number, step = 1): number[] {
  const values: number[] = [];
  for (let v = first; v <= last; v += step) values.push(v);
  return values;
}

/** The next run as an ISO string (or null), for readable assertions. */
function next(expression: string, afterMs: number): string | null {
  const ms = nextCronMs(spec(expression), afterMs);
  return ms === null ? null : new Date(ms).toISOString();
}

const utc = (iso: string): number => Date.parse(iso);

/**
 * The reference: every whole minute strictly after afterMs, one by one, with the day rules spelled
 * out separately from the module's. Null when nothing matches within `horizonDays`.
 */
function bruteForceNextMs(s: CronSpec, afterMs: number, horizonDays: number): number | null {
  const endMs = afterMs + horizonDays * DAY_MS;
  for (let ms = Math.ceil((afterMs + 1) / MINUTE_MS) * MINUTE_MS; ms <= endMs; ms += MINUTE_MS) {
    const d = new Date(ms);
    const domOk = s.daysOfMonth.includes(d.getUTCDate());
    const dowOk = s.daysOfWeek.includes(d.getUTCDay());
    const dayOk = s.domRestricted && s.dowRestricted ? domOk || dowOk : domOk && dowOk;
    if (
      dayOk &&
      s.months.includes(d.getUTCMonth() + 1) &&
      s.hours.includes(d.getUTCHours()) &&
      s.minutes.includes(d.getUTCMinutes())
    ) {
      return ms;
    }
  }
  return null;
}

describe('parseCron: syntax', () => {
  it('expands * to the whole field', () => {
    const s = spec('* * * * *');
    expect(s.minutes).toEqual(range(0, 59));
    expect(s.hours).toEqual(range(0, 23));
    expect(s.daysOfMonth).toEqual(range(1, 31));
    expect(s.months).toEqual(range(1, 12));
    expect(s.daysOfWeek).toEqual(range(0, 6));
    expect(s.domRestricted).toBe(false);
    expect(s.dowRestricted).toBe(false);
  });

  it('accepts single numbers, including leading zeros', () => {
    const s = spec('5 04 31 12 6');
    expect([s.minutes, s.hours, s.daysOfMonth, s.months, s.daysOfWeek]).toEqual([[5], [4], [31], [12], [6]]);
    expect(s.domRestricted).toBe(true);
    expect(s.dowRestricted).toBe(true);
  });

  it('accepts ranges, including single-value ranges', () => {
    const s = spec('10-15 0-0 1-3 6-8 1-5');
    expect(s.minutes).toEqual([10, 11, 12, 13, 14, 15]);
    expect(s.hours).toEqual([0]);
    expect(s.daysOfMonth).toEqual([1, 2, 3]);
    expect(s.months).toEqual([6, 7, 8]);
    expect(s.daysOfWeek).toEqual([1, 2, 3, 4, 5]);
  });

  it('accepts steps: */n, a-b/n and a/n (a to the top of the field)', () => {
    expect(spec('*/15 * * * *').minutes).toEqual([0, 15, 30, 45]);
    expect(spec('* */5 * * *').hours).toEqual([0, 5, 10, 15, 20]);
    expect(spec('* * */10 * *').daysOfMonth).toEqual([1, 11, 21, 31]);
    expect(spec('* * * */5 *').months).toEqual([1, 6, 11]);
    expect(spec('* * * * */2').daysOfWeek).toEqual([0, 2, 4, 6]);
    expect(spec('10-30/7 * * * *').minutes).toEqual([10, 17, 24]);
    expect(spec('50/3 * * * *').minutes).toEqual([50, 53, 56, 59]);
    expect(spec('* 20/2 * * *').hours).toEqual([20, 22]);
    expect(spec('* * * * 1/2').daysOfWeek).toEqual([1, 3, 5]);
    expect(spec('*/1 * * * *').minutes).toEqual(range(0, 59));
    // A step larger than the range leaves only its start.
    expect(spec('5/90 * * * *').minutes).toEqual([5]);
  });

  it('accepts comma lists of any form, sorted and deduplicated', () => {
    expect(spec('45,0-10/5,7,*/30,7 * * * *').minutes).toEqual([0, 5, 7, 10, 30, 45]);
    expect(spec('* 23,1,12 * * *').hours).toEqual([1, 12, 23]);
  });

  it('accepts month and weekday names, in any case, also in ranges, lists and steps', () => {
    expect(spec('0 0 * jan *').months).toEqual([1]);
    expect(spec('0 0 * DEC,Feb *').months).toEqual([2, 12]);
    expect(spec('0 0 * mar-May *').months).toEqual([3, 4, 5]);
    expect(spec('0 0 * jan-dec/3 *').months).toEqual([1, 4, 7, 10]);
    expect(spec('0 0 * * mon-fri').daysOfWeek).toEqual([1, 2, 3, 4, 5]);
    expect(spec('0 0 * * SUN,sat').daysOfWeek).toEqual([0, 6]);
    expect(spec('0 0 * * Tue-thu,1').daysOfWeek).toEqual([1, 2, 3, 4]);
  });

  it('treats 7 in day-of-week as Sunday', () => {
    expect(spec('0 0 * * 7').daysOfWeek).toEqual([0]);
    expect(spec('0 0 * * 0,7').daysOfWeek).toEqual([0]);
    expect(spec('0 0 * * 5-7').daysOfWeek).toEqual([0, 5, 6]);
    expect(spec('0 0 * * 7/3').daysOfWeek).toEqual([0]);
  });

  it('accepts ? as * in the day fields only, and does not count it as a restriction', () => {
    const s = spec('0 12 ? * ?');
    expect(s.daysOfMonth).toEqual(range(1, 31));
    expect(s.daysOfWeek).toEqual(range(0, 6));
    expect(s.domRestricted).toBe(false);
    expect(s.dowRestricted).toBe(false);
    expect(spec('0 12 ? * mon').dowRestricted).toBe(true);
    expect(spec('0 12 15 * ?').domRestricted).toBe(true);
    expect(error('? * * * *')).toMatch(/^field 1 \(minute\)/);
    expect(error('0 0 * ? *')).toMatch(/^field 4 \(month\)/);
    expect(error('0 0 1,? * *')).toMatch(/^field 3 \(day-of-month\)/);
  });

  it('counts any day field other than * or ? as restricted, even one covering every day', () => {
    expect(spec('0 0 1-31 * *').domRestricted).toBe(true);
    expect(spec('0 0 * * 0-6').dowRestricted).toBe(true);
  });

  it('expands the macros, case-insensitively', () => {
    const fields = (s: CronSpec) => [s.minutes, s.hours, s.daysOfMonth, s.months, s.daysOfWeek, s.domRestricted, s.dowRestricted];
    const same = (macro: string, expression: string) => expect(fields(spec(macro))).toEqual(fields(spec(expression)));
    same('@yearly', '0 0 1 1 *');
    same('@annually', '0 0 1 1 *');
    same('@monthly', '0 0 1 * *');
    same('@weekly', '0 0 * * 0');
    same('@daily', '0 0 * * *');
    same('@midnight', '0 0 * * *');
    same('@hourly', '0 * * * *');
    same('@DAILY', '0 0 * * *');
    expect(spec('  @hourly ').source).toBe('@hourly');
  });

  it('normalizes the source: trimmed, inner whitespace collapsed', () => {
    expect(spec('  */5\t 1-3   *\n* mon ').source).toBe('*/5 1-3 * * mon');
  });

  it('splits on ASCII blanks only (what \\s matches depends on the engine\'s Unicode tables)', () => {
    expect(error('0\u00a00 * * *')).toMatch(/field/);
  });

  it('returns a frozen spec', () => {
    const s = spec('0 0 * * *');
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.minutes)).toBe(true);
  });
});

describe('parseCron: errors', () => {
  it('rejects an empty or blank expression', () => {
    expect(error('')).toMatch(/empty/);
    expect(error(' \t\n ')).toMatch(/empty/);
  });

  it('rejects an expression longer than the maximum', () => {
    const long = `${'0,'.repeat(CRON_EXPRESSION_LENGTH_MAX)}0 * * * *`;
    expect(error(long)).toMatch(/longer than 256/);
    // Exactly at the limit is fine.
    const atLimit = `0 * * * ${'1,'.repeat(100)}1`.padEnd(CRON_EXPRESSION_LENGTH_MAX, ' ');
    expect(atLimit.length).toBe(CRON_EXPRESSION_LENGTH_MAX);
    expect(typeof parseCron(atLimit)).toBe('object');
  });

  it('rejects a wrong number of fields', () => {
    expect(error('* * * *')).toMatch(/4 field.*expected 5/);
    expect(error('* * * * * *')).toMatch(/6 field.*expected 5/);
    expect(error('*')).toMatch(/1 field/);
  });

  it('rejects unknown macros', () => {
    expect(error('@reboot')).toMatch(/unknown cron macro "@reboot"/);
    expect(error('@daily 5')).toMatch(/unknown cron macro/);
  });

  it('rejects out-of-range values, naming the field', () => {
    expect(error('60 * * * *')).toBe('field 1 (minute): 60 is out of 0..59');
    expect(error('0 24 * * *')).toBe('field 2 (hour): 24 is out of 0..23');
    expect(error('0 0 0 * *')).toBe('field 3 (day-of-month): 0 is out of 1..31');
    expect(error('0 0 32 * *')).toBe('field 3 (day-of-month): 32 is out of 1..31');
    expect(error('0 0 * 0 *')).toBe('field 4 (month): 0 is out of 1..12');
    expect(error('0 0 * 13 *')).toBe('field 4 (month): 13 is out of 1..12');
    expect(error('0 0 * * 8')).toBe('field 5 (day-of-week): 8 is out of 0..7');
    expect(error('0-60 * * * *')).toMatch(/^field 1 \(minute\): 60 is out of 0\.\.59/);
    expect(error('5/2 99999999999999999999 * * *')).toMatch(/^field 2 \(hour\): .*out of/);
  });

  it('rejects backwards ranges', () => {
    expect(error('30-10 * * * *')).toMatch(/^field 1 \(minute\): range "30-10" starts after it ends/);
    expect(error('0 0 * * fri-mon')).toMatch(/^field 5 \(day-of-week\): range "fri-mon"/);
    expect(error('0 0 * dec-jan *')).toMatch(/^field 4 \(month\): range "dec-jan"/);
  });

  it('rejects zero, negative, non-integer and missing steps', () => {
    expect(error('*/0 * * * *')).toMatch(/^field 1 \(minute\): step 0 .*at least 1/);
    expect(error('0 */1.5 * * *')).toMatch(/^field 2 \(hour\): step "1.5" .*not a positive integer/);
    expect(error('0 0 */-2 * *')).toMatch(/^field 3 \(day-of-month\): step "-2"/);
    expect(error('0 0 * */ *')).toMatch(/^field 4 \(month\): step ""/);
    expect(error('0 0 * * */x')).toMatch(/^field 5 \(day-of-week\): step "x"/);
    expect(error('*/2/3 * * * *')).toMatch(/^field 1 \(minute\): .*more than one step/);
  });

  it('rejects anything else unparseable, naming the field', () => {
    expect(error('x * * * *')).toMatch(/^field 1 \(minute\): "x" is not a number$/);
    expect(error('0 0 * * monday')).toMatch(/^field 5 \(day-of-week\): "monday" is not a number or day-of-week name/);
    expect(error('0 0 * foo *')).toMatch(/^field 4 \(month\): "foo" is not a number or month name/);
    // Names belong to their own field only.
    expect(error('0 0 jan * *')).toMatch(/^field 3 \(day-of-month\)/);
    expect(error('0 0 * mon *')).toMatch(/^field 4 \(month\)/);
    expect(error('0 0 * * jan')).toMatch(/^field 5 \(day-of-week\)/);
    expect(error('1,,2 * * * *')).toMatch(/^field 1 \(minute\): .*missing a value/);
    expect(error('1, * * * *')).toMatch(/^field 1 \(minute\)/);
    expect(error('-5 * * * *')).toMatch(/^field 1 \(minute\)/);
    expect(error('1-2-3 * * * *')).toMatch(/^field 1 \(minute\): .*not a valid range/);
    expect(error('0 1.5 * * *')).toMatch(/^field 2 \(hour\)/);
    expect(error('0 0 L * *')).toMatch(/^field 3 \(day-of-month\)/);
    expect(error('0 0 * * 1#2')).toMatch(/^field 5 \(day-of-week\)/);
    expect(error('0 0 * * **')).toMatch(/^field 5 \(day-of-week\)/);
  });

  it('never throws, even on input that is not a string', () => {
    expect(typeof parseCron(undefined as unknown as string)).toBe('string');
    expect(typeof parseCron(42 as unknown as string)).toBe('string');
  });
});

describe('nextCronMs', () => {
  it('finds the next minute, hour and day', () => {
    expect(next('* * * * *', utc('2025-06-15T10:20:00Z'))).toBe('2025-06-15T10:21:00.000Z');
    expect(next('30 * * * *', utc('2025-06-15T10:20:00Z'))).toBe('2025-06-15T10:30:00.000Z');
    expect(next('30 * * * *', utc('2025-06-15T10:40:00Z'))).toBe('2025-06-15T11:30:00.000Z');
    expect(next('15 9 * * *', utc('2025-06-15T10:00:00Z'))).toBe('2025-06-16T09:15:00.000Z');
    expect(next('*/20 9-10 * * *', utc('2025-06-15T10:45:00Z'))).toBe('2025-06-16T09:00:00.000Z');
  });

  it('is strictly after afterMs: a matching afterMs gives the next match', () => {
    expect(next('0 0 * * *', Date.UTC(2025, 0, 1))).toBe('2025-01-02T00:00:00.000Z');
    expect(next('* * * * *', Date.UTC(2025, 0, 1, 12, 0))).toBe('2025-01-01T12:01:00.000Z');
    expect(next('0 12 1 * *', Date.UTC(2025, 0, 1, 12, 0))).toBe('2025-02-01T12:00:00.000Z');
  });

  it('handles an afterMs that is not on a whole minute', () => {
    expect(next('* * * * *', Date.UTC(2025, 0, 1, 12, 0, 0, 1))).toBe('2025-01-01T12:01:00.000Z');
    expect(next('* * * * *', Date.UTC(2025, 0, 1, 12, 0, 59, 999))).toBe('2025-01-01T12:01:00.000Z');
    expect(next('0 12 * * *', Date.UTC(2025, 0, 1, 11, 59, 30))).toBe('2025-01-01T12:00:00.000Z');
    expect(next('0 12 * * *', Date.UTC(2025, 0, 1, 12, 0, 30))).toBe('2025-01-02T12:00:00.000Z');
    for (const afterMs of [Date.UTC(2025, 4, 5, 6, 7, 8, 9), 1.5, -0.5, 123_456.789]) {
      const ms = nextCronMs(spec('*/7 * * * *'), afterMs);
      expect(ms).not.toBeNull();
      expect(ms! % MINUTE_MS).toBe(0);
      expect(ms!).toBeGreaterThan(afterMs);
    }
  });

  it('handles an afterMs before 1970', () => {
    expect(next('* * * * *', -1)).toBe('1970-01-01T00:00:00.000Z');
    expect(next('* * * * *', -MINUTE_MS)).toBe('1970-01-01T00:00:00.000Z');
    expect(next('* * * * *', -MINUTE_MS - 1)).toBe('1969-12-31T23:59:00.000Z');
    expect(next('30 6 * * *', Date.UTC(1969, 6, 20, 20, 17, 40))).toBe('1969-07-21T06:30:00.000Z');
    expect(next('0 0 1 1 *', Date.UTC(1960, 5, 1))).toBe('1961-01-01T00:00:00.000Z');
  });

  it('rolls over months and years', () => {
    expect(next('0 0 1 * *', Date.UTC(2025, 0, 31, 23, 59))).toBe('2025-02-01T00:00:00.000Z');
    expect(next('59 23 31 * *', Date.UTC(2025, 0, 31, 23, 59))).toBe('2025-03-31T23:59:00.000Z');
    expect(next('* * * * *', Date.UTC(2025, 11, 31, 23, 59))).toBe('2026-01-01T00:00:00.000Z');
    expect(next('0 9 * jan *', Date.UTC(2025, 0, 31, 9, 0))).toBe('2026-01-01T09:00:00.000Z');
    expect(next('@yearly', Date.UTC(2025, 0, 1))).toBe('2026-01-01T00:00:00.000Z');
    expect(next('0 0 31 * *', Date.UTC(2025, 3, 1))).toBe('2025-05-31T00:00:00.000Z');
  });

  it('finds leap days, and skips 2100, which is not a leap year', () => {
    expect(next('0 0 29 2 *', Date.UTC(2025, 2, 1))).toBe('2028-02-29T00:00:00.000Z');
    expect(next('0 0 29 2 *', Date.UTC(2024, 1, 28, 23, 59, 59))).toBe('2024-02-29T00:00:00.000Z');
    expect(next('* * * feb *', Date.UTC(2024, 1, 28, 23, 59))).toBe('2024-02-29T00:00:00.000Z');
    expect(next('* * * feb *', Date.UTC(2025, 1, 28, 23, 59))).toBe('2026-02-01T00:00:00.000Z');
    // 2096 → 2104 is eight years: beyond the five-year search.
    expect(next('0 0 29 2 *', Date.UTC(2096, 2, 1))).toBeNull();
    expect(next('0 0 29 2 *', Date.UTC(2099, 2, 1))).toBe('2104-02-29T00:00:00.000Z');
  });

  it('returns null for a day that never exists', () => {
    expect(next('0 0 30 2 *', Date.UTC(2025, 0, 1))).toBeNull();
    expect(next('0 0 31 4,6,9,11 *', Date.UTC(2025, 0, 1))).toBeNull();
    // With a day-of-week as well, OR semantics make it run after all: the first Monday of February.
    expect(next('0 0 30 2 mon', Date.UTC(2025, 0, 1))).toBe('2025-02-03T00:00:00.000Z');
  });

  it('returns null for a non-finite afterMs', () => {
    expect(nextCronMs(spec('* * * * *'), Number.NaN)).toBeNull();
    expect(nextCronMs(spec('* * * * *'), Number.POSITIVE_INFINITY)).toBeNull();
  });

  // [expression, after (UTC y, m0, d), next, why]. 2025-06-01 is a Sunday, 2025-06-14 a Saturday.
  const dayCases: [string, [number, number, number], string, string][] = [
    ['0 9 * * mon-fri', [2025, 5, 14], '2025-06-16T09:00:00.000Z', 'weekday names in a range'],
    ['0 9 * * 7', [2025, 5, 14], '2025-06-15T09:00:00.000Z', '7 is Sunday'],
    ['0 9 * * sun', [2025, 5, 14], '2025-06-15T09:00:00.000Z', 'a weekday name'],
    ['@weekly', [2025, 5, 14], '2025-06-15T00:00:00.000Z', 'a macro'],
    ['0 0 1 * ?', [2025, 5, 14], '2025-07-01T00:00:00.000Z', '? as *'],
    ['0 0 13 * fri', [2025, 5, 1], '2025-06-06T00:00:00.000Z', 'both day fields restricted: the 13th or a Friday, the first Friday first'],
    ['0 0 13 * fri', [2025, 5, 12], '2025-06-13T00:00:00.000Z', 'both restricted: the 13th'],
    ['0 0 13 * fri', [2025, 5, 13], '2025-06-20T00:00:00.000Z', 'both restricted: Friday the 20th, not July 13th'],
    ['0 0 2 * fri', [2025, 5, 1], '2025-06-02T00:00:00.000Z', 'both restricted: the 2nd, a Monday'],
    ['0 0 1-31 * fri', [2025, 5, 1], '2025-06-02T00:00:00.000Z', 'a range covering every day still restricts'],
    ['0 0 13 * *', [2025, 5, 1], '2025-06-13T00:00:00.000Z', 'only day-of-month restricted'],
    ['0 0 * * fri', [2025, 5, 1], '2025-06-06T00:00:00.000Z', 'only day-of-week restricted'],
    ['0 0 13 * ?', [2025, 5, 1], '2025-06-13T00:00:00.000Z', 'only day-of-month restricted, ? for the other'],
    ['0 0 ? * fri', [2025, 5, 1], '2025-06-06T00:00:00.000Z', 'only day-of-week restricted, ? for the other'],
  ];

  it.each(dayCases)('%s after %j is %s (%s)', (expression, [y, m, d], expected) => {
    expect(next(expression, Date.UTC(y, m, d))).toBe(expected);
  });

  it('follows Vixie cron: a day field starting with * is no restriction, and both fields must match', () => {
    expect(spec('0 0 */2 * mon').domRestricted).toBe(false);
    // Odd days that are Mondays: 2025-06-02 is an even Monday, 2025-06-09 an odd one.
    expect(next('0 0 */2 * mon', Date.UTC(2025, 5, 1))).toBe('2025-06-09T00:00:00.000Z');
    expect(next('0 0 1 * */2', Date.UTC(2025, 5, 2))).toBe('2025-07-01T00:00:00.000Z');
  });

  it('is a pure function of its inputs', () => {
    const s = spec('7,37 */3 1,15 * mon');
    const afterMs = Date.UTC(2025, 8, 9, 14, 3, 21);
    expect(nextCronMs(s, afterMs)).toBe(nextCronMs(s, afterMs));
    expect(nextCronMs(spec(s.source), afterMs)).toBe(nextCronMs(s, afterMs));
  });
});

describe('nextCronMs agrees with a minute-by-minute search', () => {
  const HORIZON_DAYS = 400;
  const expressions = [
    '* * * * *',
    '*/15 * * * *',
    '5 4 * * *',
    '0 0 1 * *',
    '30 9 * * mon-fri',
    '0 12 13 * 5',
    '0 0 1,15 * 1',
    '*/7 */5 * * *',
    '10-50/20 3-20/4 * * *',
    '0 0 29 2 *',
    '59 23 31 12 *',
    '0 0 31 * *',
    '15 10 ? jan,jul ?',
    '0 6 * * 7',
    '0 0 * * 0,6',
    '0 0 */10 * *',
    '3/20 1/6 2/9 */2 *',
    '0 0 1 jan-mar/2 sat',
    '0 0 8-14 * tue',
    '59 * * feb *',
    '@weekly',
    '@hourly',
    '0 0 30 2 *',
  ];
  const starts = [
    Date.UTC(2024, 0, 1),
    Date.UTC(2024, 1, 28, 23, 59, 30, 500),
    Date.UTC(2025, 11, 31, 23, 59),
    Date.UTC(2027, 5, 15, 12, 0),
    Date.UTC(1969, 11, 31, 23, 30, 15),
    0,
  ];

  for (const expression of expressions) {
    it(expression, () => {
      const s = spec(expression);
      for (const afterMs of starts) {
        const expected = bruteForceNextMs(s, afterMs, HORIZON_DAYS);
        const actual = nextCronMs(s, afterMs);
        const label = `${expression} after ${new Date(afterMs).toISOString()}`;
        if (expected !== null) {
          expect(actual === null ? null : new Date(actual).toISOString(), label).toBe(new Date(expected).toISOString());
        } else if (actual !== null) {
          // Beyond the brute force's horizon but within five years: only check it is later.
          expect(actual, label).toBeGreaterThan(afterMs + HORIZON_DAYS * DAY_MS);
        }
      }
    });
  }
});
