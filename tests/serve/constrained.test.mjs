// Constrained output and tool calls on local tiers, driven by the real npm `openai` client:
// response_format json_schema / json_object (every finished answer parses and validates, stream
// or not), baton's `grammar` extension, tool calls forced with tool_choice "required" or a named
// function on a synthetic Qwen model carrying Qwen 2.5's template (Hermes <tool_call> format):
// well-formed tool_calls, arguments that parse and validate, OpenAI's streaming delta shape; and
// the 400s: an unsupported schema keyword, a bad grammar, a template's raise_exception.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startBaton, test, done, assert, eq, FIXTURES, BATON, HERE, tmpDir } from './lib.mjs';

const require = createRequire(join(HERE, '..', 'clients', 'package.json'));
const OpenAI = (await import(pathToFileURL(require.resolve('openai')).href)).default;

const dir = tmpDir();
const synth = (shape, template, out) =>
  execFileSync(BATON, ['synth', '--shape', shape, '--chat-template', join(FIXTURES, 'templates', template),
                       join(dir, out)], { env: { ...process.env, BATON_FIXTURES: FIXTURES }, stdio: 'inherit' });
synth('tiny-qwen2', 'Qwen-Qwen2.5-7B-Instruct.jinja', 'qwen.gguf');
synth('tiny-llama', 'mistralai-Mistral-Nemo-Instruct-2407.jinja', 'mistral.gguf');

const b = await startBaton(`
tiers:
  - name: small
    kind: local
    model: ${FIXTURES}/models/stories260K.gguf
    threads: 1
    context: 512
  - name: qwen
    kind: local
    model: ${join(dir, 'qwen.gguf')}
    threads: 1
    context: 1024
  - name: mistral
    kind: local
    model: ${join(dir, 'mistral.gguf')}
    threads: 1
    context: 512
`);
const client = new OpenAI({ baseURL: b.url, apiKey: 'unused', maxRetries: 0 });

// The schema and an independent check of it.
const person = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 8 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    pets: { type: 'array', items: { enum: ['cat', 'dog'] }, maxItems: 3 },
  },
  required: ['name', 'age', 'pets'],
  additionalProperties: false,
};
function validPerson(o) {
  return o && typeof o === 'object' && !Array.isArray(o) && Object.keys(o).length === 3 &&
    typeof o.name === 'string' && [...o.name].length <= 8 && Number.isInteger(o.age) &&
    o.age >= 0 && o.age <= 120 && Array.isArray(o.pets) && o.pets.length <= 3 &&
    o.pets.every((p) => p === 'cat' || p === 'dog');
}
const rf = { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: person } };
const ask = (extra) => ({ model: 'small', messages: [{ role: 'user', content: 'Tell me about Lily.' }],
                          max_tokens: 150, ...extra });

await test('response_format json_schema: every finished answer parses and validates', async () => {
  let finished = 0;
  for (let seed = 0; seed < 6; seed++) {
    const r = await client.chat.completions.create(ask({ seed, response_format: rf }));
    const c = r.choices[0];
    if (c.finish_reason === 'length') continue;
    eq(c.finish_reason, 'stop');
    finished++;
    const o = JSON.parse(c.message.content);
    assert(validPerson(o), `does not validate: ${c.message.content}`);
  }
  assert(finished >= 2, `only ${finished} of 6 answers finished`);
});

await test('response_format json_schema, streamed: the chunks add up to a valid document', async () => {
  let finished = 0;
  for (let seed = 10; seed < 13; seed++) {
    const stream = await client.chat.completions.create(ask({ seed, response_format: rf, stream: true }));
    let text = '', finish = null;
    for await (const ch of stream) {
      text += ch.choices[0]?.delta?.content ?? '';
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    if (finish !== 'stop') continue;
    finished++;
    assert(validPerson(JSON.parse(text)), `does not validate: ${text}`);
  }
  assert(finished >= 1, 'no streamed answer finished');
});

await test('response_format json_object: an object', async () => {
  for (let seed = 0; seed < 4; seed++) {
    const r = await client.chat.completions.create(ask({ seed, max_tokens: 200, response_format: { type: 'json_object' } }));
    const c = r.choices[0];
    if (c.finish_reason === 'stop') {
      const o = JSON.parse(c.message.content);
      assert(o && typeof o === 'object' && !Array.isArray(o), c.message.content);
    } else {
      eq(c.finish_reason, 'length');
      assert(c.message.content.startsWith('{'), c.message.content);
    }
  }
});

await test('grammar (baton extension): output in the language', async () => {
  const r = await client.chat.completions.create(ask({ seed: 1, grammar: 'root ::= ("red" | "green" | "blue") "!"' }));
  assert(/^(red|green|blue)!$/.test(r.choices[0].message.content), r.choices[0].message.content);
  eq(r.choices[0].finish_reason, 'stop');
});

const weather = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const tools = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather', parameters: weather } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string', maxLength: 6 } }, required: ['tz'] } } },
];
function checkCall(call) {
  assert(/^call_[A-Za-z0-9]{24}$/.test(call.id), `id ${call.id}`);
  eq(call.type, 'function');
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === 'get_weather') {
    assert(typeof args.city === 'string' && [...args.city].length <= 12 &&
           ['celsius', 'fahrenheit'].includes(args.unit) && Object.keys(args).length === 2,
           `bad arguments ${call.function.arguments}`);
  } else {
    eq(call.function.name, 'get_time');
    assert(typeof args.tz === 'string' && [...args.tz].length <= 6, `bad arguments ${call.function.arguments}`);
  }
}
const toolReq = (extra) => ({ model: 'qwen', messages: [{ role: 'user', content: 'Weather in Paris?' }],
                              tools, max_tokens: 80, ...extra });
