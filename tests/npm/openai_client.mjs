// The official openai npm client against `troupe serve`: completions, chat,
// streaming, n=4 and a refused unknown parameter. Usage:
//   node openai_client.mjs BASE_URL MODEL
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'not-needed', maxRetries: 0 });
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

await check('completions', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices.length, 1);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 8);
});

let greedyChat = '';
await check('chat', async () => {
  const r = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  greedyChat = r.choices[0].message.content;
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
});

await check('chat streaming gives the same greedy text', async () => {
  const stream = await client.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 8, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
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

await check('unknown parameter is a 400 naming it', async () => {
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 2, bogus_knob: 1 }),
    (err) => err.status === 400 && String(err.message).includes('bogus_knob'),
  );
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
