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

const keys = (...args) => execFileSync(BATON, ['keys', '--store', store, ...args],
                                       { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const sql = (db, q) => execFileSync('sqlite3', [db, q]).toString().trim();

const yaml = `
server:
  ledger: ${ledger}
  keys: ${store}
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
routes:
  - name: auto
    rules:
      - { name: long, min_chars: 400, tier: cloud }
    default: cheap
    fallback: [cloud, cheap]
  - name: premium
    default: cloud
`;

const secretA = keys('create', '--name', 'team-a');
const secretScoped = keys('create', '--name', 'scoped', '--routes', 'auto', '--tiers', 'cheap');
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

await stop(b);
done();
