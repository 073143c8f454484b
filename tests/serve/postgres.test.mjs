// Two baton instances with the ledger and the audit trail in one real PostgreSQL (started here
// in a temp dir on a free localhost port) and limits in a real redis-server: one budget holds
// across both with the ledger in PostgreSQL; an instance SIGKILLed under load loses no ledger row
// of a request whose client got a complete answer (its journal is replayed when it restarts) and
// the audit chain the two wrote together verifies; PostgreSQL stopped fails closed (503 with
// Retry-After, /health degraded, the log names the address) until it is back; with
// on_unavailable: open a third instance serves through the outage until its rows reach the
// high-water mark (postgres.max_pending: 40, mark 30), then refuses (503, /health "room":
// "full") until they are committed, and every request it served has its row afterwards.
import { spawn, execFileSync, execSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { startBaton, startFakeUpstream, stop, test, done, assert, eq, BATON, tmpDir } from './lib.mjs';

const freePort = () => new Promise((resolve) => {
  const srv = net.createServer().listen(0, '127.0.0.1', () => {
    const p = srv.address().port;
    srv.close(() => resolve(p));
  });
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// PostgreSQL refuses to run as root: then its directory goes to nobody and it runs as nobody.
let pgBin = '';
try { pgBin = execSync('pg_config --bindir', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch {}
if (!existsSync(join(pgBin, 'initdb')))
  pgBin = execSync('ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1').toString().trim();
const asPg = process.getuid() === 0 ? ['runuser', '-u', 'nobody', '--'] : [];
const pgDir = mkdtempSync(join(tmpdir(), 'baton-pg-')); // not tmpDir(): removed after the server stops
if (asPg.length) execFileSync('chown', ['nobody', pgDir]);
const pgPort = await freePort();
const run = (argv) => execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
const pgCtl = (...args) => run([...asPg, join(pgBin, 'pg_ctl'), '-D', join(pgDir, 'data'), ...args]);
run([...asPg, join(pgBin, 'initdb'), '-D', join(pgDir, 'data'), '-A', 'trust', '-U', 'pgtester',
     '--no-sync']);
const pgStart = () => pgCtl('-l', join(pgDir, 'log'), '-w', '-t', '30', '-o',
  `-p ${pgPort} -k ${pgDir} -c listen_addresses=127.0.0.1 -F -c max_connections=40`, 'start');
const pgStop = () => pgCtl('-m', 'immediate', '-w', 'stop');
pgStart();
process.on('exit', () => { try { pgStop(); } catch {} try { rmSync(pgDir, { recursive: true, force: true }); } catch {} });
const URL = `postgres://pgtester@127.0.0.1:${pgPort}/postgres`;
const psql = (q) => execFileSync('psql', ['-X', '-A', '-t', '-q', '-d', URL, '-c', q],
                                 { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();

const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
                                     '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
process.on('exit', () => { try { redis.kill('SIGKILL'); } catch {} });
await new Promise((resolve, reject) => {
  let out = '';
  const t = setTimeout(() => reject(new Error('redis did not start: ' + out)), 10000);
  redis.stdout.on('data', (d) => { out += d; if (out.includes('Ready to accept')) { clearTimeout(t); resolve(); } });
});

const fake = await startFakeUpstream();
const dir = tmpDir();
const storeA = join(dir, 'keys-a.db');
const storeB = join(dir, 'keys-b.db');
const keys = (...args) => execFileSync(BATON, ['keys', '--store', storeA, ...args],
                                       { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
const kBudget = keys('create', '--name', 'pgbudget', '--budget-usd', '0.0001');
const kLoad = keys('create', '--name', 'load');
const kAny = keys('create', '--name', 'any');
copyFileSync(storeA, storeB);

const yaml = (name, store) => `
server: { ledger: "${URL}", audit: "${URL}", keys: ${store}, journal: ${join(dir, name + '-journal')} }
redis: { url: "redis://127.0.0.1:${redisPort}", reservation_ttl_ms: 2000, timeout_ms: 200 }
tiers:
  - { name: cheap, kind: openai, base_url: ${fake.url}, model: "cheap/echo", price: { input: 0, output: 1.0 } }
`;
let A = await startBaton(yaml('a', storeA));
const B = await startBaton(yaml('b', storeB));

async function post(inst, secret) {
  const r = await fetch(inst.url + '/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({ model: 'cheap', messages: [{ role: 'user', content: 'one two three four five six' }],
                           max_tokens: 5 }),
  });
  return { status: r.status, headers: r.headers, body: await r.json().catch(() => null) };
}
const health = async (inst) => (await fetch(`http://127.0.0.1:${inst.port}/health`)).json();

await test('the ledger in PostgreSQL: one budget across two instances, every row in the database', async () => {
  eq((await health(A)).postgres, 'ok');
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => post(i % 2 ? A : B, kBudget)));
  eq(rs.filter((r) => r.status === 200).length, 20, 'served');
  eq(rs.filter((r) => r.status === 429).length, 80, 'refused');
  await sleep(600); // committed within ~200 ms
  eq(psql("SELECT count(*) FROM baton_ledger WHERE caller = 'pgbudget'"), '100');
  eq(psql("SELECT count(*) FROM baton_ledger WHERE caller = 'pgbudget' AND status = 200"), '20');
  eq(psql("SELECT sum(cost_microusd) FROM baton_ledger WHERE caller = 'pgbudget'"), '100');
  const cost = execFileSync(BATON, ['cost', '--ledger', URL, '--by', 'key']).toString();
  assert(cost.includes(`ledger: postgres 127.0.0.1:${pgPort}/postgres`), cost);
  assert(/pgbudget\s+100\b/.test(cost), cost);
});

await test('SIGKILL under load: every answered request has its ledger row; one audit chain verifies', async () => {
  const before = Number(psql("SELECT count(*) FROM baton_ledger WHERE caller = 'load'"));
  eq(before, 0);
  const answered = [];
  let stopAt = Date.now() + 700;
  const worker = async (inst) => {
    while (Date.now() < stopAt) {
      try {
        const r = await post(inst, kLoad);
        if (r.status === 200 && r.body) answered.push(r.headers.get('x-request-id') + '|' + inst.port);
      } catch { if (inst === A) return; } // A died mid-request: no complete answer
    }
  };
  const load = Promise.all([...Array(8)].map(() => worker(A)).concat([...Array(4)].map(() => worker(B))));
  await sleep(400);
  A.proc.kill('SIGKILL');
  const portA = A.port;
  await load;
  const fromA = answered.filter((s) => s.endsWith('|' + portA)).map((s) => s.split('|')[0]);
  assert(fromA.length > 20, `A answered ${fromA.length} requests before it died`);
  // the journal holds A's uncommitted rows; before the restart some are not in PostgreSQL ...
  await sleep(300);
  const committedBefore = Number(psql(`SELECT count(*) FROM baton_ledger WHERE caller = 'load'`));
  // ... and after the restart (same journal directory) every answered one is, exactly once
  A = await startBaton(yaml('a', storeA));
  await sleep(800);
  const ids = psql(`SELECT request_id FROM baton_ledger WHERE caller = 'load' AND status = 200`).split('\n');
  const have = new Set(ids);
  const missing = fromA.filter((id) => !have.has(id));
  eq(missing.length, 0, `rows missing for answered requests (${missing.slice(0, 3)})`);
  const dup = psql(`SELECT count(*) - count(DISTINCT entry_id) FROM baton_ledger`);
  eq(dup, '0', 'no row twice');
  const after = Number(psql(`SELECT count(*) FROM baton_ledger WHERE caller = 'load'`));
  console.log(`     A answered ${fromA.length}, B ${answered.length - fromA.length}; ` +
              `${after - committedBefore} rows came from A's journal after its restart`);
  assert(A.stderr().includes('from an earlier run\'s journal'), 'the restart replayed the journal');
  const v = execFileSync(BATON, ['audit', '--audit', URL, 'verify']).toString();
  assert(v.includes('chain intact'), v);
  eq(Number(psql("SELECT count(DISTINCT split_part(entry_id, '-', 1)) FROM baton_audit")), 2,
     'records of A and B in one chain');
  eq(psql('SELECT count(*) FROM baton_audit'), psql('SELECT count(*) FROM baton_ledger'),
     'one audit record per ledger row');
});

await test('PostgreSQL down: fail closed (503, Retry-After, /health, the log); back when it is', async () => {
  pgStop();
  let r;
  for (let i = 0; i < 30; i++) { // the writer notices within about a second
    await sleep(100);
    r = await post(B, kAny);
    if (r.status === 503) break;
  }
  eq(r.status, 503);
  assert(r.headers.get('retry-after'), 'Retry-After');
  assert(r.body.error.message.includes('unavailable'), r.body.error.message);
  const h = await health(B);
  eq(h.postgres, 'unavailable');
  eq(h.status, 'degraded');
  assert(B.stderr().includes(`postgres 127.0.0.1:${pgPort}/postgres: unavailable`), 'the log names the address');
  assert(!B.stderr().includes('pgtester@'), 'the log has no URL');
  pgStart();
  let ok = false;
  for (let i = 0; i < 40 && !ok; i++) {
    await sleep(100);
    ok = (await health(B)).postgres === 'ok';
  }
  assert(ok, '/health says ok again');
  eq((await post(B, kAny)).status, 200);
  await sleep(600);
  // the refusals were recorded too, once the database was back
  assert(Number(psql("SELECT count(*) FROM baton_ledger WHERE status = 503")) >= 1,
         'the 503s are in the ledger');
  const v = execFileSync(BATON, ['audit', '--audit', URL, 'verify']).toString();
  assert(v.includes('chain intact'), v);
});

await test('PostgreSQL down, on_unavailable: open: served up to the high-water mark, then 503 until the backlog is committed', async () => {
  const C = await startBaton(`
server: { ledger: "${URL}", audit: "${URL}", journal: ${join(dir, 'c-journal')} }
postgres: { on_unavailable: open, max_pending: 40 }
tiers:
  - { name: cheap, kind: openai, base_url: ${fake.url}, model: "cheap/echo", price: { input: 0, output: 1.0 } }
`);
  const t0 = Date.now();
  eq((await post(C, 'none')).status, 200);
  await sleep(600); // committed: nothing waits
  eq((await health(C)).room, 'ok');
  pgStop();
  const served = [], refused = [];
  for (let i = 0; i < 50; i++) { // one at a time: the count is exact
    const r = await post(C, 'none');
    if (r.status === 200) served.push(r.headers.get('x-request-id'));
    else refused.push(r);
  }
  // 40 rows at most, mark at 40 - 40/4 = 30: 30 served, then refusals (10 of them recorded)
  eq(served.length, 30, 'served during the outage');
  eq(refused.length, 20, 'refused');
  for (const r of refused) {
    eq(r.status, 503);
    eq(r.headers.get('retry-after'), '1');
  }
  assert(/: 30 ledger rows wait for the database/.test(refused[0].body.error.message),
         refused[0].body.error.message);
  const h = await health(C);
  eq(h.room, 'full');
  eq(h.status, 'degraded');
  eq(h.pending.ledger, 40);
  eq(h.pending.audit, 40);
  const said = (s) => C.stderr().split(s).length - 1;
  eq(said('new completion requests are refused until they are committed'), 2, 'logged once per store');
  eq(said('refusals are not recorded until there is room'), 1, 'logged once');
  assert(!C.stderr().includes('this request is not recorded'), 'no served request lost its row');
  pgStart();
  let room = false;
  for (let i = 0; i < 60 && !room; i++) {
    await sleep(100);
    room = (await health(C)).room === 'ok';
  }
  assert(room, '/health says there is room again');
  eq(said('completion requests are served again'), 2, 'logged once per store');
  const r = await post(C, 'none');
  eq(r.status, 200);
  served.push(r.headers.get('x-request-id'));
  await sleep(600);
  const rows = psql(`SELECT request_id, status FROM baton_ledger WHERE ts_ms >= ${t0}`).split('\n');
  const ok = new Set(rows.filter((l) => l.endsWith('|200')).map((l) => l.split('|')[0]));
  const missing = served.filter((id) => !ok.has(id));
  eq(missing.length, 0, `served requests without a ledger row (${missing.slice(0, 3)})`);
  eq(rows.length, 32 + 10, 'the served ones and the refusals the reserve took');
  eq(psql(`SELECT count(*) FROM baton_audit WHERE ts_ms >= ${t0}`), String(rows.length),
     'one audit record per ledger row');
  await stop(C);
});

await stop(A);
await stop(B);
done();
