// The client-facing TCP server: frames in, validation, a RequestHandler, frames out.
// Pipelined: every valid request is handed to the handler at once and answered when it settles,
// in whatever order that happens. Flow control is by not reading: a connection with too many
// requests in flight, or whose answers the peer is not draining, is paused.

import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ErrorCode, WireError } from '../errors.js';
import { internalErrorWithRef, RaftqError } from '../errors.js';
import { FRAME_BYTES_MAX, INFLIGHT_PER_CONNECTION_MAX, PAYLOAD_BYTES_MAX_DEFAULT } from '../limits.js';
import type { HostPort } from './address.js';
import { FrameDecoder, FrameError, FrameWriter } from './frame.js';
import type { Response, ValidRequest } from './messages.js';
import type { Validation } from './validate.js';
import { isOp, readRequestHeader, validateRequestBody } from './validate.js';

/** Connections one server accepts; beyond it new sockets are refused by the kernel-facing listener. */
export const CONNECTIONS_MAX_DEFAULT = 10_000;
/** TCP keepalive, so a vanished client holding a long poll is noticed. */
const KEEPALIVE_DELAY_MS = 30_000;

export interface ConnectionInfo {
  /** Unique per server, in accept order. */
  readonly id: number;
  /** "host:port" of the peer, for logs. */
  readonly remoteAddress: string;
  /** Aborted when the connection closes: a long poll may stop waiting, its answer has nowhere to go. */
  readonly signal: AbortSignal;
}

/**
 * What the node runtime implements. `handle` resolves with the op's result (see OpResults in
 * messages.ts) or rejects: with a RaftqError for an answer the client should see (NO_LEADER with
 * a leader hint, NOT_FOUND, STALE_LEASE, ...); anything else is answered as INTERNAL.
 */
export interface RequestHandler {
  handle(request: ValidRequest, conn: ConnectionInfo): Promise<unknown>;
  /** When this node forwards to a leader it can reach: that leader's id, sent with each success. */
  leaderHint?(): string | null;
}

/** 'OK' for a success, else the error code answered. */
export type RequestOutcome = ErrorCode | 'OK';

export interface ProtocolServerOptions {
  handler: RequestHandler;
  /** Largest encoded job payload accepted (default PAYLOAD_BYTES_MAX_DEFAULT). */
  payloadBytesMax?: number;
  inflightPerConnectionMax?: number;
  frameBytesMax?: number;
  connectionsMax?: number;
  /** A connection was closed for a protocol violation (malformed frame or request header). */
  onConnectionError?: (reason: string, remoteAddress: string) => void;
  /**
   * Every answered request. `op` is 'unknown' for ops outside the protocol (bounded label set).
   * An INTERNAL answer (a bug on our side) comes with what was thrown and the `ref` its message
   * quoted to the client, so the client's error and the node's log line can be matched.
   */
  onRequest?: (op: string, outcome: RequestOutcome, durationMs: number, internal?: InternalFailure) => void;
}

/** What an INTERNAL answer hides from the client: the thrown value, under a reference it was told. */
export interface InternalFailure {
  /** `c<connection>.<request id>`: unique in this process, quoted in the answer's message. */
  ref: string;
  error: unknown;
}

export class ProtocolServer {
  private readonly options: Required<Omit<ProtocolServerOptions, 'onConnectionError' | 'onRequest'>> & ProtocolServerOptions;
  private readonly server: net.Server;
  private readonly connections = new Set<ServerConnection>();
  private nextConnectionId = 1;
  private closing: Promise<void> | null = null;

  constructor(options: ProtocolServerOptions) {
    this.options = {
      payloadBytesMax: PAYLOAD_BYTES_MAX_DEFAULT,
      inflightPerConnectionMax: INFLIGHT_PER_CONNECTION_MAX,
      frameBytesMax: FRAME_BYTES_MAX,
      connectionsMax: CONNECTIONS_MAX_DEFAULT,
      ...options,
    };
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.maxConnections = this.options.connectionsMax;
  }

  /** Starts listening; port 0 picks a free port. Resolves with the bound address. */
  listen(port = 0, host = '127.0.0.1'): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.address!);
      });
    });
  }

  get address(): HostPort | null {
    const bound = this.server.address();
    return bound === null || typeof bound === 'string' ? null : { host: bound.address, port: bound.port };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Stops accepting, drops every connection (their in-flight answers are discarded). */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const connection of this.connections) connection.destroy();
    });
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    const connection = new ServerConnection(socket, this.nextConnectionId++, this.options);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
  }
}

