// Serves the dashboard from the node's own HTTP port: GET / (the page), /dashboard/app.js and
// /dashboard/style.css. Everything is same-origin and ships inside the package (TS modules that
// export the text, since tsc copies nothing else to dist/), so the page works offline.

import type { ExtraRoute, HttpResponse } from '../server.js';
import { DASHBOARD_HTML } from './page.js';
import { DASHBOARD_JS } from './script.js';
import { DASHBOARD_CSS } from './style.js';

/** Only our own files, and fetches to our own origin. Inline SVG icons are data: URLs. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function file(contentType: string, body: string): HttpResponse {
  return {
    status: 200,
    contentType,
    body,
    headers: { 'cache-control': 'no-cache', 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff' },
  };
}

const FILES: ReadonlyMap<string, HttpResponse> = new Map([
  ['/', file('text/html; charset=utf-8', DASHBOARD_HTML)],
  ['/index.html', file('text/html; charset=utf-8', DASHBOARD_HTML)],
  ['/dashboard/app.js', file('text/javascript; charset=utf-8', DASHBOARD_JS)],
  ['/dashboard/style.css', file('text/css; charset=utf-8', DASHBOARD_CSS)],
]);

export function dashboardRoute(): ExtraRoute {
  return async (method, url) => {
    if (method !== 'GET') return null;
    return FILES.get(url.pathname) ?? null;
  };
}
