// Governance scenarios through `baton serve` with the real npm openai client and raw HTTP:
// virtual keys (401/403, revocation without restart, no secret anywhere), budgets reserved on
// admission and settled at the end (200 concurrent requests against a budget for 20), rate
// limits with Retry-After, privacy policies (local-only, mask with restoration in streams,
// block) and the audit trail. Remote tiers are tests/tools/fake_upstream.js, which echoes.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startBaton, startFakeUpstream, stop, test, done, assert, eq, FIXTURES, BATON, HERE,
         tmpDir } from './lib.mjs';

const require = createRequire(join(HERE, '..', 'clients', 'package.json'));
const OpenAI = (await import(pathToFileURL(require.resolve('openai')).href)).default;

const fake = await startFakeUpstream();
const dir = tmpDir();
const store = join(dir, 'keys.db');
const ledger = join(dir, 'ledger.db');
const audit = join(dir, 'audit.db');

const keys = (...args) => execFileSync(BATON, ['keys', '--store', store, ...args],
                                       { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const sql = (db, q) => execFileSync('sqlite3', [db, q]).toString().trim();

const yaml = `
server:
  ledger: ${ledger}
  keys: ${store}
  audit: ${audit}
  audit_content: true
tiers:
  - { name: local, kind: local, model: ${FIXTURES}/models/stories260K.gguf, threads: 1, context: 256 }
  - name: cheap
    kind: openai
    base_url: ${fake.url}
    model: "cheap/echo"
    price: { input: 0, output: 1.0 }
  - name: cloud
    kind: openai
    base_url: ${fake.url}
    model: "cloud/echo"
    price: { input: 0, output: 10.0 }
  - { name: cloudtools, kind: openai, base_url: ${fake.url}, model: "cloudtools/echo_tools?interleave=1", price: { input: 0, output: 0 } }
  - { name: cloudcut, kind: openai, base_url: ${fake.url}, model: "cloudcut/echo_tools?interleave=1&cut=3", price: { input: 0, output: 0 } }
routes:
  - name: auto
    rules:
      - { name: long, min_chars: 400, tier: cloud }
    default: cheap
    fallback: [cloud, cheap]
  - name: premium
    default: cloud
  - { name: private, privacy: local-only, default: cloud }
  - { name: masked, privacy: mask, default: cloud }
  - { name: maskedtools, privacy: mask, default: cloudtools }
  - { name: maskedcut, privacy: mask, default: cloudcut }
  - { name: blocked, privacy: block, default: cloud }
privacy:
  patterns:
    - { name: employee_id, regex: "EMP-[0-9]{6}" }
    - { name: quoted, regex: 'Q"[a-z]+\\\\[0-9]' }
`;

const secretA = keys('create', '--name', 'team-a');
const secretScoped = keys('create', '--name', 'scoped', '--routes', 'auto', '--tiers', 'cheap');
// 5 output tokens at $1 per 1M: each request costs, and may cost at most, 5 micro-USD.
const secretBudget = keys('create', '--name', 'budget20', '--budget-usd', '0.0001', '--period', 'month');
const secretRpm = keys('create', '--name', 'rpm3', '--rpm', '3');
const secretTpm = keys('create', '--name', 'tpm10', '--tpm', '10');
const b = await startBaton(yaml);

async function post(body, secret, path = '/chat/completions') {
  const headers = { 'content-type': 'application/json' };
  if (secret) headers.authorization = `Bearer ${secret}`;
  const r = await fetch(b.url + path, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
}
const chat = (content, extra = {}) => ({ model: 'auto', messages: [{ role: 'user', content }],
                                         max_tokens: 5, ...extra });

await test('keys: a valid key is served, its name is the ledger caller', async () => {
  const client = new OpenAI({ baseURL: b.url, apiKey: secretA, maxRetries: 0 });
  const r = await client.chat.completions.create(chat('hello there'));
  eq(r.choices[0].message.content, 'echo: hello there');
});

await test('keys: no key, a wrong key, a malformed key get 401 with OpenAI error bodies', async () => {
  let r = await post(chat('x'));
  eq(r.status, 401);
  eq(r.body.error.code, 'missing_api_key');
  const wrong = secretA.slice(0, -1) + (secretA.endsWith('0') ? '1' : '0');
  r = await post(chat('x'), wrong);
  eq(r.status, 401);
  eq(r.body.error.code, 'invalid_api_key');
  assert(!JSON.stringify(r.body).includes(wrong.slice(16)), 'the error echoes the secret');
  r = await post(chat('x'), 'sk-not-a-baton-key');
  eq(r.status, 401);
  const client = new OpenAI({ baseURL: b.url, apiKey: 'bogus', maxRetries: 0 });
  let threw = null;
  try { await client.chat.completions.create(chat('x')); } catch (e) { threw = e; }
  assert(threw && threw.status === 401, 'the openai client sees a 401');
});

await test('keys: routes and tiers outside a key\'s scope get 403', async () => {
  let r = await post(chat('hi'), secretScoped);
  eq(r.status, 200);
  eq(r.headers.get('x-baton-tier'), 'cheap');
  r = await post(chat('hi', { model: 'premium' }), secretScoped);
  eq(r.status, 403);
  assert(r.body.error.message.includes("may not use route 'premium'"), r.body.error.message);
  r = await post(chat('hi', { model: 'cloud' }), secretScoped);
  eq(r.status, 403);
  // the route picks cloud for long text, but the key allows only cheap: narrowed, not refused
  r = await post(chat('x'.repeat(500)), secretScoped);
  eq(r.status, 200);
  eq(r.headers.get('x-baton-tier'), 'cheap');
  assert(r.headers.get('x-baton-route-reason').includes('key allows tiers cheap'),
         r.headers.get('x-baton-route-reason'));
});

await test('keys: revocation and rotation take effect without a restart', async () => {
  const s = keys('create', '--name', 'temp');
  eq((await post(chat('a'), s)).status, 200);
  const s2 = keys('rotate', 'temp');
  eq((await post(chat('a'), s)).status, 401);
  eq((await post(chat('a'), s2)).status, 200);
  keys('revoke', 'temp');
  const r = await post(chat('a'), s2);
  eq(r.status, 401);
  assert(r.body.error.message.includes('revoked'), r.body.error.message);
  assert(keys('list').match(/temp\s+revoked/), 'list shows the key revoked');
});

await test('keys: no secret in the store, the ledger or the logs', async () => {
  await new Promise((r) => setTimeout(r, 400)); // the ledger commits within ~200 ms
  const callers = sql(ledger, "SELECT DISTINCT caller FROM requests ORDER BY caller").split('\n');
  assert(callers.includes('team-a') && callers.includes('scoped'), callers.join(','));
  for (const f of [store, store + '-wal', ledger, ledger + '-wal']) {
    if (!existsSync(f)) continue;
    const data = readFileSync(f);
    for (const s of [secretA, secretScoped])
      assert(!data.includes(s.slice(16)), `${f} holds a secret`);
  }
  for (const s of [secretA, secretScoped]) assert(!b.stderr().includes(s.slice(16)), 'log holds a secret');
});

await test('budget: 200 concurrent requests, budget for 20: exactly 20 served, never over', async () => {
  const body = chat('one two three four five six', { model: 'cheap' });
  const rs = await Promise.all(Array.from({ length: 200 }, () => post(body, secretBudget)));
  const ok = rs.filter((r) => r.status === 200);
  const refused = rs.filter((r) => r.status === 429);
  eq(ok.length, 20, 'served');
  eq(refused.length, 180, 'refused');
  for (const r of ok) eq(r.body.usage.completion_tokens, 5);
  const m = refused[0].body.error;
  eq(m.code, 'budget_exceeded');
  assert(/Budget exceeded for key 'budget20': \$0\.0001 per month/.test(m.message), m.message);
  assert(/resets \d{4}-\d{2}-01T00:00:00Z/.test(m.message), m.message);
  assert(Number(refused[0].headers.get('retry-after')) > 0, 'Retry-After');
  // once settled, nothing is left for another request
  eq((await post(body, secretBudget)).status, 429);
  await new Promise((r) => setTimeout(r, 400));
  eq(sql(ledger, "SELECT sum(cost_microusd) FROM requests WHERE caller = 'budget20'"), '100');
});

await test('rate limits: rpm and tpm refuse with 429 and Retry-After', async () => {
  for (let i = 0; i < 3; i++) eq((await post(chat('a b'), secretRpm)).status, 200);
  let r = await post(chat('a b'), secretRpm);
  eq(r.status, 429);
  eq(r.body.error.code, 'rate_limit_exceeded');
  assert(r.body.error.message.includes('3 requests per minute'), r.body.error.message);
  const ra = Number(r.headers.get('retry-after'));
  assert(ra >= 1 && ra <= 20, `Retry-After ${ra}`);
  // tpm 10: the first request uses 10 in + 5 out, the bucket is 5 below empty, the next waits
  eq((await post(chat('a b c d e f g h i j', { model: 'cheap' }), secretTpm)).status, 200);
  r = await post(chat('x', { model: 'cheap' }), secretTpm);
  eq(r.status, 429);
  assert(r.body.error.message.includes('10 tokens per minute'), r.body.error.message);
  assert(Number(r.headers.get('retry-after')) >= 1, 'Retry-After');
});

await test('baton cost --by key totals per key', async () => {
  await new Promise((r) => setTimeout(r, 400));
  const out = execFileSync(BATON, ['cost', '--ledger', ledger, '--by', 'key']).toString();
  const line = out.split('\n').find((l) => l.trim().startsWith('budget20'));
  assert(line, out);
  assert(/budget20\s+201\s+181\s+\d+\s+100\s+\$0\.0001/.test(line), line);
});

const upstreamLast = async (key) =>
  (await (await fetch(`http://127.0.0.1:${fake.port}/stats?key=${key}`)).json()).last_body;

await test('privacy: local-only keeps a request with an e-mail on a local tier', async () => {
  let r = await post(chat('write to bob@example.com', { model: 'private' }), secretA);
  eq(r.status, 200);
  eq(r.headers.get('x-baton-tier'), 'local');
  eq(r.headers.get('x-baton-route-reason'),
     'policy local-only: email found, kept on local; default: no rules');
  r = await post(chat('nothing sensitive here', { model: 'private' }), secretA);
  eq(r.headers.get('x-baton-tier'), 'cloud');
});

await test('privacy: block answers 403 naming the kinds, never the values', async () => {
  const r = await post(chat('card 4111 1111 1111 1111, id EMP-123456', { model: 'blocked' }), secretA);
  eq(r.status, 403);
  eq(r.body.error.code, 'sensitive_data');
  assert(r.body.error.message.includes('card, employee_id'), r.body.error.message);
  assert(!r.body.error.message.includes('4111'), 'the value is in the error');
  eq(r.headers.get('x-baton-route-reason'), 'policy block: card, employee_id found');
});

await test('privacy: mask sends placeholders upstream and restores them, streaming too', async () => {
  const text = 'mail bob@example.com or call (415) 555-0132 about EMP-123456 and bob@example.com';
  const client = new OpenAI({ baseURL: b.url, apiKey: secretA, maxRetries: 0 });
  const { data, response } = await client.chat.completions.create(
    { model: 'masked', messages: [{ role: 'user', content: text }], max_tokens: 50 }).withResponse();
  eq(data.choices[0].message.content, 'echo: ' + text);
  const sent = JSON.stringify(await upstreamLast('cloud'));
  assert(sent.includes('mail [EMAIL_1] or call [PHONE_1] about [EMPLOYEE_ID_1] and [EMAIL_1]'), sent);
  assert(!sent.includes('bob@example.com') && !sent.includes('555-0132'), 'a value left the machine');
  assert(response.headers.get('x-baton-route-reason').includes('policy mask: 4 email, phone, employee_id masked for cloud'),
         response.headers.get('x-baton-route-reason'));
  const stream = await client.chat.completions.create(
    { model: 'masked', messages: [{ role: 'user', content: text }], max_tokens: 50, stream: true });
  let got = '';
  let chunks = 0;
  for await (const c of stream) { got += c.choices[0]?.delta?.content || ''; chunks++; }
  eq(got, 'echo: ' + text);
  assert(chunks > 5, `streamed in ${chunks} chunks`);
});

// The fake's echo_tools answers two tool calls whose arguments are JSON carrying the (masked)
// message, streamed 3 characters a fragment with the calls interleaved: every placeholder is
// split across fragments, and a value with '"' and '\' must come back JSON-escaped.
const toolText = 'mail carol@example.com the code Q"ab\\7 or "as is" [x] [EMAIL_9]';
const toolReq = { model: 'maskedtools', messages: [{ role: 'user', content: toolText }], max_tokens: 50,
                  tools: ['send_email', 'note'].map((name) => ({ type: 'function',
                    function: { name, parameters: { type: 'object' } } })) };
const checkToolCalls = (calls) => {
  eq(calls.map((c) => [c.id, c.function.name]), [['call_echo0', 'send_email'], ['call_echo1', 'note']]);
  eq(JSON.parse(calls[0].function.arguments), { to: toolText });
  eq(JSON.parse(calls[1].function.arguments), { text: toolText, n: 1 });
};

await test('privacy: mask restores tool-call arguments, split across fragments, JSON-escaped', async () => {
  const client = new OpenAI({ baseURL: b.url, apiKey: secretA, maxRetries: 0 });
  const stream = client.chat.completions.stream({ ...toolReq, stream: true });
  let chunks = 0;
  for await (const c of stream) if (c.choices[0]?.delta?.tool_calls) chunks++;
  const final = await stream.finalChatCompletion();
  eq(final.choices[0].finish_reason, 'tool_calls');
  checkToolCalls(final.choices[0].message.tool_calls);
  assert(chunks > 20, `arguments streamed in ${chunks} chunks`);
  const sent = JSON.stringify(await upstreamLast('cloudtools'));
  assert(sent.includes('mail [EMAIL_1] the code [QUOTED_1] or'), sent);
  assert(!sent.includes('carol@example.com') && !sent.includes('ab\\\\7'), 'a value left the machine');
  // not streamed: the upstream's message carries the arguments whole
  const r = await client.chat.completions.create(toolReq);
  eq(r.choices[0].finish_reason, 'tool_calls');
  checkToolCalls(r.choices[0].message.tool_calls);
});

await test('privacy: restored calls sent back in the conversation leave masked', async () => {
  const client = new OpenAI({ baseURL: b.url, apiKey: secretA, maxRetries: 0 });
  const calls = (await client.chat.completions.create(toolReq)).choices[0].message.tool_calls;
  const history = [{ role: 'assistant', content: null, tool_calls: calls },
                   { role: 'tool', tool_call_id: calls[0].id, content: 'sent' },
                   { role: 'user', content: 'thanks' }];
  // with the message that carried the values, and without: the calls alone are enough to mask
  for (const messages of [[...toolReq.messages, ...history], [{ role: 'user', content: 'hi' }, ...history]]) {
    const r = await client.chat.completions.create({ model: 'masked', max_tokens: 50, messages });
    eq(r.choices[0].message.content, 'echo: thanks');
    const sent = await upstreamLast('cloud');
    const text = JSON.stringify(sent);
    assert(!text.includes('carol@example.com') && !text.includes('ab\\\\7'), text);
    const toolMsg = sent.messages.find((m) => m.tool_calls);
    eq(JSON.parse(toolMsg.tool_calls[0].function.arguments), { to: 'mail [EMAIL_1] the code [QUOTED_1] or "as is" [x] [EMAIL_9]' });
  }
});

await test('privacy: mask releases what tool-call arguments held back at the end, unchanged', async () => {
  // arguments cut 3 characters short: send_email's ends in '[EMAIL_1', held back as a possible
  // placeholder until the stream ends, then released as it is
  const text = 'mail dave@example.com';
  const client = new OpenAI({ baseURL: b.url, apiKey: secretA, maxRetries: 0 });
  const stream = client.chat.completions.stream({ model: 'maskedcut', stream: true, max_tokens: 50,
                                                  messages: [{ role: 'user', content: text }] });
  const calls = (await stream.finalChatCompletion()).choices[0].message.tool_calls;
  eq(calls.map((c) => c.function.arguments), ['{"to":"mail [EMAIL_1', '{"text":"mail dave@example.com","n"']);
});

await test('audit: every request is a chained record, content masked, verify and export', async () => {
  await stop(b); // flushes the trail
  const out = execFileSync(BATON, ['audit', '--audit', audit, 'verify']).toString();
  assert(/chain intact; head: record \d+, hash [0-9a-f]{64}/.test(out), out);
  const lines = execFileSync(BATON, ['audit', '--audit', audit, 'export', '--since', '2000-01-01'],
                             { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().split('\n');
  const recs = lines.map((l) => JSON.parse(l));
  assert(recs.length > 200, `${recs.length} records`);
  recs.forEach((r, i) => eq(r.seq, i + 1));
  for (let i = 1; i < recs.length; i++) eq(recs[i].prev_hash, recs[i - 1].hash);
  const m = recs.find((r) => r.policy === 'mask');
  assert(m, 'a masked request is in the trail');
  eq(m.caller, 'team-a');
  eq(m.kinds, 'email, phone, employee_id');
  eq(m.masked, 4);
  assert(!JSON.stringify(recs).includes('bob@example.com'), 'an e-mail is in the trail');
  for (const v of ['carol@example.com', 'dave@example.com'])
    assert(!JSON.stringify(recs).includes(v), 'a tool call\'s e-mail is in the trail');
  assert(m.request_text.includes('[EMAIL_1]') && m.response_text.includes('[EMAIL_1]'), m.request_text);
  assert(/^[0-9a-f]{64}$/.test(m.request_sha256), 'request hash');
  const blocked = recs.find((r) => r.policy === 'block');
  eq(blocked.status, 403);
  eq(blocked.kinds, 'card, employee_id');
  assert(recs.some((r) => r.status === 401 && r.caller === '127.0.0.1'), 'a 401 is recorded');
  for (const s of [secretA, secretScoped]) assert(!readFileSync(audit).includes(s.slice(16)), 'a secret in the trail');
  // tampering is found, and where
  sql(audit, "UPDATE audit SET record = replace(record, '\"status\":403', '\"status\":200') WHERE seq = " + blocked.seq);
  let threw = null;
  try { execFileSync(BATON, ['audit', '--audit', audit, 'verify'], { stdio: ['ignore', 'pipe', 'pipe'] }); }
  catch (e) { threw = e; }
  assert(threw && threw.status === 1, 'verify exits 1');
  assert(threw.stdout.toString().includes(`audit: record ${blocked.seq}: edited`), threw.stdout.toString());
});

done();
