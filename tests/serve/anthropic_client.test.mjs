// The Anthropic Messages dialect (POST /v1/messages) of `baton serve`, driven by the real npm
// `@anthropic-ai/sdk` client (and raw HTTP where the client would hide what is checked): a local
// tier of a real tiny model and tests/tools/fake_upstream.js as remote tiers, keys on (the SDK
// sends x-api-key). Checks that the same greedy request answers the same text with the same usage
// as the OpenAI dialect, Anthropic's stop reasons and SSE event sequence, tool_use both ways,
// privacy masking restored in the stream, Anthropic's error shapes, and the ledger rows.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startBaton, startFakeUpstream, test, done, assert, eq, FIXTURES, BATON, HERE,
         tmpDir } from './lib.mjs';

const require = createRequire(join(HERE, '..', 'clients', 'package.json'));
const Anthropic = (await import(pathToFileURL(require.resolve('@anthropic-ai/sdk')).href)).default;
const OpenAI = (await import(pathToFileURL(require.resolve('openai')).href)).default;

const fake = await startFakeUpstream();
const dir = tmpDir();
const store = join(dir, 'keys.db');
const ledger = join(dir, 'ledger.db');
const secret = execFileSync(BATON, ['keys', '--store', store, 'create', '--name', 'anth'],
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
    context: 256
    price: { input: 0.01, output: 0.02 }
  - { name: cloud, kind: openai, base_url: ${fake.url}, model: "anth/echo", price: { input: 0, output: 1.0 } }
  - { name: toolsy, kind: openai, base_url: ${fake.url}, model: "anthtools/tools", price: { input: 0, output: 0 } }
  - { name: broken, kind: openai, base_url: ${fake.url}, model: "anthbroken/drop_mid", price: { input: 0, output: 0 }, retries: 0 }
  - { name: cloudtools, kind: openai, base_url: ${fake.url}, model: "anthmasktools/echo_tools", price: { input: 0, output: 0 } }
routes:
  - { name: masked, privacy: mask, default: cloud }
  - { name: maskedtools, privacy: mask, default: cloudtools }
`);
const root = b.url.replace(/\/v1$/, '');
const anthropic = new Anthropic({ baseURL: root, apiKey: secret, maxRetries: 0 });
const openai = new OpenAI({ baseURL: b.url, apiKey: secret, maxRetries: 0 });
const prompt = 'Once upon a time';
const msg = (extra = {}) => ({ model: 'small', max_tokens: 20, temperature: 0,
                               messages: [{ role: 'user', content: prompt }], ...extra });
const cliGreedy = execFileSync(BATON, ['run', '-m', `${FIXTURES}/models/stories260K.gguf`, '-p', prompt,
                                       '-n', '20', '--temp', '0', '-t', '1'],
                               { stdio: ['ignore', 'pipe', 'ignore'] }).toString().replace(/\n$/, '');

async function raw(body, headers = { 'x-api-key': secret }) {
  const r = await fetch(root + '/v1/messages', {
    method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

await test('messages.create: the OpenAI dialect\'s text and usage, Anthropic\'s shape and headers', async () => {
  const { data, response } = await anthropic.messages.create(msg()).withResponse();
  const o = await openai.chat.completions.create({ model: 'small', max_tokens: 20, temperature: 0,
                                                   messages: [{ role: 'user', content: prompt }] });
  eq(data.content, [{ type: 'text', text: cliGreedy }]);
  eq(data.content[0].text, o.choices[0].message.content);
  eq(data.usage, { input_tokens: o.usage.prompt_tokens, output_tokens: o.usage.completion_tokens });
  eq(data.stop_reason, 'max_tokens');
  eq(data.stop_sequence, null);
  eq([data.type, data.role, data.model], ['message', 'assistant', 'small']);
  assert(/^msg_/.test(data.id), data.id);
  eq(response.headers.get('x-baton-tier'), 'small');
  eq(response.headers.get('x-request-id'), data.id);
  eq(response.headers.get('x-baton-cost-usd'), '0.000001');
});

await test('stream: Anthropic\'s event sequence, text_deltas adding up to the same answer', async () => {
  const stream = await anthropic.messages.create(msg({ stream: true }));
  const types = [];
  let text = '', delta = null, start = null;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'message_start') start = ev.message;
    if (ev.type === 'content_block_delta') { eq(ev.delta.type, 'text_delta'); eq(ev.index, 0); text += ev.delta.text; }
    if (ev.type === 'message_delta') delta = ev;
  }
  eq(text, cliGreedy);
  const squeezed = types.filter((t, i) => t !== types[i - 1]); // the SDK drops pings
  eq(squeezed, ['message_start', 'content_block_start', 'content_block_delta',
                'content_block_stop', 'message_delta', 'message_stop']);
  assert(/^msg_/.test(start.id) && start.role === 'assistant', JSON.stringify(start));
  eq(delta.delta, { stop_reason: 'max_tokens', stop_sequence: null });
  eq(delta.usage, { input_tokens: 5, output_tokens: 20 });
  // the SDK's own accumulation agrees
  const final = await anthropic.messages.stream(msg()).finalMessage();
  eq(final.content[0].text, cliGreedy);
  eq(final.usage.output_tokens, 20);
});

await test('raw stream: event: lines matching each data type, text/event-stream, a ping after message_start', async () => {
  const r = await raw(msg({ stream: true, max_tokens: 3 }));
  eq(r.status, 200);
  assert(r.headers.get('content-type').startsWith('text/event-stream'), r.headers.get('content-type'));
  const blocks = r.text.trim().split('\n\n');
  for (const bl of blocks) {
    const [ev, data] = bl.split('\n');
    assert(/^event: [a-z_]+$/.test(ev) && data.startsWith('data: '), bl);
    eq(JSON.parse(data.slice(6)).type, ev.slice(7));
  }
  eq(blocks.map((bl) => bl.split('\n')[0].slice(7)).filter((t, i, a) => t !== a[i - 1]),
     ['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_stop',
      'message_delta', 'message_stop']);
  eq(blocks[blocks.length - 1], 'event: message_stop\ndata: {"type":"message_stop"}');
});

await test('stop_sequences: stop_reason stop_sequence naming it, the text cut before it', async () => {
  const m = await anthropic.messages.create(msg({ max_tokens: 40, stop_sequences: ['Lily'] }));
  eq(m.content[0].text, ', there was a little girl named ');
  eq(m.stop_reason, 'stop_sequence');
  eq(m.stop_sequence, 'Lily');
  const f = await anthropic.messages.stream(msg({ max_tokens: 40, stop_sequences: ['Lily'] })).finalMessage();
  eq([f.stop_reason, f.stop_sequence, f.content[0].text], ['stop_sequence', 'Lily', ', there was a little girl named ']);
  const e = await anthropic.messages.create(msg({ max_tokens: 200, stop_sequences: ['zzzq'] }));
  assert(e.stop_reason === 'end_turn' || e.stop_reason === 'max_tokens', e.stop_reason);
});

await test('top_k reaches the engine: top_k 1 at temperature 1 is the greedy answer', async () => {
  for (const seed of [1, 2]) {
    const m = await anthropic.messages.create(msg({ temperature: 1, top_k: 1, metadata: { user_id: `u${seed}` } }));
    eq(m.content[0].text, cliGreedy);
  }
  const plain = []; // the control: without top_k, temperature 1 samples
  for (let i = 0; i < 3; i++) plain.push((await anthropic.messages.create(msg({ temperature: 1 }))).content[0].text);
  assert(plain.some((t) => t !== cliGreedy), 'temperature 1 without top_k gave the greedy text 3 times');
});

await test('system (string and blocks) and content blocks reach the model as OpenAI\'s do', async () => {
  const a = await anthropic.messages.create(msg({ system: [{ type: 'text', text: 'Be kind.' }],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Once upon ' }, { type: 'text', text: 'a time' }] }] }));
  const o = await openai.chat.completions.create({ model: 'small', max_tokens: 20, temperature: 0,
    messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: prompt }] });
  eq(a.content[0].text, o.choices[0].message.content);
  eq(a.usage.input_tokens, o.usage.prompt_tokens);
  const s = await anthropic.messages.create(msg({ system: 'Be kind.' }));
  eq(s.content[0].text, a.content[0].text);
});

const weather = { name: 'get_weather', description: 'Weather of a city',
                  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };
const upstreamLast = async (key) =>
  (await (await fetch(`http://127.0.0.1:${fake.port}/stats?key=${key}`)).json()).last_body;

await test('tools: an upstream\'s tool calls come back as tool_use blocks, stream or not', async () => {
  const req = { model: 'toolsy', max_tokens: 50, tools: [weather], tool_choice: { type: 'any' },
                messages: [{ role: 'user', content: 'Weather in Paris?' }] };
  const m = await anthropic.messages.create(req);
  eq(m.stop_reason, 'tool_use');
  eq(m.content, [{ type: 'tool_use', id: 'call_fake1', name: 'get_weather', input: { city: 'Paris' } }]);
  const sent = await upstreamLast('anthtools');
  eq(sent.tools, [{ type: 'function', function: { name: 'get_weather', parameters: weather.input_schema,
                                                  description: 'Weather of a city' } }]);
  eq(sent.tool_choice, 'required');
  const stream = await anthropic.messages.create({ ...req, stream: true });
  const evs = [];
  for await (const ev of stream) evs.push(ev);
  const startEv = evs.find((e) => e.type === 'content_block_start');
  eq(startEv.content_block, { type: 'tool_use', id: 'call_fake1', name: 'get_weather', input: {} });
  eq(evs.filter((e) => e.type === 'content_block_delta').map((e) => e.delta.partial_json).join(''), '{"city":"Paris"}');
  eq(evs.find((e) => e.type === 'message_delta').delta.stop_reason, 'tool_use');
  const f = await anthropic.messages.stream(req).finalMessage();
  eq(f.content[0].input, { city: 'Paris' });
});

await test('tools: a conversation with tool_use and tool_result goes upstream as OpenAI messages', async () => {
  await anthropic.messages.create({ model: 'cloud', max_tokens: 20, messages: [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: [{ type: 'text', text: 'Checking.' },
                                   { type: 'tool_use', id: 'tu_1', name: 'get_weather', input: { city: 'Paris' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'sunny' },
                              { type: 'text', text: 'Thanks' }] }] });
  const sent = await upstreamLast('anth');
  eq(sent.messages, [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }],
      tool_calls: [{ id: 'tu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool', tool_call_id: 'tu_1', content: 'sunny' },
    { role: 'user', content: [{ type: 'text', text: 'Thanks' }] }]);
});

