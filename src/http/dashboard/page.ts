// The dashboard's HTML shell. Everything dynamic is drawn by /dashboard/app.js from the node's own
// JSON API; the page has no inline script, so a strict Content-Security-Policy holds.

export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>raftq dashboard</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='4' fill='%234f46e5'/%3E%3C/svg%3E">
<link rel="stylesheet" href="/dashboard/style.css">
</head>
<body>
<header class="top">
  <span class="brand"><span class="logo"></span>raftq</span>
  <span class="sub">cluster dashboard · served by <b id="served-by" data-testid="served-by">…</b></span>
  <span class="spacer"></span>
  <span class="sub" id="updated">connecting…</span>
  <span class="pill down" id="status" data-testid="status"><span class="dot"></span><span id="status-text">offline</span></span>
</header>
<main>
  <div class="cards">
    <div class="stat"><div class="label">Leader</div><div class="value" id="stat-leader" data-testid="leader">–</div><div class="hint" id="stat-term">term –</div></div>
    <div class="stat"><div class="label">Commit index</div><div class="value"><span id="stat-commit">–</span><span class="unit">entries</span></div><div class="hint" id="stat-applied">applied –</div></div>
    <div class="stat"><div class="label">Waiting</div><div class="value"><span id="stat-waiting" data-testid="total-waiting">–</span><span class="unit">jobs</span></div><div class="hint" id="stat-delayed">delayed –</div></div>
    <div class="stat"><div class="label">Active</div><div class="value"><span id="stat-active">–</span><span class="unit">jobs</span></div><div class="hint">leased to workers</div></div>
    <div class="stat"><div class="label">Throughput</div><div class="value"><span id="stat-rate">–</span><span class="unit">jobs/s</span></div><div class="hint" id="stat-rate-hint">completed, all queues</div></div>
    <div class="stat"><div class="label">Dead letters</div><div class="value"><span id="stat-dead">–</span><span class="unit">jobs</span></div><div class="hint">across all queues</div></div>
  </div>

  <section class="card">
    <h2>Cluster <span class="muted" id="cluster-sub"></span></h2>
    <table>
      <thead><tr><th>Node</th><th>Role</th><th class="num">Term</th><th class="num">Commit index (entries)</th><th class="num">Applied index (entries)</th><th class="num">Lag (entries)</th><th class="num">Last contact (ms)</th><th>Client address</th><th>HTTP address</th></tr></thead>
      <tbody id="nodes" data-testid="nodes"></tbody>
    </table>
  </section>

  <section class="card">
    <h2>Queues <span class="muted">(jobs by state; click a row for its charts and dead letters)</span></h2>
    <table>
      <thead><tr><th>Queue</th><th>Status</th><th class="num">Waiting</th><th class="num">Delayed</th><th class="num">Active</th><th class="num">Retrying</th><th class="num">Dead</th><th class="num">Completed</th><th class="num">Cancelled</th><th class="num">Enqueued (total)</th><th></th></tr></thead>
      <tbody id="queues" data-testid="queues"></tbody>
    </table>
  </section>

  <section class="card">
    <h2>Schedules <span class="muted">(repeatable jobs; times in your local time zone, cron in UTC)</span></h2>
    <table>
      <thead><tr><th>Queue</th><th>Schedule</th><th>Timing</th><th>Next run</th><th>Last run</th><th class="num">Runs</th><th class="num">Refused</th><th>Last job</th></tr></thead>
      <tbody id="schedules" data-testid="schedules"></tbody>
    </table>
  </section>

  <section class="card">
    <h2>Last 10 minutes <span class="spacer"></span>
      <label class="muted" for="chart-queue">queue</label>
      <select id="chart-queue" data-testid="chart-queue"></select>
    </h2>
    <div class="charts">
      <div class="chart"><h3>Throughput (jobs/s)</h3><div class="legend" id="legend-rate"></div><svg class="plot" id="chart-rate" data-testid="chart-rate"></svg></div>
      <div class="chart"><h3>Depth (jobs)</h3><div class="legend" id="legend-depth"></div><svg class="plot" id="chart-depth" data-testid="chart-depth"></svg></div>
      <div class="chart"><h3>Latency (ms)</h3><div class="legend" id="legend-latency"></div><svg class="plot" id="chart-latency" data-testid="chart-latency"></svg></div>
    </div>
  </section>

  <div class="grid2">
    <section class="card">
      <h2>Dead-letter queue <span class="muted" id="dlq-title"></span><span class="spacer"></span>
        <button id="dlq-retry-all" data-testid="dlq-retry-all" class="primary" disabled>Retry all</button>
        <button id="dlq-purge-all" data-testid="dlq-purge-all" class="danger" disabled>Purge all</button>
      </h2>
      <div class="body scroll-x" id="dlq" data-testid="dlq"></div>
    </section>
    <section class="card">
      <h2>Job lookup</h2>
      <div class="body">
        <form class="row" id="lookup-form" autocomplete="off">
          <input type="text" id="lookup-id" data-testid="lookup-id" placeholder="job id" spellcheck="false">
          <button class="primary" type="submit" data-testid="lookup-submit">Look up</button>
        </form>
        <div id="lookup-result" data-testid="lookup-result"></div>
      </div>
    </section>
  </div>
</main>
<div class="toast" id="toast" role="status"></div>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;
