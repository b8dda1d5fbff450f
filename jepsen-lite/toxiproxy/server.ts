// The HTTP API, compatible with Toxiproxy 2.12's: routes, body limits, JSON in and out, errors as
// `{"error": "...", "status": N}`. No request can crash the server: every handler's failure ends
// as a JSON error on that one request.

import { randomInt as cryptoRandomInt } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ApiError, badRequest } from './api-error.js';
import { formatHostPort } from './address.js';
import { HTTP_BODY_BYTES_MAX, HTTP_REQUEST_MS_MAX } from './limits.js';
import { silentLogger, type ToxiproxyLogger } from './logger.js';
import { createSeededRandom, type RandomSource } from './random.js';
import { ProxyRegistry } from './registry.js';

/** The Toxiproxy release whose API we follow; clients use it to choose PATCH over POST (>= 2.6) and JSON /version (>= 2.7). */
export const TOXIPROXY_API_VERSION = '2.12.0';
export const TOXIPROXY_PORT_DEFAULT = 8474;
export const TOXIPROXY_HOST_DEFAULT = '127.0.0.1';

export interface ToxiproxyServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8474; 0 picks a free port (tests). */
  readonly port?: number;
  /** Seeds toxicity draws, jitter and slicing. Ignored when `random` is given; default: a random seed. */
  readonly seed?: number;
  /** Replaces the seeded generator, e.g. with a scripted sequence in a test. */
  readonly random?: RandomSource;
  /** Monotonic clock in ms for toxic timing; default performance.now. */
  readonly nowMs?: () => number;
  readonly logger?: ToxiproxyLogger;
}

export interface ToxiproxyServer {
  /** e.g. "http://127.0.0.1:8474" */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The seed in use (undefined when a `random` function was passed). */
  readonly seed: number | undefined;
  /** Stops every proxy, drops their connections, and closes the API. */
  close(): Promise<void>;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Params = Readonly<Record<string, string>>;

interface Reply {
  readonly status: 200 | 201 | 204;
  readonly body?: unknown;
}

interface Request {
  readonly params: Params;
  /** The body parsed as JSON; a 400 when it is empty or not JSON. */
  json(): Promise<unknown>;
}

type Handler = (request: Request) => Promise<Reply> | Reply;

interface Route {
  /** Literal segments, or ":name" for a parameter. */
  readonly pattern: readonly string[];
  readonly handlers: Partial<Record<Method, Handler>>;
}

function routesFor(registry: ProxyRegistry): readonly Route[] {
  const ok = (body: unknown): Reply => ({ status: 200, body });
  const noContent: Reply = { status: 204 };
  const updateProxy: Handler = async ({ params, json }) => ok(await registry.update(params.proxy!, await json()));
  const updateToxic: Handler = async ({ params, json }) =>
    ok(await registry.updateToxic(params.proxy!, params.toxic!, await json()));
  return [
    { pattern: ['version'], handlers: { GET: () => ok({ version: TOXIPROXY_API_VERSION, implementation: 'raftq' }) } },
    { pattern: ['reset'], handlers: { POST: async () => (await registry.reset(), noContent) } },
    {
      pattern: ['proxies'],
      handlers: {
        GET: () => ok(registry.list()),
        POST: async ({ json }) => ({ status: 201, body: await registry.create(await json()) }),
      },
    },
    { pattern: ['populate'], handlers: { POST: async ({ json }) => ({ status: 201, body: await registry.populate(await json()) }) } },
    {
      pattern: ['proxies', ':proxy'],
      handlers: {
        GET: ({ params }) => ok(registry.show(params.proxy!)),
        POST: updateProxy, // Toxiproxy before 2.6 updates by POST only; clients still do
        PATCH: updateProxy,
        DELETE: async ({ params }) => (await registry.remove(params.proxy!), noContent),
      },
    },
    {
      pattern: ['proxies', ':proxy', 'toxics'],
      handlers: {
        GET: ({ params }) => ok(registry.listToxics(params.proxy!)),
        // 200, not 201: that is what Toxiproxy answers and what clients check.
        POST: async ({ params, json }) => ok(await registry.createToxic(params.proxy!, await json())),
      },
    },
    {
      pattern: ['proxies', ':proxy', 'toxics', ':toxic'],
      handlers: {
        GET: ({ params }) => ok(registry.showToxic(params.proxy!, params.toxic!)),
        POST: updateToxic,
        PATCH: updateToxic,
        DELETE: async ({ params }) => (await registry.removeToxic(params.proxy!, params.toxic!), noContent),
      },
    },
  ];
}

export async function startToxiproxyServer(options: ToxiproxyServerOptions = {}): Promise<ToxiproxyServer> {
  const host = options.host ?? TOXIPROXY_HOST_DEFAULT;
  const seed = options.random === undefined ? (options.seed ?? cryptoRandomInt(0, 2 ** 31)) : undefined;
  const random = options.random ?? createSeededRandom(seed!);
  const logger = options.logger ?? silentLogger;
  const registry = new ProxyRegistry({ random, nowMs: options.nowMs ?? (() => performance.now()), logger });
  const routes = routesFor(registry);

  const server = http.createServer({ requestTimeout: HTTP_REQUEST_MS_MAX }, (request, response) => {
    handle(routes, request, response).catch((error: unknown) => {
      // handle() answers every failure itself; reaching here means the answer could not be written.
      logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'could not answer an API request');
      response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? TOXIPROXY_PORT_DEFAULT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.warn({ err: error.message }, 'API server error'));
  const address = server.address() as AddressInfo;
  const url = `http://${formatHostPort({ host: address.address, port: address.port })}`;
  logger.info({ url, seed }, 'toxiproxy API listening');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const apiClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await registry.closeAll();
      server.closeAllConnections();
      await apiClosed;
    })();
    return closing;
  };
  return { url, host: address.address, port: address.port, seed, close };
}

