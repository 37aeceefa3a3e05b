// The official openai npm client (v6) against `troupe daemon`: a pipeline
// model (spoc/scripted) answers chat completions, plain and streamed, with
// the run's final answer; the run id comes back in a header and the run is
// recorded. Issue 16 on this front: sampling parameters are refused naming
// them, null and no-op parameters are accepted, /v1/responses answers the
// run's answer, GET /v1/models/{id}, string error codes,
// system_fingerprint, WWW-Authenticate.
// Usage: node daemon_client.mjs daemon BASE_URL MODEL TOKEN
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { check, finish } from './check.mjs';

const [, baseURL, , token] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: token, maxRetries: 0 });
const model = 'spoc/scripted';
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

await check('6: a wrong key is a 401 with WWW-Authenticate: Bearer and a string code', async () => {
  const bad = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err.status === 401 && err.headers.get('www-authenticate') === 'Bearer' && err.code === 'invalid_api_key');
});

await check('an unknown model is a 404', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'nope/x', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err.status === 404);
});

const ask = { model, messages: [{ role: 'user', content: '2+2' }] };

await check('5: a sampling or shape parameter is a 400 naming it', async () => {
  const cases = { n: 2, logprobs: true, max_tokens: 5, max_completion_tokens: 5, temperature: 0.5, seed: 1, stop: ['x'], top_p: 0.9 };
  for (const [param, value] of Object.entries(cases)) {
    await assert.rejects(client.chat.completions.create({ ...ask, [param]: value }),
      (err) => err.status === 400 && err.param === param && typeof err.code === 'string', param);
  }
});

await check('4: null and no-op parameters are accepted, real tools are refused naming them', async () => {
  const r = await client.chat.completions.create({
    ...ask, tools: null, tool_choice: 'none', user: 'u', metadata: { a: 'b' }, store: false, parallel_tool_calls: true,
    n: 1, stop: [], logprobs: false, temperature: null, max_tokens: null, some_future_knob: 3,
  });
  assert.equal(r.choices[0].message.content, '4');
  await assert.rejects(
    client.chat.completions.create({ ...ask, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }),
    (err) => err.status === 400 && err.param === 'tools');
});

await check('3: /v1/responses answers the run\'s final answer, plain and streamed', async () => {
  const r = await client.responses.create({ model, input: '2+2', instructions: 'Be brief.' });
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, '4');
  const stream = await client.responses.create({ model, input: [{ role: 'user', content: '2+2' }], stream: true });
  const types = [];
  let text = '';
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
  }
  assert.equal(text, '4');
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  await assert.rejects(client.responses.create({ model, input: '2+2', max_output_tokens: 5 }),
    (err) => err.status === 400 && err.param === 'max_output_tokens');
});

await check('6: GET /v1/models/{id} and system_fingerprint', async () => {
  const m = await client.models.retrieve(model);
  assert.equal(m.id, model);
  await assert.rejects(client.models.retrieve('nope/x'), (err) => err.status === 404);
  const r = await client.chat.completions.create(ask);
  assert.match(r.system_fingerprint, /^troupe-/);
});

finish();
