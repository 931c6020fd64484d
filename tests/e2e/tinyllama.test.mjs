// weft serve with TinyLLama-v0 (no chat template of its own: --chat-template) through
// the openai client: streaming agrees with non-streaming, seeds reproduce, stop holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer } from './server.mjs';

const shared = process.env.WEFT_SHARED_DIR ?? '';
const model = path.join(shared, 'models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf');
const template = path.join(shared, 'models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja');

let server;
let client;

before(async () => {
  server = await startServer([model, '--served-model-name', 'weft', '--chat-template', template, '--max-seqs', '8', '-t', '1']);
  client = new OpenAI({ baseURL: server.baseURL, apiKey: 'none', maxRetries: 0, timeout: 120000 });
});

after(async () => {
  assert.equal(await server?.stop(), 0);
});

async function collect(stream, chat) {
  let text = '';
  for await (const chunk of stream) {
    for (const c of chunk.choices) text += chat ? (c.delta?.content ?? '') : c.text;
  }
  return text;
}

test('completion: streamed text equals the whole', async () => {
  const req = { model: 'weft', prompt: 'Tom had a dog', max_tokens: 16, temperature: 0 };
  const full = await client.completions.create(req);
  assert.ok(full.choices[0].text.length > 0);
  assert.equal(await collect(await client.completions.create({ ...req, stream: true }), false), full.choices[0].text);
});

test('chat via --chat-template: streamed equals the whole', async () => {
  const req = { model: 'weft', messages: [{ role: 'user', content: 'Tell me about a cat.' }], max_tokens: 16, temperature: 0 };
  const full = await client.chat.completions.create(req);
  assert.equal(full.choices[0].message.role, 'assistant');
  assert.equal(await collect(await client.chat.completions.create({ ...req, stream: true }), true), full.choices[0].message.content);
});

test('seeded n=2 reproduces; stop strings never appear', async () => {
  const req = { model: 'weft', prompt: 'Tom had a dog', max_tokens: 20, temperature: 0.9, n: 2, seed: 7, stop: ['.'] };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  for (const c of a.choices) assert.ok(!c.text.includes('.'), c.text);
});
