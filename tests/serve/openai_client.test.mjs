// Scenario tests of `baton serve` driven by the real npm `openai` client (and raw HTTP where a
// client library would hide what is being checked): three local tiers of real tiny models behind a
// route, streaming and not, routing and its headers, errors, concurrency, cancellation, a full
// queue, and the ledger and metrics those leave behind.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { startBaton, stop, test, done, assert, eq, FIXTURES, BATON, HERE, rssKb } from './lib.mjs';

const require = createRequire(join(HERE, '..', 'clients', 'package.json'));
const OpenAI = (await import(pathToFileURL(require.resolve('openai')).href)).default;

const yaml = (ledger) => `
server:
  max_connections: 16
  max_body_bytes: 65536
  ledger: ${ledger}
tiers:
  - name: small
    kind: local
    model: ${FIXTURES}/models/stories260K.gguf
    threads: 1
    context: 256
    max_queue: 2
    price: { input: 0.01, output: 0.02 }
  - name: long
    kind: local
    model: ${FIXTURES}/models/stories260K.gguf
    threads: 1
    context: 4096
    price: { input: 0.01, output: 0.02 }
  - name: large
    kind: local
    model: ${FIXTURES}/models/llama2xs-tinystories-5L.gguf
    threads: 1
    context: 256
    price: { input: 0.5, output: 1.0 }
routes:
  - name: auto
    strategy: rules
    rules:
      - { name: long, min_chars: 300, tier: large }
      - { name: dragons, keywords: [dragon], tier: large }
    default: small
    fallback: [large]
`;

const b = await startBaton(yaml('ledger.db'));
const client = new OpenAI({ baseURL: b.url, apiKey: 'unused', maxRetries: 0 });
const greedy = (content, extra = {}) => ({
  model: 'small', messages: [{ role: 'user', content }], temperature: 0, max_tokens: 20, ...extra,
});
const cliGreedy = execFileSync(BATON, ['run', '-m', `${FIXTURES}/models/stories260K.gguf`, '-p',
                                       'Once upon a time', '-n', '20', '--temp', '0', '-t', '1'],
                               { stdio: ['ignore', 'pipe', 'ignore'] }).toString().replace(/\n$/, '');

await test('models.list names the routes and tiers', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  eq(ids.sort(), ['auto', 'large', 'long', 'small']);
});

await test('chat completion equals the engine, with usage and x-baton headers', async () => {
  const { data, response } = await client.chat.completions.create(greedy('Once upon a time')).withResponse();
  eq(data.choices[0].message.content, cliGreedy, 'content');
  eq(data.choices[0].finish_reason, 'length');
  eq(data.usage, { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25, cost_usd: 0.000001 });
  eq(data.model, 'small');
  eq(response.headers.get('x-baton-tier'), 'small');
  assert(/tier requested/.test(response.headers.get('x-baton-route-reason')), response.headers.get('x-baton-route-reason'));
  eq(response.headers.get('x-baton-cost-usd'), '0.000001');
});

await test('stream: chunks add up to the same answer, usage chunk carries the cost', async () => {
  const stream = await client.chat.completions.create(greedy('Once upon a time', {
    stream: true, stream_options: { include_usage: true } }));
  let text = '', usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content || '';
      finish = chunk.choices[0].finish_reason || finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  eq(text, cliGreedy);
  eq(finish, 'length');
  eq(usage.completion_tokens, 20);
  eq(usage.cost_usd, 0.000001);
});

await test('route auto: rules and default, with the reason in the header', async () => {
  let r = await client.chat.completions.create({ ...greedy('Tell me about a dragon'), model: 'auto' }).withResponse();
  eq(r.response.headers.get('x-baton-tier'), 'large');
  assert(/dragons/.test(r.response.headers.get('x-baton-route-reason')), r.response.headers.get('x-baton-route-reason'));
  r = await client.chat.completions.create({ ...greedy('Once upon a time'), model: 'auto' }).withResponse();
  eq(r.response.headers.get('x-baton-tier'), 'small');
  r = await client.chat.completions.create({ ...greedy('Once upon a time '.repeat(20)), model: 'auto' }).withResponse();
  eq(r.response.headers.get('x-baton-tier'), 'large');
});

