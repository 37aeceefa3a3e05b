// troupe's trajectory viewer (docs/viewer.md). Plain JS, no dependencies:
// the daemon serves this file from its binary. Every API call carries the
// token kept in this tab's sessionStorage; every text from the store (model
// output included) reaches the page as textContent, never as markup.
'use strict';

const TOKEN_KEY = 'troupe-token';
const SVG_NS = 'http://www.w3.org/2000/svg';
const POLL_MS = 1500;       // how often the runs list asks for new runs without the event stream
const MAX_LIST_STREAMS = 6; // event streams the list keeps open for active runs
const MAX_ROWS = 500;       // rows the list draws at once (newest first)

const $ = (id) => document.getElementById(id);

// ---- DOM helpers -----------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function clip(s, n) { s = String(s ?? ''); return s.length <= n ? s : s.slice(0, n - 1) + '…'; }
function fmtTime(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
function parseJson(text) { try { return JSON.parse(text); } catch { return null; } }

// ---- API -------------------------------------------------------------------

class AuthError extends Error {}

let token = sessionStorage.getItem(TOKEN_KEY) || '';

function showError(message) {
  const el = $('error');
  el.textContent = message || '';
  el.hidden = !message;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = 'Bearer ' + token;
  let res;
  try {
    res = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }));
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new Error('cannot reach the daemon (' + e.message + ')');
  }
  if (res.status === 401) {
    const body = parseJson(await res.text());
    throw new AuthError((body && body.error && body.error.message) || 'unauthorized');
  }
  if (!res.ok) {
    const body = parseJson(await res.text());
    const msg = (body && body.error && body.error.message) || res.statusText;
    throw new Error(path + ': ' + res.status + ' ' + msg);
  }
  return res;
}

async function apiJson(path, options) { return (await api(path, options)).json(); }

// Reads an SSE stream (fetch, so the token goes in a header: EventSource
// cannot send one) and calls onEvent(type, data, id) per event.
async function readEvents(path, lastId, onEvent, signal, onOpen) {
  const headers = {};
  if (lastId !== null && lastId !== undefined) headers['Last-Event-ID'] = String(lastId);
  const res = await api(path, { headers, signal });
  if (onOpen) await onOpen();
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let type = 'message', data = '', id = null;
      for (const line of frame.split('\n')) {
        if (line.startsWith('event: ')) type = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
        else if (line.startsWith('id: ')) id = line.slice(4);
      }
      if (data) onEvent(type, parseJson(data), id);
    }
  }
}

function handleFailure(e) {
  if (e && e.name === 'AbortError') return;
  if (e instanceof AuthError) {
    showLogin(token ? 'The daemon refused this token (401: ' + e.message + '). Enter the right one.'
                    : 'This daemon needs a token: ' + e.message);
    return;
  }
  showError(String(e && e.message ? e.message : e));
}

// ---- login -----------------------------------------------------------------

function showLogin(message) {
  stopAll();
  $('login').hidden = false;
  $('list-view').hidden = true;
  $('run-view').hidden = true;
  const err = $('login-error');
  err.textContent = message || '';
  err.hidden = !message;
  document.body.dataset.state = 'login';
  $('token-input').focus();
}

