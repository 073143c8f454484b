// Two baton instances sharing budgets, rate limits and revocations through a real redis-server
// (started here on a free port): one budget and one rate limit hold across both, a key revoked
// through one is refused by the other at once (each has its own copy of the key store, so only
// Redis carries the revocation), a key rotated through either has its old secret refused and its
// new one served by both (again only Redis carries it), a SIGKILLed instance's reservations
// expire after reservation_ttl_ms, and a Redis that goes away fails closed (503, /health says so)
// until it is back.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { startBaton, startFakeUpstream, stop, test, done, assert, eq, BATON, tmpDir } from './lib.mjs';

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const p = srv.address().port;
    srv.close(() => resolve(p));
  });
});

async function startRedis(port) {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
                                      '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
  await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('redis did not start: ' + out)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept')) { clearTimeout(t); resolve(); }
    });
  });
  return proc;
}

const redisPort = await freePort();
let redis = await startRedis(redisPort);
const fake = await startFakeUpstream();
const dir = tmpDir();
const storeA = join(dir, 'keys-a.db');
const storeB = join(dir, 'keys-b.db');
const keys = (...args) => execFileSync(BATON, ['keys', '--store', storeA, ...args],
                                       { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const kBudget = keys('create', '--name', 'shared20', '--budget-usd', '0.0001');
const kRpm = keys('create', '--name', 'rpm4', '--rpm', '4');
const kRevoke = keys('create', '--name', 'leaver');
const kKill = keys('create', '--name', 'killme', '--budget-usd', '0.00005');
const kRotate = keys('create', '--name', 'rotor');
copyFileSync(storeA, storeB);

const yaml = (name, store) => `
server: { ledger: ${join(dir, name + '-ledger.db')}, keys: ${store} }
redis: { url: "redis://127.0.0.1:${redisPort}", reservation_ttl_ms: 2000, timeout_ms: 200 }
tiers:
  - { name: cheap, kind: openai, base_url: ${fake.url}, model: "cheap/echo", price: { input: 0, output: 1.0 } }
  - { name: slow, kind: openai, base_url: ${fake.url}, model: "slow/slow?delay_ms=250", price: { input: 0, output: 1.0 } }
`;
const A = await startBaton(yaml('a', storeA));
const B = await startBaton(yaml('b', storeB));
const cfgA = join(A.dir, 'baton.yaml');

async function post(inst, secret, model = 'cheap') {
  const r = await fetch(inst.url + '/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'one two three four five six' }],
                           max_tokens: 5, stream: model === 'slow' }), // the fake is slow in streams
  });
  return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
}

await test('one budget across two instances: 200 concurrent requests, exactly 20 served', async () => {
  const rs = await Promise.all(Array.from({ length: 200 }, (_, i) => post(i % 2 ? A : B, kBudget)));
  const served = rs.filter((r) => r.status === 200).length;
  eq(served, 20, 'served');
  eq(rs.filter((r) => r.status === 429).length, 180, 'refused');
  const byA = rs.filter((r, i) => i % 2 && r.status === 200).length;
  assert(byA > 0 && byA < 20, `both instances served (${byA} by A)`);
  const r = await post(B, kBudget);
  eq(r.status, 429);
  assert(r.body.error.message.includes('$0.0001 spent'), r.body.error.message);
});

await test('one rate limit across two instances', async () => {
  for (const inst of [A, B, A, B]) eq((await post(inst, kRpm)).status, 200);
  const r = await post(A, kRpm);
  eq(r.status, 429);
  assert(Number(r.headers.get('retry-after')) >= 1, 'Retry-After');
  eq((await post(B, kRpm)).status, 429);
});

await test('a key revoked through one instance is refused by the other at once', async () => {
  eq((await post(B, kRevoke)).status, 200);
  execFileSync(BATON, ['keys', '--config', cfgA, '--store', storeA, 'revoke', 'leaver'],
               { stdio: ['ignore', 'pipe', 'pipe'] });
  const t0 = Date.now();
  const r = await post(B, kRevoke); // B's own store still says active
  eq(r.status, 401);
  assert(r.body.error.message.includes('revoked'), r.body.error.message);
  assert(Date.now() - t0 < 1000, 'within a second');
  // refused before admission (unknown model: 404 for a valid key), it is still the revocation
  const bad = await post(B, kRevoke, 'no-such-model');
  eq(bad.status, 401, 'revoked key, unknown model');
  assert(bad.body.error.message.includes('revoked'), bad.body.error.message);
});

