// The trajectory viewer in headless chromium (puppeteer-core), against a
// real `troupe daemon` (run_viewer_test.sh starts it):
//   node viewer_test.mjs URL TOKEN EXAMPLES_DIR ARTIFACT_DIR CHROMIUM TROUPE
// Seeds one run per pipeline through the API, then checks in the page: a
// wrong token shows a clear error, the runs list matches the API, the
// filters match the API's own filters, a run started while the page is open
// appears without a reload, each run's graph has exactly the store's steps
// as nodes and parent links as edges, the pipeline views are filled, the
// export links answer, and the page raised no CSP violation or script
// error. Screenshots go to ARTIFACT_DIR. Every wait is on a page condition
// (waitForFunction), with a timeout only as a failure bound.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const [url, token, examples, artifacts, chromium, troupe] = process.argv.slice(2);
const started = Date.now();
const auth = { Authorization: 'Bearer ' + token };
const WAIT = { timeout: 15000 };

function log(msg) { console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`); }

async function api(p, options = {}) {
  const res = await fetch(url + p, { ...options, headers: { ...auth, ...(options.headers || {}) } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${p}: ${res.status} ${text}`);
  return text;
}
const apiJson = async (p, o) => JSON.parse(await api(p, o));

function firstLine(file) { return JSON.parse(readFileSync(path.join(examples, 'data', file), 'utf8').split('\n')[0]); }

async function submit(workflow, input, backend = workflow) {
  const body = JSON.stringify({ workflow, backend, input });
  const r = await apiJson('/v1/runs', { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  return r.run_ids[0];
}

// Reads the run's event stream until its first step event.
async function waitFirstStep(id) {
  const ac = new AbortController();
  const res = await fetch(`${url}/v1/runs/${id}/events`, { headers: auth, signal: ac.signal });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!/event: step/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`run ${id}: its event stream ended before a step`);
    text += decoder.decode(value, { stream: true });
  }
  ac.abort();
}

// Reads the run's event stream to its end event (the daemon closes it then).
async function waitEnd(id) {
  const text = await api(`/v1/runs/${id}/events`);
  assert.match(text, /event: end/, `run ${id}: its event stream closed without an end event`);
  return apiJson(`/v1/runs/${id}`);
}

const pipelines = {
  spoc: firstLine('arithmetic.jsonl'),
  leap: firstLine('leap.jsonl'),
  iad: firstLine('arithmetic.jsonl'),
  archon: { id: 'archon-1', question: 'What is 6 * 7?', answer: '42' },
  linc: firstLine('linc.jsonl'),
  coc: firstLine('coc-lighthouse.jsonl'),
};