async function saveToken() {
  token = $('token-input').value.trim();
  $('token-input').value = '';
  try {
    await apiJson('/v1/runs?limit=1');
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    handleFailure(e);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('login').hidden = true;
  $('change-token').hidden = false;
  route();
}

// ---- router ----------------------------------------------------------------

let viewAbort = null;   // aborts the current view's streams and timers
let pollTimer = null;

function stopAll() {
  if (viewAbort) viewAbort.abort();
  viewAbort = null;
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  setLive(false);
}

function setLive(on) {
  $('live').textContent = on ? '● live' : '';
  $('live').classList.toggle('on', !!on);
}

function route() {
  stopAll();
  showError('');
  viewAbort = new AbortController();
  const m = location.hash.match(/^#\/runs\/(.+)$/);
  if (m) showRun(decodeURIComponent(m[1]), viewAbort.signal).catch(handleFailure);
  else showList(viewAbort.signal).catch(handleFailure);
}

// ---- runs list -------------------------------------------------------------

const list = { runs: new Map(), last: '', streams: new Map() };

function runTokens(r) {
  const m = r.metrics || {};
  return (m.prompt_tokens || 0) + (m.completion_tokens || 0);
}

function passesFilters(r) {
  const wf = $('f-workflow').value, st = $('f-status').value, since = Number($('f-since').value || 0);
  if (wf && r.workflow !== wf) return false;
  if (st && r.status !== st) return false;
  if (since && r.created_ms < Date.now() - since) return false;
  return true;
}

function renderList() {
  const wfSelect = $('f-workflow');
  const known = new Set([...wfSelect.options].map((o) => o.value));
  for (const r of list.runs.values())
    if (r.workflow && !known.has(r.workflow)) { wfSelect.append(h('option', { text: r.workflow })); known.add(r.workflow); }
  const body = clear($('runs').tBodies[0]);
  let shown = 0, matching = 0;
  const runs = [...list.runs.values()].sort((a, b) => (a.id < b.id ? 1 : -1));  // newest first
  for (const r of runs) {
    if (!passesFilters(r)) continue;
    if (++matching > MAX_ROWS) continue;
    ++shown;
    const m = r.metrics || {};
    body.append(h('tr', { 'data-run-id': r.id, 'data-status': r.status, 'data-workflow': r.workflow },
      h('td', { class: 'run-id' }, h('a', { href: '#/runs/' + encodeURIComponent(r.id), text: r.id })),
      h('td', { text: r.workflow }), h('td', { text: r.pipeline }),
      h('td', {}, h('span', { class: 'status ' + r.status, text: r.status })),
      h('td', { text: clip(r.answer || r.error, 60), title: r.answer || r.error }),
      h('td', { text: r.correct === null || r.correct === undefined ? '' : r.correct ? 'yes' : 'no' }),
      h('td', { text: m.calls ?? '' }), h('td', { text: r.metrics ? runTokens(r) : '' }),
      h('td', { text: fmtTime(r.created_ms) })));
  }
  $('run-count').textContent = matching + ' of ' + list.runs.size + ' runs' +
    (matching > shown ? ' (the newest ' + shown + ' shown; narrow the filters)' : '');
}

async function fetchNewRuns(signal) {
  for (let pages = 0; pages < 50; ++pages) {
    const q = '/v1/runs?limit=1000' + (list.last ? '&after=' + encodeURIComponent(list.last) : '');
    const page = await apiJson(q, { signal });
    for (const r of page.runs) { list.runs.set(r.id, r); list.last = r.id; }
    if (!page.next_after) return;
  }
}

function isActive(r) { return r.status === 'queued' || r.status === 'running'; }

// Active runs are followed over their event streams (a few at a time);
// the rest of them are re-read on each poll.
function followActive(signal) {
  for (const r of list.runs.values()) {
    if (!isActive(r) || list.streams.has(r.id) || list.streams.size >= MAX_LIST_STREAMS) continue;
    const id = r.id;
    list.streams.set(id, true);
    readEvents('/v1/runs/' + encodeURIComponent(id) + '/events', null, (type) => {
      const run = list.runs.get(id);
      if (run && type === 'step' && run.status === 'queued') { run.status = 'running'; renderList(); }
    }, signal).then(() => refreshRun(id, signal)).catch((e) => { if (e.name !== 'AbortError') handleFailure(e); })
      .finally(() => list.streams.delete(id));
  }
}

async function refreshRun(id, signal) {
  const r = await apiJson('/v1/runs/' + encodeURIComponent(id), { signal });
  list.runs.set(r.id, r);
  renderList();
}

// A status event of the daemon-wide stream: a new run is read with the
// next page of the list; a known one takes the new status, and its whole
// record once it has ended (answer, metrics).
let listFetch = null;
function onRunEvent(data, signal, retried) {
  const run = list.runs.get(data.run_id);
  if (!run) {
    // Events keep their order: applied after the fetch, the last one of a
    // run is its newest status.
    if (retried) return;
    if (!listFetch) listFetch = fetchNewRuns(signal).then(renderList).catch(handleFailure).finally(() => { listFetch = null; });
    listFetch.then(() => onRunEvent(data, signal, true));
    return;
  }
  run.status = data.status;
  renderList();
  if (!isActive(run)) refreshRun(run.id, signal).catch(handleFailure);
}

// Without the daemon-wide stream (an older daemon, or every stream slot
// taken): ask for new runs every POLL_MS and follow active runs over their
// own event streams.
function pollList(signal) {
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await fetchNewRuns(signal);
      for (const r of list.runs.values())
        if (isActive(r) && !list.streams.has(r.id)) await refreshRun(r.id, signal);
      renderList();
      followActive(signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      handleFailure(e);
      if (e instanceof AuthError) return;
    }
    pollTimer = setTimeout(tick, POLL_MS);
  };
  followActive(signal);
  pollTimer = setTimeout(tick, POLL_MS);
}

async function showList(signal) {
  document.title = 'troupe — runs';
  $('run-view').hidden = true;
  $('list-view').hidden = false;
  list.runs.clear(); list.last = ''; list.streams.clear();
  // The stream first, then the list: no run is missed in between.
  let opened = false;
  const stream = readEvents('/v1/events', null, (type, data) => { if (type === 'run' && data) onRunEvent(data, signal); },
    signal, async () => {
      opened = true;
      await fetchNewRuns(signal);
      renderList();
      document.body.dataset.state = 'list';
      document.body.dataset.updates = 'stream';
      setLive(true);
    });
  try {
    await stream;
  } catch (e) {
    if (e.name === 'AbortError' || e instanceof AuthError) throw e;
    if (opened) showError('live updates stopped: ' + e.message);
  }
  if (signal.aborted) return;
  setLive(false);
  if (!opened) {
    await fetchNewRuns(signal);
    renderList();
    document.body.dataset.state = 'list';
  }
  document.body.dataset.updates = 'poll';
  setLive(true);
  pollList(signal);
}

for (const id of ['f-workflow', 'f-status', 'f-since']) $(id).addEventListener('change', renderList);

// ---- one run ---------------------------------------------------------------

const ROLE_COLORS = ['#3a7bd5', '#e0913a', '#3aa36b', '#a35bd1', '#d14b5b', '#2aa6b8', '#8a7a2a', '#666'];

function stepText(s) {
  const t = [s.role + '/' + s.kind + ' #' + s.seq];
  if (s.answer) t.push('answer ' + clip(s.answer, 40));
  if (s.verdict !== null) t.push('verdict ' + (s.verdict ? 'yes' : 'no'));
  if (s.score !== null) t.push('score ' + s.score);
  if (s.replayed) t.push('replayed');
  return t.join(' · ');
}

function renderHead(data) {
  const r = data.run, m = r.metrics || {};
  const head = clear($('run-head'));
  head.append(h('h2', {}, 'Run ', h('code', { text: r.id }), ' ', h('span', { class: 'status ' + r.status, text: r.status })));
  const facts = [
    ['workflow', r.workflow + ' (' + r.pipeline + ')'], ['item', r.item_id],
    ['input', r.input ? JSON.stringify(r.input) : ''], ['answer', r.answer],
    ['correct', r.correct === null ? '—' : r.correct ? 'yes' : 'no'], ['error', r.error],
    ['calls', m.calls], ['tokens', m.prompt_tokens !== undefined ? m.prompt_tokens + ' prompt (' + (m.cached_prompt_tokens || 0) + ' cached) + ' + m.completion_tokens + ' completion' : ''],
    ['replayed calls', m.replayed_calls], ['wall', m.wall_ms !== undefined ? Math.round(m.wall_ms) + ' ms' : ''],
    ['steps', data.steps.length], ['pairs', data.pairs.length], ['created', fmtTime(r.created_ms)],
  ];
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of facts) if (v !== '' && v !== undefined && v !== null) dl.append(h('dt', { text: k }), h('dd', { text: v }));
  head.append(dl);
  const exports = h('p', { class: 'exports' }, 'Export this run: ');
  for (const f of ['sft', 'dpo', 'kto'])
    exports.append(h('a', { href: '/v1/runs/' + encodeURIComponent(r.id) + '/export?format=' + f, class: 'export', 'data-format': f,
      text: f.toUpperCase() + ' rows', onclick: (ev) => { ev.preventDefault(); downloadExport(r.id, f, ev.target); } }), ' ');
  exports.append(h('span', { id: 'export-status', class: 'muted' }));
  head.append(exports);
}

