// The network under test: every peer link (node i's outbound connection to node j) runs through
// its own Toxiproxy proxy, so any ordered pair can be cut, slowed or throttled on its own; client
// links optionally too. Driven only through toxiproxy-node-client, against the real Toxiproxy
// (TOXIPROXY_URL, or `toxiproxy-server` on PATH) or, failing that, our compatible server.
//
// A node learns its peers' addresses once, at start (`--peers`), and ProcessCluster asks for them
// synchronously, so each link's listen port is reserved before the nodes start and its proxy is
// created right after: a node that dials a moment too early just reconnects (its transport
// retries every 20..1000 ms).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Toxiproxy, type Proxy, type Toxic } from 'toxiproxy-node-client';
import { freePort } from './processes.js';
import { startToxiproxyServer, type ToxiproxyServer } from './toxiproxy/server.js';

const HOST = '127.0.0.1';
/** How long a spawned toxiproxy-server may take to answer /version. */
const TOXIPROXY_START_MS_MAX = 10_000;
/** One API call; the API is local, so anything slower is a stuck server. */
const API_ATTEMPTS_MAX = 5;

export type LinkKind = 'peer' | 'client';

/** A directed link: `from`'s outbound connection to `to` (for client links, from is "client"). */
export interface Link {
  from: string;
  to: string;
}

export const CLIENT = 'client';

interface LinkProxy {
  name: string;
  link: Link;
  kind: LinkKind;
  listen: string;
  upstream: string;
  created: Promise<Proxy>;
  enabled: boolean;
  /** Toxics this harness added and has not removed yet, by name. */
  toxics: Map<string, Toxic<unknown>>;
}

export type ToxiproxyKind = 'external' | 'spawned' | 'ours';

export interface NetworkOptions {
  /** Distinguishes our proxies from those of other runs on a shared Toxiproxy. */
  tag: string;
  /** Seed of our own server's toxicity and jitter draws. */
  seed: number;
  /** Overrides TOXIPROXY_URL / PATH detection (tests). */
  toxiproxyUrl?: string;
  /** Force our own server even if a real one is available. */
  forceOurs?: boolean;
}

export function linkName(link: Link): string {
  return `${link.from}->${link.to}`;
}

export class ProxyNetwork {
  readonly kind: ToxiproxyKind;
  readonly url: string;
  private readonly client: Toxiproxy;
  private readonly tag: string;
  private readonly proxies = new Map<string, LinkProxy>();
  private readonly portPool: number[];
  private readonly server: ToxiproxyServer | null;
  private readonly child: ChildProcess | null;

  private constructor(kind: ToxiproxyKind, url: string, tag: string, ports: number[], server: ToxiproxyServer | null, child: ChildProcess | null) {
    this.kind = kind;
    this.url = url;
    this.client = new Toxiproxy(url);
    this.tag = tag;
    this.portPool = ports;
    this.server = server;
    this.child = child;
  }

  /**
   * Connects to (or starts) a Toxiproxy and reserves `portsNeeded` listen ports for proxies. Order
   * of preference: options.toxiproxyUrl, TOXIPROXY_URL, `toxiproxy-server` on PATH, our server.
   */
  static async start(options: NetworkOptions, portsNeeded: number): Promise<ProxyNetwork> {
    const ports: number[] = [];
    for (let i = 0; i < portsNeeded; i++) ports.push(await freePort());
    const url = options.toxiproxyUrl ?? process.env.TOXIPROXY_URL;
    if (!options.forceOurs && url) {
      const net = new ProxyNetwork('external', url.replace(/\/$/, ''), options.tag, ports, null, null);
      await net.client.getVersion();
      return net;
    }
    if (!options.forceOurs && onPath('toxiproxy-server')) {
      const port = await freePort();
      const child = spawn('toxiproxy-server', ['-host', HOST, '-port', String(port)], { stdio: 'ignore' });
      const net = new ProxyNetwork('spawned', `http://${HOST}:${port}`, options.tag, ports, null, child);
      const deadline = Date.now() + TOXIPROXY_START_MS_MAX;
      for (;;) {
        try {
          await net.client.getVersion();
          return net;
        } catch (error) {
          if (Date.now() > deadline || child.exitCode !== null) {
            child.kill('SIGKILL');
            throw new Error(`toxiproxy-server did not answer on port ${port}: ${(error as Error).message}`);
          }
          await sleep(100);
        }
      }
    }
    const server = await startToxiproxyServer({ host: HOST, port: 0, seed: options.seed });
    return new ProxyNetwork('ours', server.url, options.tag, ports, server, null);
  }

