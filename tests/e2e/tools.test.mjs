// Tool calling through the official openai client (node --test): tool_choice required and
// named force a call whose arguments match the function's parameters, and auto holds a
// call the model begins to the same grammar, for the three
// formats (Hermes/Qwen, Llama 3 JSON, Mistral), streamed and not; the call and its result
// go back into the history and render; fields weft cannot honour are 400s.
// The model is TinyLLama-v0 (a TinyStories model that has never seen a tool, 2048-token
// context for the tools in the prompt): every call it makes is the grammar's doing. Needs WEFT_BINARY and WEFT_SHARED_DIR.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import OpenAI from 'openai';
import { startServer } from './server.mjs';

const shared = process.env.WEFT_SHARED_DIR ?? '';
const model = path.join(shared, 'models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf');
const templates = path.join(shared, 'models/chat-templates');

const FORMATS = {
  hermes: 'Qwen-Qwen2.5-7B-Instruct.jinja',
  llama3: 'meta-llama-Llama-3.1-8B-Instruct.jinja',
  mistral: 'mistralai-Mistral-Nemo-Instruct-2407.jinja',
};

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather', description: 'The weather in a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['c', 'f'] } },
        required: ['city', 'unit'], additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'add', description: 'Adds two small numbers',
      parameters: {
        type: 'object',
        properties: { a: { type: 'integer', minimum: 0, maximum: 99 }, b: { type: 'integer', minimum: 0, maximum: 99 } },
        required: ['a', 'b'], additionalProperties: false,
      },
    },
  },
];

// The parameters schemas, checked by hand (the e2e suite has no validator dependency).
function checkArgs(name, text) {
  const v = JSON.parse(text);
  if (name === 'get_weather') {
    assert.deepEqual(Object.keys(v), ['city', 'unit'], text);
    assert.equal(typeof v.city, 'string');
    assert.ok([...v.city].length <= 12, text);
    assert.ok(['c', 'f'].includes(v.unit), text);
  } else {
    assert.equal(name, 'add');
    assert.deepEqual(Object.keys(v), ['a', 'b'], text);
    for (const x of [v.a, v.b]) assert.ok(Number.isInteger(x) && x >= 0 && x <= 99, text);
  }
}

const USER = [{ role: 'user', content: 'What is the weather in Paris?' }];
const servers = {};
const clients = {};

before(async () => {
  for (const [format, file] of Object.entries(FORMATS)) {
    // The format comes from the template (auto), which the test checks by not naming it.
    servers[format] = await startServer([model, '--served-model-name', 'stories', '--chat-template',
      path.join(templates, file), '--max-seqs', '4', '-t', '1']);
    clients[format] = new OpenAI({ baseURL: servers[format].baseURL, apiKey: 'none', maxRetries: 0, timeout: 60000 });
  }
  servers.gemma = await startServer([model, '--served-model-name', 'stories', '--chat-template',
    path.join(templates, 'google-gemma-2-2b-it.jinja'), '-t', '1']);
  clients.gemma = new OpenAI({ baseURL: servers.gemma.baseURL, apiKey: 'none', maxRetries: 0, timeout: 60000 });
});

after(async () => {
  for (const s of Object.values(servers)) assert.equal(await s.stop(), 0);
});

const ask = (format, extra) => clients[format].chat.completions.create({
  model: 'stories', messages: USER, tools: TOOLS, max_tokens: 300, temperature: 1, ...extra,
});

