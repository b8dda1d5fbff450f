#!/usr/bin/env node
// Runs the proxy server standalone: `node dist/jepsen-lite/toxiproxy/cli.js --port 8474`.
// Prints the API URL as its first line of stdout (a harness reads it to learn a port-0 address)
// and logs JSON to stderr. SIGINT or SIGTERM stops every proxy and exits 0.

import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { startToxiproxyServer, TOXIPROXY_HOST_DEFAULT, TOXIPROXY_PORT_DEFAULT } from './server.js';

const USAGE = `usage: toxiproxy [--host ${TOXIPROXY_HOST_DEFAULT}] [--port ${TOXIPROXY_PORT_DEFAULT}] [--seed N] [--log-level info]

A Toxiproxy-compatible fault-injection proxy (HTTP API on --host:--port, 0 = any free port).`;

interface CliOptions {
  readonly host: string;
  readonly port: number;
  readonly seed: number | undefined;
  readonly logLevel: string;
}

function parseCli(argv: readonly string[]): CliOptions | string {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        host: { type: 'string', default: TOXIPROXY_HOST_DEFAULT },
        port: { type: 'string', default: String(TOXIPROXY_PORT_DEFAULT) },
        seed: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (parsed.help) return '';
  const port = Number(parsed.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) return `--port must be an integer in 0..65535, got ${parsed.port}`;
  const seed = parsed.seed === undefined ? undefined : Number(parsed.seed);
  if (seed !== undefined && !Number.isInteger(seed)) return `--seed must be an integer, got ${parsed.seed}`;
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(parsed['log-level'])) return `--log-level must be one of ${levels.join(', ')}`;
  return { host: parsed.host, port, seed, logLevel: parsed['log-level'] };
}

async function main(): Promise<void> {
  const options = parseCli(process.argv.slice(2));
  if (typeof options === 'string') {
    process.stderr.write(options === '' ? `${USAGE}\n` : `${options}\n\n${USAGE}\n`);
    process.exitCode = options === '' ? 0 : 2;
    return;
  }
  // Synchronous, so the lines written just before process.exit are not lost.
  const logger = pino({ level: options.logLevel }, pino.destination({ fd: 2, sync: true }));
  const server = await startToxiproxyServer({
    host: options.host,
    port: options.port,
    logger,
    ...(options.seed !== undefined && { seed: options.seed }),
  });
  process.stdout.write(`${server.url}\n`);
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'stopping');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`toxiproxy: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
