// The Vercel AI SDK (ai + @ai-sdk/openai) against troupe: generateText and
// streamText through the chat model (openai.chat) and the default model
// object, which speaks the Responses API. Usage:
//   node ai_sdk_client.mjs serve|daemon BASE_URL MODEL TOKEN
import assert from 'node:assert/strict';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, streamText } from 'ai';
import { check, finish } from './check.mjs';

const [front, baseURL, model, token] = process.argv.slice(2);
const openai = createOpenAI({ baseURL: `${baseURL}/v1`, apiKey: token });
const prompt = 'What is 2+2?';
// On serve, greedy: an unseeded random model may sample its end token first
// and reply with nothing (the daemon refuses sampling parameters).
const serveOnly = front === 'serve' ? { maxOutputTokens: 12, temperature: 0 } : {};

for (const [label, m] of [['chat', openai.chat(model)], ['responses', openai(model)]]) {
  await check(`${front}: generateText via ${label}`, async () => {
    const r = await generateText({ model: m, system: 'Be brief.', prompt, maxRetries: 0, ...serveOnly });
    if (front === 'daemon') assert.equal(r.text, '4');
    assert.equal(typeof r.text, 'string');
    if (front === 'serve') assert.ok(r.usage.outputTokens > 0, JSON.stringify(r.usage));
    assert.ok(['stop', 'length'].includes(r.finishReason), r.finishReason);
  });
  await check(`${front}: streamText via ${label}`, async () => {
    const r = streamText({ model: m, prompt, maxRetries: 0, ...serveOnly,
      onError: ({ error }) => { throw error; } });
    let text = '';
    for await (const piece of r.textStream) text += piece;
    if (front === 'daemon') assert.equal(text, '4');
    assert.equal(text, await r.text);
    const usage = await r.usage;
    if (front === 'serve') assert.ok(usage.outputTokens > 0, JSON.stringify(usage));
  });
}

if (front === 'serve') {
  await check('serve: generateText without maxOutputTokens is not cut at 256 tokens', async () => {
    const r = await generateText({ model: openai.chat(model), prompt: 'Tell a long story.', temperature: 0, maxRetries: 0 });
    assert.ok(r.usage.outputTokens > 256 || r.finishReason === 'stop', `${r.usage.outputTokens} ${r.finishReason}`);
  });
}

finish();
