// A bare protocol client for tests: raw frames in and out, responses in arrival order.

import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../src/protocol/frame.js';
import type { Response } from '../../src/protocol/messages.js';

export class WireClient {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private readonly received: Response[] = [];
  private waiter: (() => void) | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const body of this.decoder.push(chunk)) this.received.push(body as Response);
      this.waiter?.();
    });
    socket.on('close', () => this.waiter?.());
  }

  static connect(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new WireClient(socket)));
      socket.once('error', reject);
    });
  }

  send(...bodies: Record<string, unknown>[]): void {
    this.socket.write(Buffer.concat(bodies.flatMap((body) => encodeFrame(body))));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next `count` responses, in arrival order. */
  async take(count: number): Promise<Response[]> {
    while (this.received.length < count) {
      if (this.socket.destroyed) throw new Error(`connection closed after ${this.received.length} of ${count} responses`);
      await new Promise<void>((resolve) => (this.waiter = resolve));
      this.waiter = null;
    }
    return this.received.splice(0, count);
  }

  async request(body: Record<string, unknown>): Promise<Response> {
    this.send(body);
    return (await this.take(1))[0]!;
  }

  close(): void {
    this.socket.destroy();
  }
}
