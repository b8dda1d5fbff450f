// Standard 5-field cron expressions, evaluated in UTC, for repeatable jobs. Every replica must compute
// the same next run from the same inputs, so this is written by hand (no library whose behaviour could
// change between versions), never reads the clock, and never depends on the process's time zone.

/** A parsed expression: the allowed values of each field. */
export interface CronSpec {
  readonly source: string; // the expression as given, trimmed, inner whitespace collapsed to one space
  readonly minutes: readonly number[]; // sorted, unique, 0..59
  readonly hours: readonly number[]; // 0..23
  readonly daysOfMonth: readonly number[]; // 1..31
  readonly months: readonly number[]; // 1..12
  readonly daysOfWeek: readonly number[]; // 0..6, Sunday 0 (7 in input also means Sunday)
  readonly domRestricted: boolean; // day-of-month field did not start with '*' (and was not '?')
  readonly dowRestricted: boolean; // day-of-week field did not start with '*' (and was not '?')
}

/** Bounds the parsing work a single (possibly hostile) command can cause. */
export const CRON_EXPRESSION_LENGTH_MAX = 256;

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const MINUTES_PER_HOUR = 60;
/** How far ahead nextCronMs looks: an expression with no time in it never fires. */
export const CRON_SEARCH_YEARS = 5;
/** Those years in days, plus the (partly past) day of afterMs itself. */
const SEARCH_DAYS = CRON_SEARCH_YEARS * 366 + 1;

interface Field {
  readonly name: string;
  readonly min: number;
  /** The largest value accepted in input. */
  readonly max: number;
  /** The upper end of '*' and 'a/n': below `max` only for day-of-week, whose 7 is just another Sunday. */
  readonly starMax: number;
  /** Names in value order, the first meaning `min`. */
  readonly names?: readonly string[];
  /** Quartz-style '?' ("no specific value") means '*' in the two day fields only. */
  readonly questionMark?: boolean;
}

const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const WEEKDAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const FIELDS: readonly Field[] = [
  { name: 'minute', min: 0, max: 59, starMax: 59 },
  { name: 'hour', min: 0, max: 23, starMax: 23 },
  { name: 'day-of-month', min: 1, max: 31, starMax: 31, questionMark: true },
  { name: 'month', min: 1, max: 12, starMax: 12, names: MONTH_NAMES },
  { name: 'day-of-week', min: 0, max: 7, starMax: 6, names: WEEKDAY_NAMES, questionMark: true },
];

// A Map, not an object literal, so no inherited property can ever pass for a macro.
const MACROS = new Map([
  ['@yearly', '0 0 1 1 *'], ['@annually', '0 0 1 1 *'], ['@monthly', '0 0 1 * *'], ['@weekly', '0 0 * * 0'],
  ['@daily', '0 0 * * *'], ['@midnight', '0 0 * * *'], ['@hourly', '0 * * * *'],
]);

/** The spec, or a string saying what is wrong (a sentence fit for a user-facing error message, e.g. "field 2 (hour): 24 is out of 0..23"). Never throws. */
export function parseCron(expression: string): CronSpec | string {
  if (typeof expression !== 'string') return 'cron expression must be a string';
  if (expression.length > CRON_EXPRESSION_LENGTH_MAX) return `cron expression is longer than ${CRON_EXPRESSION_LENGTH_MAX} characters`;
  // ASCII blanks only: what \s and trim() match follows the engine's Unicode tables, which may
  // differ between the Node versions of two replicas.
  const source = expression.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '').split(/[ \t\r\n]+/).join(' ');
  if (source === '') return 'cron expression is empty';
  const expanded = source.startsWith('@') ? MACROS.get(source.toLowerCase()) : source;
  if (expanded === undefined) return `unknown cron macro "${source}"; expected one of ${[...MACROS.keys()].join(', ')}`;
  const texts = expanded.split(' ');
  if (texts.length !== FIELDS.length) {
    return `cron expression has ${texts.length} field(s), expected 5: minute hour day-of-month month day-of-week`;
  }
  const values: (readonly number[])[] = [];
  for (const [i, field] of FIELDS.entries()) {
    const parsed = parseField(texts[i], field);
    if (typeof parsed === 'string') return `field ${i + 1} (${field.name}): ${parsed}`;
    values.push(Object.freeze(parsed));
  }
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = values;
  // Vixie cron's rule: a day field that starts with '*' (so '*/2' too) is not a restriction.
  const isStar = (text: string): boolean => text.startsWith('*') || text === '?';
  return Object.freeze({
    source, minutes, hours, daysOfMonth, months, daysOfWeek,
    domRestricted: !isStar(texts[2]),
    dowRestricted: !isStar(texts[4]),
  });
}

