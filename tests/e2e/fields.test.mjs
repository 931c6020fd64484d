// The request fields beyond the basics, through the official openai client (node --test):
// fields weft does not act on are refused by name, admission limits are 400s that name
// the flag, and the vLLM fields weft does act on change the answer as they should.
// Needs WEFT_BINARY and WEFT_SHARED_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer } from './server.mjs';

const shared = process.env.WEFT_SHARED_DIR ?? '';
const model = path.join(shared, 'models/stories260K/stories260K.gguf');
const PROMPT = 'Once upon a time';
const GOLDEN = ', there was a little girl named Lily';
const BOS = 1;  // stories260K's <s>
const EOS = 2;  // stories260K's </s>

// A template with an optional variable, so that chat_template_kwargs can be seen.
const TEMPLATE = '{% if greeting is defined %}{{ greeting }}\n{% endif %}'
  + '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}'
  + '{% if add_generation_prompt %}[assistant] {% endif %}';

let server;
let client;
let dir;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-e2e-fields-'));
  const tmpl = path.join(dir, 'turns.jinja');
  fs.writeFileSync(tmpl, TEMPLATE);
  // 300 KiB of KV cache: 30 blocks of 16 tokens, far less than the 2048-token context.
  server = await startServer([model, '--served-model-name', 'stories', '--chat-template', tmpl, '--max-seqs', '4',
    '--kv-cache-mem', '300K', '-t', '1']);
  client = new OpenAI({ baseURL: server.baseURL, apiKey: 'none', maxRetries: 0, timeout: 60000 });
});

after(async () => {
  assert.equal(await server?.stop(), 0);
  fs.rmSync(dir, { recursive: true, force: true });
});

const complete = (extra) => client.completions.create({ model: 'stories', prompt: PROMPT, max_tokens: 12, temperature: 0, ...extra });
const chat = (messages, extra) => client.chat.completions.create({ model: 'stories', messages, max_tokens: 4, temperature: 0, ...extra });
const USER = [{ role: 'user', content: 'Tell me a story' }];

