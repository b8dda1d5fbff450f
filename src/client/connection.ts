// One pipelined connection to one node: request ids, the pending map, per-request timeouts.
// Loss of the connection fails every pending request with a retryable error: the client cannot
// know whether the node applied it, which is exactly the case (clientId, seq) sessions cover.

import net from 'node:net';
import { isErrorCode, RaftqError } from '../errors.js';
import { parseHostPort } from '../protocol/address.js';
import { FrameDecoder, FrameError, FrameWriter } from '../protocol/frame.js';

interface Pending {
  resolve(result: unknown): void;
  reject(error: RaftqError): void;
  timer: NodeJS.Timeout;
}

/** A transport failure: outcome unknown, safe to retry (elsewhere) with the same seq. */
export function connectionError(address: string, what: string): RaftqError {
  return new RaftqError('TIMEOUT', `${address}: ${what}`, { retryable: true });
}

export class Connection {
  readonly address: string;
  private readonly socket: net.Socket;
  private readonly decoder = new FrameDecoder();
  private readonly writer: FrameWriter;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedError: RaftqError | null = null;
  /** Called once, when the connection is gone for any reason. */
  onClose: (() => void) | null = null;
  /** Called with the leader a follower named in an answer (see Response in messages.ts). */
  onLeaderHint: ((leader: string) => void) | null = null;

  private constructor(address: string, socket: net.Socket) {
    this.address = address;
    this.socket = socket;
    this.writer = new FrameWriter(socket);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(connectionError(address, `connection lost (${error.message})`)));
    socket.on('close', () => this.fail(connectionError(address, 'connection lost before an answer')));
    // An idle connection must not keep the process alive; one with requests pending must.
    socket.unref();
  }

  /** Connects within connectTimeoutMs, or rejects with a retryable error. */
  static connect(address: string, connectTimeoutMs: number): Promise<Connection> {
    const target = parseHostPort(address);
    if (target === null) return Promise.reject(new RaftqError('BAD_REQUEST', `node address "${address}" is not host:port`, { field: 'nodes' }));
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(connectionError(address, `connect timed out after ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(connectionError(address, `cannot connect (${error.message})`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Connection(address, socket));
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Sends `{id, ...body}` and resolves with the result, or rejects with a RaftqError. */
  request(body: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      try {
        this.writer.write({ ...body, id });
      } catch (error) {
        // Nothing was sent: too large for a frame, or a value msgpack cannot carry (a symbol, a huge BigInt).
        if (error instanceof FrameError) reject(new RaftqError('PAYLOAD_TOO_LARGE', `request not sent: ${error.reason}`));
        else reject(new RaftqError('BAD_REQUEST', `request not sent: ${error instanceof Error ? error.message : String(error)}`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.updateRef();
        reject(new RaftqError('TIMEOUT', `${this.address}: no answer within ${timeoutMs} ms`, { retryable: true }));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.updateRef();
    });
  }

  close(): void {
    this.fail(connectionError(this.address, 'connection closed by the client'));
  }

  private onData(chunk: Buffer): void {
    let bodies: unknown[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (error) {
      this.fail(connectionError(this.address, `protocol error: ${error instanceof Error ? error.message : String(error)}`));
      return;
    }
    for (const body of bodies) {
      if (!this.onResponse(body)) {
        this.fail(connectionError(this.address, 'protocol error: malformed response'));
        return;
      }
    }
    this.updateRef();
  }

  /** Settles the request a response answers; false when the response is malformed. */
  private onResponse(body: unknown): boolean {
    if (typeof body !== 'object' || body === null) return false;
    const { id, ok, result, error, leader } = body as Record<string, unknown>;
    if (typeof id !== 'number' || typeof ok !== 'boolean') return false;
    if (typeof leader === 'string') this.onLeaderHint?.(leader);
    const pending = this.pending.get(id);
    if (pending === undefined) return true; // answered after its timeout: nobody waits for it
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (ok) pending.resolve(result);
    else pending.reject(toRaftqError(error));
    return true;
  }

  private fail(error: RaftqError): void {
    if (this.closedError !== null) return;
    this.closedError = error;
    this.socket.destroy();
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
    this.onClose?.();
  }

  private updateRef(): void {
    if (this.pending.size > 0) this.socket.ref();
    else this.socket.unref();
  }
}

function toRaftqError(error: unknown): RaftqError {
  if (typeof error !== 'object' || error === null) return new RaftqError('INTERNAL', 'error answer without details');
  const { code, message, retryable, leader, field } = error as Record<string, unknown>;
  if (!isErrorCode(code)) return new RaftqError('INTERNAL', `unknown error code ${String(code)}: ${String(message)}`);
  return RaftqError.fromWire({
    code,
    message: typeof message === 'string' ? message : code,
    retryable: typeof retryable === 'boolean' ? retryable : false,
    leader: typeof leader === 'string' ? leader : null,
    field: typeof field === 'string' ? field : undefined,
  });
}