// Random weights keep calling until max_tokens: then the last call may be cut (finish "length").
function checkCalls(calls, finish) {
  assert(calls.length >= 1, 'no tool calls');
  if (finish === 'length') calls = calls.slice(0, -1);
  else eq(finish, 'tool_calls');
  calls.forEach(checkCall);
  return calls.length;
}

await test('tools, tool_choice required: well-formed tool_calls, arguments validate', async () => {
  let complete = 0;
  for (let seed = 0; seed < 2; seed++) {
    const r = await client.chat.completions.create(toolReq({ seed, tool_choice: 'required' }));
    const c = r.choices[0];
    eq(c.message.content, null);
    complete += checkCalls(c.message.tool_calls ?? [], c.finish_reason);
  }
  assert(complete >= 1, 'no complete tool call');
});

await test('tools, a named function, streamed: OpenAI delta shape', async () => {
  const stream = await client.chat.completions.create(
    toolReq({ seed: 7, stream: true, tool_choice: { type: 'function', function: { name: 'get_weather' } } }));
  const calls = [];
  let finish = null, content = '';
  for await (const ch of stream) {
    const d = ch.choices[0]?.delta;
    finish = ch.choices[0]?.finish_reason ?? finish;
    content += d?.content ?? '';
    for (const tc of d?.tool_calls ?? []) {
      if (!calls[tc.index]) {
        // the first delta of a call: id, type, name and empty arguments
        assert(tc.id && tc.type === 'function' && tc.function.name, `first delta ${JSON.stringify(tc)}`);
        calls[tc.index] = { id: tc.id, type: tc.type, function: { name: tc.function.name, arguments: tc.function.arguments ?? '' } };
      } else {
        assert(!tc.id && !tc.function.name, `later delta repeats the opening: ${JSON.stringify(tc)}`);
        calls[tc.index].function.arguments += tc.function.arguments ?? '';
      }
    }
  }
  eq(content, '');
  assert(calls.length >= 1);
  eq(calls[0].function.name, 'get_weather');
  checkCalls(calls, finish);
});

await test('a tool call and its result go back through the template', async () => {
  const first = await client.chat.completions.create(toolReq({ seed: 3, tool_choice: 'required', max_tokens: 40 }));
  const call = first.choices[0].message.tool_calls[0];
  const r = await client.chat.completions.create({
    model: 'qwen', max_tokens: 8, seed: 1,
    messages: [{ role: 'user', content: 'Weather in Paris?' }, first.choices[0].message,
               { role: 'tool', tool_call_id: call.id, content: '{"temp": 21}' }],
    tools, tool_choice: 'none',
  });
  eq(r.choices[0].message.tool_calls, undefined);
  assert(['stop', 'length'].includes(r.choices[0].finish_reason));
});

await test('400s name the problem: schema keyword, grammar syntax, template exception', async () => {
  try {
    await client.chat.completions.create(ask({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', uniqueItems: true } } } }));
    assert(false, 'accepted');
  } catch (e) { eq(e.status, 400); eq(e.param, 'response_format'); assert(/uniqueItems is not supported/.test(e.message), e.message); }
  try {
    await client.chat.completions.create(ask({ grammar: 'root ::= "a" (' }));
    assert(false, 'accepted');
  } catch (e) { eq(e.status, 400); eq(e.param, 'grammar'); assert(/line 1, column/.test(e.message), e.message); }
  try {
    await client.chat.completions.create({ model: 'mistral', max_tokens: 4,
      messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] });
    assert(false, 'accepted');
  } catch (e) { eq(e.status, 400); eq(e.param, 'messages'); assert(/roles must alternate/.test(e.message), e.message); }
});

done();
