// The dashboard's script, served same-origin at /dashboard/app.js. Plain browser JavaScript in a
// string (the node build has no DOM types and the page needs no bundler). It polls the node every
// POLL_INTERVAL_MS, redraws only what changed, and draws its charts as SVG itself.
// It is written without template literals so that it can live inside this String.raw literal.

/** How often the page polls its node; also stated in README "Observability". */
export const DASHBOARD_POLL_INTERVAL_MS = 1500;

export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var POLL_MS = __POLL_MS__;
  var DLQ_PAGE = 20;
  var DLQ_BATCH = 1000;
  var DLQ_ROUNDS_MAX = 1000;
  var ALL = '_all';
  var STATES = ['waiting', 'delayed', 'active', 'failed', 'dead', 'completed', 'cancelled'];
  var COLORS = { enqueued: '#6366f1', completed: '#10b981', failed: '#f59e0b', dead: '#ef4444', waiting: '#3b82f6', active: '#8b5cf6', delayed: '#94a3b8',
    waitP50: '#3b82f6', waitP95: '#93c5fd', runP50: '#10b981', runP95: '#6ee7b7' };

  var state = { selected: ALL, queues: [], history: { queue: null, samples: [], windowMs: 600000, intervalMs: 2000 }, rendered: {}, lastOkMs: 0 };

  function $(id) { return document.getElementById(id); }

  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (!Object.prototype.hasOwnProperty.call(props, k) || props[k] === undefined || props[k] === null) continue;
        if (k === 'text') node.textContent = String(props[k]);
        else if (k === 'className') node.className = props[k];
        else if (k === 'onclick') node.addEventListener('click', props[k]);
        else if (k === 'background') node.style.background = props[k]; // CSSOM, not a style attribute: the CSP allows it
        else node.setAttribute(k, String(props[k]));
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, String(attrs[k]));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmtInt(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); }
  function fmtRate(n) { return n === null || n === undefined ? '–' : (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1)); }
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return '–';
    if (ms === 0) return '0 ms';
    if (ms < 1) return ms.toFixed(2) + ' ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    return (ms / 60000).toFixed(1) + ' min';
  }
  function jobs(n) { return fmtInt(n) + (n === 1 ? ' job' : ' jobs'); }
  function p2(n) { return (n < 10 ? '0' : '') + n; }
  function fmtClock(ms) { var d = new Date(ms); return p2(d.getHours()) + ':' + p2(d.getMinutes()) + ':' + p2(d.getSeconds()); }
  /** Local time, ISO-like: 2026-11-23 14:05:09. */
  function fmtTime(ms) {
    if (ms === null || ms === undefined) return '–';
    var d = new Date(ms);
    return d.getFullYear() + '-' + p2(d.getMonth() + 1) + '-' + p2(d.getDate()) + ' ' + fmtClock(ms);
  }
  function numCell(n, testState) {
    var td = el('td', { className: 'num' + (n === 0 ? ' zero' : ''), 'data-state': testState }, fmtInt(n));
    return td;
  }

  async function api(method, path, body) {
    var opts = { method: method, headers: { accept: 'application/json' } };
    if (body !== undefined) { opts.headers['content-type'] = 'application/json'; opts.body = JSON.stringify(body); }
    var res = await fetch(path, opts);
    var text = await res.text();
    var data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { code: 'INTERNAL', message: text } }; }
    if (!res.ok) {
      var err = new Error((data && data.error && data.error.message) || ('HTTP ' + res.status));
      err.status = res.status;
      err.code = data && data.error ? data.error.code : undefined;
      throw err;
    }
    return data;
  }

  var toastTimer = null;
  function toast(text, isError) {
    var t = $('toast');
    t.textContent = text;
    t.style.background = isError ? '#991b1b' : '#0f172a';
    t.className = 'toast show';
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.className = 'toast'; }, 2500);
  }

  /** Redraws a section only when its data changed: buttons under the pointer stay put. */
  function changed(key, data) {
    var json = JSON.stringify(data);
    if (state.rendered[key] === json) return false;
    state.rendered[key] = json;
    return true;
  }

  // ---------------------------------------------------------------- cluster

  function renderCluster(view) {
    $('served-by').textContent = view.servedBy;
    $('stat-leader').textContent = view.leader || 'none';
    $('stat-term').textContent = 'term ' + fmtInt(view.term);
    var leaderRow = view.nodes.filter(function (n) { return n.id === view.leader; })[0];
    var self = view.nodes.filter(function (n) { return n.id === view.servedBy; })[0];
    $('stat-commit').textContent = fmtInt(leaderRow ? leaderRow.commitIndex : self ? self.commitIndex : null);
    $('stat-applied').textContent = 'applied ' + fmtInt(self ? self.appliedIndex : null) + ' entries on ' + view.servedBy;
    var up = view.nodes.filter(function (n) { return n.reachable; }).length;
    $('cluster-sub').textContent = '(' + up + ' of ' + view.nodes.length + ' nodes answering)';
    if (!changed('cluster', view.nodes)) return;
    var body = $('nodes');
    body.replaceChildren();
    view.nodes.forEach(function (n) {
      var role = n.role === 'unreachable' ? 'unreachable' : n.role;
      body.appendChild(el('tr', { 'data-testid': 'node-row-' + n.id, 'data-role': role },
        el('td', null, el('b', { text: n.id }), n.id === view.servedBy ? el('span', { className: 'muted', text: ' (this page)' }) : null),
        el('td', null, el('span', { className: 'badge ' + role, 'data-testid': 'role-' + n.id, text: role })),
        el('td', { className: 'num' }, fmtInt(n.term)),
        el('td', { className: 'num' }, fmtInt(n.commitIndex)),
        el('td', { className: 'num' }, fmtInt(n.appliedIndex)),
        el('td', { className: 'num' }, n.lagEntries === null ? '–' : fmtInt(n.lagEntries)),
        el('td', { className: 'num' }, n.lastContactMs === null ? '–' : fmtInt(n.lastContactMs)),
        el('td', { className: 'mono muted' }, n.clientAddr || '–'),
        el('td', { className: 'mono muted' }, n.httpAddr || '–')));
    });
  }

  // ---------------------------------------------------------------- queues

  function renderQueues(queues) {
    var sum = function (s) { return queues.reduce(function (a, q) { return a + q.counts[s]; }, 0); };
    $('stat-waiting').textContent = fmtInt(sum('waiting'));
    $('stat-delayed').textContent = 'delayed ' + jobs(sum('delayed'));
    $('stat-active').textContent = fmtInt(sum('active'));
    $('stat-dead').textContent = fmtInt(sum('dead'));
    var select = $('chart-queue');
    var names = [ALL].concat(queues.map(function (q) { return q.queue; }));
    if (changed('queue-options', names)) {
      select.replaceChildren();
      names.forEach(function (name) { select.appendChild(el('option', { value: name, text: name === ALL ? 'All queues' : name })); });
    }
    select.value = state.selected;
    if (!changed('queues', { queues: queues, selected: state.selected })) return;
    var body = $('queues');
    body.replaceChildren();
    if (queues.length === 0) {
      body.appendChild(el('tr', null, el('td', { colspan: 11, className: 'empty-state', text: 'No queues yet: submit a job to create one.' })));
      return;
    }
    queues.forEach(function (q) {
      var row = el('tr', { className: 'selectable' + (q.queue === state.selected ? ' selected' : ''), 'data-testid': 'queue-row-' + q.queue, 'data-queue': q.queue },
        el('td', null, el('b', { text: q.queue })),
        el('td', null, el('span', { className: 'badge ' + (q.paused ? 'paused' : 'running'), text: q.paused ? 'paused' : 'running' })),
        numCell(q.counts.waiting, 'waiting'), numCell(q.counts.delayed, 'delayed'), numCell(q.counts.active, 'active'),
        numCell(q.counts.failed, 'failed'), numCell(q.counts.dead, 'dead'), numCell(q.counts.completed, 'completed'),
        numCell(q.counts.cancelled, 'cancelled'), numCell(q.totals.enqueued, 'enqueued'),
        el('td', { className: 'num' }, el('button', {
          'data-testid': (q.paused ? 'resume-' : 'pause-') + q.queue,
          text: q.paused ? 'Resume' : 'Pause',
          onclick: function (ev) { ev.stopPropagation(); pauseResume(q.queue, !q.paused, ev.currentTarget); },
        })));
      row.addEventListener('click', function () { select_(q.queue); });
      body.appendChild(row);
    });
  }

  async function pauseResume(queue, pause, button) {
    button.disabled = true;
    try {
      await api('POST', '/v1/queues/' + encodeURIComponent(queue) + (pause ? '/pause' : '/resume'));
      toast((pause ? 'Paused ' : 'Resumed ') + queue);
    } catch (e) { toast(e.message, true); }
    await refresh();
  }

  function select_(queue) {
    if (state.selected === queue) return;
    state.selected = queue;
    state.history = { queue: null, samples: [], windowMs: state.history.windowMs, intervalMs: state.history.intervalMs };
    state.rendered.dlq = null;
    refresh();
  }

  // ---------------------------------------------------------------- charts

  /** A round step (1, 2, 2.5 or 5 × 10^k) giving at most about 4 grid lines up to max. */
  function niceStep(max, integral) {
    var raw = max / 4;
    if (!(raw > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var n = raw / p;
    var step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * p;
    return integral ? Math.max(1, Math.ceil(step)) : step;
  }

  function fmtAxis(v, unit) {
    if (unit === 'ms') return fmtMs(v);
    var text = v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k' : (Math.round(v * 100) / 100).toString();
    return text + ' ' + unit;
  }

  function fmtAgo(ms) {
    if (ms >= 60000) return '−' + (Math.round(ms / 6000) / 10) + ' min';
    return '−' + Math.round(ms / 1000) + ' s';
  }

  function drawChart(svgId, legendId, samples, lines, unit, windowMs) {
    var plot = $(svgId);
    var width = Math.max(240, plot.clientWidth || 360);
    var height = 170;
    var m = { l: 58, r: 10, t: 10, b: 22 };
    plot.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    plot.replaceChildren();
    var nowMs = samples.length ? samples[samples.length - 1].atMs : Date.now();
    // Show the history there is (at least 20 s), up to the whole window.
    var spanMs = samples.length ? Math.min(windowMs, Math.max(20000, nowMs - samples[0].atMs)) : windowMs;
    var startMs = nowMs - spanMs;
    var max = 0;
    lines.forEach(function (line) { samples.forEach(function (s) { var v = line.value(s); if (v !== null && v > max) max = v; }); });
    var step = niceStep(max, unit === 'jobs');
    var top = step * Math.max(1, Math.ceil(max / step));
    var x = function (t) { return m.l + ((t - startMs) / spanMs) * (width - m.l - m.r); };
    var y = function (v) { return height - m.b - (v / top) * (height - m.t - m.b); };
    for (var gv = 0; gv <= top + step / 2; gv += step) {
      plot.appendChild(svg('line', { class: 'grid', x1: m.l, x2: width - m.r, y1: y(gv), y2: y(gv) }));
      plot.appendChild(svg('text', { class: 'axis', x: m.l - 6, y: y(gv) + 3, 'text-anchor': 'end' }, fmtAxis(gv, unit)));
    }
    [spanMs, spanMs / 2, 0].forEach(function (ago, i) {
      plot.appendChild(svg('text', { class: 'axis', x: x(nowMs - ago), y: height - 6, 'text-anchor': i === 0 ? 'start' : i === 2 ? 'end' : 'middle' }, ago === 0 ? 'now' : fmtAgo(ago)));
    });
    var legend = $(legendId);
    legend.replaceChildren();
    if (samples.length < 2) {
      plot.appendChild(svg('text', { class: 'empty', x: (width + m.l) / 2, y: height / 2, 'text-anchor': 'middle' }, 'collecting samples…'));
    }
    lines.forEach(function (line) {
      var d = '';
      var pen = false;
      var last = null;
      samples.forEach(function (s) {
        var v = line.value(s);
        if (v === null || v === undefined) { pen = false; return; }
        d += (pen ? 'L' : 'M') + x(s.atMs).toFixed(1) + ' ' + y(v).toFixed(1) + ' ';
        pen = true;
        last = v;
      });
      if (d) plot.appendChild(svg('path', { d: d, fill: 'none', stroke: line.color, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }));
      var shown = unit === 'ms' ? fmtMs(last) : (unit === 'jobs/s' ? fmtRate(last) + ' jobs/s' : jobs(last));
      legend.appendChild(el('span', { className: 'key' }, el('span', { className: 'sw', background: line.color }), line.label + ' ', el('b', { text: last === null ? '–' : shown })));
    });
  }

  function renderCharts() {
    var h = state.history;
    var samples = h.samples;
    var last = samples.length ? samples[samples.length - 1] : null;
    $('stat-rate').textContent = last ? fmtRate(last.completedPerSecond) : '–';
    $('stat-rate-hint').textContent = 'completed, ' + (state.selected === ALL ? 'all queues' : state.selected);
    drawChart('chart-rate', 'legend-rate', samples, [
      { label: 'enqueued', color: COLORS.enqueued, value: function (s) { return s.enqueuedPerSecond; } },
      { label: 'completed', color: COLORS.completed, value: function (s) { return s.completedPerSecond; } },
      { label: 'failed', color: COLORS.failed, value: function (s) { return s.failedPerSecond; } },
    ], 'jobs/s', h.windowMs);
    drawChart('chart-depth', 'legend-depth', samples, ['waiting', 'active', 'delayed', 'failed', 'dead'].map(function (st) {
      return { label: st === 'failed' ? 'retrying' : st, color: COLORS[st], value: function (s) { return s.depth[st]; } };
    }), 'jobs', h.windowMs);
    drawChart('chart-latency', 'legend-latency', samples, [
      { label: 'wait p50', color: COLORS.waitP50, value: function (s) { return s.waitMs.p50; } },
      { label: 'wait p95', color: COLORS.waitP95, value: function (s) { return s.waitMs.p95; } },
      { label: 'run p50', color: COLORS.runP50, value: function (s) { return s.runMs.p50; } },
      { label: 'run p95', color: COLORS.runP95, value: function (s) { return s.runMs.p95; } },
    ], 'ms', h.windowMs);
  }

  async function loadHistory() {
    var h = state.history;
    var queue = state.selected;
    var since = h.queue === queue && h.samples.length ? h.samples[h.samples.length - 1].atMs : 0;
    var view = await api('GET', '/v1/stats/history?queue=' + encodeURIComponent(queue) + '&sinceMs=' + since);
    if (state.selected !== queue) return;
    var samples = h.queue === queue ? h.samples.concat(view.samples) : view.samples;
    var cutoff = (samples.length ? samples[samples.length - 1].atMs : 0) - view.windowMs;
    samples = samples.filter(function (s) { return s.atMs >= cutoff; });
    state.history = { queue: queue, samples: samples, windowMs: view.windowMs, intervalMs: view.intervalMs };
  }

  // ---------------------------------------------------------------- dead letters

  async function loadDlq() {
    var box = $('dlq');
    var queue = state.selected;
    var retryAll = $('dlq-retry-all');
    var purgeAll = $('dlq-purge-all');
    if (queue === ALL) {
      $('dlq-title').textContent = '(pick a queue)';
      retryAll.disabled = true;
      purgeAll.disabled = true;
      var withDead = state.queues.filter(function (q) { return q.counts.dead > 0; });
      if (!changed('dlq', { all: withDead.map(function (q) { return [q.queue, q.counts.dead]; }) })) return;
      box.replaceChildren();
      if (withDead.length === 0) { box.appendChild(el('div', { className: 'empty-state', text: 'No dead jobs in any queue.' })); return; }
      var list = el('div', { className: 'row' });
      withDead.forEach(function (q) {
        list.appendChild(el('button', { 'data-testid': 'dlq-pick-' + q.queue, text: q.queue + ': ' + jobs(q.counts.dead) + ' dead', onclick: function () { select_(q.queue); } }));
      });
      box.appendChild(el('p', { className: 'muted', text: 'Queues with dead jobs:' }));
      box.appendChild(list);
      return;
    }
    var data = await api('GET', '/v1/queues/' + encodeURIComponent(queue) + '/dead?stale=1&limit=' + DLQ_PAGE);
    if (state.selected !== queue) return;
    $('dlq-title').textContent = queue + ' · ' + jobs(data.total);
    retryAll.disabled = data.total === 0;
    purgeAll.disabled = data.total === 0;
    if (!changed('dlq', { queue: queue, data: data })) return;
    box.replaceChildren();
    if (data.jobs.length === 0) { box.appendChild(el('div', { className: 'empty-state', 'data-testid': 'dlq-empty', text: 'No dead jobs in ' + queue + '.' })); return; }
    var table = el('table', { className: 'compact' }, el('thead', null, el('tr', null,
      el('th', { text: 'Job id' }), el('th', { className: 'num', text: 'Attempts' }), el('th', { text: 'Last error' }), el('th', { text: 'Died at' }), el('th'))));
    var body = el('tbody');
    data.jobs.forEach(function (job) {
      body.appendChild(el('tr', { 'data-testid': 'dlq-row-' + job.id },
        el('td', { className: 'mono' }, el('a', { href: '#', text: job.id, onclick: function (ev) { ev.preventDefault(); lookup(job.id); } })),
        el('td', { className: 'num', text: job.attempts + ' of ' + job.maxAttempts }),
        el('td', { className: 'trunc', title: job.lastError || '', text: job.lastError || '–' }),
        el('td', { className: 'muted', title: fmtTime(job.finishedAtMs), text: job.finishedAtMs === null ? '–' : fmtClock(job.finishedAtMs) }),
        el('td', { className: 'num' },
          el('button', { 'data-testid': 'dlq-retry-' + job.id, text: 'Retry', onclick: function (ev) { dlqAction(queue, 'retry', [job.id], ev.currentTarget); } }), ' ',
          el('button', { className: 'danger', 'data-testid': 'dlq-purge-' + job.id, text: 'Purge', onclick: function (ev) { dlqAction(queue, 'purge', [job.id], ev.currentTarget); } }))));
    });
    table.appendChild(body);
    box.appendChild(table);
    if (data.total > data.jobs.length) box.appendChild(el('p', { className: 'muted', text: 'Showing the oldest ' + data.jobs.length + ' of ' + fmtInt(data.total) + ' dead jobs.' }));
  }

  async function dlqAction(queue, action, jobIds, button) {
    if (action === 'purge' && !window.confirm('Delete ' + (jobIds ? jobIds.length : 'all') + ' dead job(s) of ' + queue + ' for good?')) return;
    if (button) button.disabled = true;
    var path = '/v1/queues/' + encodeURIComponent(queue) + '/dead/' + action;
    var key = action === 'retry' ? 'retried' : 'purged';
    try {
      var done = 0;
      if (jobIds) {
        done = (await api('POST', path, { jobIds: jobIds }))[key];
      } else {
        // Bounded batches: one command per DLQ_BATCH jobs, never one unbounded log entry.
        for (var round = 0; round < DLQ_ROUNDS_MAX; round++) {
          var n = (await api('POST', path, { max: DLQ_BATCH }))[key];
          done += n;
          if (n < DLQ_BATCH) break;
        }
      }
      toast((action === 'retry' ? 'Retried ' : 'Purged ') + fmtInt(done) + ' job' + (done === 1 ? '' : 's') + ' of ' + queue);
    } catch (e) { toast(e.message, true); }
    state.rendered.dlq = null;
    await refresh();
  }

  // ---------------------------------------------------------------- job lookup

  function pretty(value) {
    if (value === null || value === undefined) return '–';
    var text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value, null, 2);
    return text.length > 4000 ? text.slice(0, 4000) + '…' : text;
  }

  async function lookup(id) {
    var out = $('lookup-result');
    $('lookup-id').value = id;
    out.replaceChildren(el('p', { className: 'muted', text: 'Looking up ' + id + '…' }));
    try {
      var job = await api('GET', '/v1/jobs/' + encodeURIComponent(id));
      var rows = [
        ['Id', el('span', { className: 'mono', text: job.id })],
        ['State', el('span', { className: 'badge ' + job.state, 'data-testid': 'lookup-state', text: job.state })],
        ['Queue', job.queue], ['Name', job.name], ['Priority', job.priority + ' (0 lowest … 9 highest)'],
        ['Attempts', job.attempts + ' of ' + job.maxAttempts + (job.redeliveries ? ', ' + job.redeliveries + ' redelivered after lease expiry' : '')],
        ['Created', fmtTime(job.createdAtMs)], ['Runs at', fmtTime(job.runAtMs)],
        ['Started', fmtTime(job.startedAtMs)], ['Finished', fmtTime(job.finishedAtMs)],
        ['Lease', job.lease ? 'held by ' + job.lease.workerId + ' until ' + fmtTime(job.lease.expiresAtMs) : '–'],
        ['Lease time', fmtMs(job.leaseMs)],
        ['Last error', job.lastError || '–'],
        ['Payload', el('pre', { text: pretty(job.payload) })],
        ['Result', el('pre', { text: pretty(job.result) })],
      ];
      var kv = el('div', { className: 'kv', 'data-testid': 'lookup-detail' });
      rows.forEach(function (r) { kv.appendChild(el('div', { className: 'k', text: r[0] })); kv.appendChild(el('div', null, r[1])); });
      out.replaceChildren(kv);
    } catch (e) {
      out.replaceChildren(el('p', { className: 'error', 'data-testid': 'lookup-error', text: e.status === 404 ? 'No job with id ' + id + '.' : e.message }));
    }
  }

  // ---------------------------------------------------------------- schedules

  function fmtEvery(ms) {
    var units = [[86400000, 'd'], [3600000, 'h'], [60000, 'min'], [1000, 's']];
    for (var i = 0; i < units.length; i++) if (ms % units[i][0] === 0) return 'every ' + fmtInt(ms / units[i][0]) + ' ' + units[i][1];
    return 'every ' + fmtInt(ms) + ' ms';
  }

  function renderSchedules(schedules) {
    if (!changed('schedules', schedules)) return;
    var body = $('schedules');
    body.replaceChildren();
    if (schedules.length === 0) {
      body.appendChild(el('tr', null, el('td', { className: 'muted', colSpan: 8, text: 'No schedules. Add one with: raftq schedule set <queue> <id> --cron "0 3 * * *"' })));
      return;
    }
    schedules.forEach(function (s) {
      var last = s.lastJobId ? el('a', { href: '#', text: s.lastJobId }) : el('span', { className: 'muted', text: '–' });
      if (s.lastJobId) last.addEventListener('click', function (ev) { ev.preventDefault(); $('lookup-id').value = s.lastJobId; lookup(s.lastJobId); });
      body.appendChild(el('tr', { 'data-testid': 'schedule-row-' + s.queue + '-' + s.scheduleId },
        el('td', null, s.queue),
        el('td', null, el('b', { text: s.scheduleId })),
        el('td', null, s.cron !== null ? el('code', { text: s.cron }) : fmtEvery(s.everyMs)),
        el('td', null, fmtTime(s.nextRunAtMs)),
        el('td', null, fmtTime(s.lastRunAtMs)),
        numCell(s.runs),
        numCell(s.refused),
        el('td', null, last)));
    });
  }

  // ---------------------------------------------------------------- loop

  function setStatus(ok, text) {
    $('status').className = 'pill ' + (ok ? 'live' : 'down');
    $('status-text').textContent = ok ? 'live' : 'offline';
    $('updated').textContent = text;
  }

  var refreshing = null;
  function refresh() {
    if (!refreshing) refreshing = poll().finally(function () { refreshing = null; });
    return refreshing;
  }

  async function poll() {
    try {
      var results = await Promise.all([api('GET', '/v1/cluster/nodes'), api('GET', '/v1/queues?stale=1'), api('GET', '/v1/schedules?stale=1')]);
      renderCluster(results[0]);
      renderSchedules(results[2].schedules);
      state.queues = results[1].queues;
      if (state.selected !== ALL && !state.queues.some(function (q) { return q.queue === state.selected; })) state.selected = ALL;
      renderQueues(state.queues);
      await Promise.all([loadHistory().then(renderCharts), loadDlq()]);
      state.lastOkMs = Date.now();
      setStatus(true, 'updated ' + fmtClock(Date.now()) + ' · every ' + (POLL_MS / 1000) + ' s');
    } catch (e) {
      setStatus(false, 'last error: ' + e.message + (state.lastOkMs ? ' · last update ' + fmtClock(state.lastOkMs) : ''));
    }
  }

  $('chart-queue').addEventListener('change', function (ev) { select_(ev.target.value); });
  $('lookup-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var id = $('lookup-id').value.trim();
    if (id) lookup(id);
  });
  $('dlq-retry-all').addEventListener('click', function (ev) { if (state.selected !== ALL) dlqAction(state.selected, 'retry', null, ev.currentTarget); });
  $('dlq-purge-all').addEventListener('click', function (ev) { if (state.selected !== ALL) dlqAction(state.selected, 'purge', null, ev.currentTarget); });
  window.addEventListener('resize', function () { renderCharts(); });
  refresh();
  setInterval(refresh, POLL_MS);
})();
`.replace('__POLL_MS__', String(DASHBOARD_POLL_INTERVAL_MS));