async function rejects400(promise, param, pattern) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.status, 400);
    assert.equal(e.param, param, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

async function post(route, body) {
  const r = await fetch(`${server.root}${route}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200);
  return r.json();
}

test('fields that would change the answer are refused by name', async () => {
  const completions = {
    best_of: 3, suffix: 'The end.', prompt_logprobs: 1,
    use_beam_search: true, logits_processors: ['x'], allowed_token_ids: [1], cache_salt: 'tenant',
  };
  for (const [name, value] of Object.entries(completions)) {
    await assert.rejects(complete({ [name]: value }), (e) => {
      assert.equal(e.status, 400, name);
      assert.equal(e.param, name);
      assert.equal(e.code, 'unsupported_parameter');
      assert.match(e.message, new RegExp(`'${name}' is not supported`));
      return true;
    });
  }
  const chats = {
    functions: [{ name: 'f', parameters: {} }], chat_template: '{{ messages }}',
    echo: true, reasoning_effort: 'high',
  };
  for (const [name, value] of Object.entries(chats)) {
    await assert.rejects(chat(USER, { [name]: value }), (e) => {
      assert.equal(e.status, 400, name);
      assert.equal(e.param, name);
      assert.equal(e.code, 'unsupported_parameter');
      return true;
    });
  }
  await rejects400(complete({ priority: 1 }), 'priority', /priority scheduling policy/);
  await rejects400(complete({ echo: true, logprobs: 1 }), 'echo', /logprobs/);
});

test('structured output: response_format json_schema, guided_choice, and a 400 naming an unsupported keyword', async () => {
  const schema = { type: 'object', properties: { answer: { enum: ['yes', 'no'] }, n: { type: 'integer', minimum: 0, maximum: 9 } },
    required: ['answer', 'n'], additionalProperties: false };
  for (const seed of [1, 2, 3]) {
    const r = await complete({ seed, max_tokens: 64, response_format: { type: 'json_schema', json_schema: { name: 'a', schema, strict: true } } });
    assert.equal(r.choices[0].finish_reason, 'stop');
    const v = JSON.parse(r.choices[0].text);
    assert.ok(['yes', 'no'].includes(v.answer) && Number.isInteger(v.n) && v.n >= 0 && v.n <= 9, r.choices[0].text);
    const c = await chat(USER, { seed, max_tokens: 64, response_format: { type: 'json_schema', json_schema: { name: 'a', schema } } });
    const cv = JSON.parse(c.choices[0].message.content);
    assert.deepEqual(Object.keys(cv), ['answer', 'n']);
  }
  const g = await complete({ seed: 5, max_tokens: 16, guided_choice: ['alpha', 'beta'] });
  assert.ok(['alpha', 'beta'].includes(g.choices[0].text), g.choices[0].text);
  await rejects400(complete({ guided_json: { type: 'object', not: {} } }), 'guided_json', /unsupported JSON Schema keyword 'not'/);
});

test('values that ask for nothing, and harmless fields, are accepted', async () => {
  const r = await complete({ response_format: { type: 'text' }, best_of: 1, suffix: '', use_beam_search: false, priority: 0,
    user: 'someone', metadata: { a: 'b' }, service_tier: 'auto' });
  assert.ok(r.choices[0].text.startsWith(GOLDEN), r.choices[0].text);
  const c = await chat(USER, { tool_choice: null, echo: false, user: 'someone' });
  assert.ok(c.choices[0].message.content.length > 0);
});

test('a prompt larger than the KV cache is a 400 naming --kv-cache-mem', async () => {
  const long = 'the '.repeat(600);  // ~600 tokens: more than the 480 the cache holds, less than the context
  await rejects400(client.completions.create({ model: 'stories', prompt: long, max_tokens: 2 }), 'prompt',
    /KV cache holds 480 tokens.*--kv-cache-mem/);
  await rejects400(chat([{ role: 'user', content: long }]), 'messages', /--kv-cache-mem/);
  // Several prompts are admitted together or not at all.
  await rejects400(client.completions.create({ model: 'stories', prompt: [PROMPT, long], max_tokens: 2 }), 'prompt');
  await rejects400(complete({ n: 5 }), 'n', /--max-seqs/);
  // Still serving.
  assert.ok((await complete({})).choices[0].text.startsWith(GOLDEN));
});

test('echo with stream sends the prompt first, as without stream', async () => {
  const whole = await complete({ echo: true });
  assert.equal(whole.choices[0].text.slice(0, PROMPT.length), PROMPT);
  assert.ok(whole.choices[0].text.startsWith(PROMPT + GOLDEN), whole.choices[0].text);
  const stream = await complete({ echo: true, stream: true });
  const chunks = [];
  for await (const chunk of stream) for (const c of chunk.choices) chunks.push(c.text);
  assert.ok(chunks[0].startsWith(PROMPT), chunks[0]);
  assert.equal(chunks.join(''), whole.choices[0].text);
});

test('stop_token_ids and include_stop_str_in_output', async () => {
  // The id of ' there', the continuation's second token.
  const { tokens } = await post('/tokenize', { prompt: `${PROMPT}, there`, add_special_tokens: false });
  const there = tokens[tokens.length - 1];
  assert.equal((await post('/detokenize', { tokens: [there] })).prompt, 'there');
  const cut = await complete({ stop_token_ids: [there] });
  assert.equal(cut.choices[0].text, ',');
  assert.equal(cut.choices[0].finish_reason, 'stop');
  const kept = await complete({ stop_token_ids: [there], include_stop_str_in_output: true });
  assert.equal(kept.choices[0].text, ', there');
  assert.equal(kept.choices[0].finish_reason, 'stop');
  const stop = await complete({ stop: ['Lily'], include_stop_str_in_output: true, max_tokens: 30 });
  assert.equal(stop.choices[0].text, GOLDEN);
  assert.equal(stop.choices[0].finish_reason, 'stop');
  await rejects400(complete({ stop_token_ids: [100000] }), 'stop_token_ids');
});

test('skip_special_tokens: false shows the special tokens generated', async () => {
  const bos = { logit_bias: { [BOS]: 100 }, max_tokens: 2 };  // a control token that does not stop
  const hidden = await complete(bos);
  assert.equal(hidden.choices[0].text, '');
  assert.equal(hidden.usage.completion_tokens, 2);
  const shown = await complete({ ...bos, skip_special_tokens: false });
  assert.equal(shown.choices[0].text, '<s><s>');
  const stream = await complete({ ...bos, skip_special_tokens: false, stream: true });
  let text = '';
  for await (const chunk of stream) for (const c of chunk.choices) text += c.text;
  assert.equal(text, '<s><s>');
  // EOS ends the sample; its text is part of the output only when asked.
  const forced = { logit_bias: { [EOS]: 100 }, max_tokens: 2 };
  const eos = await complete({ ...forced, skip_special_tokens: false });
  assert.equal(eos.choices[0].text, '');
  assert.equal(eos.choices[0].finish_reason, 'stop');
  const eosKept = await complete({ ...forced, skip_special_tokens: false, include_stop_str_in_output: true });
  assert.equal(eosKept.choices[0].text, '</s>');
  assert.equal(eosKept.choices[0].finish_reason, 'stop');
  const eosSkipped = await complete({ ...forced, include_stop_str_in_output: true });
  assert.equal(eosSkipped.choices[0].text, '');  // included, but a special token renders as nothing
});

test('add_special_tokens: false leaves BOS out', async () => {
  const withBos = await complete({ max_tokens: 1 });
  const without = await complete({ max_tokens: 1, add_special_tokens: false });
  assert.equal(withBos.usage.prompt_tokens, 5);
  assert.equal(without.usage.prompt_tokens, 4);
  const chatBos = await chat(USER, { max_tokens: 1 });
  const chatNone = await chat(USER, { max_tokens: 1, add_special_tokens: false });
  assert.equal(chatNone.usage.prompt_tokens, chatBos.usage.prompt_tokens - 1);
});

test('chat_template_kwargs reach the template', async () => {
  const plain = await chat(USER, { max_tokens: 1 });
  const greeted = await chat(USER, { max_tokens: 1, chat_template_kwargs: { greeting: 'Hello there' } });
  const rendered = await post('/tokenize', { prompt: 'Hello there\n[user] Tell me a story\n[assistant] ' });
  assert.equal(greeted.usage.prompt_tokens, rendered.count);
  assert.ok(greeted.usage.prompt_tokens > plain.usage.prompt_tokens);
  await rejects400(chat(USER, { chat_template_kwargs: { messages: [] } }), 'chat_template_kwargs');
  await rejects400(chat(USER, { chat_template_kwargs: 'x' }), 'chat_template_kwargs');
});

test('continue_final_message continues the last message', async () => {
  const messages = [...USER, { role: 'assistant', content: PROMPT }];
  const r = await chat(messages, { continue_final_message: true, add_generation_prompt: false });
  const open = await post('/tokenize', { prompt: `[user] Tell me a story\n[assistant] ${PROMPT}` });
  assert.equal(r.usage.prompt_tokens, open.count);  // ends right after the content: no newline, no new turn
  const closed = await chat(messages, { add_generation_prompt: false });
  assert.equal(closed.usage.prompt_tokens, open.count + 1);  // the template's newline after the message
  await rejects400(chat(messages, { continue_final_message: true }), 'continue_final_message', /add_generation_prompt/);
});