await test('completions endpoint', async () => {
  const c = await client.completions.create({ model: 'small', prompt: 'Once upon a time', max_tokens: 20, temperature: 0 });
  eq(c.choices[0].text, cliGreedy);
  eq(c.object, 'text_completion');
});

await test('stop strings end the answer before them', async () => {
  const c = await client.chat.completions.create(greedy('Once upon a time', { stop: ['Lily'], max_tokens: 40 }));
  eq(c.choices[0].message.content, ', there was a little girl named ');
  eq(c.choices[0].finish_reason, 'stop');
});

await test('seeded sampling is reproducible', async () => {
  const req = greedy('Once upon a time', { temperature: 1.0, seed: 42, max_tokens: 30 });
  const a = await client.chat.completions.create(req);
  const c = await client.chat.completions.create(req);
  eq(a.choices[0].message.content, c.choices[0].message.content);
});

await test('logprobs with top alternatives', async () => {
  const c = await client.chat.completions.create(greedy('Once upon a time', { logprobs: true, top_logprobs: 3, max_tokens: 5 }));
  const lp = c.choices[0].logprobs.content;
  eq(lp.length, 5);
  eq(lp[0].top_logprobs.length, 3);
  assert(lp[0].logprob <= 0 && lp[0].top_logprobs[0].logprob >= lp[0].top_logprobs[2].logprob);
  eq(lp[0].token, lp[0].top_logprobs[0].token, 'greedy picks the most likely token');
});

await test('errors: unknown model 404, bad parameter 400 with param', async () => {
  try { await client.chat.completions.create({ ...greedy('x'), model: 'gpt-9' }); assert(false, 'accepted'); }
  catch (e) { eq(e.status, 404); eq(e.code, 'model_not_found'); assert(/auto/.test(e.message), e.message); }
  try { await client.chat.completions.create({ ...greedy('x'), temperature: 5 }); assert(false, 'accepted'); }
  catch (e) { eq(e.status, 400); eq(e.param, 'temperature'); }
});

await test('a prompt longer than the context: 400 naming the numbers', async () => {
  try {
    await client.chat.completions.create(greedy('Once upon a time '.repeat(200)));
    assert(false, 'accepted');
  } catch (e) {
    eq(e.status, 400);
    assert(/maximum context length is 256 tokens.*resulted in \d+ tokens/.test(e.message), e.message);
  }
});

await test('concurrent requests are each answered correctly', async () => {
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) =>
    client.chat.completions.create(greedy('Once upon a time', i % 2 ? { stream: false } : {}))));
  for (const a of answers) eq(a.choices[0].message.content, cliGreedy);
});

// A POST on a connection of its own, closed after the answer: tests that open many requests at
// once must not leave keep-alive connections behind to count against max_connections later.
function postOnce(url, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

await test('a full queue answers 503 with Retry-After', async () => {
  // 4 slots + max_queue 2 on tier small; ask it directly so nothing falls back
  const res = await Promise.all(Array.from({ length: 10 }, () => postOnce(`${b.url}/chat/completions`,
    JSON.stringify(greedy('Once upon a time', { max_tokens: 200 })))));
  const busy = res.filter((r) => r.status === 503);
  assert(busy.length >= 1, `statuses ${res.map((r) => r.status)}`);
  eq(busy[0].headers['retry-after'], '1');
  const body = JSON.parse(busy[0].body);
  eq(body.error.type, 'server_error');
  assert(/capacity/.test(body.error.message), body.error.message);
});

await test('a client that disconnects mid-stream cancels its generation', async () => {
  // tier long: 4000 tokens take seconds, where small's 250 could all be sent (~50 ms) before
  // the abort reaches the server, which then rightly records a 200
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    greedy('Once upon a time', { model: 'long', stream: true, max_tokens: 4000 }), { signal: ac.signal });
  let n = 0;
  try { for await (const _ of stream) { if (++n === 2) ac.abort(); } } catch { /* aborted */ }
  await new Promise((r) => setTimeout(r, 300));
  const m = await (await fetch(`${b.url.replace('/v1', '')}/metrics`)).text();
  assert(/baton_requests_total\{[^}]*status="499"[^}]*\} 1/.test(m), 'no 499 in metrics:\n' + m.split('\n').filter((l) => l.startsWith('baton_requests_total')).join('\n'));
  // the slot is free again: a new request is served at once
  const c = await client.chat.completions.create(greedy('Once upon a time', { model: 'long' }));
  eq(c.choices[0].message.content, cliGreedy);
});