async function downloadExport(id, format, link) {
  try {
    const res = await api('/v1/runs/' + encodeURIComponent(id) + '/export?format=' + format);
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: id + '-' + format + '.jsonl' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    $('export-status').textContent = format + ': ' + (res.headers.get('X-Troupe-Rows') || '?') + ' rows';
    link.dataset.rows = res.headers.get('X-Troupe-Rows') || '';
  } catch (e) { handleFailure(e); }
}

function selectStep(seq) {
  for (const n of document.querySelectorAll('#graph g.node')) n.classList.toggle('selected', Number(n.dataset.seq) === seq);
  const d = document.querySelector('#steps details[data-seq="' + seq + '"]');
  if (d) { d.open = true; d.scrollIntoView({ block: 'nearest' }); }
}

function renderGraph(steps) {
  const g = clear($('graph'));
  const roles = [];
  for (const s of steps) if (!roles.includes(s.role)) roles.push(s.role);
  const laneH = 56, colW = 60, left = 120, top = 24, r = 13;
  const width = left + Math.max(1, steps.length) * colW + 20, height = top + roles.length * laneH + 10;
  g.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  g.setAttribute('width', width);
  g.setAttribute('height', height);
  const pos = new Map();
  steps.forEach((s, i) => pos.set(s.seq, { x: left + i * colW + colW / 2, y: top + roles.indexOf(s.role) * laneH + laneH / 2 }));
  roles.forEach((role, i) => {
    g.append(svg('g', { class: 'lane', 'data-role': role },
      svg('rect', { x: 0, y: top + i * laneH, width, height: laneH, class: i % 2 ? 'lane-odd' : 'lane-even' }),
      svg('text', { x: 8, y: top + i * laneH + laneH / 2 + 4, class: 'lane-label', text: clip(role, 16) })));
  });
  const edges = svg('g', { class: 'edges' });
  for (const s of steps) {
    const to = pos.get(s.seq);
    for (const p of s.parents) {
      const from = pos.get(p);
      if (!from) continue;
      const mx = (from.x + to.x) / 2;
      edges.append(svg('path', { class: 'edge', 'data-from': p, 'data-to': s.seq,
        d: 'M' + from.x + ',' + from.y + ' C' + mx + ',' + from.y + ' ' + mx + ',' + to.y + ' ' + to.x + ',' + to.y }));
    }
  }
  g.append(edges);
  for (const s of steps) {
    const p = pos.get(s.seq);
    const color = ROLE_COLORS[roles.indexOf(s.role) % ROLE_COLORS.length];
    let cls = 'node';
    if (s.verdict === true) cls += ' yes';
    if (s.verdict === false) cls += ' no';
    if (s.replayed) cls += ' replayed';
    const node = svg('g', { class: cls, 'data-seq': s.seq, 'data-role': s.role, tabindex: 0,
      onclick: () => selectStep(s.seq) },
      svg('title', { text: stepText(s) }),
      svg('circle', { cx: p.x, cy: p.y, r, fill: color }),
      svg('text', { x: p.x, y: p.y + 4, class: 'node-label', text: s.seq }),
      svg('text', { x: p.x, y: p.y + r + 11, class: 'node-kind', text: clip(s.kind, 9) }));
    if (s.replayed) node.append(svg('text', { x: p.x + r - 2, y: p.y - r + 2, class: 'replay-mark', text: 'R' }));
    g.append(node);
  }
}

