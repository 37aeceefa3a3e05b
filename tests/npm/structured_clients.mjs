// Structured output and tool calls through real clients against
// `troupe serve` with a random-weight model: the constrained decoder must
// make even that model produce schema-valid JSON and well-formed calls.
// Usage: node structured_clients.mjs BASE_URL MODEL
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { z } from 'zod';
import { ChatOpenAI } from '@langchain/openai';
import { tool as lcTool } from '@langchain/core/tools';
import { generateObject, generateText, Output, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { check, finish } from './check.mjs';

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'not-needed', maxRetries: 0 });

// Bounded values only, so every document completes within the budget.
const Person = z.object({
  ok: z.boolean(),
  n: z.number().int(),
  color: z.enum(['red', 'green']),
});
const personJsonSchema = z.toJSONSchema(Person);
const weatherParams = z.object({ city: z.enum(['Paris', 'Rome']), unit: z.enum(['c', 'f']) });

function checkPerson(p) {
  assert.equal(typeof p.ok, 'boolean');
  assert.ok(Number.isInteger(p.n));
  assert.ok(['red', 'green'].includes(p.color));
  assert.deepEqual(Object.keys(p).sort(), ['color', 'n', 'ok']);
}

await check('openai: response_format json_schema', async () => {
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      model, seed, max_tokens: 200,
      messages: [{ role: 'user', content: 'Describe a person.' }],
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema: personJsonSchema, strict: true } },
    });
    assert.equal(r.choices[0].finish_reason, 'stop');
    checkPerson(JSON.parse(r.choices[0].message.content));
  }
});

await check('openai: response_format json_object', async () => {
  const r = await client.chat.completions.create({
    model, seed: 4, max_tokens: 400, messages: [{ role: 'user', content: 'JSON please.' }],
    response_format: { type: 'json_object' },
  });
  const text = r.choices[0].message.content;
  if (r.choices[0].finish_reason === 'stop') assert.equal(typeof JSON.parse(text), 'object');
  else assert.equal(r.choices[0].finish_reason, 'length');
  assert.ok(text.trimStart().startsWith('{'));  // at most 8 whitespace bytes may lead
});

await check('openai: an unsupported schema keyword is a 400 naming its path', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model, max_tokens: 8, messages: [{ role: 'user', content: 'x' }],
      response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'string', pattern: '^a' } } },
    }),
    (err) => err.status === 400 && err.param === 'response_format.json_schema.schema.pattern');
});

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Current weather', parameters: z.toJSONSchema(weatherParams) },
};

await check('openai: tools with tool_choice required, non-streamed and streamed', async () => {
  const body = {
    model, seed: 5, max_tokens: 200, messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools: [weatherTool], tool_choice: 'required',
  };
  const r = await client.chat.completions.create(body);
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.tool_calls.length, 1);
  const call = c.message.tool_calls[0];
  assert.ok(call.id.startsWith('call_'));
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  weatherParams.parse(JSON.parse(call.function.arguments));

  const stream = await client.chat.completions.create({ ...body, stream: true });
  let name = '';
  let args = '';
  let finish = null;
  for await (const chunk of stream) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    for (const tc of ch.delta.tool_calls ?? []) {
      name += tc.function?.name ?? '';
      args += tc.function?.arguments ?? '';
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(name, 'get_weather');
  assert.equal(args, call.function.arguments);  // same seed, same call
});

await check('openai: a tool result in the conversation is accepted', async () => {
  const r = await client.chat.completions.create({
    model, seed: 6, max_tokens: 8, tools: [weatherTool], tool_choice: 'none',
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
    ],
  });
  assert.equal(typeof r.choices[0].message.content, 'string');
});

const lc = new ChatOpenAI({
  model, apiKey: 'not-needed', maxRetries: 0, configuration: { baseURL: `${baseURL}/v1` }, temperature: 1, maxTokens: 200,
});

await check('LangChain: withStructuredOutput(zod)', async () => {
  checkPerson(await lc.withStructuredOutput(Person).invoke('Describe a person.'));
  checkPerson(await lc.withStructuredOutput(Person, { method: 'jsonSchema' }).invoke('Describe a person.'));
  checkPerson(await lc.withStructuredOutput(Person, { method: 'functionCalling' }).invoke('Describe a person.'));
});

await check('LangChain: bindTools with a forced call', async () => {
  const weather = lcTool(async () => 'sunny', { name: 'get_weather', description: 'Current weather', schema: weatherParams });
  const msg = await lc.bindTools([weather], { tool_choice: 'get_weather' }).invoke('Weather in Rome?');
  assert.equal(msg.tool_calls.length, 1);
  assert.equal(msg.tool_calls[0].name, 'get_weather');
  weatherParams.parse(msg.tool_calls[0].args);
  const any = await lc.bindTools([weather], { tool_choice: 'required' }).invoke('Weather?');
  assert.equal(any.tool_calls[0].name, 'get_weather');
});

const provider = createOpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'not-needed' });

await check('AI SDK: generateObject', async () => {
  const { object } = await generateObject({
    model: provider.chat(model), schema: Person, prompt: 'Describe a person.', maxRetries: 0, seed: 7,
    maxOutputTokens: 200,
  });
  checkPerson(object);
});

await check('AI SDK: generateText with Output.object', async () => {
  const r = await generateText({
    model: provider.chat(model), output: Output.object({ schema: Person }), prompt: 'Describe a person.',
    maxRetries: 0, seed: 9, maxOutputTokens: 200,
  });
  checkPerson(r.output);
});

await check("AI SDK: generateText with tools and toolChoice 'required'", async () => {
  const r = await generateText({
    model: provider.chat(model), prompt: 'Weather in Paris?', maxRetries: 0, seed: 8, maxOutputTokens: 200,
    tools: { get_weather: tool({ description: 'Current weather', inputSchema: weatherParams }) },
    toolChoice: 'required',
  });
  assert.equal(r.toolCalls.length, 1);
  assert.equal(r.toolCalls[0].toolName, 'get_weather');
  weatherParams.parse(r.toolCalls[0].input);
  assert.equal(r.finishReason, 'tool-calls');
});

finish();
