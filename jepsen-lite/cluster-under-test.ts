// The cluster a jepsen-lite run attacks: real `raftq node` processes (ProcessCluster, used as it
// is) whose every peer link, and optionally every client link, runs through its own proxy.
// This file only wires the two together and adds what the nemeses need on top: per-node extra
// flags that can change between restarts (clock offsets), the leader as the members see it, and
// "bring everything back" for the end of a run.

import { ProcessCluster } from './processes.js';
import { CLIENT, ProxyNetwork, type ToxiproxyKind } from './network.js';

export interface ClusterUnderTestOptions {
  nodes: number;
  seed: number;
  /** Names our proxies on a shared Toxiproxy. */
  tag: string;
  /** Route each client link through a proxy too (latency toxics then slow clients as well). */
  proxyClients?: boolean;
  logLevel?: string;
  /** Extra flags for every node. */
  nodeArgs?: string[];
  toxiproxyUrl?: string;
  forceOurToxiproxy?: boolean;
  keepRunDir?: boolean;
  runDir?: string;
}

export class ClusterUnderTest {
  readonly processes: ProcessCluster;
  readonly net: ProxyNetwork;
  private readonly argsById: Record<string, string[]>;
  private readonly clientRoutes = new Map<string, string>();
  private readonly proxyClients: boolean;

  private constructor(processes: ProcessCluster, net: ProxyNetwork, argsById: Record<string, string[]>, proxyClients: boolean) {
    this.processes = processes;
    this.net = net;
    this.argsById = argsById;
    this.proxyClients = proxyClients;
  }

  static async start(options: ClusterUnderTestOptions): Promise<ClusterUnderTest> {
    const n = options.nodes;
    const net = await ProxyNetwork.start({ tag: options.tag, seed: options.seed, toxiproxyUrl: options.toxiproxyUrl, forceOurs: options.forceOurToxiproxy }, n * (n - 1) + n);
    // ProcessCluster reads nodeArgsById at every spawn: this object is how a restart gets new flags.
    const argsById: Record<string, string[]> = {};
    let processes: ProcessCluster;
    try {
      processes = await ProcessCluster.start({
        size: n,
        logLevel: options.logLevel ?? 'warn',
        nodeArgs: options.nodeArgs,
        nodeArgsById: argsById,
        dialAddress: (from, to, direct) => net.route({ from, to }, direct),
        keepRunDir: options.keepRunDir,
        runDir: options.runDir,
      });
    } catch (error) {
      await net.close();
      throw error;
    }
    const cut = new ClusterUnderTest(processes, net, argsById, options.proxyClients ?? false);
    try {
      if (cut.proxyClients) for (const id of processes.memberIds()) cut.clientRoutes.set(id, net.route({ from: CLIENT, to: id }, processes.addresses(id).clientAddr, 'client'));
      await net.ready();
    } catch (error) {
      await cut.stop();
      throw error;
    }
    return cut;
  }

  get toxiproxyKind(): ToxiproxyKind {
    return this.net.kind;
  }

  /** Where clients connect: every node ever started (members come and go, addresses stay). */
  clientAddresses(): string[] {
    return this.processes.ids().map((id) => this.clientRoutes.get(id) ?? this.processes.addresses(id).clientAddr);
  }

  members(): string[] {
    return this.processes.memberIds();
  }

  /** Members that run and are not paused. */
  live(): string[] {
    return this.processes.liveMembers();
  }

  leader(): Promise<string | null> {
    return this.processes.leader();
  }

  /** Extra flags for one node from its next start on (null: none). */
  setNodeArgs(id: string, args: string[] | null): void {
    if (args === null) delete this.argsById[id];
    else this.argsById[id] = args;
  }

  nodeArgs(id: string): string[] {
    return this.argsById[id] ?? [];
  }

  /**
   * Undoes every fault that outlived its nemesis: links healed, paused nodes resumed, stopped
   * members started (without their extra flags). Returns what it had to do.
   */
  async healAll(): Promise<string[]> {
    const done: string[] = [];
    const faulty = this.net.faulty();
    await this.net.heal();
    if (faulty.length > 0) done.push(`healed links ${faulty.join(', ')}`);
    for (const id of this.members()) {
      const node = this.processes.node(id);
      if (node.state === 'paused') {
        this.processes.resume(id);
        done.push(`resumed ${id}`);
      }
    }
    for (const id of this.members()) {
      const node = this.processes.node(id);
      if (node.state !== 'stopped') continue;
      if (this.argsById[id]) this.setNodeArgs(id, null);
      await this.processes.restart(id);
      done.push(`restarted ${id}`);
    }
    return done;
  }

  /** Ends every process and proxy. Never throws. */
  async stop(): Promise<void> {
    await this.processes.stopAll().catch(() => undefined);
    await this.net.close();
  }
}
