// The Ollama dialect (/api/chat, /api/generate, /api/tags, /api/show, /api/version) of `baton
// serve`, driven by the real npm `ollama` client (and raw HTTP where the client would hide what is
// checked): a local tier of a real tiny model and tests/tools/fake_upstream.js as a remote tier,
// keys on (the client sends Authorization). Checks that the same greedy request gives the same
// text through all three dialects, usage counts equal to the OpenAI dialect's, done reasons,
// NDJSON streaming (the default), `format` as constrained output that parses, tool calls in
// Ollama's shape, the model listings, and {"error": ...} answers with the right statuses.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startBaton, startFakeUpstream, test, done, assert, eq, FIXTURES, BATON, HERE,
         tmpDir } from './lib.mjs';

const require = createRequire(join(HERE, '..', 'clients', 'package.json'));
const { Ollama } = await import(pathToFileURL(require.resolve('ollama')).href);
const OpenAI = (await import(pathToFileURL(require.resolve('openai')).href)).default;
const Anthropic = (await import(pathToFileURL(require.resolve('@anthropic-ai/sdk')).href)).default;

const fake = await startFakeUpstream();
const dir = tmpDir();
const store = join(dir, 'keys.db');
const ledger = join(dir, 'ledger.db');
const secret = execFileSync(BATON, ['keys', '--store', store, 'create', '--name', 'oll'],
                            { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const sql = (q) => execFileSync('sqlite3', [ledger, q]).toString().trim();

const b = await startBaton(`
server:
  ledger: ${ledger}
  keys: ${store}
tiers:
  - name: small
    kind: local
    model: ${FIXTURES}/models/stories260K.gguf
    threads: 1
    context: 512
    price: { input: 0.01, output: 0.02 }
  - { name: toolsy, kind: openai, base_url: ${fake.url}, model: "olltools/tools", price: { input: 0, output: 0 } }
  - { name: broken, kind: openai, base_url: ${fake.url}, model: "ollbroken/drop_mid", price: { input: 0, output: 0 }, retries: 0 }
  - { name: cloudtools, kind: openai, base_url: ${fake.url}, model: "ollmasktools/echo_tools?interleave=1", price: { input: 0, output: 0 } }
routes:
  - { name: auto, default: small }
  - { name: maskedtools, privacy: mask, default: cloudtools }
`);
const host = b.url.replace(/\/v1$/, '');
const auth = { authorization: `Bearer ${secret}` };
const ollama = new Ollama({ host, headers: auth });
const openai = new OpenAI({ baseURL: b.url, apiKey: secret, maxRetries: 0 });
const anthropic = new Anthropic({ baseURL: host, apiKey: secret, maxRetries: 0 });
const prompt = 'Once upon a time';
const greedy = { temperature: 0, num_predict: 20 };
const chat = (extra = {}) => ({ model: 'small', messages: [{ role: 'user', content: prompt }],
                                options: greedy, ...extra });
const cliGreedy = execFileSync(BATON, ['run', '-m', `${FIXTURES}/models/stories260K.gguf`, '-p', prompt,
                                       '-n', '20', '--temp', '0', '-t', '1'],
                               { stdio: ['ignore', 'pipe', 'ignore'] }).toString().replace(/\n$/, '');

async function raw(path, body, headers = auth) {
  const r = await fetch(host + path, {
    method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}
const isNs = (v) => Number.isInteger(v) && v >= 0;

await test('the same greedy request: the same text through the OpenAI, Anthropic and Ollama dialects', async () => {
  const o = await openai.chat.completions.create({ model: 'small', max_tokens: 20, temperature: 0,
                                                   messages: [{ role: 'user', content: prompt }] });
  const a = await anthropic.messages.create({ model: 'small', max_tokens: 20, temperature: 0,
                                              messages: [{ role: 'user', content: prompt }] });
  const l = await ollama.chat(chat({ stream: false }));
  eq(o.choices[0].message.content, cliGreedy);
  eq(a.content[0].text, cliGreedy);
  eq(l.message, { role: 'assistant', content: cliGreedy });
  eq([l.prompt_eval_count, l.eval_count], [o.usage.prompt_tokens, o.usage.completion_tokens]);
  eq([l.done, l.done_reason, l.model], [true, 'length', 'small']);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'])
    assert(isNs(l[k]), `${k}: ${l[k]}`);
  assert(l.total_duration >= l.eval_duration && l.total_duration > 0, JSON.stringify(l));
  assert(!Number.isNaN(Date.parse(l.created_at)), l.created_at);
});

await test('chat streams by default: NDJSON lines adding up to the answer, then done', async () => {
  const r = await raw('/api/chat', chat());
  eq(r.status, 200);
  assert(r.headers.get('content-type').startsWith('application/x-ndjson'), r.headers.get('content-type'));
  const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
  const last = lines.pop();
  assert(lines.length >= 2 && lines.every((l) => l.done === false && l.message.role === 'assistant'), r.text);
  eq(lines.map((l) => l.message.content).join(''), cliGreedy);
  eq([last.done, last.done_reason, last.eval_count, last.prompt_eval_count, last.message.content],
     [true, 'length', 20, 5, '']);
  eq(r.headers.get('x-baton-tier'), 'small');
  let text = '', final = null;
  for await (const part of await ollama.chat(chat({ stream: true }))) {
    text += part.message.content;
    if (part.done) final = part;
  }
  eq(text, cliGreedy);
  eq(final.done_reason, 'length');
});

await test('generate: the prompt as a user turn; raw: the OpenAI completion of the prompt', async () => {
  const g = await ollama.generate({ model: 'small', prompt, options: greedy, stream: false });
  eq([g.response, g.done_reason, g.eval_count, g.prompt_eval_count], [cliGreedy, 'length', 20, 5]);
  let text = '';
  for await (const p of await ollama.generate({ model: 'small', prompt, options: greedy, stream: true })) text += p.response;
  eq(text, cliGreedy);
  const c = await openai.completions.create({ model: 'small', prompt, max_tokens: 20, temperature: 0 });
  const rg = await ollama.generate({ model: 'small', prompt, raw: true, options: greedy, stream: false });
  eq(rg.response, c.choices[0].text);
  eq(rg.prompt_eval_count, c.usage.prompt_tokens);
  const sys = await ollama.generate({ model: 'small', prompt, system: 'Be kind.', options: greedy, stream: false });
  const os = await openai.chat.completions.create({ model: 'small', max_tokens: 20, temperature: 0,
    messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: prompt }] });
  eq(sys.response, os.choices[0].message.content);
});

await test('options.stop ends before the stop string with done_reason stop', async () => {
  const r = await ollama.chat(chat({ stream: false, options: { temperature: 0, num_predict: 40, stop: ['Lily'] } }));
  eq(r.message.content, ', there was a little girl named ');
  eq(r.done_reason, 'stop');
});

await test('options.top_k 1 at temperature 1 is the greedy answer; seed makes sampling reproducible', async () => {
  for (const seed of [3, 4]) {
    const r = await ollama.chat(chat({ stream: false, options: { temperature: 1, top_k: 1, seed, num_predict: 20 } }));
    eq(r.message.content, cliGreedy);
  }
  const s = { temperature: 1, seed: 7, num_predict: 20 };
  const a = await ollama.chat(chat({ stream: false, options: s }));
  const c = await ollama.chat(chat({ stream: false, options: s }));
  eq(a.message.content, c.message.content);
  const o = await openai.chat.completions.create({ model: 'small', max_tokens: 20, temperature: 1, seed: 7,
                                                   messages: [{ role: 'user', content: prompt }] });
  eq(a.message.content, o.choices[0].message.content);
  const others = [];
  for (const seed of [11, 12, 13]) others.push((await ollama.chat(chat({ stream: false, options: { temperature: 1, seed, num_predict: 20 } }))).message.content);
  assert(others.some((t) => t !== cliGreedy), 'temperature 1 without top_k gave the greedy text 3 times');
});

const person = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 8 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
  required: ['name', 'age'], additionalProperties: false,
};
await test('format: a JSON schema constrains the output (it parses and validates); "json" output opens an object', async () => {
  let finished = 0;
  for (let seed = 0; seed < 5; seed++) {
    const r = await ollama.chat({ model: 'small', messages: [{ role: 'user', content: 'Tell me about Lily.' }],
                                  format: person, stream: false, options: { seed, num_predict: 150 } });
    if (r.done_reason !== 'stop') continue;
    finished++;
    const o = JSON.parse(r.message.content);
    eq(Object.keys(o).sort(), ['age', 'name']);
    assert(typeof o.name === 'string' && [...o.name].length <= 8 && Number.isInteger(o.age) && o.age >= 0 && o.age <= 120,
           r.message.content);
  }
  assert(finished >= 2, `only ${finished} of 5 answers finished`);
  for (let seed = 0; seed < 3; seed++) { // the tiny model rarely closes its object in time
    const g = await ollama.generate({ model: 'small', prompt: 'Tell me about Lily.', format: 'json', stream: false,
                                      options: { seed, num_predict: 60 } });
    assert(g.response.startsWith('{'), g.response);
    if (g.done_reason === 'stop') {
      const o = JSON.parse(g.response);
      assert(o && typeof o === 'object' && !Array.isArray(o), g.response);
    } else {
      eq(g.done_reason, 'length');
    }
  }
});

await test('format is OpenAI\'s response_format: the same seed gives the same constrained text', async () => {
  const ask = (extra) => ({ model: 'small', messages: [{ role: 'user', content: 'Tell me about Lily.' }],
                            max_tokens: 60, seed: 5, ...extra });
  const o1 = await openai.chat.completions.create(ask({ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: person } } }));
  const l1 = await ollama.chat({ ...ask({}), format: person, stream: false, options: { seed: 5, num_predict: 60 } });
  eq(l1.message.content, o1.choices[0].message.content);
  const o2 = await openai.chat.completions.create(ask({ response_format: { type: 'json_object' } }));
  const l2 = await ollama.chat({ ...ask({}), format: 'json', stream: false, options: { seed: 5, num_predict: 60 } });
  eq(l2.message.content, o2.choices[0].message.content);
  assert(l2.message.content.startsWith('{'), l2.message.content);
});

