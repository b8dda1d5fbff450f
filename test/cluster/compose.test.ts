// docker-compose.yml without a Docker engine: the compose tool must accept the file, and every
// node's environment must be one `raftq node` accepts, wired so that each node reaches the other
// two through its own Toxiproxy listener. Needs `docker-compose` (Debian: apt-get install -y
// --no-install-recommends docker-compose) or the `docker compose` plugin.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../jepsen-lite/processes.js';
import { NODE_ENV, resolveNodeConfig } from '../../cluster/node-config.js';
import { NODE_V8_FLAGS } from '../../src/node-flags.js';
import { parseHostPort } from '../../src/protocol/address.js';

const ROOT = repoRoot();
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const NODE_IDS = ['n1', 'n2', 'n3'];
const INSTALL_HINT = 'Install it: `apt-get update && apt-get install -y --no-install-recommends docker-compose` (CI: .ci/run does).';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | null>;
  ports?: (string | { target: number; published: number | string })[];
  volumes?: (string | { source?: string; target: string })[];
  healthcheck?: { test?: string[] | string };
  profiles?: string[];
}

interface ComposeModel {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

interface ComposeTool {
  argv: string[];
  /** Python with PyYAML, to read the normalized YAML of compose v1 (which has no JSON output). */
  python: string | null;
}

/** `docker-compose` (v1, Debian's package) or the `docker compose` plugin (v2), whichever runs. */
function findComposeTool(): ComposeTool | null {
  const v1 = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  if (v1.status === 0) return { argv: ['docker-compose'], python: pythonOf('docker-compose') };
  const v2 = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  if (v2.status === 0) return { argv: ['docker', 'compose'], python: null };
  return null;
}

/** docker-compose v1 is a Python program that imports PyYAML: its interpreter can parse YAML. */
function pythonOf(command: string): string {
  const which = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).stdout.trim();
  const firstLine = which ? fs.readFileSync(which, 'utf8').split('\n', 1)[0]! : '';
  const shebang = /^#!\s*(\S*python\S*)/.exec(firstLine);
  return shebang?.[1] ?? 'python3';
}

function compose(tool: ComposeTool, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const [cmd, ...pre] = tool.argv;
  const r = spawnSync(cmd!, [...pre, '-f', COMPOSE_FILE, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function yamlToJson(python: string, yamlText: string): unknown {
  const script = 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)';
  return JSON.parse(execFileSync(python, ['-c', script], { input: yamlText, encoding: 'utf8' }));
}

/** `compose config`: its exit status, and the model after the tool resolved anchors, merges and defaults. */
function composeConfig(tool: ComposeTool): { status: number | null; stderr: string; model: ComposeModel | null } {
  const r = compose(tool, tool.python === null ? ['config', '--format', 'json'] : ['config']);
  if (r.status !== 0) return { status: r.status, stderr: r.stderr, model: null };
  const model = (tool.python === null ? JSON.parse(r.stdout) : yamlToJson(tool.python, r.stdout)) as ComposeModel;
  return { status: r.status, stderr: r.stderr, model };
}

function envOf(service: ComposeService): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(service.environment ?? {})) env[k] = v ?? '';
  return env;
}

function publishedPorts(service: ComposeService): number[] {
  return (service.ports ?? []).map((p) => (typeof p === 'string' ? Number(p.split(':').at(-1)!.split('/')[0]) : Number(p.published)));
}

/** A named volume mounted at `target`: its name, or null. Short syntax is source:target[:mode]. */
function namedVolumeAt(service: ComposeService, target: string): string | null {
  for (const v of service.volumes ?? []) {
    const [source, at] = typeof v === 'string' ? v.split(':') : [v.source, v.target];
    if (at === target && source !== undefined && !source.startsWith('/') && !source.startsWith('.')) return source;
  }
  return null;
}

let config: ReturnType<typeof composeConfig>;
let model: ComposeModel;
let python: string;

