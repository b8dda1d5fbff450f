// Test fixtures for the fault-injection proxy: an echo upstream, a client socket that records
// what it receives, and a cleanup list run in afterEach so no server or socket outlives its test.

import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { Toxiproxy } from 'toxiproxy-node-client';
import { startToxiproxyServer, type ToxiproxyServer, type ToxiproxyServerOptions } from '../../jepsen-lite/toxiproxy/server.js';

/** Close functions run in reverse order of registration; every one runs even if another fails. */
export class Cleanup {
  private readonly tasks: Array<() => Promise<void> | void> = [];

  defer(task: () => Promise<void> | void): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (const task of this.tasks.splice(0).reverse()) {
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}

export interface Harness {
  readonly server: ToxiproxyServer;
  readonly toxiproxy: Toxiproxy;
}

/** A proxy server on a free port, with a client for it. The seed keeps toxicity draws reproducible. */
export async function startHarness(cleanup: Cleanup, options: ToxiproxyServerOptions = {}): Promise<Harness> {
  const server = await startToxiproxyServer({ host: '127.0.0.1', port: 0, seed: 1, ...options });
  cleanup.defer(() => server.close());
  return { server, toxiproxy: new Toxiproxy(server.url) };
}

/** An upstream that echoes every byte back, and counts what it received. */
export class EchoServer extends EventEmitter {
  receivedBytes = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {
    super();
  }

  static async start(cleanup: Cleanup): Promise<EchoServer> {
    const server = net.createServer();
    const echo = new EchoServer(server);
    server.on('connection', (socket) => echo.accept(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.defer(() => echo.close());
    return echo;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Resolves once the echo server has received `totalBytes` bytes over all its connections. */
  async waitForReceived(totalBytes: number): Promise<void> {
    while (this.receivedBytes < totalBytes) await once(this, 'received');
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {}); // proxied peers are reset on purpose in some tests
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      this.receivedBytes += chunk.length;
      this.emit('received');
    });
    socket.pipe(socket);
  }
}

export interface CloseResult {
  /** Set when the socket closed with an error, e.g. ECONNRESET. */
  readonly error: NodeJS.ErrnoException | undefined;
  readonly receivedBytes: number;
}

/** A client socket that keeps everything it receives, so a test can await bytes or the close. */
export class TestClient {
  readonly closed: Promise<CloseResult>;
  private received: Buffer[] = [];
  private bufferedBytes = 0;
  private totalReceivedBytes = 0;
  private error: NodeJS.ErrnoException | undefined;
  private isClosed = false;
  private readonly events = new EventEmitter();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      this.bufferedBytes += chunk.length;
      this.totalReceivedBytes += chunk.length;
      this.events.emit('change');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error = error;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        this.events.emit('change');
        resolve({ error: this.error, receivedBytes: this.totalReceivedBytes });
      });
    });
  }

  static async connect(cleanup: Cleanup, port: number, host = '127.0.0.1'): Promise<TestClient> {
    const socket = net.connect({ host, port });
    cleanup.defer(() => {
      socket.destroy();
    });
    const client = new TestClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return client;
  }

  /** The connect error expected from a port nobody listens on. */
  static async connectError(port: number): Promise<NodeJS.ErrnoException> {
    const socket = net.connect({ host: '127.0.0.1', port });
    try {
      const [error] = (await Promise.race([once(socket, 'error'), once(socket, 'connect')])) as [NodeJS.ErrnoException | undefined];
      if (error === undefined) throw new Error(`expected connecting to port ${port} to fail, but it connected`);
      return error;
    } finally {
      socket.destroy();
    }
  }

  get receivedBytes(): number {
    return this.totalReceivedBytes;
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** The next `byteCount` bytes; rejects if the connection closes first. */
  async read(byteCount: number): Promise<Buffer> {
    while (this.bufferedBytes < byteCount) {
      if (this.isClosed) {
        throw new Error(`connection closed after ${this.bufferedBytes} of ${byteCount} awaited bytes (error: ${this.error?.code ?? 'none'})`);
      }
      await once(this.events, 'change');
    }
    const all = Buffer.concat(this.received);
    this.received = [all.subarray(byteCount)];
    this.bufferedBytes -= byteCount;
    return all.subarray(0, byteCount);
  }

  /** Everything received and not yet read, once the connection has closed. */
  async readUntilClose(): Promise<{ data: Buffer; result: CloseResult }> {
    const result = await this.closed;
    const data = Buffer.concat(this.received);
    this.received = [];
    this.bufferedBytes = 0;
    return { data, result };
  }
}

/** A round trip through an echo: write `text`, read it back. */
export async function echoRoundTrip(client: TestClient, text: string): Promise<string> {
  client.write(text);
  return (await client.read(Buffer.byteLength(text))).toString('utf8');
}

/** Deterministic bytes for payload tests (a linear congruential sequence; any seed reproduces). */
export function patternBytes(byteCount: number, seed: number): Buffer {
  const bytes = Buffer.alloc(byteCount);
  let state = seed >>> 0;
  for (let index = 0; index < byteCount; index += 1) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

/** A random source that replays `values` in a loop: a test decides each toxicity draw. */
export function scriptedRandom(values: readonly number[]): () => number {
  let index = 0;
  return () => {
    const value = values[index % values.length]!;
    index += 1;
    return value;
  };
}

/** Raw HTTP against the API, for status codes and bodies the client library hides. */
export async function api(
  server: ToxiproxyServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; text: string }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const response = await fetch(`${server.url}${path}`, init);
  const text = await response.text();
  let json: unknown;
  try {
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}