function renderBudget(data) {
  const g = clear($('budget'));
  const steps = data.steps;
  const width = 640, height = 160, pad = 36;
  g.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
  g.setAttribute('width', width);
  g.setAttribute('height', height);
  if (!steps.length) { g.append(svg('text', { x: pad, y: height / 2, text: 'no steps yet' })); return; }
  const t0 = Math.min(data.run.created_ms || steps[0].created_ms, steps[0].created_ms);
  let tokens = 0;
  const pts = [[0, 0]];
  for (const s of steps) { tokens += s.prompt_tokens + s.completion_tokens; pts.push([s.created_ms - t0, tokens]); }
  const tMax = Math.max(1, pts[pts.length - 1][0]), yMax = Math.max(1, tokens);
  const X = (t) => pad + (t / tMax) * (width - 2 * pad), Y = (v) => height - pad + 10 - (v / yMax) * (height - pad - 10);
  g.append(svg('line', { x1: pad, y1: Y(0), x2: width - pad, y2: Y(0), class: 'axis' }),
    svg('line', { x1: pad, y1: Y(0), x2: pad, y2: Y(yMax), class: 'axis' }),
    svg('text', { x: pad, y: height - 4, class: 'axis-label', text: '0 ms' }),
    svg('text', { x: width - pad, y: height - 4, class: 'axis-label end', text: tMax + ' ms' }),
    svg('text', { x: pad + 4, y: Y(yMax) + 4, class: 'axis-label', text: yMax + ' tokens' }),
    svg('polyline', { class: 'budget-line', points: pts.map(([t, v]) => X(t) + ',' + Y(v)).join(' ') }));
  const m = data.run.metrics;
  if (m && m.calls !== undefined)
    g.append(svg('text', { x: width - pad, y: 14, class: 'axis-label end',
      text: m.calls + ' calls, ' + (m.cached_prompt_tokens || 0) + ' cached prompt tokens' }));
}

