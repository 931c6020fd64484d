// Constrained generation against a running weft serve, checked by ajv: RUNS seeded
// requests over a varied set of bounded schemas (every sentence of each is finite, so
// every run must end with finish_reason "stop", never "length"), each output validated.
// usage: node constrained_runs.mjs BASE_URL RUNS MAX_TOKENS
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [base, runsArg, maxTokensArg] = process.argv.slice(2);
const runs = Number(runsArg), maxTokens = Number(maxTokensArg);

const schemas = [
  { type: "object", properties: { name: { type: "string", maxLength: 12 }, age: { type: "integer", minimum: 0, maximum: 150 },
      admin: { type: "boolean" } }, required: ["name", "age"], additionalProperties: false },
  { type: "array", items: { type: "integer", minimum: -50, maximum: 50 }, minItems: 1, maxItems: 6 },
  { enum: ["red", "green", "blue", 42, null, true] },
  { type: "object", properties: { id: { type: "string", format: "uuid" }, day: { type: "string", format: "date" },
      at: { type: "string", format: "date-time" } }, required: ["id", "day", "at"], additionalProperties: false },
  { type: "object", properties: { code: { type: "string", pattern: "^[A-Z]{3}-[0-9]{2,4}$" },
      score: { type: "number" } }, required: ["code", "score"], additionalProperties: false },
  { $defs: { point: { type: "object", properties: { x: { type: "integer", minimum: 0, maximum: 9 },
      y: { type: "integer", minimum: 0, maximum: 9 } }, required: ["x", "y"], additionalProperties: false } },
    type: "object", properties: { from: { $ref: "#/$defs/point" }, to: { $ref: "#/$defs/point" },
      via: { type: "array", items: { $ref: "#/$defs/point" }, maxItems: 3 } }, required: ["from", "to"],
    additionalProperties: false },
  { anyOf: [{ type: "string", minLength: 2, maxLength: 5 }, { type: "integer", minimum: 100, maximum: 999 },
      { type: "null" }] },
  { oneOf: [{ type: "object", properties: { kind: { const: "circle" }, r: { type: "integer", minimum: 1, maximum: 9 } },
      required: ["kind", "r"], additionalProperties: false }, { type: "array", prefixItems: [{ type: "boolean" },
      { type: "string", maxLength: 3 }], items: false, minItems: 2 }] },
  { type: "object", properties: { tags: { type: "array", items: { enum: ["a", "b", "c"] }, maxItems: 4 },
      note: { type: ["string", "null"], maxLength: 8 }, nested: { type: "object", properties: {
      deep: { type: "object", properties: { v: { type: "boolean" } }, required: ["v"], additionalProperties: false } },
      required: ["deep"], additionalProperties: false } }, required: ["tags", "nested"], additionalProperties: false },
  { type: "object", properties: { q: { type: "string", maxLength: 6 }, opt1: { type: "integer", minimum: 1, maximum: 3 },
      opt2: { const: "x" } }, required: ["q"], additionalProperties: false },
];

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const validators = schemas.map((s) => ajv.compile(s));

async function one(i) {
  const k = i % schemas.length;
  const body = { prompt: "Answer:", max_tokens: maxTokens, seed: i, temperature: 1.0 };
  if (i % 3 === 0) body.response_format = { type: "json_schema", json_schema: { name: `s${k}`, schema: schemas[k], strict: true } };
  else if (i % 3 === 1) body.guided_json = schemas[k];
  else body.structured_outputs = { json: schemas[k] };
  const res = await fetch(`${base}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(body) });
  const j = await res.json();
  if (res.status !== 200) return `run ${i} (schema ${k}): HTTP ${res.status} ${JSON.stringify(j)}`;
  const c = j.choices[0];
  if (c.finish_reason !== "stop") return `run ${i} (schema ${k}): finish_reason ${c.finish_reason} after ${j.usage.completion_tokens} tokens: ${c.text.slice(0, 200)}`;
  let v;
  try { v = JSON.parse(c.text); } catch (e) { return `run ${i} (schema ${k}): not JSON: ${c.text}`; }
  if (!validators[k](v)) return `run ${i} (schema ${k}): ajv rejects ${c.text}: ${JSON.stringify(validators[k].errors)}`;
  return null;
}

const failures = [];
let tokens = 0, done = 0;
const parallel = 8;
let next = 0;
async function worker() {
  while (next < runs) {
    const i = next++;
    const f = await one(i);
    if (f) failures.push(f);
    done++;
  }
}
await Promise.all(Array.from({ length: parallel }, worker));
console.log(`${done} runs over ${schemas.length} schemas: ${done - failures.length} valid, ${failures.length} failed`);
for (const f of failures.slice(0, 20)) console.log("FAIL", f);
process.exit(failures.length === 0 && done === runs ? 0 : 1);
