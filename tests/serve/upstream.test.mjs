// Scenario tests of remote tiers through `baton serve`, with the real npm openai client:
// a fault-injecting upstream (tests/tools/fake_upstream.js) that refuses, errs, rate-limits,
// hangs, drops and garbles, and a second real baton process as an upstream.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { startBaton, startFakeUpstream, stop, test, done, assert, eq, FIXTURES, HERE } from './lib.mjs';

const require = createRequire(join(HERE, '..', 'clients', 'package.json'));
const OpenAI = (await import(pathToFileURL(require.resolve('openai')).href)).default;

const fake = await startFakeUpstream();
const inner = await startBaton(`
server: { ledger: "" }
tiers:
  - { name: small, kind: local, model: ${FIXTURES}/models/stories260K.gguf, threads: 1, context: 256 }
routes: []
`);

const up = (name, model, extra = '') => `
  - name: ${name}
    kind: openai
    base_url: ${fake.url}
    model: "${model}"
    timeouts: { connect_ms: 500, first_byte_ms: 400, idle_ms: 400 }
    retries: 1
    price: { input: 1.0, output: 2.0 }${extra}`;

const outer = await startBaton(`
server: { ledger: "" }
tiers:
  - { name: local, kind: local, model: ${FIXTURES}/models/stories260K.gguf, threads: 1, context: 256 }
  - name: inner
    kind: openai
    base_url: ${inner.url}
    model: small
    price: { input: 0.1, output: 0.2 }
${up('up_ok', 'ok/echo')}
${up('up_500', 'e500/status?code=500')}
${up('up_400', 'e400/status?code=400&message=bad%20thing')}
${up('up_429', 'r429/status?code=429&times=1&retry_after=0')}
${up('up_hang', 'hang/hang_headers')}
${up('up_drop', 'drop/drop_mid')}
${up('up_mal', 'mal/malformed')}
${up('up_nodone', 'nd/no_done')}
${up('up_tools', 'tools/tools')}
${up('up_slow', 'slow/slow?delay_ms=150')}
  - name: up_dead
    kind: openai
    base_url: http://127.0.0.1:9/v1
    timeouts: { connect_ms: 300 }
    retries: 0
    breaker: { failures: 2, open_ms: 60000 }
    price: { input: 1.0, output: 2.0 }
routes:
  - { name: r500, strategy: rules, default: up_500, fallback: [local] }
  - { name: rhang, strategy: rules, default: up_hang, fallback: [local] }
  - { name: rdead, strategy: rules, default: up_dead, fallback: [local] }
  - { name: rdrop, strategy: rules, default: up_drop, fallback: [local] }
  - { name: lweak, strategy: learned, weak: up_ok, strong: up_500, strong_fraction: 0 }
  - { name: lmix, strategy: learned, weak: up_ok, strong: up_tools, fallback: [local] }
`);

const client = new OpenAI({ baseURL: outer.url, apiKey: 'unused', maxRetries: 0 });
const ask = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hello world' }], ...extra });
const stats = async (key) => (await fetch(`${fake.url.replace('/v1', '')}/stats?key=${key}`)).json();

async function drain(stream) {
  let text = '', finish = null, usage = null;
  for await (const c of stream) {
    if (c.choices.length) { text += c.choices[0].delta.content || ''; finish = c.choices[0].finish_reason || finish; }
    if (c.usage) usage = c.usage;
  }
  return { text, finish, usage };
}

await test('an upstream answers through baton, with usage priced by the tier', async () => {
  const { data, response } = await client.chat.completions.create(ask('up_ok')).withResponse();
  eq(data.choices[0].message.content, 'echo: hello world');
  eq(response.headers.get('x-baton-tier'), 'up_ok');
  // 2 prompt words, 3 completion chunks at $1 / $2 per 1M tokens = 8 micro-dollars
  eq(response.headers.get('x-baton-cost-usd'), '0.000008');
  const s = await drain(await client.chat.completions.create(ask('up_ok', { stream: true, stream_options: { include_usage: true } })));
  eq(s.text, 'echo: hello world');
  eq(s.finish, 'stop');
  eq(s.usage.cost_usd, 0.000008);
});

await test('the upstream receives the tier model and baton passes tools through', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
  const r = await client.chat.completions.create(ask('up_tools', { tools }));
  const call = r.choices[0].message.tool_calls[0];
  assert(call && call.function.name, JSON.stringify(r.choices[0].message));
  eq(r.choices[0].finish_reason, 'tool_calls');
  const st = await stats('tools');
  eq(st.last_body.model, 'tools/tools');
  eq(st.last_body.tools, tools);
  const s = await client.chat.completions.create(ask('up_tools', { tools, stream: true }));
  let args = '', name = '';
  for await (const c of s) {
    for (const tc of (c.choices[0] && c.choices[0].delta.tool_calls) || []) {
      name += (tc.function && tc.function.name) || '';
      args += (tc.function && tc.function.arguments) || '';
    }
  }
  eq(name, call.function.name);
  eq(args, call.function.arguments);
});