await test('privacy mask: placeholders upstream, values restored in the Anthropic stream', async () => {
  const text = 'write to bob@example.com today';
  const stream = await anthropic.messages.create({ model: 'masked', max_tokens: 50, stream: true,
                                                   messages: [{ role: 'user', content: text }] });
  let got = '';
  for await (const ev of stream) if (ev.type === 'content_block_delta') got += ev.delta.text;
  eq(got, 'echo: ' + text);
  const sent = JSON.stringify(await upstreamLast('anth'));
  assert(!sent.includes('bob@example.com') && sent.includes('write to'), sent);
});

await test('privacy mask: values restored in tool_use input, streamed (split placeholders) or not', async () => {
  // the fake's echo_tools: two calls whose arguments carry the message, 3 characters a fragment
  const text = 'write to bob@example.com, "quoted"';
  const req = { model: 'maskedtools', max_tokens: 50, messages: [{ role: 'user', content: text }],
                tools: [{ name: 'send_email', input_schema: { type: 'object' } },
                        { name: 'note', input_schema: { type: 'object' } }] };
  const want = [{ type: 'tool_use', id: 'call_echo0', name: 'send_email', input: { to: text } },
                { type: 'tool_use', id: 'call_echo1', name: 'note', input: { text, n: 1 } }];
  const final = await anthropic.messages.stream(req).finalMessage();
  eq(final.stop_reason, 'tool_use');
  eq(final.content, want);
  const m = await anthropic.messages.create(req);
  eq(m.content, want);
  const sent = JSON.stringify(await upstreamLast('anthmasktools'));
  assert(!sent.includes('bob@example.com') && sent.includes('write to [EMAIL_1]'), sent);
});

