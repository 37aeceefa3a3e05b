// The official openai npm client (v6) against `troupe serve` on a tiny
// random model: completions, chat, streaming, n=4, and issue 16's points
// (logprobs of every token, no max_tokens = the rest of the context,
// /v1/responses, null and no-op parameters, no chat template, prompt
// lists, GET /v1/models/{id}, string error codes, system_fingerprint,
// per-chunk streamed logprobs, WWW-Authenticate). Usage:
//   node openai_client.mjs serve BASE_URL MODEL TOKEN CONTEXT NO_TEMPLATE_URL
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { check, finish } from './check.mjs';

const [, baseURL, model, token, contextArg, noTemplateURL] = process.argv.slice(2);
const context = Number(contextArg);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: token, maxRetries: 0 });
const chatBody = { model, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, temperature: 0 };

await check('completions', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices.length, 1);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8);
});

let greedyChat = '';
await check('chat', async () => {
  const r = await client.chat.completions.create(chatBody);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  greedyChat = r.choices[0].message.content;
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
});

await check('chat streaming gives the same greedy text', async () => {
  const stream = await client.chat.completions.create({ ...chatBody, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, greedyChat);
  assert.ok(usage && usage.completion_tokens > 0);
});

await check('n=4 samples', async () => {
  const r = await client.completions.create({ model, prompt: 'The', max_tokens: 6, n: 4, temperature: 1, seed: 7 });
  assert.equal(r.choices.length, 4);
  assert.deepEqual(r.choices.map((c) => c.index).sort(), [0, 1, 2, 3]);
});

// ---- 1: every generated token has its logprob, the first one included.
await check('1: chat logprobs cover every generated token', async () => {
  const r = await client.chat.completions.create({ ...chatBody, max_tokens: 10, logprobs: true, top_logprobs: 2 });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, r.usage.completion_tokens);
  assert.ok(lp.every((t) => t.logprob <= 0 && t.top_logprobs.length === 2));
  // With the first token left out there was one entry fewer than tokens;
  // the tokens' text is the reply's text where it is valid UTF-8 per token.
  const joined = lp.map((t) => t.token).join('');
  if (!joined.includes('\uFFFD')) assert.equal(joined, r.choices[0].message.content);
});

await check('1: completions logprobs cover every token, text_offset starts at 0', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 10, temperature: 0, logprobs: 1 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, r.usage.completion_tokens);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  assert.equal(lp.text_offset[0], 0);
  for (let i = 1; i < lp.tokens.length; i += 1) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1]);
});

await check('6: streamed logprobs come per chunk (chat and completions)', async () => {
  const chat = await client.chat.completions.create({
    ...chatBody, max_tokens: 10, logprobs: true, stream: true, stream_options: { include_usage: true },
  });
  let entries = 0;
  let chunksWithLogprobs = 0;
  let usage = null;
  for await (const chunk of chat) {
    if (chunk.usage) usage = chunk.usage;
    const content = chunk.choices[0]?.logprobs?.content;
    if (content && content.length) {
      chunksWithLogprobs += 1;
      entries += content.length;
    }
  }
  assert.equal(entries, usage.completion_tokens);
  assert.ok(chunksWithLogprobs >= 2, `logprobs came in ${chunksWithLogprobs} chunk(s)`);
  const text = await client.completions.create({
    model, prompt: 'Once upon a time', max_tokens: 10, temperature: 0, logprobs: 0, stream: true,
  });
  const offsets = [];
  let n = 0;
  for await (const chunk of text) {
    const lp = chunk.choices[0]?.logprobs;
    if (lp && lp.tokens) {
      n += lp.tokens.length;
      offsets.push(...lp.text_offset);
    }
  }
  assert.ok(n >= 2);
  assert.equal(offsets[0], 0);
});

// ---- 2: no max_tokens = the rest of the context.
await check('2: a request without max_tokens is not cut at 256 tokens', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', temperature: 0 });
  if (r.choices[0].finish_reason === 'length') {
    assert.equal(r.usage.prompt_tokens + r.usage.completion_tokens, context);
  }
  assert.ok(r.usage.completion_tokens > 256 || r.choices[0].finish_reason === 'stop',
            `${r.usage.completion_tokens} tokens, finish ${r.choices[0].finish_reason}`);
});

await check('2: max_completion_tokens is honoured', async () => {
  const r = await client.chat.completions.create({ model, messages: chatBody.messages, max_completion_tokens: 3, temperature: 0 });
  assert.ok(r.usage.completion_tokens <= 3);
});