await test('tool calls from a tier come back in Ollama\'s shape, arguments as an object', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const r = await ollama.chat({ model: 'toolsy', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, stream: false });
  eq(r.message.tool_calls, [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }]);
  eq(r.done_reason, 'stop');
  // a conversation with the call and its result goes upstream as OpenAI messages, ids paired
  await ollama.chat({ model: 'toolsy', tools, stream: false, messages: [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
    { role: 'tool', content: 'sunny', tool_name: 'get_weather' }] });
  const sent = (await (await fetch(`http://127.0.0.1:${fake.port}/stats?key=olltools`)).json()).last_body;
  eq(sent.messages[1].tool_calls, [{ id: 'call_1_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  eq(sent.messages[2], { role: 'tool', content: 'sunny', tool_call_id: 'call_1_0', name: 'get_weather' });
  eq(sent.tools, tools);
});

await test('privacy mask: values restored in tool call arguments, streamed (split, interleaved) or not', async () => {
  // the fake's echo_tools: two calls whose arguments carry the message, 3 characters a fragment
  const text = 'write to bob@example.com, "quoted"';
  const req = { model: 'maskedtools', messages: [{ role: 'user', content: text }] };
  const want = [{ function: { name: 'send_email', arguments: { to: text } } },
                { function: { name: 'note', arguments: { text, n: 1 } } }];
  eq((await ollama.chat({ ...req, stream: false })).message.tool_calls, want);
  let calls = [];
  for await (const part of await ollama.chat({ ...req, stream: true }))
    calls = calls.concat(part.message.tool_calls || []);
  eq(calls, want);
  const sent = JSON.stringify((await (await fetch(`http://127.0.0.1:${fake.port}/stats?key=ollmasktools`)).json()).last_body);
  assert(!sent.includes('bob@example.com') && sent.includes('write to [EMAIL_1]'), sent);
});

await test('tags, show and version', async () => {
  const list = await ollama.list();
  eq(list.models.map((m) => m.name).sort(), ['auto', 'broken', 'cloudtools', 'maskedtools', 'small', 'toolsy']);
  eq(list.models.find((m) => m.name === 'small').details.format, 'gguf');
  const show = await ollama.show({ model: 'auto' });
  eq(show.details.family, 'baton-route');
  const v = await raw('/api/version');
  eq(JSON.parse(v.text), { version: '0.6.4' });
  const s = await raw('/api/show', { model: 'nope' });
  eq(s.status, 404);
  eq(JSON.parse(s.text), { error: "model 'nope' not found" });
});

await test('errors: {"error": ...} with 400, 401, 404, 405; the client\'s ResponseError', async () => {
  let r = await raw('/api/chat', '{"model":');
  eq(r.status, 400);
  assert(/^invalid JSON body/.test(JSON.parse(r.text).error), r.text);
  r = await raw('/api/chat', { model: 'small', messages: [{ role: 'user', content: 'x', images: ['aGk='] }] });
  eq(r.status, 400);
  eq(JSON.parse(r.text), { error: 'messages[0].images: images are not supported by baton' });
  r = await raw('/api/generate', { model: 'small', prompt: 'x', options: { temperature: 'hot' } });
  eq([r.status, JSON.parse(r.text).error], [400, 'options.temperature: expected a number, got a string.']);
  r = await raw('/api/chat', chat(), {});
  eq(r.status, 401);
  assert(/didn't provide an API key/.test(JSON.parse(r.text).error), r.text);
  r = await raw('/api/chat', 'x', { authorization: 'Bearer wrong' });
  eq(r.status, 401);
  r = await raw('/api/chat');
  eq(r.status, 405);
  eq(Object.keys(JSON.parse(r.text)), ['error']);
  let threw = null;
  try { await ollama.chat({ model: 'nope', messages: [{ role: 'user', content: 'x' }], stream: false }); } catch (e) { threw = e; }
  eq(threw && threw.status_code, 404);
  assert(/model 'nope' not found/.test(threw.error), threw && threw.error);
});

await test('a stream that breaks after it started ends with an {"error"} line, never done', async () => {
  const r = await raw('/api/chat', { model: 'broken', messages: [{ role: 'user', content: 'a b c d e' }] });
  eq(r.status, 200);
  const lines = r.text.trim().split('\n').map((l) => JSON.parse(l));
  const last = lines.pop();
  eq(Object.keys(last), ['error']);
  assert(lines.length >= 1 && lines.every((l) => l.done === false), r.text);
  let threw = null;
  try { for await (const _ of await ollama.chat({ model: 'broken', messages: [{ role: 'user', content: 'a b' }], stream: true })) { /* drain */ } } catch (e) { threw = e; }
  assert(threw, 'the ollama client did not see the error');
});

await test('ledger: Ollama requests are rows like any other, under the key\'s name', async () => {
  await new Promise((r) => setTimeout(r, 300));
  const n = Number(sql("SELECT count(*) FROM requests WHERE caller = 'oll' AND status = 200 AND tier = 'small'"));
  assert(n >= 20, `only ${n} rows`);
  eq(sql("SELECT tokens_in, tokens_out, cost_microusd FROM requests WHERE caller = 'oll' ORDER BY ts_ms LIMIT 1 OFFSET 2"),
     '5|20|1');
  eq(sql('SELECT count(*) FROM requests WHERE status = 401'), '2');
});

done();