// Completion text, coloured by token logprob where the step recorded them
// (meta.logprobs: [{token, logprob}]).
function completionView(s) {
  const lp = s.meta && Array.isArray(s.meta.logprobs) ? s.meta.logprobs : null;
  if (!lp || !lp.length) return h('pre', { class: 'completion', text: s.completion });
  const pre = h('pre', { class: 'completion heat' });
  for (const t of lp) {
    const p = Math.exp(Math.min(0, Number(t.logprob) || 0));
    const span = h('span', { text: t.token, title: 'logprob ' + t.logprob, class: 'heat' + Math.min(4, Math.floor((1 - p) * 5)) });
    pre.append(span);
  }
  return pre;
}

function renderSteps(steps) {
  const box = clear($('steps'));
  for (const s of steps) {
    const facts = [
      ['parents', s.parents.join(', ') || '—'],
      ['tokens', s.prompt_tokens + ' prompt (' + s.cached_prompt_tokens + ' cached) + ' + s.completion_tokens + ' completion'],
      ['latency', s.latency_ms.toFixed(1) + ' ms'], ['finish', s.finish_reason], ['backend', s.backend],
      ['answer', s.answer], ['verdict', s.verdict === null ? '' : s.verdict ? 'yes' : 'no'],
      ['score', s.score === null ? '' : s.score], ['label', s.label === null ? '' : s.label ? 'good' : 'bad'],
      ['replayed', s.replayed ? 'yes (answered from the journal, not the backend)' : ''],
      ['sampling', s.sampling ? JSON.stringify(s.sampling) : ''], ['meta', s.meta ? JSON.stringify(s.meta) : ''],
    ];
    const dl = h('dl', { class: 'facts' });
    for (const [k, v] of facts) if (v !== '' && v !== null && v !== undefined) dl.append(h('dt', { text: k }), h('dd', { text: v }));
    const prompt = h('div', { class: 'prompt' });
    for (const m of s.prompt) prompt.append(h('div', { class: 'msg' }, h('span', { class: 'msg-role', text: m.role }), h('pre', { text: m.content })));
    box.append(h('details', { 'data-seq': s.seq, class: s.replayed ? 'replayed' : '' },
      h('summary', { text: stepText(s) }), dl,
      h('h4', { text: 'prompt' }), prompt, h('h4', { text: 'completion' }), completionView(s)));
  }
}

