// The toxic model: types, their attributes with units and bounds, defaults, and validation of the
// JSON the API receives. Pure: no sockets, no timers (their behaviour on a link is in stages.ts).

import { badRequest, type ApiError } from './api-error.js';
import {
  BANDWIDTH_KBPS_MAX,
  LIMIT_DATA_BYTES_MAX,
  NAME_LENGTH_MAX,
  SLICER_SIZE_BYTES_MAX,
  TOXIC_TIME_MS_MAX,
  TOXIC_TIME_US_MAX,
} from './limits.js';

export const TOXIC_STREAMS = ['upstream', 'downstream'] as const;
/** `upstream` is client → server, `downstream` server → client (Toxiproxy's words). */
export type ToxicStream = (typeof TOXIC_STREAMS)[number];

interface AttributeRule {
  readonly min: number;
  readonly max: number;
  /** Toxiproxy defaults a missing attribute to 0; a rule whose 0 is meaningless requires it. */
  readonly required?: true;
  readonly unit: string;
}

const timeMs: AttributeRule = { min: 0, max: TOXIC_TIME_MS_MAX, unit: 'ms' };

/**
 * Attribute names are Toxiproxy's (they are the wire format); every one is a non-negative
 * integer in the unit given. The record's key order is the order we print attributes in.
 */
const ATTRIBUTE_RULES = {
  latency: { latency: timeMs, jitter: timeMs },
  bandwidth: { rate: { min: 0, max: BANDWIDTH_KBPS_MAX, unit: 'KB/s' } },
  slow_close: { delay: timeMs },
  timeout: { timeout: timeMs },
  reset_peer: { timeout: timeMs },
  slicer: {
    average_size: { min: 1, max: SLICER_SIZE_BYTES_MAX, required: true, unit: 'bytes' },
    size_variation: { min: 0, max: SLICER_SIZE_BYTES_MAX, unit: 'bytes' },
    delay: { min: 0, max: TOXIC_TIME_US_MAX, unit: 'µs' },
  },
  limit_data: { bytes: { min: 0, max: LIMIT_DATA_BYTES_MAX, unit: 'bytes' } },
} as const satisfies Record<string, Record<string, AttributeRule>>;

export type ToxicType = keyof typeof ATTRIBUTE_RULES;
export const TOXIC_TYPES = Object.keys(ATTRIBUTE_RULES) as readonly ToxicType[];

/** The attributes of one toxic type, e.g. `{ latency: number; jitter: number }` for latency. */
export type AttributesOf<T extends ToxicType> = { readonly [K in keyof (typeof ATTRIBUTE_RULES)[T]]: number };

/** A toxic's type with its attributes, discriminated on `type`. */
export type ToxicConfig = { [T in ToxicType]: { readonly type: T; readonly attributes: AttributesOf<T> } }[ToxicType];

/** One toxic as the proxy holds it. Immutable: an update makes a new one with the same name. */
export type ToxicSpec = ToxicConfig & {
  readonly name: string;
  readonly stream: ToxicStream;
  /** Probability in [0, 1] that the toxic acts on a given connection, drawn when it meets the connection. */
  readonly toxicity: number;
};

/** The API's JSON for a toxic. */
export interface ToxicJson {
  readonly name: string;
  readonly type: ToxicType;
  readonly stream: ToxicStream;
  readonly toxicity: number;
  readonly attributes: Readonly<Record<string, number>>;
}

/** Names of proxies and toxics travel in URL paths, so no slash, no whitespace, no control characters. */
export const NAME_PATTERN = /^[^/\s\p{Cc}]+$/u;

export function checkName(value: unknown, what: string): string | ApiError {
  if (typeof value !== 'string' || value.length === 0) return badRequest(`missing required field: ${what} (a non-empty string)`);
  if (value.length > NAME_LENGTH_MAX) return badRequest(`${what} is longer than ${NAME_LENGTH_MAX} characters`);
  if (!NAME_PATTERN.test(value)) return badRequest(`${what} ${JSON.stringify(value)} may not contain '/', whitespace or control characters`);
  return value;
}

export function toxicToJson(spec: ToxicSpec): ToxicJson {
  return { name: spec.name, type: spec.type, stream: spec.stream, toxicity: spec.toxicity, attributes: { ...spec.attributes } };
}

const CREATE_FIELDS = new Set(['name', 'type', 'stream', 'toxicity', 'attributes']);

