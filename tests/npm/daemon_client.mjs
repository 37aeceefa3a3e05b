// The official openai npm client against `troupe daemon`: a pipeline model
// (spoc/scripted) answers chat completions, plain and streamed, with the
// run's final answer; the run id comes back in a header and the run is
// recorded. Usage: node daemon_client.mjs BASE_URL TOKEN
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, token] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: token, maxRetries: 0 });
const model = 'spoc/scripted';
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

async function runRecord(id) {
  const r = await fetch(`${baseURL}/v1/runs/${id}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  return r.json();
}

await check('models lists the pipeline model', async () => {
  const list = await client.models.list();
  const ids = [];
  for await (const m of list) ids.push(m.id);
  assert.ok(ids.includes(model), `models: ${ids}`);
});

await check('chat: the final answer of a recorded run', async () => {
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: 'TWICE' }] })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.model, model);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, '4');
  assert.equal(data.choices[0].finish_reason, 'stop');
  const runId = response.headers.get('x-troupe-run-id');
  assert.ok(runId && runId.startsWith('run'), `run id header: ${runId}`);
  const run = await runRecord(runId);
  assert.equal(run.status, 'succeeded');
  assert.equal(run.answer, '4');
  assert.equal(run.pipeline, 'spoc');
});

await check('chat streaming', async () => {
  const stream = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: '2+2' }], stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, '4');
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.prompt_tokens > 0);
});

await check('a wrong key is a 401', async () => {
  const bad = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err.status === 401);
});

await check('an unknown model is a 404', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'nope/x', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err.status === 404);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
