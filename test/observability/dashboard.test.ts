// The web dashboard against a real 3-node cluster, in headless Chromium: it shows the leader, a job
// submitted through the SDK shows up in the queue counts, and the dead-letter "Retry" button moves a
// dead job back to waiting. It also saves the screenshot the README shows (docs/dashboard.png).

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../src/client/client.js';
import { Transport } from '../../src/client/transport.js';
import { Worker } from '../../src/client/worker.js';
import { ProcessCluster, until } from './process-cluster.js';

const CHROMIUM = process.env.RAFTQ_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../docs/dashboard.png', import.meta.url));
const UI_TIMEOUT_MS = 10_000;

let cluster: ProcessCluster | null = null;
let browser: Browser | null = null;
let client: Client | null = null;
let transport: Transport | null = null;
let worker: Worker | null = null;
let leader = '';

async function cellText(page: Page, queue: string, state: string): Promise<string | null> {
  const cell = page.locator(`[data-testid="queue-row-${queue}"] td[data-state="${state}"]`);
  return (await cell.count()) === 0 ? null : (await cell.textContent())?.trim() ?? null;
}

/** Makes a job dead: one attempt, leased and failed non-retryably through the low-level transport. */
async function deadJob(queue: string, payload: unknown, error: string): Promise<string> {
  const id = await client!.submit(queue, payload, { maxAttempts: 1, name: 'render-pdf' });
  const { jobs } = await until(`a lease of ${id}`, async () => {
    const r = await transport!.call('lease', { queues: [queue], max: 1, workerId: 'dashboard-test', waitMs: 1000 }, { longPollMs: 1000 });
    return r.jobs.length > 0 ? r : null;
  }, UI_TIMEOUT_MS);
  const leased = jobs[0]!;
  expect(leased.id).toBe(id);
  const outcome = await transport!.call('fail', { jobId: leased.id, token: leased.token, error, retryable: false });
  expect(outcome.state).toBe('dead');
  return id;
}

describe('dashboard on a real cluster', () => {
  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium (or set RAFTQ_CHROMIUM)`);
    cluster = await ProcessCluster.start(3);
    leader = await cluster.waitForLeader();
    client = new Client({ nodes: cluster.clientAddrs });
    transport = new Transport({ nodes: cluster.clientAddrs });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });

  afterAll(async () => {
    await worker?.close({ graceMs: 500 }).catch(() => {});
    await client?.close().catch(() => {});
    await transport?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await cluster?.stop();
  });

  it('shows the leader, live queue counts, and retries a dead job from the DLQ', async () => {
    const c = cluster!;
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });

    // Served by a follower: the page must still name the leader and every node's own role.
    await page.goto(follower.url('/'));
    await until('the page to show the leader', async () => (await page.getByTestId('leader').textContent()) === leader, UI_TIMEOUT_MS);
    await until('every node row with its role', async () => {
      for (const n of c.nodes) {
        const role = await page.getByTestId(`role-${n.id}`).textContent();
        if (role !== (n.id === leader ? 'leader' : 'follower')) return false;
      }
      return true;
    }, UI_TIMEOUT_MS);
    expect(await page.getByTestId('served-by').textContent()).toBe(follower.id);

    // A job submitted through the SDK appears in the counts.
    await client!.submit('emails', { to: 'ada@example.com' }, { priority: 'high' });
    await until('emails to show 1 waiting job', async () => (await cellText(page, 'emails', 'waiting')) === '1', UI_TIMEOUT_MS);

    // A dead job goes back to waiting through the DLQ's Retry button.
    const deadId = await deadJob('reports', { month: '2026-10' }, 'TypeError: cannot read properties of undefined (reading "pdf")');
    await until('reports to show 1 dead job', async () => (await cellText(page, 'reports', 'dead')) === '1', UI_TIMEOUT_MS);
    await page.getByTestId('queue-row-reports').click();
    await page.getByTestId(`dlq-retry-${deadId}`).click({ timeout: UI_TIMEOUT_MS });
    await until('reports to show the job waiting and none dead', async () => (await cellText(page, 'reports', 'waiting')) === '1' && (await cellText(page, 'reports', 'dead')) === '0', UI_TIMEOUT_MS);
    expect((await client!.get(deadId))?.state).toBe('waiting');

    // A schedule shows in its card, with how it fires.
    await client!.schedules.set('reports', 'nightly', { cron: '0 3 * * *', job: { payload: { month: 'current' } } });
    await until('the schedules card to list reports/nightly', async () => ((await page.getByTestId('schedule-row-reports-nightly').textContent({ timeout: 500 })) ?? '').includes('0 3 * * *'), UI_TIMEOUT_MS);

    // The job lookup finds it by id.
    await page.getByTestId('lookup-id').fill(deadId);
    await page.getByTestId('lookup-submit').click();
    await until('the lookup to show the job waiting', async () => (await page.getByTestId('lookup-state').textContent({ timeout: 500 })) === 'waiting', UI_TIMEOUT_MS);

    await screenshotWithTraffic(page);
    expect(pageErrors, `errors in the page:\n${pageErrors.join('\n')}`).toEqual([]);
  });
});

/**
 * Some traffic for the charts: a worker completes most "images" jobs and dead-letters a few, while
 * jobs keep arriving. Waits (by condition) until the charts have several samples, then shoots.
 */
async function screenshotWithTraffic(page: Page): Promise<void> {
  const c = cluster!;
  let n = 0;
  worker = new Worker({
    nodes: c.clientAddrs,
    queues: ['images'],
    concurrency: 4,
    pollWaitMs: 500,
    handleSignals: false,
    handler: async (job) => {
      const k = (job.payload as { n: number }).n;
      await new Promise((r) => setTimeout(r, 20 + (k % 7) * 15));
      if (k % 23 === 5) throw Object.assign(new Error(`image ${k} is larger than 40 MiB`), { retryable: false });
      return { thumbnail: `thumbs/${k}.webp` };
    },
  });
  worker.on('error', () => {});
  worker.start();
  const producer = setInterval(() => {
    const batch = Array.from({ length: 6 }, () => ({ payload: { n: n++ }, priority: n % 3 === 0 ? 8 : 5 }));
    client!.submitMany('images', batch).catch(() => {});
  }, 300);
  try {
    await client!.submitMany('thumbnails', Array.from({ length: 40 }, (_, i) => ({ payload: { n: i }, delayMs: i % 4 === 0 ? 600_000 : 0 })));
    await page.getByTestId('chart-queue').selectOption('images');
    await until('images history with throughput samples and dead letters', async () => {
      const view = await c.nodes[0]!.getJson<{ samples: { completedPerSecond: number | null; waitMs: { p50: number | null } }[] }>('/v1/stats/history?queue=images');
      const busy = view.samples.filter((s) => (s.completedPerSecond ?? 0) > 0 && s.waitMs.p50 !== null).length;
      const dead = await cellText(page, 'images', 'dead');
      return busy >= 6 && dead !== null && dead !== '0';
    }, 30_000, 250);
  } finally {
    clearInterval(producer);
  }
  // One more poll so the page shows the latest sample, then the picture the README shows.
  await until('the DLQ card to list images dead jobs', async () => (await page.locator('[data-testid^="dlq-row-"]').count()) > 0, UI_TIMEOUT_MS);
  fs.mkdirSync(fileURLToPath(new URL('../../docs/', import.meta.url)), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
}