/** Validates a POST /proxies/{p}/toxics body. Defaults as Toxiproxy: downstream, toxicity 1, name `<type>_<stream>`. */
export function parseToxicCreate(body: unknown): ToxicSpec | ApiError {
  if (!isPlainObject(body)) return badRequest('bad request body: a toxic must be a JSON object');
  const unknownField = Object.keys(body).find((key) => !CREATE_FIELDS.has(key));
  if (unknownField !== undefined) return badRequest(`unknown toxic field: ${unknownField}`);

  const type = body.type;
  if (typeof type !== 'string' || !isToxicType(type)) {
    return badRequest(`invalid toxic type: ${JSON.stringify(type)} (one of ${TOXIC_TYPES.join(', ')})`);
  }
  const stream = body.stream ?? 'downstream';
  if (stream !== 'upstream' && stream !== 'downstream') {
    return badRequest('stream was invalid, can be either upstream or downstream');
  }
  const toxicity = parseToxicity(body.toxicity ?? 1);
  if (typeof toxicity !== 'number') return toxicity;
  // An empty name means "the default" to Toxiproxy as well.
  const name = checkName(body.name === undefined || body.name === '' ? `${type}_${stream}` : body.name, 'toxic name');
  if (typeof name !== 'string') return name;
  const config = parseAttributes(type, body.attributes ?? {}, null);
  if (!('type' in config)) return config;
  return { ...config, name, stream, toxicity };
}

/**
 * Validates a POST/PATCH /proxies/{p}/toxics/{t} body against the existing toxic. Attributes given
 * replace those of the same name and the others stay (Toxiproxy decodes into the old value).
 * Name, type and stream identify the toxic: they may be repeated but not changed.
 */
export function parseToxicUpdate(existing: ToxicSpec, body: unknown): ToxicSpec | ApiError {
  if (!isPlainObject(body)) return badRequest('bad request body: a toxic update must be a JSON object');
  const unknownField = Object.keys(body).find((key) => !CREATE_FIELDS.has(key));
  if (unknownField !== undefined) return badRequest(`unknown toxic field: ${unknownField}`);
  for (const field of ['name', 'type', 'stream'] as const) {
    if (body[field] !== undefined && body[field] !== existing[field]) {
      return badRequest(`a toxic's ${field} cannot change (${JSON.stringify(existing[field])}); delete it and add a new one`);
    }
  }
  const toxicity = parseToxicity(body.toxicity ?? existing.toxicity);
  if (typeof toxicity !== 'number') return toxicity;
  const config = parseAttributes(existing.type, body.attributes ?? {}, existing.attributes);
  if (!('type' in config)) return config;
  return { ...config, name: existing.name, stream: existing.stream, toxicity };
}

function parseToxicity(value: unknown): number | ApiError {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    return badRequest(`toxicity must be a number in 0..1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function parseAttributes(
  type: ToxicType,
  raw: unknown,
  previous: Readonly<Record<string, number>> | null,
): ToxicConfig | ApiError {
  if (!isPlainObject(raw)) return badRequest(`attributes of a ${type} toxic must be a JSON object`);
  const rules: Readonly<Record<string, AttributeRule>> = ATTRIBUTE_RULES[type];
  const unknownKey = Object.keys(raw).find((key) => !Object.hasOwn(rules, key));
  if (unknownKey !== undefined) {
    return badRequest(`unknown attribute ${JSON.stringify(unknownKey)} for a ${type} toxic (known: ${Object.keys(rules).join(', ')})`);
  }
  const attributes: Record<string, number> = {};
  for (const [key, rule] of Object.entries(rules)) {
    const value = raw[key] ?? previous?.[key] ?? (rule.required ? undefined : 0);
    if (value === undefined) return badRequest(`missing required attribute ${key} (${rule.unit}) for a ${type} toxic`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
      return badRequest(`attribute ${key} of a ${type} toxic must be an integer in ${rule.min}..${rule.max} ${rule.unit}, got ${JSON.stringify(value)}`);
    }
    attributes[key] = value;
  }
  const crossFieldError = checkCrossField(type, attributes);
  if (crossFieldError !== null) return crossFieldError;
  // Each rule above checked one key of AttributesOf<type>, so the record has exactly that shape.
  return { type, attributes } as ToxicConfig;
}

function checkCrossField(type: ToxicType, attributes: Readonly<Record<string, number>>): ApiError | null {
  // Slicing a chunk in two moves the midpoint by up to size_variation; at or above average_size
  // it could leave the chunk, which is how Toxiproxy's slicer recurses forever.
  if (type === 'slicer' && (attributes.size_variation ?? 0) >= (attributes.average_size ?? 0)) {
    return badRequest('attribute size_variation of a slicer toxic must be smaller than average_size');
  }
  return null;
}

function isToxicType(value: string): value is ToxicType {
  return Object.hasOwn(ATTRIBUTE_RULES, value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