function renderPairs(pairs) {
  const sec = clear($('pairs'));
  sec.hidden = !pairs.length;
  if (!pairs.length) return;
  sec.append(h('h2', { text: 'Preference pairs' }));
  for (const p of pairs) {
    sec.append(h('div', { class: 'pair', 'data-pair': p.id },
      h('p', { class: 'muted', text: 'steps ' + p.source_steps.join(' ≻ ') + ' · ' + p.reason + ' · margin ' + p.margin }),
      h('div', { class: 'side-by-side' },
        h('div', { class: 'chosen' }, h('h4', { text: 'chosen' }), h('pre', { text: p.chosen })),
        h('div', { class: 'rejected' }, h('h4', { text: 'rejected' }), h('pre', { text: p.rejected })))));
  }
}

// ---- pipeline views ----------------------------------------------------------

function card(s, body) {
  return h('div', { class: 'card' + (s.replayed ? ' replayed' : ''), 'data-seq': s.seq, onclick: () => selectStep(s.seq) },
    h('div', { class: 'card-head', text: s.role + '/' + s.kind + ' #' + s.seq }), body);
}

// LeaP: a path is a root step (a first segment) and every step whose first
// parent is on it; routes name the other paths' summaries as parents.
function leapView(steps) {
  const bySeq = new Map(steps.map((s) => [s.seq, s]));
  const pathOf = new Map();
  const roots = [];
  for (const s of steps) {
    if (!s.parents.length) { pathOf.set(s.seq, roots.length); roots.push(s.seq); }
    else if (pathOf.has(s.parents[0])) pathOf.set(s.seq, pathOf.get(s.parents[0]));
  }
  const cols = roots.map(() => []);
  for (const s of steps) if (pathOf.has(s.seq)) cols[pathOf.get(s.seq)].push(s);
  const wrap = h('div', { class: 'columns leap' });
  cols.forEach((col, i) => {
    const c = h('div', { class: 'column', 'data-path': i + 1 }, h('h3', { text: 'path ' + (i + 1) }));
    for (const s of col) {
      let body;
      if (s.kind === 'route') {
        // The router's reply: {receiver, peers, similarities, mode}.
        const route = parseJson(s.completion);
        const offered = s.parents.slice(1).map((p) => pathOf.has(p) ? 'path ' + (pathOf.get(p) + 1) : '#' + p);
        const chosen = route && Array.isArray(route.peers)
          ? route.peers.map((id, k) => 'path ' + id + (route.similarities && route.similarities[k] !== undefined
            ? ' (similarity ' + Number(route.similarities[k]).toFixed(2) + ')' : '')).join(', ')
          : null;
        body = h('div', { class: 'route' },
          h('p', { text: chosen !== null ? 'routed (' + route.mode + '): ' + (chosen || 'no peers') : 'routing reply:' }),
          h('p', { class: 'muted', text: 'summaries offered: ' + (offered.join(', ') || 'none') }),
          chosen === null ? h('pre', { text: clip(s.completion, 400) }) : null);
      } else if (s.kind === 'summary') {
        body = h('pre', { class: 'summary', text: s.completion });
      } else {
        body = h('div', {}, s.answer ? h('p', { class: 'answer', text: 'answer: ' + s.answer }) : null,
          h('pre', { text: clip(s.completion, 300) }));
      }
      c.append(card(s, body));
    }
    wrap.append(c);
  });
  const rest = steps.filter((s) => !pathOf.has(s.seq) && bySeq.has(s.seq));
  return [h('h2', { text: 'LeaP paths' }), wrap,
    rest.length ? h('p', { class: 'muted', text: 'other steps: ' + rest.map((s) => s.role + '/' + s.kind + ' #' + s.seq).join(', ') }) : null];
}