/** The allowed values, sorted and unique, or what is wrong with the field. */
function parseField(text: string, field: Field): number[] | string {
  const fieldText = text === '?' && field.questionMark ? '*' : text;
  const allowed = new Array<boolean>(field.max + 1).fill(false);
  for (const term of fieldText.split(',')) {
    const error = addTerm(term, field, allowed);
    if (error !== undefined) return error;
  }
  return allowed.flatMap((isAllowed, value) => (isAllowed ? [value] : []));
}

/** Marks the values of one comma-separated term (`*`, `a`, `a-b`, each optionally `/n`) in `allowed`. */
function addTerm(term: string, field: Field, allowed: boolean[]): string | undefined {
  if (term === '?') return `"?" is only allowed as the whole day-of-month or day-of-week field`;
  const [rangeText, stepText, ...extraSteps] = term.split('/');
  if (extraSteps.length > 0) return `"${term}" has more than one step`;
  let step = 1;
  if (stepText !== undefined) {
    if (!/^\d+$/.test(stepText)) return `step "${stepText}" in "${term}" is not a positive integer`;
    step = Number(stepText);
    if (step === 0) return `step 0 in "${term}" must be at least 1`;
  }
  let first = field.min;
  let last = field.starMax;
  if (rangeText !== '*') {
    const [startText, endText, ...extraEnds] = rangeText.split('-');
    if (extraEnds.length > 0) return `"${term}" is not a valid range`;
    const start = parseValue(startText, term, field);
    if (typeof start === 'string') return start;
    const end = endText === undefined ? start : parseValue(endText, term, field);
    if (typeof end === 'string') return end;
    if (start > end) return `range "${rangeText}" starts after it ends`;
    first = start;
    // 'a/n' runs to the top of the field; the Math.max keeps '7/n' (Sunday) from being a backwards range.
    last = endText === undefined && stepText !== undefined ? Math.max(start, field.starMax) : end;
  }
  for (let value = first; value <= last; value += step) {
    // Only day-of-week accepts a value above starMax: 7, another name for Sunday (0).
    allowed[value > field.starMax ? field.min : value] = true;
  }
  return undefined;
}

function parseValue(text: string, term: string, field: Field): number | string {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    return value >= field.min && value <= field.max ? value : `${text} is out of ${field.min}..${field.max}`;
  }
  const nameIndex = field.names?.indexOf(text.toLowerCase()) ?? -1;
  if (nameIndex >= 0) return field.min + nameIndex;
  if (text === '') return `"${term}" is missing a value`;
  return `"${text}" is not a number${field.names ? ` or ${field.name} name` : ''}`;
}

/** The first minute boundary strictly after `afterMs` (epoch ms, UTC) that matches, in epoch ms; null if none within 5 years (e.g. "0 0 30 2 *", Feb 30). */
export function nextCronMs(spec: CronSpec, afterMs: number): number | null {
  if (!Number.isFinite(afterMs)) return null;
  // Math.floor, not truncation, so negative and mid-minute afterMs still give the next whole minute.
  const fromMs = (Math.floor(afterMs / MINUTE_MS) + 1) * MINUTE_MS;
  const firstDay = Math.floor(fromMs / DAY_MS);
  for (let day = firstDay; day < firstDay + SEARCH_DAYS; day++) {
    if (!dayMatches(spec, new Date(day * DAY_MS))) continue;
    const fromMinute = day === firstDay ? (fromMs - day * DAY_MS) / MINUTE_MS : 0;
    const minuteOfDay = firstMinuteOfDay(spec, fromMinute);
    if (minuteOfDay !== null) return day * DAY_MS + minuteOfDay * MINUTE_MS;
  }
  return null;
}

function dayMatches(spec: CronSpec, date: Date): boolean {
  if (!spec.months.includes(date.getUTCMonth() + 1)) return false;
  const domMatches = spec.daysOfMonth.includes(date.getUTCDate());
  const dowMatches = spec.daysOfWeek.includes(date.getUTCDay());
  // Vixie cron: when both day fields are restricted, either one suffices ("the 1st, and every
  // Monday"); otherwise both must match ('*/2 * mon': odd days that are Mondays).
  if (spec.domRestricted && spec.dowRestricted) return domMatches || dowMatches;
  return domMatches && dowMatches;
}

/** The first matching minute of the day (0..1439) at or after `fromMinute`, or null. */
function firstMinuteOfDay(spec: CronSpec, fromMinute: number): number | null {
  const fromHour = Math.floor(fromMinute / MINUTES_PER_HOUR);
  for (const hour of spec.hours) {
    if (hour < fromHour) continue;
    const minMinute = hour === fromHour ? fromMinute % MINUTES_PER_HOUR : 0;
    const minute = spec.minutes.find((m) => m >= minMinute);
    if (minute !== undefined) return hour * MINUTES_PER_HOUR + minute;
  }
  return null;
}
