// HTTP routes of the metrics module: Prometheus' /metrics and the dashboard's /v1/stats/history.

import { RaftqError } from '../errors.js';
import { errorResponse, jsonResponse, type ExtraRoute } from '../http/server.js';
import type { BrokerMetrics } from './broker-metrics.js';
import { HISTORY_ALL, type StatsHistory } from './history.js';

export function metricsRoute(metrics: BrokerMetrics): ExtraRoute {
  return async (method, url) => {
    if (method !== 'GET' || url.pathname !== '/metrics') return null;
    const { contentType, body } = await metrics.expose();
    return { status: 200, contentType, body, headers: { 'cache-control': 'no-store' } };
  };
}

/** GET /v1/stats/history?queue=<name|_all>&sinceMs=<ms>: samples newer than sinceMs (none yet is not an error). */
export function historyRoute(history: StatsHistory): ExtraRoute {
  return async (method, url) => {
    if (method !== 'GET' || url.pathname !== '/v1/stats/history') return null;
    const queue = url.searchParams.get('queue') ?? HISTORY_ALL;
    const sinceText = url.searchParams.get('sinceMs');
    const sinceMs = sinceText === null ? 0 : Number(sinceText);
    if (!Number.isFinite(sinceMs)) return errorResponse(new RaftqError('BAD_REQUEST', 'sinceMs: expected a number', { field: 'sinceMs' }).toWire());
    return jsonResponse(200, history.read(queue, sinceMs));
  };
}