describe('docker-compose.yml', () => {
  beforeAll(() => {
    const tool = findComposeTool();
    if (tool === null) throw new Error(`neither \`docker-compose\` nor \`docker compose\` is installed, so docker-compose.yml cannot be validated. ${INSTALL_HINT}`);
    config = composeConfig(tool);
    model = config.model ?? { services: {} };
    python = tool.python ?? 'python3';
  });

  it('is accepted by `docker-compose config`', () => {
    expect(config.stderr, 'compose config').toBe('');
    expect(config.status).toBe(0);
    expect(Object.keys(model.services).sort()).toEqual(['grafana', 'n1', 'n2', 'n3', 'prometheus', 'toxiproxy']);
  });

  it('gives every node an environment `raftq node` accepts, peers covering the other two through toxiproxy', () => {
    const known = new Set<string>(Object.values(NODE_ENV));
    const proxies = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/toxiproxy/toxiproxy-config.json'), 'utf8')) as { name: string; listen: string; upstream: string }[];
    const proxyByPort = new Map(proxies.map((p) => [parseHostPort(p.listen)!.port, p]));
    const configs = new Map(NODE_IDS.map((id) => [id, resolveNodeConfig({}, envOf(model.services[id]!))]));
    for (const id of NODE_IDS) {
      const service = model.services[id]!;
      const env = envOf(service);
      const unknown = Object.keys(env).filter((k) => k.startsWith('RAFTQ_') && !known.has(k));
      expect(unknown, `${id}: RAFTQ_* variables raftq node does not read`).toEqual([]);
      // Configured by the environment alone: the image's CMD is `node` (ENTRYPOINT: the raftq bin).
      expect(service.command === undefined || (Array.isArray(service.command) && service.command[0] === 'node'), `${id} command`).toBe(true);
      expect(service.entrypoint, `${id} entrypoint`).toBeUndefined();

      const config = configs.get(id)!;
      expect(config.id).toBe(id);
      expect(config.dataDir).toBe('/data');
      expect(config.join).toBe(false);
      expect(config.advertise?.peer).toBe(`${id}:${parseHostPort(config.peerListen)!.port}`);
      expect([...config.peers.keys()].sort()).toEqual(NODE_IDS.filter((other) => other !== id));
      for (const [peer, address] of config.peers) {
        const hp = parseHostPort(address)!;
        expect(hp.host, `${id} -> ${peer} goes through toxiproxy`).toBe('toxiproxy');
        const proxy = proxyByPort.get(hp.port);
        expect(proxy, `a toxiproxy proxy listens on ${hp.port} for ${id} -> ${peer}`).toBeDefined();
        expect(proxy!.upstream).toBe(`${peer}:${parseHostPort(configs.get(peer)!.peerListen)!.port}`);
      }

      const clientPort = parseHostPort(config.listen)!.port;
      const httpPort = parseHostPort(config.http)!.port;
      expect(publishedPorts(service).sort()).toEqual([clientPort, httpPort].sort());
      const health = JSON.stringify(service.healthcheck?.test ?? '');
      expect(health).toContain(`http://127.0.0.1:${httpPort}/ready`);
      const volume = namedVolumeAt(service, '/data');
      expect(volume, `${id} keeps /data in a named volume`).not.toBeNull();
      expect(Object.keys(model.volumes ?? {})).toContain(volume);
    }
    // One proxy per ordered pair of nodes, each used by exactly one node.
    expect(proxies).toHaveLength(NODE_IDS.length * (NODE_IDS.length - 1));
    const used = [...configs.values()].flatMap((c) => [...c.peers.values()].map((a) => parseHostPort(a)!.port));
    expect(new Set(used).size).toBe(proxies.length);
  });

  it('runs toxiproxy with its config, and Prometheus (scraping every node) and Grafana in the monitoring profile', () => {
    const toxiproxy = model.services.toxiproxy!;
    expect(toxiproxy.image).toMatch(/^ghcr\.io\/shopify\/toxiproxy(:|$)/);
    const configArg = [toxiproxy.command ?? []].flat().find((a) => a.startsWith('-config='));
    expect(configArg).toBeDefined();
    expect(JSON.stringify(toxiproxy.volumes)).toContain(configArg!.slice('-config='.length));

    for (const name of ['prometheus', 'grafana']) expect(model.services[name]?.profiles, name).toEqual(['monitoring']);
    const grafanaMounts = JSON.stringify(model.services.grafana!.volumes);
    expect(grafanaMounts).toContain('/etc/grafana/provisioning');
    expect(grafanaMounts).toContain('/var/lib/grafana/dashboards');

    const prometheus = yamlToJson(python, fs.readFileSync(path.join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const targets = prometheus.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
    const expected = NODE_IDS.map((id) => `${id}:${parseHostPort(resolveNodeConfig({}, envOf(model.services[id]!)).http)!.port}`);
    expect(targets.sort()).toEqual(expected.sort());
    expect(prometheus.scrape_configs.every((s) => (s.metrics_path ?? '/metrics') === '/metrics')).toBe(true);
  });

  it('is built by a Dockerfile whose entry point is the raftq bin and whose sources survive .dockerignore', () => {
    const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-slim/m);
    expect(dockerfile).toContain(`ENTRYPOINT ["node", ${NODE_V8_FLAGS.map((f) => `"${f}", `).join('')}"dist/cluster/main.js"]`);
    expect(dockerfile).toContain('CMD ["node"]');
    const ignored = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    for (const source of copied) {
      expect(ignored, `.dockerignore must not hide ${source}`).not.toContain(source);
      expect(fs.existsSync(path.join(ROOT, source)), `${source} exists`).toBe(true);
    }
    // The package's own bin is what the image runs.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin.raftq).toBe('dist/cluster/main.js');
  });
});