await test('health and metrics', async () => {
  const h = await (await fetch(`${b.url.replace('/v1', '')}/health`)).json();
  eq(h.status, 'ok');
  eq(h.tiers, { small: 'ok', long: 'ok', large: 'ok' });
  const m = await (await fetch(`${b.url.replace('/v1', '')}/metrics`)).text();
  for (const name of ['baton_requests_total', 'baton_tokens_total', 'baton_request_duration_seconds_bucket',
                      'baton_time_to_first_token_seconds_bucket'])
    assert(m.includes(name), `metrics lack ${name}`);
});

// ---- bad input over raw HTTP ----

function rawRequest(port, text) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => { out += d.toString(); });
    s.on('end', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(text);
    setTimeout(() => s.end(), 500);
  });
}

const post = (body, headers = {}) => fetch(`${b.url}/chat/completions`, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

await test('bad input: malformed JSON, wrong types, invalid UTF-8, oversized, unknown path', async () => {
  let r = await post('{"model":');
  eq(r.status, 400);
  eq((await r.json()).error.type, 'invalid_request_error');
  r = await post('{"model":"small","messages":"hi"}');
  eq(r.status, 400);
  eq((await r.json()).error.param, 'messages');
  r = await post(Buffer.from('{"model":"small","messages":[{"role":"user","content":"\xff\xfe"}]}', 'latin1'));
  eq(r.status, 400);
  r = await post(JSON.stringify(greedy('x'.repeat(70000))));
  eq(r.status, 413);
  eq((await r.json()).error.type, 'invalid_request_error');
  r = await fetch(`${b.url}/nothing/here`);
  eq(r.status, 404);
  r = await fetch(`${b.url}/chat/completions`);
  eq(r.status, 405);
  const raw = await rawRequest(b.port, 'GARBAGE\r\n\r\n');
  assert(/^HTTP\/1\.1 400/.test(raw), raw);
});

await test('too many connections: 503, never a hang', async () => {
  const socks = [];
  for (let i = 0; i < 30; i++) {
    socks.push(await new Promise((resolve) => {
      const s = net.connect(b.port, '127.0.0.1', () => resolve(s));
      s.on('error', () => resolve(s));
    }));
  }
  const answers = await Promise.all(socks.slice(16).map((s) => new Promise((resolve) => {
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('close', () => resolve(out));
    setTimeout(() => resolve(out), 2000);
  })));
  assert(answers.some((a) => /^HTTP\/1\.1 503/.test(a)), 'no 503: ' + answers.slice(0, 3).join('|'));
  for (const s of socks) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const ok = await fetch(`${b.url.replace('/v1', '')}/health`);
  eq(ok.status, 200);
});

await test('memory stays bounded under a flood of requests', async () => {
  const before = rssKb(b.proc.pid);
  for (let round = 0; round < 20; round++) {
    await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 3 === 0
      ? post('{"model":')
      : i % 3 === 1 ? post(JSON.stringify(greedy('x'.repeat(70000))))
        : post(JSON.stringify(greedy('Once', { max_tokens: 2 })))).then((r) => r.text())));
  }
  const after = rssKb(b.proc.pid);
  assert(after - before < 20000, `RSS grew ${after - before} kB over 1000 requests`);
});

await test('the ledger recorded every request with its cost', async () => {
  const code = await stop(b);
  eq(code, 0, 'clean exit on SIGTERM');
  const out = execFileSync(BATON, ['cost', '--ledger', join(b.dir, 'ledger.db'), '--config', join(b.dir, 'baton.yaml')])
    .toString();
  assert(/small/.test(out) && /large/.test(out), out);
});

done();
