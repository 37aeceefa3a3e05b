// LangChain's OpenAI integration (@langchain/openai) against troupe: the
// ChatOpenAI chat model (invoke and stream, no max_tokens sent) and the
// OpenAI text LLM with logprobs (its prompts go out as one list). Usage:
//   node langchain_client.mjs serve|daemon BASE_URL MODEL TOKEN
import assert from 'node:assert/strict';
import { ChatOpenAI, OpenAI } from '@langchain/openai';
import { check, finish } from './check.mjs';

const [front, baseURL, model, token] = process.argv.slice(2);
const configuration = { baseURL: `${baseURL}/v1` };
// On serve, a fixed seed: an unseeded random model may sample its end token
// first and reply with nothing (the daemon refuses `seed`; its answer is fixed).
const seeded = front === 'serve' ? { modelKwargs: { seed: 7 } } : {};
const chat = new ChatOpenAI({ model, apiKey: token, configuration, maxRetries: 0, ...seeded });

await check(`${front}: ChatOpenAI.invoke`, async () => {
  const msg = await chat.invoke([['system', 'Be brief.'], ['human', 'What is 2+2?']]);
  assert.equal(typeof msg.content, 'string');
  if (front === 'daemon') assert.equal(msg.content, '4');
  if (front === 'serve') assert.ok(msg.usage_metadata.output_tokens > 0, JSON.stringify(msg.usage_metadata));
});

await check(`${front}: ChatOpenAI.stream`, async () => {
  let text = '';
  for await (const chunk of await chat.stream('What is 2+2?')) text += chunk.content;
  if (front === 'daemon') assert.equal(text, '4');
  else assert.ok(text.length > 0);
});

if (front === 'serve') {
  await check('serve: ChatOpenAI with logprobs (every token, the first included)', async () => {
    const withLogprobs = new ChatOpenAI({ model, apiKey: token, configuration, maxRetries: 0, logprobs: true, topLogprobs: 2, maxTokens: 8, temperature: 0 });
    const msg = await withLogprobs.invoke('Say hello.');
    const lp = msg.response_metadata.logprobs.content;
    assert.equal(lp.length, msg.usage_metadata.output_tokens);
  });

  await check('serve: OpenAI LLM with logprobs, several prompts in one request', async () => {
    const llm = new OpenAI({ model, apiKey: token, configuration, maxRetries: 0, maxTokens: 6, temperature: 0, modelKwargs: { logprobs: 1 } });
    const out = await llm.generate(['Once upon a time', 'The end']);
    assert.equal(out.generations.length, 2);
    for (const [g] of out.generations) {
      const lp = g.generationInfo.logprobs;
      assert.ok(lp.tokens.length > 0);
      assert.equal(lp.text_offset[0], 0);
      assert.equal(lp.tokens.length, lp.token_logprobs.length);
    }
    const single = await llm.invoke('The end');
    assert.equal(out.generations[1][0].text, single);
  });
} else {
  await check('daemon: a sampling parameter is refused naming it', async () => {
    const hot = new ChatOpenAI({ model, apiKey: token, configuration, maxRetries: 0, temperature: 0.3 });
    await assert.rejects(hot.invoke('2+2'), (err) => err.status === 400 && String(err.message).includes('temperature'));
  });
}

finish();