// ---- 3: /v1/responses.
await check('3: responses.create answers output_text', async () => {
  const r = await client.responses.create({ model, input: 'Say hello.', instructions: 'Be brief.', max_output_tokens: 6, temperature: 0 });
  assert.equal(r.object, 'response');
  assert.ok(['completed', 'incomplete'].includes(r.status));
  assert.equal(typeof r.output_text, 'string');
  assert.ok(r.usage.output_tokens > 0 && r.usage.output_tokens <= 6);
  if (r.status === 'incomplete') assert.equal(r.incomplete_details.reason, 'max_output_tokens');
});

await check('3: responses stream emits OpenAI events in order', async () => {
  const stream = await client.responses.create({
    model, input: [{ role: 'user', content: [{ type: 'input_text', text: 'Say hello.' }] }], max_output_tokens: 8,
    temperature: 0, stream: true,
  });
  const types = [];
  let deltas = '';
  let done = '';
  let final = null;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    if (ev.type === 'response.output_text.done') done = ev.text;
    if (ev.type === 'response.completed' || ev.type === 'response.incomplete') final = ev.response;
  }
  assert.equal(types[0], 'response.created');
  assert.ok(types.includes('response.output_text.delta'));
  assert.ok(types.indexOf('response.output_text.done') > types.lastIndexOf('response.output_text.delta'));
  assert.ok(['response.completed', 'response.incomplete'].includes(types.at(-1)));
  assert.equal(deltas, done);
  assert.equal(final.output[0].content[0].text, done);
});

// ---- 4: null and no-op parameters are accepted; what troupe cannot honour is a 400 naming it.
await check('4: null and no-op parameters are accepted', async () => {
  const r = await client.chat.completions.create({
    ...chatBody, tools: null, tool_choice: 'none', user: 'u1', metadata: { k: 'v' }, store: false,
    parallel_tool_calls: true, stream_options: null, seed: null, response_format: { type: 'text' },
  });
  assert.equal(r.object, 'chat.completion');
  const unknown = await client.completions.create({ model, prompt: 'x', max_tokens: 2, some_future_knob: 1 });
  assert.equal(unknown.object, 'text_completion');
});

await check('4: a value troupe cannot honour is a 400 naming the parameter', async () => {
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 2, echo: true }),
    (err) => err.status === 400 && err.param === 'echo' && typeof err.code === 'string',
  );
});

// ---- 6: prompt lists, models/{id}, error codes, system_fingerprint, 401.
await check('6: a list of prompts gives prompts x n choices, indexed across prompts', async () => {
  const r = await client.completions.create({ model, prompt: ['Once', 'The end'], max_tokens: 3, n: 2, temperature: 0 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
  const single = await client.completions.create({ model, prompt: 'The end', max_tokens: 3, temperature: 0 });
  assert.equal(r.choices[2].text, single.choices[0].text);
});

await check('6: GET /v1/models/{id}', async () => {
  const m = await client.models.retrieve(model);
  assert.equal(m.id, model);
  await assert.rejects(client.models.retrieve('no-such-model'), (err) => err.status === 404 && err.code === 'not_found');
});

await check('6: system_fingerprint in replies and chunks', async () => {
  const r = await client.chat.completions.create(chatBody);
  assert.match(r.system_fingerprint, /^troupe-/);
  const stream = await client.chat.completions.create({ ...chatBody, stream: true });
  for await (const chunk of stream) assert.match(chunk.system_fingerprint, /^troupe-/);
});

await check('6: a wrong key is 401 with WWW-Authenticate: Bearer and a string code', async () => {
  const bad = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (err) => err.status === 401 && err.code === 'invalid_api_key'
    && err.headers.get('www-authenticate') === 'Bearer');
});

await check('6: without a chat template chat is a 400 naming --chat-template, completions work', async () => {
  const plain = new OpenAI({ baseURL: `${noTemplateURL}/v1`, apiKey: 'not-needed', maxRetries: 0 });
  for (const stream of [false, true]) {
    await assert.rejects(
      plain.chat.completions.create({ ...chatBody, stream }),
      (err) => err.status === 400 && String(err.message).includes('--chat-template'),
    );
  }
  await assert.rejects(plain.responses.create({ model, input: 'hi' }), (err) => err.status === 400);
  const r = await plain.completions.create({ model, prompt: 'x', max_tokens: 2 });
  assert.equal(r.object, 'text_completion');
});

finish();
