/**
 * GET /: the live page of a worker, with no build step — one HTML string with
 * its CSS and JS inline. The script polls the worker's JSON routes (/health,
 * /agents, /topics, /tables, /lag) every second and draws the topology
 * (topics → agents → tables → sinks), per-agent and per-topic rates (computed
 * here, in the browser, from the counters), per-partition lag and table
 * recovery. Every value reaches the DOM as text (textContent, never markup),
 * and the Content-Security-Policy admits only this script and this style (by
 * hash) and requests to the worker itself.
 */
import { createHash } from 'node:crypto'

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --line: #d5d9e0; --muted: #667085;
  --ok: #1a7f37; --warn: #b35900; --bad: #c62828; --accent: #2f6fdf; }
@media (prefers-color-scheme: dark) { :root { --bg: #15171c; --card: #1e2128; --line: #343a46;
  --muted: #98a2b3; --ok: #3fb950; --warn: #e3a008; --bad: #f85149; --accent: #6ea8fe; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); }
header { display: flex; gap: 12px; align-items: center; padding: 12px 20px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 17px; margin: 0; }
main { padding: 16px 20px; display: grid; gap: 18px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 8px; }
.pill { padding: 1px 9px; border-radius: 10px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; }
.ok, .running { color: var(--ok); } .recovering, .starting, .stopping { color: var(--warn); }
.failed, .stopped, .error { color: var(--bad); }
.muted { color: var(--muted); }
.flow { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 14px; }
.col > h2::after { content: " \\2192"; } .col:last-child > h2::after { content: ""; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; margin-bottom: 8px; }
.card h3 { margin: 0 0 4px; font-size: 14px; display: flex; justify-content: space-between; gap: 6px; overflow-wrap: anywhere; }
.card p.describe { margin: 0 0 4px; color: var(--muted, #666); font-size: 12px; }
.row { display: flex; justify-content: space-between; gap: 8px; font-size: 12.5px; }
.row .num { font-variant-numeric: tabular-nums; font-weight: 600; }
.edge { font-size: 12px; color: var(--accent); overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
progress { width: 100%; height: 10px; }
td:last-child { width: 30%; }
.panels { display: grid; grid-template-columns: 2fr 1fr; gap: 14px; }
`

const SCRIPT = `
'use strict';
var prev = new Map();
var prevAt = 0;
var next = new Map();
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}
function fmt(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(Math.round(n));
}
/** Per second since the last poll, from a counter (blank on the first poll and after a restart). */
function rate(key, value, now) {
  next.set(key, value);
  var before = prev.get(key);
  if (before === undefined || value < before || now <= prevAt) return '\\u2013';
  var r = (value - before) / ((now - prevAt) / 1000);
  return (r < 10 ? r.toFixed(1) : fmt(r)) + '/s';
}
function row(label, value, of) {
  var r = el('div', 'row');
  r.append(el('span', 'muted', label));
  var v = el('span', 'num', value);
  if (of) v.dataset.of = of;
  r.append(v);
  return r;
}
function card(name, kind, badge, badgeClass, describe) {
  var c = el('div', 'card');
  c.dataset[kind] = name;
  var h = el('h3');
  h.append(el('span', '', name));
  if (badge) h.append(el('span', 'pill ' + badgeClass, badge));
  c.append(h);
  if (describe) c.append(el('p', 'describe', describe));
  return c;
}
// A worker with web.token: open the page as /#token=<token> (the fragment never leaves the browser).
var token = new URLSearchParams(location.hash.slice(1)).get('token');
async function getJson(path) {
  var headers = { accept: 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  var res = await fetch(path, { cache: 'no-store', headers: headers });
  var body = await res.json();
  if (res.status === 401) throw new Error('this worker needs its web token: open this page as /#token=<token>');
  if (!res.ok && path !== 'health' && path !== 'lag') throw new Error(path + ': HTTP ' + res.status);
  return { ok: res.ok, body: body };
}
function drawFlow(agents, topics, tables, now) {
  // The flow is the app's own topics; internal ones (changelogs, replies, ...) are plumbing.
  topics = topics.filter(function (t) { return !t.internal; });
  var sinks = new Map();
  agents.forEach(function (a) {
    a.sink.forEach(function (s) { sinks.set(s, (sinks.get(s) || []).concat(a.name)); });
  });
  var byName = new Map(topics.map(function (t) { return [t.name, t]; }));
  var src = [];
  topics.forEach(function (t) {
    if (t.agents.length > 0 || !sinks.has(t.name)) {
      var c = card(t.name, 'topic', t.partitions + ' part.', 'muted', t.describe);
      c.append(row('in', fmt(t.messagesIn), 'topic.' + t.name + '.in'));
      c.append(row('in rate', rate('ti.' + t.name, t.messagesIn, now)));
      c.append(el('div', 'edge', t.agents.length ? '\\u2192 ' + t.agents.join(', ') : 'no agent reads it'));
      src.push(c);
    }
  });
  var ags = agents.map(function (a) {
    var c = card(a.name, 'agent', a.state, a.state, a.describe);
    c.append(row('consumed', fmt(a.consumed), 'agent.' + a.name + '.consumed'));
    c.append(row('consumed rate', rate('ac.' + a.name, a.consumed, now), 'agent.' + a.name + '.rate'));
    c.append(row('yielded', fmt(a.yielded), 'agent.' + a.name + '.yielded'));
    c.append(row('yielded rate', rate('ay.' + a.name, a.yielded, now)));
    if (a.restarts) c.append(row('restarts', a.restarts));
    c.append(el('div', 'edge', 'from ' + a.from.join(', ') + (a.sink.length ? ' \\u2192 ' + a.sink.join(', ') : '')));
    return c;
  });
  var tbs = tables.map(function (t) {
    var kind = t.recovering ? 'recovering' : t.global ? 'global' : t.windowed ? 'windowed' : '';
    var c = card(t.name, 'table', kind, t.recovering ? 'recovering' : 'muted', t.describe);
    c.append(row('rows', fmt(t.rows), 'table.' + t.name + '.rows'));
    c.append(row('writes', fmt(t.writes), 'table.' + t.name + '.writes'));
    c.append(row('write rate', rate('tw.' + t.name, t.writes, now)));
    var of = t.partitions === null ? '?' : t.partitions;
    c.append(row('partitions held', (t.held.length ? t.held.join(',') : 'none') + ' of ' + of));
    if (t.followed && t.followed.length) c.append(row('owned / followed', (t.owned.join(',') || 'none') + ' / ' + t.followed.join(',')));
    return c;
  });
  var out = [];
  sinks.forEach(function (from, name) {
    var t = byName.get(name);
    var c = card(name, 'sink', t ? t.partitions + ' part.' : '', 'muted');
    var sent = t ? t.messagesOut : 0;
    c.append(row('sent', fmt(sent), 'sink.' + name + '.out'));
    c.append(row('send rate', rate('to.' + name, sent, now)));
    c.append(el('div', 'edge', 'from ' + from.join(', ')));
    out.push(c);
  });
  var fill = function (id, cards, none) {
    var box = document.getElementById(id);
    box.replaceChildren.apply(box, cards.length ? cards : [el('div', 'muted', none)]);
  };
  fill('topics', src, 'none');
  fill('agents', ags, 'none');
  fill('tables', tbs, 'none');
  fill('sinks', out, 'no agent sinks to a topic');
}
function drawLag(lag) {
  var box = document.getElementById('lag');
  if (!lag.ok) {
    box.replaceChildren(el('div', 'error', lag.body.error || 'lag unavailable'));
    return;
  }
  var rows = lag.body;
  if (!rows.length) {
    box.replaceChildren(el('div', 'muted', 'no partitions assigned'));
    return;
  }
  var max = Math.max.apply(null, rows.map(function (l) { return l.lag; }).concat([1]));
  var t = el('table');
  var head = el('tr');
  ['topic', 'partition', 'committed', 'end', 'lag', ''].forEach(function (h) { head.append(el('th', '', h)); });
  t.append(head);
  rows.forEach(function (l) {
    var tr = el('tr');
    tr.dataset.lag = l.topic + '.' + l.partition;
    [l.topic, l.partition, l.position, l.end, l.lag].forEach(function (v) { tr.append(el('td', '', v)); });
    var bar = el('progress');
    bar.max = max;
    bar.value = l.lag;
    var td = el('td');
    td.append(bar);
    tr.append(td);
    t.append(tr);
  });
  var total = rows.reduce(function (s, l) { return s + l.lag; }, 0);
  box.replaceChildren(el('div', 'muted', 'total lag: ' + total), t);
}
function drawRecovery(health) {
  var box = document.getElementById('recovery');
  var r = health.body.recovery;
  if (!r) {
    box.replaceChildren(el('div', 'muted', 'no recovery in progress'));
    return;
  }
  var bar = el('progress');
  if (r.phase === 'changelog' && r.changelog.of > 0) {
    bar.max = r.changelog.of;
    bar.value = r.changelog.done;
  }
  box.replaceChildren(
    el('div', '', 'table ' + r.table + ' (partitions ' + r.partitions.join(',') + '): ' + r.phase),
    bar,
    row('store rows loaded', fmt(r.storeRows)),
    row('changelog replayed', fmt(r.changelog.done) + ' of ' + fmt(r.changelog.of)),
    row('seconds', r.seconds),
  );
}
async function refresh() {
  var all = await Promise.all(['health', 'agents', 'topics', 'tables', 'lag'].map(getJson));
  var now = Date.now();
  next = new Map();
  var state = document.getElementById('state');
  var h = all[0].body;
  var status = h.state ? String(h.state) : h.status === 'ok' ? 'running' : String(h.status);
  state.textContent = status;
  state.className = 'pill ' + status;
  state.title = h.reason || 'ready; group ' + h.group;
  drawFlow(all[1].body, all[2].body, all[3].body, now);
  drawLag(all[4]);
  drawRecovery(all[0]);
  prev = next;
  prevAt = now;
  var updated = document.getElementById('updated');
  updated.className = 'muted';
  updated.textContent = 'updated ' + new Date(now).toLocaleTimeString();
}
async function poll() {
  try {
    await refresh();
  } catch (e) {
    var status = document.getElementById('updated');
    status.className = 'error';
    status.textContent = 'cannot reach the worker: ' + (e && e.message ? e.message : String(e));
  }
  setTimeout(poll, 1000);
}
poll();
`

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>stream-app worker</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>stream-app worker</h1><span id="state" class="pill">…</span><span id="updated" class="muted">loading</span></header>
<main>
<section class="flow">
<div class="col"><h2>Topics</h2><div id="topics"></div></div>
<div class="col"><h2>Agents</h2><div id="agents"></div></div>
<div class="col"><h2>Tables</h2><div id="tables"></div></div>
<div class="col"><h2>Sinks</h2><div id="sinks"></div></div>
</section>
<section class="panels">
<div><h2>Lag per partition</h2><div id="lag"></div></div>
<div><h2>Table recovery</h2><div id="recovery"></div></div>
</section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`

/** Only this page's own script and style run; it may fetch from the worker and nothing else. */
export const LIVE_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** The GET / handler (fresh headers per response: the node adapter adds to them in place). */
export const livePage = (): Response =>
  new Response(LIVE_PAGE_HTML, {
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': LIVE_PAGE_CSP,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
  })