class ServerConnection {
  private readonly socket: net.Socket;
  private readonly options: ProtocolServer['options'];
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private readonly abort = new AbortController();
  private readonly info: ConnectionInfo;
  private inflight = 0;
  private paused = false;

  constructor(socket: net.Socket, id: number, options: ProtocolServer['options']) {
    this.socket = socket;
    this.options = options;
    this.decoder = new FrameDecoder({ frameBytesMax: options.frameBytesMax });
    this.writer = new FrameWriter(socket, { frameBytesMax: options.frameBytesMax });
    this.writer.onDrain = () => this.updateFlow();
    this.info = { id, remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, signal: this.abort.signal };
    socket.setNoDelay(true); // the writer already coalesces; Nagle would only add latency
    socket.setKeepAlive(true, KEEPALIVE_DELAY_MS);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // a reset peer is routine; 'close' follows
    socket.once('close', () => this.abort.abort(new RaftqError('TIMEOUT', 'connection closed')));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let bodies: unknown[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      return this.violation(error.reason);
    }
    for (const body of bodies) {
      const header = readRequestHeader(body);
      if (!header.ok) return this.violation(header.reason);
      if (this.inflight >= this.options.inflightPerConnectionMax) {
        const error = new RaftqError('OVERLOADED', `more than ${this.options.inflightPerConnectionMax} requests in flight on this connection`);
        this.answer(header.id, header.op, performance.now(), { ok: false, error: error.toWire() });
        continue;
      }
      this.dispatch(header.id, header.op, header.body);
    }
    this.updateFlow();
  }

  private dispatch(id: number, op: string, body: Record<string, unknown>): void {
    const startedMs = performance.now();
    let validation: Validation;
    try {
      validation = validateRequestBody(id, op, body, { payloadBytesMax: this.options.payloadBytesMax });
    } catch (error) {
      // A bug in validation must cost one request, not the process.
      return this.answer(id, op, startedMs, this.failure(id, error));
    }
    if (!validation.ok) return this.answer(id, op, startedMs, { ok: false, error: validation.error });
    this.inflight++;
    // Through an async function so a handler that throws synchronously is caught like a rejection.
    const run = async (): Promise<unknown> => this.options.handler.handle(validation.request, this.info);
    run().then(
      (result) => this.settle(id, op, startedMs, { ok: true, result }),
      (error: unknown) => this.settle(id, op, startedMs, this.failure(id, error)),
    );
  }

  private settle(id: number, op: string, startedMs: number, outcome: Outcome): void {
    this.inflight--;
    this.answer(id, op, startedMs, outcome);
    this.updateFlow();
  }

  private answer(id: number, op: string, startedMs: number, outcome: Outcome): void {
    let response: Response;
    if (outcome.ok) {
      const leader = this.options.handler.leaderHint?.() ?? null;
      response = leader === null ? { id, ok: true, result: outcome.result } : { id, ok: true, result: outcome.result, leader };
    } else response = { id, ok: false, error: outcome.error };
    let code: RequestOutcome = outcome.ok ? 'OK' : outcome.error.code;
    let internal = outcome.ok ? undefined : outcome.internal;
    if (!this.socket.destroyed) {
      try {
        this.writer.write(response);
      } catch (error) {
        // An answer that cannot be encoded (too large, unencodable) still owes the client an answer.
        const failed = this.failure(id, new Error(`answer not sent: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
        code = 'INTERNAL';
        internal = failed.internal;
        this.writer.write({ id, ok: false, error: failed.error } satisfies Response);
      }
    }
    this.options.onRequest?.(isOp(op) ? op : 'unknown', code, performance.now() - startedMs, internal);
  }

  /** The answer for a thrown value: a RaftqError as it is; anything else INTERNAL, with a ref for the logs. */
  private failure(id: number, error: unknown): Outcome & { ok: false } {
    if (error instanceof RaftqError) return { ok: false, error: error.toWire() };
    const ref = `c${this.info.id}.${id}`;
    return { ok: false, error: internalErrorWithRef(error, ref), internal: { ref, error } };
  }

  private updateFlow(): void {
    const shouldPause = this.inflight >= this.options.inflightPerConnectionMax || this.writer.backedUp;
    if (shouldPause === this.paused || this.socket.destroyed) return;
    this.paused = shouldPause;
    if (shouldPause) this.socket.pause();
    else this.socket.resume();
  }

  private violation(reason: string): void {
    this.options.onConnectionError?.(reason, this.info.remoteAddress);
    this.socket.destroy();
  }
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: WireError; internal?: InternalFailure };