async function handle(routes: readonly Route[], request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    // Toxiproxy refuses browsers, so that a web page cannot drive a developer's proxies with cross-site requests.
    if ((request.headers['user-agent'] ?? '').startsWith('Mozilla/')) throw new ApiError(403, 'user agent not allowed');
    const { route, params } = matchRoute(routes, request.url ?? '/');
    const method = (request.method ?? 'GET') as Method;
    const handler = route.handlers[method];
    if (handler === undefined) {
      response.setHeader('Allow', Object.keys(route.handlers).join(', '));
      throw new ApiError(405, `method ${request.method ?? ''} not allowed here`);
    }
    const reply = await handler({ params, json: () => readJson(request) });
    send(response, reply.status, reply.body);
  } catch (error) {
    const apiError = error instanceof ApiError ? error : new ApiError(500, `internal error: ${error instanceof Error ? error.message : String(error)}`);
    send(response, apiError.status, apiError.toJson());
  }
}

function matchRoute(routes: readonly Route[], rawUrl: string): { route: Route; params: Params } {
  const pathname = rawUrl.split('?', 1)[0]!;
  const segments = pathname.split('/').slice(1);
  for (const route of routes) {
    if (route.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const matches = route.pattern.every((part, index) => {
      const segment = segments[index]!;
      if (!part.startsWith(':')) return part === segment;
      if (segment.length === 0) return false;
      params[part.slice(1)] = decodeSegment(segment);
      return true;
    });
    if (matches) return { route, params };
  }
  throw new ApiError(404, `no such endpoint: ${pathname}`);
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`bad percent-encoding in path segment ${JSON.stringify(segment)}`);
  }
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const text = (await readBody(request)).toString('utf8');
  if (text.trim().length === 0) throw badRequest('bad request body: empty, expected JSON');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest(`bad request body: ${error instanceof Error ? error.message : 'not JSON'}`);
  }
}

/**
 * Reads the body, keeping at most HTTP_BODY_BYTES_MAX bytes. A larger body is still read to its
 * end (and dropped) before the 413, so the client sees a clean answer rather than a broken pipe;
 * the request timeout bounds how long that may take.
 */
function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let totalBytes = 0;
    request.on('data', (chunk: Buffer) => {
      totalBytes += chunk.length;
      if (totalBytes <= HTTP_BODY_BYTES_MAX) chunks.push(chunk);
    });
    request.on('end', () => {
      if (totalBytes > HTTP_BODY_BYTES_MAX) reject(new ApiError(413, `request body larger than ${HTTP_BODY_BYTES_MAX} bytes`));
      else resolve(Buffer.concat(chunks));
    });
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  if (status === 204 || body === undefined) {
    response.writeHead(status).end();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
}
