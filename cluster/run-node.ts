// `raftq node`: one broker node in this process, until SIGTERM/SIGINT.

import type { Logger } from 'pino';
import { createNodeLogger, parseLogLevel } from './logger.js';
import { startNode, type NodeExtensions, type RunningNode } from './node.js';
import { resolveNodeConfig, type NodeFlags, NODE_ENV } from './node-config.js';

/** Hook for faces that live in src/ (HTTP API, metrics, dashboard); set by main.ts. */
export type ExtensionFactory = (logger: Logger) => NodeExtensions;

export async function runNode(flags: NodeFlags & { logLevel?: string }, extensions: ExtensionFactory): Promise<void> {
  const config = resolveNodeConfig(flags);
  let running: RunningNode | null = null;
  const logger = createNodeLogger(config.id, parseLogLevel(flags.logLevel ?? process.env[NODE_ENV.logLevel]), () => {
    if (!running) return null;
    const st = running.broker.soft;
    return { term: st.term, role: st.role };
  });
  try {
    running = await startNode(config, logger, extensions(logger));
  } catch (error) {
    logger.fatal({ err: error }, `node failed to start: ${(error as Error).message}`);
    logger.flush();
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
    return;
  }
  // A broken invariant (raft/assert.ts) or any other bug: log it as fatal and exit non-zero rather
  // than serve from a state we no longer trust. A supervisor (compose, systemd) restarts the node.
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, `fatal: ${error.message}`);
    logger.flush();
    process.exit(70);
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping node');
    const node = running!;
    node.close().then(
      () => {
        logger.info('node stopped');
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