await test('errors: Anthropic\'s shape and statuses (400, 401, 404), the SDK\'s error classes', async () => {
  let r = await raw('{"model": "small",');
  eq(r.status, 400);
  const body = JSON.parse(r.text);
  eq([body.type, body.error.type], ['error', 'invalid_request_error']);
  assert(/not valid JSON/.test(body.error.message), body.error.message);
  r = await raw({ model: 'small', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] });
  eq(r.status, 400);
  assert(JSON.parse(r.text).error.message.includes("content block type 'image' is not supported"), r.text);
  r = await raw(msg(), {});
  eq(r.status, 401);
  eq(JSON.parse(r.text).error.type, 'authentication_error');
  r = await raw(msg(), { authorization: `Bearer ${secret}` });
  eq(r.status, 200);
  let threw = null;
  try { await anthropic.messages.create({ model: 'small', messages: [{ role: 'user', content: 'x' }] }); } catch (e) { threw = e; }
  assert(threw instanceof Anthropic.BadRequestError, String(threw));
  eq(threw.error.error, { type: 'invalid_request_error', message: 'max_tokens: Field required.' });
  threw = null;
  try { await anthropic.messages.create(msg({ model: 'nope' })); } catch (e) { threw = e; }
  assert(threw instanceof Anthropic.NotFoundError, String(threw));
  eq(threw.error.error.type, 'not_found_error');
  threw = null;
  const bad = new Anthropic({ baseURL: root, apiKey: secret.slice(0, -2) + 'xx', maxRetries: 0 });
  try { await bad.messages.create(msg()); } catch (e) { threw = e; }
  assert(threw instanceof Anthropic.AuthenticationError, String(threw));
  threw = null;
  try { await anthropic.messages.create(msg({ temperature: 1.5 })); } catch (e) { threw = e; }
  eq(threw.status, 400);
  assert(/temperature: 1.5 is out of range \[0, 1\]/.test(threw.error.error.message), threw.error.error.message);
});

