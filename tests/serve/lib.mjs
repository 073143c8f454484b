// Helpers for the serve scenario tests: start baton (and fake upstreams) as real processes on
// ephemeral ports, wait until they listen, and tear everything down at exit.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const SOURCE = join(HERE, '..', '..');
export const FIXTURES = process.env.BATON_FIXTURES || process.env.BATON_FIXTURES_DEFAULT ||
  join(SOURCE, '..', 'shared');
export const BATON = process.env.BATON;

const children = [];
const dirs = [];
process.on('exit', () => {
  for (const c of children) { try { c.kill('SIGKILL'); } catch {} }
  if (!process.env.BATON_KEEP_TMP)
    for (const d of dirs) { try { rmSync(d, { recursive: true, force: true }); } catch {} }
});

// A temp dir removed at exit (BATON_KEEP_TMP=1 keeps them for a post-mortem).
export function tmpDir() {
  const d = mkdtempSync(join(tmpdir(), 'baton-serve-'));
  dirs.push(d);
  return d;
}

// Starts `baton serve` with the given YAML text; resolves to { url, port, proc, stderr() }.
export async function startBaton(yaml, extraArgs = []) {
  const dir = tmpDir();
  const cfg = join(dir, 'baton.yaml');
  writeFileSync(cfg, yaml);
  const proc = spawn(BATON, ['serve', '--config', cfg, '--port', '0', ...extraArgs],
                     { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, BATON_LOG: 'info' } });
  children.push(proc);
  let err = '';
  proc.stderr.on('data', (d) => { err += d.toString(); });
  const port = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('baton did not start:\n' + err)), 30000);
    const check = () => {
      const m = err.match(/serving on http:\/\/[^:]+:(\d+)\/v1/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    };
    proc.stderr.on('data', check);
    proc.on('exit', (code) => { clearTimeout(t); reject(new Error(`baton exited ${code}:\n${err}`)); });
  });
  return { url: `http://127.0.0.1:${port}/v1`, port, proc, dir, stderr: () => err };
}

// Starts tests/tools/fake_upstream.js; resolves to { url, port, proc }.
export async function startFakeUpstream() {
  const proc = spawn('node', [join(SOURCE, 'tests', 'tools', 'fake_upstream.js')],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error('fake upstream did not start')), 10000);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = out.match(/(\d+)/);
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
  });
  return { url: `http://127.0.0.1:${port}/v1`, port, proc };
}

export function stop(p) {
  return new Promise((resolve) => {
    if (p.proc.exitCode !== null) return resolve(p.proc.exitCode);
    p.proc.on('exit', (code) => resolve(code));
    p.proc.kill('SIGTERM');
  });
}

export function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmRSS:\s+(\d+)/)[1]);
}

let failures = 0;
let passed = 0;
export async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
  }
}

export function done() {
  console.log(`${passed} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

export function assert(cond, msg) { if (!cond) throw new Error(msg || 'assertion failed'); }
export function eq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b))
    throw new Error(`${msg || 'not equal'}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
}