  /**
   * The address `link.from` should dial to reach `link.to` (whose own listener is `upstream`).
   * Synchronous, for ProcessCluster's dialAddress: the proxy is created in the background;
   * `ready()` waits for every creation.
   */
  route(link: Link, upstream: string, kind: LinkKind = 'peer'): string {
    const key = linkName(link);
    const known = this.proxies.get(key);
    if (known) {
      if (known.upstream !== upstream) {
        known.upstream = upstream;
        known.created = known.created.then((p) => this.retry(() => p.update({ enabled: known.enabled, listen: known.listen, upstream })));
      }
      return known.listen;
    }
    const port = this.portPool.shift();
    if (port === undefined) throw new Error(`no reserved proxy port left for ${key}; reserve more in ProxyNetwork.start`);
    const listen = `${HOST}:${port}`;
    const name = `${this.tag}_${link.from}_${link.to}`;
    const created = this.retry(() => this.client.createProxy({ name, listen, upstream, enabled: true }));
    // Failures surface in ready(); do not let an unobserved rejection kill the process first.
    created.catch(() => undefined);
    this.proxies.set(key, { name, link, kind, listen, upstream, created, enabled: true, toxics: new Map() });
    return listen;
  }

  /** Resolves once every proxy handed out by route() exists. */
  async ready(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.created));
  }

  links(kind: LinkKind = 'peer'): Link[] {
    return [...this.proxies.values()].filter((p) => p.kind === kind).map((p) => p.link);
  }

  /** Peer links between two sets of nodes, in the direction from → to. */
  between(from: readonly string[], to: readonly string[]): Link[] {
    return this.links('peer').filter((l) => from.includes(l.from) && to.includes(l.to));
  }

  /** Cuts links: `disable` closes them and refuses reconnects; `timeout` (timeout 0) keeps them open but drops every byte. */
  async cut(links: readonly Link[], how: 'disable' | 'timeout'): Promise<void> {
    await Promise.all(links.map(async (link) => {
      const p = this.get(link);
      if (how === 'disable') return this.setEnabled(p, false);
      await this.addToxic(p, { name: 'jepsen_cut_up', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } });
      await this.addToxic(p, { name: 'jepsen_cut_down', type: 'timeout', stream: 'downstream', toxicity: 1, attributes: { timeout: 0 } });
    }));
  }

  async latency(links: readonly Link[], latencyMs: number, jitterMs: number): Promise<void> {
    await Promise.all(links.map((link) => this.addToxic(this.get(link), { name: 'jepsen_latency', type: 'latency', stream: 'upstream', toxicity: 1, attributes: { latency: latencyMs, jitter: jitterMs } })));
  }

  async bandwidth(links: readonly Link[], rateKBps: number): Promise<void> {
    await Promise.all(links.map((link) => this.addToxic(this.get(link), { name: 'jepsen_bandwidth', type: 'bandwidth', stream: 'upstream', toxicity: 1, attributes: { rate: rateKBps } })));
  }

  /** Undoes everything on these links: enabled again, our toxics removed. */
  async heal(links: readonly Link[] = [...this.proxies.values()].map((p) => p.link)): Promise<void> {
    await Promise.all(links.map(async (link) => {
      const p = this.get(link);
      const toxics = [...p.toxics.values()];
      p.toxics.clear();
      await Promise.all(toxics.map((t) => this.retry(() => t.remove()).catch(() => undefined)));
      if (!p.enabled) await this.setEnabled(p, true);
    }));
  }

  /** Links that are cut or carry a toxic now (for the report). */
  faulty(): string[] {
    return [...this.proxies.values()].filter((p) => !p.enabled || p.toxics.size > 0).map((p) => `${linkName(p.link)}${p.enabled ? '' : ' down'}${p.toxics.size ? ` ${[...p.toxics.keys()].join('+')}` : ''}`);
  }

  /** Removes our proxies and stops whatever server we started. Never throws. */
  async close(): Promise<void> {
    if (this.kind === 'external') {
      await Promise.all([...this.proxies.values()].map(async (p) => (await p.created).remove().catch(() => undefined))).catch(() => undefined);
    }
    await this.server?.close().catch(() => undefined);
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  private get(link: Link): LinkProxy {
    const p = this.proxies.get(linkName(link));
    if (!p) throw new Error(`no proxy for link ${linkName(link)}`);
    return p;
  }

  private async setEnabled(p: LinkProxy, enabled: boolean): Promise<void> {
    const proxy = await p.created;
    p.enabled = enabled;
    await this.retry(() => proxy.update({ enabled, listen: p.listen, upstream: p.upstream }));
  }

  private async addToxic(p: LinkProxy, body: { name: string; type: 'timeout' | 'latency' | 'bandwidth'; stream: 'upstream' | 'downstream'; toxicity: number; attributes: object }): Promise<void> {
    if (p.toxics.has(body.name)) return;
    const proxy = await p.created;
    const toxic = await this.retry(() => proxy.addToxic(body as Parameters<Proxy['addToxic']>[0]));
    p.toxics.set(body.name, toxic as Toxic<unknown>);
  }

  /** The API is local; a failure is rare and usually transient (a busy server). */
  private async retry<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (attempt >= API_ATTEMPTS_MAX) throw new Error(`Toxiproxy at ${this.url}: ${(error as Error).message}`);
        await sleep(50 * attempt);
      }
    }
  }
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}
