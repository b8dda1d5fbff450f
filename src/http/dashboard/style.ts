// The dashboard's stylesheet, served same-origin at /dashboard/style.css (no CDN, no build step).

export const DASHBOARD_CSS = String.raw`
:root {
  --bg: #f4f6fb; --card: #ffffff; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0;
  --accent: #4f46e5; --ok: #059669; --warn: #d97706; --bad: #dc2626; --soft: #f8fafc;
  --c-enqueued: #6366f1; --c-completed: #10b981; --c-failed: #f59e0b; --c-dead: #ef4444;
  --c-waiting: #3b82f6; --c-active: #8b5cf6; --c-delayed: #94a3b8;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--ink); }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.mono, code, pre, td.num, .num { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace; }
header.top { background: #0f172a; color: #e2e8f0; padding: 0 24px; height: 56px; display: flex; align-items: center; gap: 16px; }
header.top .brand { font-weight: 700; font-size: 18px; letter-spacing: 0.2px; color: #fff; display: flex; align-items: center; gap: 10px; }
header.top .brand .logo { width: 22px; height: 22px; border-radius: 6px; background: linear-gradient(135deg, #6366f1, #10b981); display: inline-block; }
header.top .sub { color: #94a3b8; font-size: 13px; }
header.top .spacer { flex: 1; }
.pill { display: inline-flex; align-items: center; gap: 6px; border-radius: 999px; padding: 3px 10px; font-size: 12px; font-weight: 600; }
.pill .dot { width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
.pill.live { background: rgba(16, 185, 129, 0.15); color: #34d399; }
.pill.down { background: rgba(239, 68, 68, 0.18); color: #fca5a5; }
main { max-width: 1320px; margin: 0 auto; padding: 20px 24px 40px; display: grid; gap: 16px; }
.cards { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 12px; }
.stat { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 12px 14px; }
.stat .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.06em; }
.stat .value { font-size: 24px; font-weight: 700; margin-top: 2px; }
.stat .unit { font-size: 13px; font-weight: 500; color: var(--muted); margin-left: 4px; }
.stat .hint { color: var(--muted); font-size: 12px; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; overflow: hidden; }
section.card > h2 { margin: 0; font-size: 15px; padding: 12px 16px; border-bottom: 1px solid var(--line); display: flex; align-items: center; gap: 10px; }
section.card > h2 .muted { font-weight: 400; }
section.card > h2 .spacer { flex: 1; }
.body { padding: 12px 16px; }
.muted { color: var(--muted); }
.grid2 { display: grid; grid-template-columns: minmax(0, 1.5fr) minmax(0, 1fr); gap: 16px; align-items: start; }
table { width: 100%; border-collapse: collapse; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 11px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); font-weight: 600; background: var(--soft); }
th.num, td.num { text-align: right; }
tbody tr:last-child td { border-bottom: none; }
tr.selectable { cursor: pointer; }
tr.selectable:hover td { background: #f1f5ff; }
tr.selected td { background: #eef2ff; }
tr.selected td:first-child { box-shadow: inset 3px 0 0 var(--accent); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #e2e8f0; color: #334155; }
.badge.leader { background: #e0e7ff; color: #3730a3; }
.badge.follower { background: #dcfce7; color: #166534; }
.badge.candidate, .badge.precandidate { background: #fef3c7; color: #92400e; }
.badge.unreachable, .badge.dead { background: #fee2e2; color: #991b1b; }
.badge.paused { background: #fef3c7; color: #92400e; }
.badge.running, .badge.completed { background: #dcfce7; color: #166534; }
.badge.waiting { background: #dbeafe; color: #1e40af; }
.badge.active { background: #ede9fe; color: #5b21b6; }
.badge.failed { background: #ffedd5; color: #9a3412; }
.zero { color: #cbd5e1; }
button { font: inherit; font-size: 12px; font-weight: 600; border-radius: 8px; border: 1px solid var(--line); background: #fff; color: var(--ink); padding: 4px 10px; cursor: pointer; }
button:hover { border-color: #a5b4fc; background: #f5f7ff; }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
button.primary:hover { background: #4338ca; }
button.danger { color: var(--bad); }
button.danger:hover { border-color: #fca5a5; background: #fff5f5; }
button:disabled { opacity: 0.5; cursor: default; }
select, input[type=text] { font: inherit; border: 1px solid var(--line); border-radius: 8px; padding: 5px 10px; background: #fff; }
input[type=text] { min-width: 260px; }
.charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; padding: 12px 16px 16px; }
.chart h3 { margin: 0 0 4px; font-size: 13px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 12px; color: var(--muted); min-height: 18px; }
.legend .key { display: inline-flex; align-items: center; gap: 5px; }
.legend .sw { width: 10px; height: 3px; border-radius: 2px; display: inline-block; }
.legend b { color: var(--ink); font-weight: 600; }
svg.plot { width: 100%; height: 170px; display: block; }
svg.plot .grid { stroke: #eef2f7; stroke-width: 1; }
svg.plot .axis { fill: #94a3b8; font-size: 10px; }
svg.plot .empty { fill: #94a3b8; font-size: 12px; }
.kv { display: grid; grid-template-columns: 150px minmax(0, 1fr); gap: 4px 12px; margin-top: 10px; }
.kv .k { color: var(--muted); }
.kv pre { margin: 0; background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 6px 8px; max-height: 160px; overflow: auto; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
.row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.error { color: var(--bad); }
.empty-state { color: var(--muted); padding: 14px 0; text-align: center; }
.toast { position: fixed; right: 20px; bottom: 20px; background: #0f172a; color: #fff; padding: 10px 14px; border-radius: 10px; font-size: 13px; box-shadow: 0 8px 24px rgba(15, 23, 42, 0.25); opacity: 0; transition: opacity 0.2s; pointer-events: none; }
.toast.show { opacity: 1; }
.trunc { max-width: 240px; overflow: hidden; text-overflow: ellipsis; }
table.compact th, table.compact td { padding: 6px 8px; }
table.compact th:first-child, table.compact td:first-child { padding-left: 0; }
table.compact th:last-child, table.compact td:last-child { padding-right: 0; }
.scroll-x { overflow-x: auto; }
@media (max-width: 1100px) { .cards { grid-template-columns: repeat(3, minmax(0, 1fr)); } .charts, .grid2 { grid-template-columns: 1fr; } }
`;