// Archon: the orchestrator records a `layer` step when a layer ends (its
// state: {layer, components, candidates, critiques, unit_tests, notes}); the
// component steps before it are that layer's. `final` records the choice.
function archonView(steps) {
  const layers = [];
  let current = [], final = null;
  for (const s of steps) {
    if (s.role === 'orchestrator' && s.kind === 'layer') {
      const state = parseJson(s.completion) || {};
      layers.push({ n: state.layer ?? layers.length + 1, components: state.components || [], steps: current, state, seq: s.seq });
      current = [];
    } else if (s.role === 'orchestrator' && s.kind === 'final') {
      final = s;
    } else {
      current.push(s);
    }
  }
  if (current.length) layers.push({ n: layers.length + 1, components: [], steps: current, state: null, seq: null });
  const wrap = h('div', { class: 'layers' });
  for (const l of layers) {
    const row = h('div', { class: 'row-cards' });
    for (const s of l.steps) row.append(card(s, h('div', {},
      s.verdict !== null ? h('p', { class: s.verdict ? 'yes' : 'no', text: 'verdict ' + (s.verdict ? 'yes' : 'no') }) : null,
      s.answer ? h('p', { class: 'answer', text: 'answer: ' + s.answer }) : null,
      h('pre', { text: clip(s.completion, 300) }))));
    const st = l.state;
    const after = st ? 'after it: candidates [' + (st.candidates || []).join(', ') + ']' +
      ((st.critiques || []).length ? ', critiques [' + st.critiques.join(', ') + ']' : '') +
      ((st.unit_tests || []).length ? ', ' + st.unit_tests.length + ' unit tests' : '') +
      ((st.notes || []).length ? ' — ' + st.notes.join('; ') : '') : 'in progress';
    wrap.append(h('div', { class: 'layer', 'data-layer': l.n, 'data-state-seq': l.seq ?? '' },
      h('h3', { text: 'layer ' + l.n + ': ' + (l.components.join(', ') || [...new Set(l.steps.map((s) => s.kind))].join(', ')) +
        ' (' + l.steps.length + ' steps)' }),
      row, h('p', { class: 'muted', text: after })));
  }
  if (final) {
    const f = parseJson(final.completion) || {};
    wrap.append(h('p', { class: 'vote', text: 'final: ' + (f.chosen_step !== undefined ? 'step ' + f.chosen_step : '—') +
      (f.rule ? ' (' + f.rule + ')' : '') + ' → answer ' + (final.answer || '—') }));
  }
  return [h('h2', { text: 'Archon layers' }), wrap];
}

// IAD: a round is a batch of consecutive candidate steps; a score step's
// first parent is the candidate it scored.
function iadView(steps) {
  const rounds = [];
  let prevCandidate = false;
  const scoreOf = new Map(), critiqueOf = new Map();
  for (const s of steps) {
    if (s.kind === 'candidate') {
      if (!prevCandidate) rounds.push([]);
      rounds[rounds.length - 1].push(s);
    } else if (s.kind === 'score' && s.parents.length) scoreOf.set(s.parents[0], s);
    else if (s.kind === 'critique' && s.parents.length) critiqueOf.set(s.parents[0], s);
    prevCandidate = s.kind === 'candidate';
  }
  const wrap = h('div', { class: 'rounds' });
  rounds.forEach((round, i) => {
    const row = h('div', { class: 'row-cards' });
    for (const c of round) {
      const sc = scoreOf.get(c.seq);
      const score = sc ? (sc.score !== null ? sc.score : sc.answer || clip(sc.completion, 40)) : (c.score ?? '—');
      row.append(card(c, h('div', {}, h('p', { class: 'score', 'data-score': score, text: 'score ' + score }),
        c.answer ? h('p', { class: 'answer', text: 'answer: ' + c.answer }) : null,
        h('pre', { text: clip(c.completion, 300) }),
        critiqueOf.has(c.seq) ? h('p', { class: 'muted', text: 'critique: ' + clip(critiqueOf.get(c.seq).completion, 200) }) : null)));
    }
    wrap.append(h('div', { class: 'round', 'data-round': i + 1 }, h('h3', { text: 'round ' + (i + 1) }), row));
  });
  return [h('h2', { text: 'IAD rounds' }), wrap];
}

function szsStatuses(value, out = []) {
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (/szs/i.test(k) && typeof v === 'string') out.push(v);
      else if (/szs/i.test(k) && Array.isArray(v)) out.push(...v.filter((x) => typeof x === 'string'));
      else szsStatuses(v, out);
    }
  }
  return out;
}