// Collects a streamed answer the way OpenAI's docs say: tool_calls deltas by index.
async function collect(stream) {
  const calls = [];
  let content = '';
  let finish = null;
  let role = null;
  const fragments = [];  // per call: chunks carrying argument text
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) content += c.delta.content;
    for (const d of c.delta.tool_calls ?? []) {
      if (!calls[d.index]) {
        // OpenAI's first chunk of a call: index, id, type and name.
        assert.ok(d.id && d.type === 'function' && d.function?.name, JSON.stringify(d));
        fragments[d.index] = 0;
      }
      calls[d.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
      if (d.function?.arguments) fragments[d.index] += 1;
      if (d.id) calls[d.index].id = d.id;
      if (d.function?.name) calls[d.index].function.name += d.function.name;
      if (d.function?.arguments) calls[d.index].function.arguments += d.function.arguments;
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { role, content, calls, finish, fragments };
}

for (const format of Object.keys(FORMATS)) {
  test(`${format}: tool_choice required gives valid calls, non-streaming and streaming`, async () => {
    // Parallel calls (at most 8, the bound that makes a forced generation end) and one call.
    for (const [seed, parallel] of [[1, true], [2, true], [3, false], [4, false]]) {
      const r = await ask(format, { seed, tool_choice: 'required', parallel_tool_calls: parallel, max_tokens: 1200 });
      const m = r.choices[0].message;
      assert.equal(r.choices[0].finish_reason, 'tool_calls', JSON.stringify(m));
      assert.ok(m.tool_calls.length >= 1 && m.tool_calls.length <= (parallel && format !== 'llama3' ? 8 : 1));
      for (const c of m.tool_calls) {
        assert.equal(c.type, 'function');
        assert.match(c.id, format === 'mistral' ? /^[A-Za-z0-9]{9}$/ : /^call_[0-9a-f]{24}$/);
        checkArgs(c.function.name, c.function.arguments);
      }
      // The same seed streamed: the same calls (ids aside), no content.
      const s = await collect(await ask(format, {
        seed, tool_choice: 'required', parallel_tool_calls: parallel, max_tokens: 1200, stream: true,
      }));
      assert.equal(s.role, 'assistant');
      assert.equal(s.finish, 'tool_calls');
      assert.deepEqual(s.calls.map((c) => c.function), m.tool_calls.map((c) => c.function));
      // Arguments arrive piece by piece while generated, not whole at the end.
      for (const [i, c] of s.calls.entries()) {
        if (c.function.arguments.length > 8) assert.ok(s.fragments[i] >= 2, `${format} call ${i}: ${s.fragments[i]} fragments`);
      }
    }
  });

  test(`${format}: a named function, parallel_tool_calls false, n = 2`, async () => {
    const r = await ask(format, {
      seed: 7, n: 2, parallel_tool_calls: false, tool_choice: { type: 'function', function: { name: 'add' } },
    });
    assert.equal(r.choices.length, 2);
    for (const ch of r.choices) {
      assert.equal(ch.finish_reason, 'tool_calls');
      assert.equal(ch.message.tool_calls.length, 1);
      assert.equal(ch.message.tool_calls[0].function.name, 'add');
      checkArgs('add', ch.message.tool_calls[0].function.arguments);
    }
  });

  test(`${format}: the call and its result go back into the history (auto and none)`, async () => {
    // Room for the whole call: sampled at temperature 1, its string arguments can run long
    // (300 tokens were not enough for Mistral's format with AVX2's logits).
    const first = await ask(format, {
      seed: 3, max_tokens: 1200, tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    assert.equal(first.choices[0].finish_reason, 'tool_calls', 'the forced call did not finish');
    const msg = first.choices[0].message;
    const messages = [...USER, msg,
      ...msg.tool_calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: '18 degrees' }))];
    for (const tool_choice of ['auto', 'none']) {
      const r = await clients[format].chat.completions.create({
        model: 'stories', messages, tools: TOOLS, tool_choice, max_tokens: 8, seed: 1,
      });
      const ch = r.choices[0];
      // A story model answers with text; auto would have returned parsed calls had it written one.
      assert.ok(['stop', 'length', 'tool_calls'].includes(ch.finish_reason));
      if (tool_choice === 'none') {
        assert.equal(ch.message.tool_calls, undefined);
        assert.equal(typeof ch.message.content, 'string');
      }
      assert.ok(r.usage.prompt_tokens > 20);
    }
  });
}

// tool_choice auto: the text is free until the model starts a call, then the grammar holds
// the call to a declared function with valid arguments, and parallel_tool_calls false to
// one call. TinyLLama-v0 never opens with '{' by itself: logit_bias makes it (ids 795 ' {'
// and 23560 ' {"' of its vocabulary), which starts a Llama 3 call; without the grammar a
// story model would go on with prose and the text would come back as content.
test('llama3: tool_choice auto, a call begun by the model is held to one valid call', async () => {
  for (const seed of [1, 2, 3]) {
    const extra = { seed, tool_choice: 'auto', parallel_tool_calls: false, max_tokens: 300,
      logit_bias: { 795: 100, 23560: 100 } };
    const r = await ask('llama3', extra);
    const ch = r.choices[0];
    assert.equal(ch.finish_reason, 'tool_calls', JSON.stringify(ch.message));
    assert.equal(ch.message.tool_calls.length, 1);
    checkArgs(ch.message.tool_calls[0].function.name, ch.message.tool_calls[0].function.arguments);
    const s = await collect(await ask('llama3', { ...extra, stream: true }));
    assert.equal(s.finish, 'tool_calls');
    assert.deepEqual(s.calls.map((c) => c.function), ch.message.tool_calls.map((c) => c.function));
  }
  // The same request without the push: prose, returned as content.
  const prose = await ask('llama3', { seed: 1, tool_choice: 'auto', parallel_tool_calls: false, max_tokens: 12 });
  assert.equal(prose.choices[0].message.tool_calls, undefined);
  assert.ok(prose.choices[0].message.content.length > 0);
});

async function rejects400(promise, param, pattern) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.status, 400, String(e));
    assert.equal(e.param, param, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

test('what weft cannot honour is a 400 naming the field', async () => {
  await rejects400(ask('hermes', { tool_choice: { type: 'function', function: { name: 'nope' } } }),
    'tool_choice.function.name', /no tool is named 'nope'/);
  await rejects400(ask('hermes', { tools: [{ type: 'retrieval' }] }), 'tools[0].type');
  await rejects400(ask('hermes', { tool_choice: 'required', response_format: { type: 'json_object' } }),
    'response_format', /cannot be combined/);
  const notSupported = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: { not: {} } } } } }];
  await rejects400(ask('hermes', { tools: notSupported, tool_choice: 'required' }), 'tools', /'not'/);
  // A template without a tool-call format: calls could be neither forced nor read.
  await rejects400(ask('gemma', { tool_choice: 'auto' }), 'tool_choice', /--tool-call-format/);
  const none = await ask('gemma', { tool_choice: 'none', max_tokens: 4 });
  assert.equal(none.choices[0].message.tool_calls, undefined);
});