await test('a stream that breaks after it started ends with event: error, never message_stop', async () => {
  const r = await raw({ model: 'broken', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'a b c d e' }] });
  eq(r.status, 200);
  const blocks = r.text.trim().split('\n\n');
  const last = blocks[blocks.length - 1].split('\n');
  eq(last[0], 'event: error');
  const err = JSON.parse(last[1].slice(6));
  eq(err.type, 'error');
  assert(err.error.type === 'api_error' && err.error.message.length > 0, last[1]);
  assert(!r.text.includes('message_stop'), r.text);
  assert(r.text.includes('text_delta'), 'the break came after some text');
  let threw = null;
  try {
    const stream = await anthropic.messages.create({ model: 'broken', max_tokens: 50, stream: true,
                                                     messages: [{ role: 'user', content: 'a b c' }] });
    for await (const _ of stream) { /* drain */ }
  } catch (e) { threw = e; }
  assert(threw, 'the SDK did not see the error');
});

await test('ledger: Anthropic requests are rows like any other, under the key\'s name', async () => {
  await new Promise((r) => setTimeout(r, 300));
  const n = Number(sql("SELECT count(*) FROM requests WHERE request_id LIKE 'msg_%' AND caller = 'anth' AND status = 200"));
  assert(n >= 15, `only ${n} rows`);
  eq(sql("SELECT tier, tokens_in, tokens_out, cost_microusd FROM requests WHERE request_id LIKE 'msg_%' AND tier = 'small' ORDER BY ts_ms LIMIT 1"),
     'small|5|20|1');
  eq(sql("SELECT count(*) FROM requests WHERE status = 401"), '2');
});

done();
