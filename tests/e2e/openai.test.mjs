// weft serve with the official openai client (node --test). Needs WEFT_BINARY and
// WEFT_SHARED_DIR (the shared models directory's parent).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer } from './server.mjs';

const shared = process.env.WEFT_SHARED_DIR;
const model = path.join(shared ?? '', 'models/stories260K/stories260K.gguf');
const template = path.join(shared ?? '', 'models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja');
const KEY = 'e2e-key';
const GOLDEN = ', there was a little girl named Lily';

let server;
let client;

before(async () => {
  server = await startServer([model, '--api-key', KEY, '--served-model-name', 'stories', '--chat-template', template,
    '--max-seqs', '16', '-t', '1']);
  client = new OpenAI({ baseURL: server.baseURL, apiKey: KEY, maxRetries: 0, timeout: 60000 });
});

after(async () => {
  const code = await server?.stop();
  assert.equal(code, 0, 'weft serve exits 0 on SIGTERM');
});

test('models lists the served name', async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ['stories']);
});

test('completion, greedy: the golden text', async () => {
  const r = await client.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.ok(r.choices[0].text.startsWith(GOLDEN), r.choices[0].text);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.prompt_tokens, 5);
  assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.total_tokens, 17);
});

test('completion, streaming: same text, usage chunk', async () => {
  const full = await client.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
  const stream = await client.completions.create({
    model: 'stories', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, full.choices[0].text);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 12);
});

test('chat, non-streaming and streaming agree', async () => {
  const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me a story.' }];
  const r = await client.chat.completions.create({ model: 'stories', messages, max_tokens: 10, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.ok(r.choices[0].message.content.length > 0);
  const stream = await client.chat.completions.create({ model: 'stories', messages, max_tokens: 10, temperature: 0, stream: true });
  let text = '';
  let role = null;
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta;
    if (d?.role) role = d.role;
    text += d?.content ?? '';
  }
  assert.equal(role, 'assistant');
  assert.equal(text, r.choices[0].message.content);
});

test('n > 1 with a seed is reproducible', async () => {
  const req = { model: 'stories', prompt: 'Once upon a time', max_tokens: 10, temperature: 1, n: 3, seed: 1234 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices.length, 3);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
});

test('stop cuts before the stop string', async () => {
  const r = await client.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stop: ['Lily'] });
  assert.equal(r.choices[0].text, ', there was a little girl named ');
  assert.equal(r.choices[0].finish_reason, 'stop');
});

test('logprobs: completions and chat', async () => {
  const r = await client.completions.create({ model: 'stories', prompt: 'Once upon a time', max_tokens: 4, temperature: 0, logprobs: 2 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, 4);
  assert.equal(lp.tokens.join(''), r.choices[0].text);
  assert.ok(lp.token_logprobs.every((x) => x <= 0));
  assert.equal(Object.keys(lp.top_logprobs[0]).length, 2);
  const c = await client.chat.completions.create({
    model: 'stories', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const content = c.choices[0].logprobs.content;
  assert.equal(content.length, 3);
  assert.equal(content[0].top_logprobs.length, 3);
  assert.equal(content.map((t) => t.token).join(''), c.choices[0].message.content);
});

test('400: bad values name the field', async () => {
  await assert.rejects(client.completions.create({ model: 'stories', prompt: 'x', top_p: 0 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.status, 400);
    assert.equal(e.param, 'top_p');
    return true;
  });
  await assert.rejects(client.completions.create({ model: 'stories', prompt: 'x', max_tokens: 'lots' }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.param, 'max_tokens');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: 'stories', messages: [] }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.param, 'messages');
    return true;
  });
  await assert.rejects(client.completions.create({ model: 'stories', prompt: 'word '.repeat(3000) }), (e) => {
    assert.equal(e.status, 400);
    assert.match(e.message, /context/);
    return true;
  });
});

test('401: missing or wrong key', async () => {
  const bad = new OpenAI({ baseURL: server.baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  const r = await fetch(`${server.baseURL}/completions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error.type, 'authentication_error');
});

test('404: unknown model and route', async () => {
  await assert.rejects(client.completions.create({ model: 'gpt-4', prompt: 'x' }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, String(e));
    assert.equal(e.code, 'model_not_found');
    return true;
  });
  const r = await fetch(`${server.root}/v1/engines`, { headers: { authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 404);
  assert.ok((await r.json()).error.message);
});

test('413: body over the limit', async () => {
  await assert.rejects(client.completions.create({ model: 'stories', prompt: 'a'.repeat(6 << 20) }), (e) => {
    assert.equal(e.status, 413);
    return true;
  });
});

test('429: over capacity; a gone client frees its slot', async () => {
  const small = await startServer([model, '--served-model-name', 'weft', '--max-seqs', '1', '--max-queued', '0', '-t', '1']);
  try {
    const c = new OpenAI({ baseURL: small.baseURL, apiKey: 'none', maxRetries: 0 });
    const ac = new AbortController();
    const long = await c.completions.create(
      { model: 'weft', prompt: 'Once', max_tokens: 100000, ignore_eos: true, stream: true }, { signal: ac.signal });
    const it = long[Symbol.asyncIterator]();
    await it.next();  // the long request is running
    await assert.rejects(c.completions.create({ model: 'weft', prompt: 'Once', max_tokens: 2 }),
      (e) => e instanceof OpenAI.RateLimitError && e.status === 429);
    ac.abort();
    // The abandoned stream is cancelled; the slot frees up.
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      try {
        await c.completions.create({ model: 'weft', prompt: 'Once', max_tokens: 2 });
        ok = true;
      } catch (e) {
        if (e.status !== 429) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.ok(ok, 'slot never freed after the client went away');
  } finally {
    assert.equal(await small.stop(), 0);
  }
});