await test('a learned route scores the prompt; the reason header shows score and threshold', async () => {
  const { data, response } = await client.chat.completions.create(ask('lweak')).withResponse();
  eq(data.choices[0].message.content, 'echo: hello world');
  eq(response.headers.get('x-baton-tier'), 'up_ok');
  const reason = response.headers.get('x-baton-route-reason');
  assert(/^learned: score 0\.\d{3} >= threshold 0\.000 -> weak \(up_ok\)$/.test(reason), reason);
  const r2 = await client.chat.completions.create(ask('lmix')).withResponse();
  const why = r2.response.headers.get('x-baton-route-reason');
  const m = /^learned: score (0\.\d{3}) (<|>=) threshold (0\.\d{3}) -> (weak|strong) \((up_ok|up_tools)\)$/.exec(why);
  assert(m, why);
  eq(m[2] === '<', parseFloat(m[1]) < parseFloat(m[3]));
  eq(r2.response.headers.get('x-baton-tier'), m[4] === 'weak' ? 'up_ok' : 'up_tools');
});

await test('a 429 with Retry-After is retried before the first byte', async () => {
  const r = await client.chat.completions.create(ask('up_429'));
  eq(r.choices[0].message.content, 'echo: hello world');
  eq((await stats('r429')).requests, 2);
});

await test('a 500 upstream falls back to the next tier of the route', async () => {
  const { data, response } = await client.chat.completions.create(ask('r500', { max_tokens: 5, temperature: 0 })).withResponse();
  eq(response.headers.get('x-baton-tier'), 'local');
  assert(/fell back to local/.test(response.headers.get('x-baton-route-reason')), response.headers.get('x-baton-route-reason'));
  assert(data.choices[0].message.content.length > 0);
  eq((await stats('e500')).requests, 2, 'one retry, then fallback');
});

await test('a refused connection and a hung upstream fall back too', async () => {
  let r = await client.chat.completions.create(ask('rdead', { max_tokens: 3 })).withResponse();
  eq(r.response.headers.get('x-baton-tier'), 'local');
  const t0 = Date.now();
  r = await client.chat.completions.create(ask('rhang', { max_tokens: 3 })).withResponse();
  eq(r.response.headers.get('x-baton-tier'), 'local');
  assert(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
});

await test('an upstream 400 reaches the client as a 400 with its message', async () => {
  try { await client.chat.completions.create(ask('up_400')); assert(false, 'accepted'); }
  catch (e) { eq(e.status, 400); assert(/bad thing/.test(e.message), e.message); }
});

for (const [tier, what] of [['up_drop', 'a dropped connection'], ['up_mal', 'malformed SSE'],
                            ['up_nodone', 'a stream without [DONE]'], ['rdrop', 'a drop after fallback was possible']]) {
  await test(`${what} mid-stream ends with an explicit error, never a clean end`, async () => {
    let threw = null, text = '';
    try {
      const s = await client.chat.completions.create(ask(tier, { stream: true }));
      for await (const c of s) text += (c.choices[0] && c.choices[0].delta.content) || '';
    } catch (e) { threw = e; }
    assert(threw, `stream ended cleanly with "${text}"`);
    assert(/upstream/i.test(threw.message), threw.message);
  });
}

await test('a client that disconnects cancels the upstream request', async () => {
  const ac = new AbortController();
  const s = await client.chat.completions.create(ask('up_slow', { stream: true, messages: [{ role: 'user', content: 'a b c d e f g h i j k l' }] }), { signal: ac.signal });
  let n = 0;
  try { for await (const _ of s) { if (++n === 2) ac.abort(); } } catch { /* aborted */ }
  await new Promise((r) => setTimeout(r, 500));
  eq((await stats('slow')).client_aborts, 1);
});

await test('the circuit breaker opens after consecutive failures and /health says so', async () => {
  await client.chat.completions.create(ask('rdead', { max_tokens: 2 })); // second failure (first: earlier test)
  const h = await (await fetch(`${outer.url.replace('/v1', '')}/health`)).json();
  eq(h.tiers.up_dead, 'unavailable');
  eq(h.status, 'degraded');
  const r = await client.chat.completions.create(ask('rdead', { max_tokens: 2 })).withResponse();
  eq(r.response.headers.get('x-baton-tier'), 'local');
});

await test('baton behind baton: a remote tier that is another baton', async () => {
  const direct = await new OpenAI({ baseURL: inner.url, apiKey: 'x', maxRetries: 0 }).chat.completions.create(
    { model: 'small', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 20 });
  const via = await client.chat.completions.create(
    { model: 'inner', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 20 });
  eq(via.choices[0].message.content, direct.choices[0].message.content);
  const s = await drain(await client.chat.completions.create(
    { model: 'inner', messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 20, stream: true }));
  eq(s.text, direct.choices[0].message.content);
});

eq(await stop(outer), 0);
eq(await stop(inner), 0);
done();