// --- the daemon side, before the browser -------------------------------------
{
  const page = await fetch(url + '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.match(page.headers.get('content-security-policy') || '', /script-src 'self'/);
  assert.equal((await fetch(url + '/v1/runs')).status, 401, 'the API answered without the token');
}
const runs = {};
for (const [p, input] of Object.entries(pipelines)) runs[p] = await submit(p, input);
for (const [p, id] of Object.entries(runs)) {
  const r = await waitEnd(id);
  assert.equal(r.status, 'succeeded', `${p} run ${id}: ${r.status} ${r.error}`);
  assert.equal(r.pipeline, p);
}
log('seeded ' + Object.keys(runs).length + ' runs: ' + Object.values(runs).join(' '));

// `troupe show --open` prints the page of a run on this daemon.
const shown = execFileSync(troupe, ['show', runs.spoc, '--open', '--url', url], { encoding: 'utf8' }).trim();
assert.equal(shown, `${url}/#/runs/${runs.spoc}`);

// --- the browser -----------------------------------------------------------------
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
const problems = [];
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // A 401 the test provokes is logged by chromium as a failed resource.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push('console: ' + m.text());
  });
  await page.evaluateOnNewDocument(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations = (window.__cspViolations || []).concat(e.violatedDirective + ' ' + e.blockedURI);
    });
  });
  const shot = (name) => page.screenshot({ path: path.join(artifacts, name), fullPage: true });

  // A wrong token: a clear error, nothing shown.
  await page.goto(url + '/', { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => document.body.dataset.state === 'login', WAIT);
  await page.type('#token-input', 'not-the-token');
  // The page may already show "needs a token" (its first request had none):
  // wait for the answer to this token to replace that text.
  const before = await page.$eval('#login-error', (e) => (e.hidden ? '' : e.textContent));
  await page.click('#token-save');
  await page.waitForFunction(
    (previous) => {
      const e = document.getElementById('login-error');
      return !e.hidden && e.textContent !== previous;
    },
    WAIT,
    before,
  );
  const loginError = await page.$eval('#login-error', (e) => e.textContent);
  assert.match(loginError, /refused this token \(401/, 'wrong-token message: ' + loginError);
  assert.equal(await page.$eval('#list-view', (e) => e.hidden), true, 'runs shown with a wrong token');
  await shot('wrong-token.png');
  log('wrong token: ' + loginError);

  // The right token: the list is the API's list.
  await page.type('#token-input', token);
  await page.click('#token-save');
  await page.waitForFunction(() => document.body.dataset.state === 'list', WAIT);
  const apiRuns = (await apiJson('/v1/runs?limit=1000')).runs;
  const rowIds = async () => page.$$eval('#runs tbody tr', (rows) => rows.map((r) => r.dataset.runId));
  await page.waitForFunction((n) => document.querySelectorAll('#runs tbody tr').length === n, WAIT, apiRuns.length);
  assert.deepEqual(new Set(await rowIds()), new Set(apiRuns.map((r) => r.id)));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('troupe-token')), token);
  await shot('runs.png');
  log('list: ' + apiRuns.length + ' runs');

  // Filters: each gives the rows the API's own filter gives.
  const expectRows = async (ids, what) => {
    await page.waitForFunction((want) => {
      const got = [...document.querySelectorAll('#runs tbody tr')].map((r) => r.dataset.runId).sort();
      return JSON.stringify(got) === JSON.stringify(want);
    }, WAIT, [...ids].sort()).catch(async () => {
      assert.fail(`${what}: rows ${JSON.stringify(await rowIds())}, expected ${JSON.stringify(ids)}`);
    });
  };
  const leapName = apiRuns.find((r) => r.id === runs.leap).workflow;
  await page.select('#f-workflow', leapName);
  await expectRows((await apiJson('/v1/runs?workflow=' + encodeURIComponent(leapName))).runs.map((r) => r.id), 'workflow filter');
  await shot('filter-workflow.png');
  await page.select('#f-workflow', '');
  await page.select('#f-status', 'failed');
  await expectRows((await apiJson('/v1/runs?status=failed')).runs.map((r) => r.id), 'status filter (failed)');
  await page.select('#f-status', 'succeeded');
  await expectRows((await apiJson('/v1/runs?status=succeeded')).runs.map((r) => r.id), 'status filter (succeeded)');
  await page.select('#f-status', '');
  const now = Date.now();
  await page.select('#f-since', '900000');
  await expectRows(apiRuns.filter((r) => r.created_ms >= now - 900000).map((r) => r.id), 'time filter');
  await page.select('#f-since', '');
  log('filters: workflow, status, time');

  // A run started now appears without a reload, and reaches its end state:
  // the list follows the daemon-wide event stream (GET /v1/events).
  assert.equal(await page.evaluate(() => document.body.dataset.updates), 'stream', 'the list is not on the event stream');
  const marker = await page.evaluate(() => { window.__sameDocument = true; return true; });
  const liveId = await submit('spoc', firstLine('arithmetic.jsonl'));
  await page.waitForSelector(`#runs tbody tr[data-run-id="${liveId}"]`, WAIT);
  await page.waitForSelector(`#runs tbody tr[data-run-id="${liveId}"][data-status="succeeded"]`, WAIT);
  assert.equal(await page.evaluate(() => window.__sameDocument === true), marker, 'the page reloaded');
  await shot('live-update.png');
  log('live: ' + liveId + ' appeared and succeeded');

  // Each run: the graph is the store's steps and parent links.
  for (const [p, id] of Object.entries(runs)) {
    await page.goto(`${url}/#/runs/${id}`, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction((rid) => {
      const v = document.getElementById('run-view');
      return !v.hidden && v.dataset.runId === rid && v.dataset.steps !== undefined;
    }, WAIT, id);
    const t = await apiJson(`/v1/runs/${id}/steps`);
    assert.ok(t.steps.length > 0, `${p}: no steps`);
    const nodes = await page.$$eval('#graph g.node', (ns) => ns.map((n) => Number(n.dataset.seq)));
    assert.deepEqual(nodes.sort((a, b) => a - b), t.steps.map((s) => s.seq), `${p}: graph nodes`);
    const seqs = new Set(t.steps.map((s) => s.seq));
    const wantEdges = t.steps.flatMap((s) => s.parents.filter((q) => seqs.has(q)).map((q) => `${q}->${s.seq}`)).sort();
    const edges = (await page.$$eval('#graph path.edge', (es) => es.map((e) => `${e.dataset.from}->${e.dataset.to}`))).sort();
    assert.deepEqual(edges, wantEdges, `${p}: graph edges`);
    const lanes = await page.$$eval('#graph g.lane', (ls) => ls.map((l) => l.dataset.role));
    assert.deepEqual(new Set(lanes), new Set(t.steps.map((s) => s.role)), `${p}: lanes`);
    assert.equal(await page.$$eval('#steps details', (d) => d.length), t.steps.length, `${p}: step details`);
    // Clicking a node opens its step.
    const lastSeq = t.steps[t.steps.length - 1].seq;
    await page.click(`#graph g.node[data-seq="${lastSeq}"]`);
    assert.equal(await page.$eval(`#steps details[data-seq="${lastSeq}"]`, (d) => d.open), true, `${p}: node click`);

    if (p === 'leap') {
      const roots = t.steps.filter((s) => s.parents.length === 0).length;
      assert.equal(await page.$$eval('#pipeline-view .column', (c) => c.length), roots, 'leap: one column per path');
      assert.ok(await page.$$eval('#pipeline-view .summary', (c) => c.length) > 0, 'leap: summaries shown');
    } else if (p === 'archon') {
      // One layer per state the orchestrator recorded, each holding the component steps before it.
      const states = t.steps.filter((s) => s.role === 'orchestrator' && s.kind === 'layer');
      assert.ok(states.length >= 2, 'archon: the example has several layers');
      const shown = await page.$$eval('#pipeline-view .layer', (ls) => ls.map((l) => Number(l.dataset.stateSeq)));
      assert.deepEqual(shown, states.map((s) => s.seq), 'archon: layers');
      const inLayers = await page.$$eval('#pipeline-view .layer .card', (c) => c.length);
      assert.equal(inLayers, t.steps.filter((s) => s.role !== 'orchestrator').length, 'archon: component steps');
    } else if (p === 'iad') {
      const candidates = t.steps.filter((s) => s.kind === 'candidate').length;
      assert.equal(await page.$$eval('#pipeline-view .round .card', (c) => c.length), candidates, 'iad: candidates');
      assert.ok(await page.$$eval('#pipeline-view .round', (c) => c.length) >= 1, 'iad: rounds');
    } else if (p === 'linc') {
      const samples = t.steps.filter((s) => s.kind === 'translation').length;
      assert.equal(await page.$$eval('#pipeline-view tr[data-sample]', (c) => c.length), samples, 'linc: samples');
      // Each proof's SZS statuses (its record's result.szs) are in its row.
      const szsCells = await page.$$eval('#pipeline-view tr[data-sample] td.szs', (c) => c.map((e) => e.textContent));
      const proofs = t.steps.filter((s) => s.kind === 'proof');
      assert.equal(szsCells.length, proofs.length, 'linc: one SZS cell per proof');
      for (const proof of proofs) {
        const szs = (JSON.parse(proof.completion).result || {}).szs || [];
        const row = t.steps.filter((s) => s.kind === 'translation').findIndex((s) => s.seq === proof.parents[0]);
        for (const status of szs) assert.ok(szsCells[row].includes(status), `linc: sample ${row + 1} shows SZS ${status}`);
      }
      const vote = await page.$eval('#pipeline-view .vote', (e) => e.textContent);
      assert.ok(vote.includes(t.run.answer), 'linc vote line names the answer: ' + vote);
    } else {
      assert.equal(await page.$eval('#pipeline-view', (e) => e.hidden), true, `${p}: no pipeline view expected`);
    }
    if (t.pairs.length) assert.equal(await page.$$eval('#pairs .pair', (e) => e.length), t.pairs.length, `${p}: pairs`);

    // The export links answer with the run's rows (one JSON object a line).
    await page.click('#run-head a.export[data-format="sft"]');
    await page.waitForFunction(() => /sft: \d+ rows/.test(document.getElementById('export-status').textContent), WAIT);
    for (const f of ['sft', 'dpo']) {
      const rows = (await api(`/v1/runs/${id}/export?format=${f}`)).split('\n').filter(Boolean);
      for (const row of rows) JSON.parse(row);
      if (f === 'dpo') assert.equal(rows.length, t.pairs.length, `${p}: one dpo row per pair`);
    }
    await shot(`run-${p}.png`);
    log(`${p}: ${t.steps.length} steps, ${edges.length} edges, ${t.pairs.length} pairs`);
  }

  // An open run page follows its run: a run held at its verifier shows its
  // first step as running; cancelled over the API, the page shows it
  // cancelled without a reload.
  const heldId = await submit('spoc', firstLine('arithmetic.jsonl'), 'hold');
  await waitFirstStep(heldId);
  await page.goto(`${url}/#/runs/${heldId}`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction((rid) => {
    const v = document.getElementById('run-view');
    return v.dataset.runId === rid && v.dataset.status === 'running' && v.dataset.steps === '1' &&
      document.getElementById('live').classList.contains('on');
  }, WAIT, heldId);
  await page.evaluate(() => { window.__sameRunPage = true; });
  await shot('run-live-running.png');
  const del = await fetch(`${url}/v1/runs/${heldId}`, { method: 'DELETE', headers: auth });
  assert.ok(del.status === 200 || del.status === 202, 'cancel: ' + del.status);
  await page.waitForFunction((rid) => {
    const v = document.getElementById('run-view');
    return v.dataset.runId === rid && v.dataset.status === 'cancelled' && !document.getElementById('live').classList.contains('on');
  }, WAIT, heldId);
  assert.equal(await page.evaluate(() => window.__sameRunPage === true), true, 'the run page reloaded');
  await shot('run-live-cancelled.png');
  log('live run page: ' + heldId + ' running, then cancelled');

  const csp = await page.evaluate(() => window.__cspViolations || []);
  assert.deepEqual(csp, [], 'CSP violations');
  assert.deepEqual(problems, [], 'page errors');
} finally {
  await browser.close();
}
log('viewer test passed');