await test('a key rotated through one instance: old secret refused, new one served, by both', async () => {
  eq((await post(B, kRotate)).status, 200);
  const rotate = (cfg, store) => execFileSync(BATON, ['keys', '--config', cfg, '--store', store,
                                                      'rotate', 'rotor'],
                                              { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
  const fresh = rotate(cfgA, storeA);
  const t0 = Date.now();
  let r = await post(B, kRotate); // B's own store still holds the old credential
  eq(r.status, 401, 'old secret on B');
  eq(r.body.error.code, 'invalid_api_key');
  assert(Date.now() - t0 < 1000, 'within a second');
  eq((await post(A, kRotate)).status, 401, 'old secret on A');
  // a request B refuses before admission: the old secret still gets the 401, not the 404
  r = await post(B, kRotate, 'no-such-model');
  eq(r.status, 401, 'old secret on B, unknown model');
  eq(r.body.error.code, 'invalid_api_key');
  r = await post(B, fresh); // B's store has never seen this public id: Redis has its credential
  eq(r.status, 200, 'new secret on B');
  eq((await post(B, fresh)).status, 200, 'again (cached credential)');
  eq((await post(A, fresh)).status, 200, 'new secret on A');

  // rotating again through B, whose store still has the first secret: the latest rotation wins
  const cfgB = join(B.dir, 'baton.yaml');
  const third = rotate(cfgB, storeB);
  for (const inst of [A, B]) {
    eq((await post(inst, fresh)).status, 401, 'the second secret is retired');
    eq((await post(inst, kRotate)).status, 401, 'the first stays retired');
    eq((await post(inst, third)).status, 200, 'the third is served');
  }
  for (const inst of [A, B])
    for (const secret of [kRotate, fresh, third])
      assert(!inst.stderr().includes(secret.slice(16)), 'no secret in the log');
});

await test('a SIGKILLed instance leaves no reservation past its timeout', async () => {
  // 10 slow requests (each may cost 5 of the 50 micro-USD) are admitted on A, then A dies
  const inflight = Array.from({ length: 10 }, () => post(A, kKill, 'slow').catch(() => null));
  await new Promise((r) => setTimeout(r, 400));
  A.proc.kill('SIGKILL');
  await Promise.all(inflight);
  let r = await post(B, kKill);
  eq(r.status, 429, 'the dead instance\'s reservations still hold');
  assert(r.body.error.message.includes('$0.00005 reserved'), r.body.error.message);
  await new Promise((res) => setTimeout(res, 2300)); // reservation_ttl_ms 2000
  r = await post(B, kKill);
  eq(r.status, 200, 'expired reservations are released');
});

await test('Redis unreachable: fail closed, said in /health and the log; back when it is', async () => {
  redis.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  let r = await post(B, kRpm); // any key: its limits need Redis
  eq(r.status, 503);
  assert(r.body.error.message.includes('shared limits unavailable'), r.body.error.message);
  // a public id B's store does not know may be a rotation only Redis knows of: not checkable
  r = await post(B, 'bt_0123456789ab_' + '0'.repeat(64));
  eq(r.status, 503, 'unknown public id while Redis is away');
  eq(r.headers.get('retry-after'), '5');
  const h = await (await fetch(`http://127.0.0.1:${B.port}/health`)).json();
  eq(h.redis, 'unavailable');
  eq(h.status, 'degraded');
  assert(B.stderr().includes(`redis 127.0.0.1:${redisPort}`), 'the log names redis');
  redis = await startRedis(redisPort);
  await new Promise((res) => setTimeout(res, 1100)); // reconnects at most once a second
  const fresh = execFileSync(BATON, ['keys', '--store', storeB, 'create', '--name', 'after'],
                             { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
  r = await post(B, fresh);
  eq(r.status, 200);
  eq((await (await fetch(`http://127.0.0.1:${B.port}/health`)).json()).redis, 'ok');
});

await stop(B);
done();