// LINC: each translation (a sample) and the proof whose parent it is; the
// vote counts the proofs' labels, Error left out.
function lincView(steps, run) {
  const proofOf = new Map();
  for (const s of steps) if (s.kind === 'proof' && s.parents.length) proofOf.set(s.parents[0], s);
  const samples = steps.filter((s) => s.kind === 'translation');
  const votes = new Map();
  const table = h('table', { class: 'linc' }, h('thead', {}, h('tr', {},
    h('th', { text: 'sample' }), h('th', { text: 'FOL' }), h('th', { text: 'SZS' }), h('th', { text: 'label' }))));
  const body = h('tbody');
  samples.forEach((t, i) => {
    const proof = proofOf.get(t.seq);
    const fol = t.completion.split('\n').filter((l) => /^\s*FOL:/.test(l)).map((l) => l.replace(/^\s*FOL:\s*/, '')).join('\n');
    const record = proof ? parseJson(proof.completion) : null;
    const szs = record ? szsStatuses(record.result || record) : [];
    const label = proof ? proof.answer || '—' : 'pending';
    if (proof && label !== 'Error') votes.set(label, (votes.get(label) || 0) + 1);
    body.append(h('tr', { 'data-sample': i + 1, 'data-seq': t.seq },
      h('td', { text: '#' + (i + 1) + ' (steps ' + t.seq + (proof ? ', ' + proof.seq : '') + ')' }),
      h('td', {}, h('pre', { text: fol || clip(t.completion, 300) })),
      h('td', { class: 'szs', text: szs.join(', ') || '—' }), h('td', { class: 'label ' + label, text: label })));
  });
  table.append(body);
  const tally = [...votes.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => k + ': ' + v).join(', ');
  return [h('h2', { text: 'LINC samples' }), table,
    h('p', { class: 'vote', text: 'vote (Error left out): ' + (tally || 'none') + ' → answer ' + (run.answer || '—') })];
}

function renderPipeline(data) {
  const sec = clear($('pipeline-view'));
  const p = data.run.pipeline;
  let content = null;
  if (p === 'leap') content = leapView(data.steps);
  else if (p === 'archon') content = archonView(data.steps);
  else if (p === 'iad') content = iadView(data.steps);
  else if (p === 'linc') content = lincView(data.steps, data.run);
  sec.hidden = !content;
  sec.dataset.pipeline = p;
  if (content) sec.append(...content.filter(Boolean));
}

function renderRun(data) {
  document.title = 'troupe — ' + data.run.id;
  renderHead(data);
  renderGraph(data.steps);
  renderPipeline(data);
  renderBudget(data);
  renderPairs(data.pairs);
  renderSteps(data.steps);
  const view = $('run-view');
  view.dataset.runId = data.run.id;
  view.dataset.status = data.run.status;
  view.dataset.steps = String(data.steps.length);
}

async function showRun(id, signal) {
  $('list-view').hidden = true;
  $('run-view').hidden = false;
  const path = '/v1/runs/' + encodeURIComponent(id);
  let data = await apiJson(path + '/steps', { signal });
  renderRun(data);
  document.body.dataset.state = 'run';
  if (!isActive(data.run)) return;
  // Live: re-read the trajectory on each step and at the end.
  setLive(true);
  let pending = null;
  const reload = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      try { data = await apiJson(path + '/steps', { signal }); renderRun(data); } catch (e) { handleFailure(e); }
    }, 100);
  };
  const last = data.steps.length ? data.steps[data.steps.length - 1].seq : null;
  await readEvents(path + '/events', last, reload, signal);
  setLive(false);
  reload();
}

// ---- start -------------------------------------------------------------------

$('token-save').addEventListener('click', saveToken);
$('token-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') saveToken(); });
$('change-token').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); token = ''; showLogin(''); });
window.addEventListener('hashchange', () => { if ($('login').hidden) route(); });

(async function start() {
  try {
    await apiJson('/v1/runs?limit=1');
  } catch (e) {
    handleFailure(e);
    return;
  }
  $('change-token').hidden = !token;
  route();
})();
