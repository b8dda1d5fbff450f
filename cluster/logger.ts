// Structured logs: one JSON object per line (pino), every line tagged with the node id and, once
// Raft runs, its current term and role, so a grep over three nodes' logs tells one story.

import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface RaftView {
  term: number;
  role: string;
}

export function createNodeLogger(nodeId: string, level: LogLevel, raftView: () => RaftView | null, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { node: nodeId },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => raftView() ?? {},
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

export function parseLogLevel(text: string | undefined): LogLevel {
  const level = (text ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new Error(`--log-level: one of ${LOG_LEVELS.join(', ')}, got "${text}"`);
  }
  return level as LogLevel;
}

const LEVEL_COLOR: Record<string, string> = { fatal: '\x1b[35m', error: '\x1b[31m', warn: '\x1b[33m', info: '\x1b[32m', debug: '\x1b[36m', trace: '\x1b[90m' };
const RESET = '\x1b[0m';
const SKIP_FIELDS = new Set(['level', 'time', 'node', 'msg', 'pid', 'hostname']);

/** One JSON log line → one readable line (used by `raftq dev`, which runs the nodes as children). */
export function prettyLogLine(line: string, color: boolean): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : '';
  const level = String(rec.level ?? 'info');
  const levelText = level.toUpperCase().padEnd(5);
  const extras = Object.entries(rec)
    .filter(([k]) => !SKIP_FIELDS.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const lvl = color ? `${LEVEL_COLOR[level] ?? ''}${levelText}${RESET}` : levelText;
  return `${time} ${String(rec.node ?? '?').padEnd(3)} ${lvl} ${String(rec.msg ?? '')}${extras ? `  ${extras}` : ''}`;
}
