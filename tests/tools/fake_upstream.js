#!/usr/bin/env node
// fake_upstream: an OpenAI-compatible chat API for tests, with faults on demand.
//
// Usage: node tests/tools/fake_upstream.js [PORT]   (default 0: any free port)
// Prints the port it listens on (127.0.0.1) as the first line of stdout once ready. Needs only
// Node's standard library. Exits on GET /quit, or when its parent process goes away.
//
// POST /v1/chat/completions and /v1/completions answer deterministically from the request:
// the reply text is "echo: " followed by the last user message (the prompt for completions),
// streamed one word per chunk ("echo:", " hello", " world"), cut to max_tokens words (then
// finish_reason "length", else "stop"). A stream ends with a usage chunk when
// stream_options.include_usage is set, then "data: [DONE]". prompt_tokens counts the words of
// all message contents; completion_tokens the chunks sent.
//
// The model name (or an x-fake header, same syntax) selects behaviour and groups statistics:
//   [KEY/]FAULT[?OPTION=VALUE&...]
// KEY groups the counters reported by GET /stats?key=KEY (requests, completed, client_aborts:
// connections the client closed before the answer ended, last_body, last_headers, conn_ids:
// the connection of each request). FAULTs:
//   echo            the normal answer (the default; any unknown name too)
//   status          answer `code` (default 500) with an OpenAI error body, for the first `times`
//                   requests of this key (default: all), then the normal answer; `retry_after`
//                   (seconds) and `retry_after_ms` add those headers; `message` replaces the
//                   error message
//   hang_headers    accept the request and never answer
//   hang_mid        send headers and two chunks, then nothing
//   drop_mid        send headers and two chunks, then destroy the connection
//   malformed       one good chunk, then an event whose JSON is broken, then [DONE]
//   no_done         a complete stream (finish_reason, usage) that ends without [DONE]
//   no_finish       content chunks and [DONE], but no finish_reason
//   stream_error    one chunk, then `data: {"error": {...}}`, then the end of the response
//   slow            the normal stream with `delay_ms` (default 100) between chunks
//   json            a non-stream JSON answer even when a stream was asked for
//   tools           a stream of tool_calls deltas (finish_reason "tool_calls"); with json: a
//                   message with tool_calls
//   logprobs        the normal stream, each chunk with logprobs (2 top alternatives)
//   echo_tools      a stream of two tool calls echoing the last user message: send_email
//                   (index 0) with arguments {"to": MESSAGE} and note (index 1) with
//                   {"text": MESSAGE, "n": 1}, the arguments' JSON text cut into fragments of
//                   `split` characters (default 3); interleave=1 alternates the two calls'
//                   fragments; cut=N drops the arguments' last N characters (as a model cut
//                   short would); with json: a message with both calls whole
// Options for every fault: delay_ms (before the headers, except for slow), json=1 (as json).
// Every response carries x-conn-id (which TCP connection served it) and x-attempt (how many
// requests this key has seen).
'use strict';
const http = require('node:http');

const stats = new Map();
function statFor(key) {
  let s = stats.get(key);
  if (!s) {
    s = { requests: 0, completed: 0, client_aborts: 0, last_body: null, last_headers: null, conn_ids: [] };
    stats.set(key, s);
  }
  return s;
}

function parseSpec(spec) {
  let key = 'default';
  let rest = spec || '';
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    key = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
  }
  const q = rest.indexOf('?');
  const fault = q >= 0 ? rest.slice(0, q) : rest;
  const opts = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : '');
  return { key, fault, opts };
}

function contentText(c) {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.filter((p) => p && p.type === 'text').map((p) => p.text).join('');
  return '';
}

function words(s) {
  return s.split(/\s+/).filter((w) => w.length > 0);
}

// The reply pieces and usage for a request body.
function plan(body, isChat) {
  let last = '';
  let promptWords = 0;
  if (isChat) {
    for (const m of body.messages || []) {
      const t = contentText(m.content);
      promptWords += words(t).length;
      if (m.role === 'user') last = t;
    }
  } else {
    last = typeof body.prompt === 'string' ? body.prompt : '';
    promptWords = words(last).length;
  }
  const w = ['echo:', ...words(last)];
  let pieces = w.map((x, i) => (i === 0 ? x : ' ' + x));
  let finish = 'stop';
  const max = body.max_tokens ?? body.max_completion_tokens;
  if (Number.isInteger(max) && max >= 0 && pieces.length > max) {
    pieces = pieces.slice(0, max);
    finish = 'length';
  }
  return { pieces, finish, promptTokens: promptWords, last };
}

function errorBody(code, message) {
  const type =
    code === 429 ? 'rate_limit_error' : code >= 500 ? 'server_error' : 'invalid_request_error';
  return JSON.stringify({ error: { message, type, param: null, code: null } });
}

function sendJson(res, code, text, headers = {}) {
  res.writeHead(code, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

const toolDeltas = [
  { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_fake1', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
  { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] },
  { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
];

// The calls of echo_tools, whole.
function echoCalls(last, cut) {
  const args = (o) => { const j = JSON.stringify(o); return j.slice(0, Math.max(0, j.length - cut)); };
  return [
    { index: 0, id: 'call_echo0', type: 'function', function: { name: 'send_email', arguments: args({ to: last }) } },
    { index: 1, id: 'call_echo1', type: 'function', function: { name: 'note', arguments: args({ text: last, n: 1 }) } },
  ];
}

// echo_tools as stream deltas: each call's header, then its arguments in `split`-character
// fragments; the calls one after the other, or alternating fragment by fragment.
function echoToolDeltas(last, split, interleave, cut) {
  const perCall = echoCalls(last, cut).map((c) => {
    const ds = [{ tool_calls: [{ ...c, function: { name: c.function.name, arguments: '' } }] }];
    for (let i = 0; i < c.function.arguments.length; i += split)
      ds.push({ tool_calls: [{ index: c.index, function: { arguments: c.function.arguments.slice(i, i + split) } }] });
    return ds;
  });
  const out = [{ role: 'assistant', content: null }];
  if (!interleave) return out.concat(...perCall);
  for (let i = 0; i < Math.max(...perCall.map((d) => d.length)); i++)
    for (const ds of perCall) if (i < ds.length) out.push(ds[i]);
  return out;
}

function handleChat(req, res, body, isChat) {
  const spec = parseSpec(req.headers['x-fake'] || body.model);
  const st = statFor(spec.key);
  st.requests++;
  st.last_body = body;
  st.last_headers = req.headers;
  st.conn_ids.push(req.socket.connId);
  const attempt = st.requests;
  let selfDestroyed = false;
  res.on('close', () => {
    if (res.writableFinished) st.completed++;
    else if (!selfDestroyed) st.client_aborts++;
  });
  const common = { 'x-conn-id': String(req.socket.connId), 'x-attempt': String(attempt) };
  const o = spec.opts;
  const num = (name, dflt) => (o.has(name) ? Number(o.get(name)) : dflt);
  const model = body.model;
  const created = 1700000000;
  const { pieces, finish, promptTokens, last } = plan(body, isChat);
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: pieces.length,
    total_tokens: promptTokens + pieces.length,
  };
  let fault = spec.fault;
  if (fault === 'status') {
    const times = num('times', Infinity);
    if (attempt <= times) {
      const code = num('code', 500);
      const h = { ...common };
      if (o.has('retry_after')) h['retry-after'] = o.get('retry_after');
      if (o.has('retry_after_ms')) h['retry-after-ms'] = o.get('retry_after_ms');
      const message = o.has('message') ? o.get('message') : `fake upstream error ${code}`;
      return sendJson(res, code, errorBody(code, message), h);
    }
    fault = 'echo';
  }
  if (fault === 'hang_headers') return; // the socket stays open until the client gives up

  const chunk = (delta, finishReason = null, extra = {}) => {
    const choice = isChat
      ? { index: 0, delta, logprobs: null, finish_reason: finishReason, ...extra }
      : { index: 0, text: delta.content || '', logprobs: null, finish_reason: finishReason };
    return {
      id: 'chatcmpl-fake',
      object: isChat ? 'chat.completion.chunk' : 'text_completion',
      created,
      model,
      choices: [choice],
    };
  };
  const events = []; // SSE data payloads (objects or raw strings)
  if (fault === 'tools') {
    for (const d of toolDeltas) events.push(chunk(d));
    events.push(chunk({}, 'tool_calls'));
  } else if (fault === 'echo_tools') {
    for (const d of echoToolDeltas(last, num('split', 3), o.get('interleave') === '1', num('cut', 0))) events.push(chunk(d));
    events.push(chunk({}, 'tool_calls'));
  } else {
    if (isChat) events.push(chunk({ role: 'assistant', content: '' }));
    pieces.forEach((p, i) => {
      const extra = {};
      if (fault === 'logprobs') {
        const lp = -(i + 1) / 10;
        extra.logprobs = {
          content: [{
            token: p, logprob: lp, bytes: [...Buffer.from(p)],
            top_logprobs: [{ token: p, logprob: lp, bytes: null }, { token: '?', logprob: lp - 1, bytes: null }],
          }],
        };
      }
      events.push(chunk({ content: p }, null, extra));
    });
    if (fault !== 'no_finish') events.push(chunk({}, finish));
  }
  const wantUsage = body.stream_options && body.stream_options.include_usage;
  if (wantUsage) events.push({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created, model, choices: [], usage });

  const asJson = fault === 'json' || o.get('json') === '1' || (!body.stream && fault !== 'tools');
  const start = () => {
    if (asJson) {
      let message = { role: 'assistant', content: pieces.join(''), refusal: null };
      let fr = finish;
      if (fault === 'tools' || o.get('tools') === '1') {
        message = {
          role: 'assistant', content: null, refusal: null,
          tool_calls: [{ id: 'call_fake1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        };
        fr = 'tool_calls';
      }
      if (fault === 'echo_tools') {
        message = { role: 'assistant', content: null, refusal: null,
                    tool_calls: echoCalls(last, num('cut', 0)).map(({ index, ...c }) => c) };
        fr = 'tool_calls';
      }
      const choice = isChat
        ? { index: 0, message, logprobs: null, finish_reason: fr }
        : { index: 0, text: pieces.join(''), logprobs: null, finish_reason: fr };
      return sendJson(res, 200, JSON.stringify({
        id: 'chatcmpl-fake', object: isChat ? 'chat.completion' : 'text_completion', created, model,
        choices: [choice], usage,
      }), common);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...common });
    res.flushHeaders();
    const write = (e) => res.write(`data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`);
    if (fault === 'hang_mid' || fault === 'drop_mid') {
      write(events[0]);
      write(events[1]);
      if (fault === 'drop_mid') {
        setTimeout(() => {
          selfDestroyed = true;
          req.socket.destroy();
        }, 20);
      }
      return;
    }
    if (fault === 'malformed') {
      write(events[0]);
      write('{"choices": [oops');
      write('[DONE]');
      return res.end();
    }
    if (fault === 'stream_error') {
      write(events[0]);
      write({ error: { message: 'fake failure mid-stream', type: 'server_error', param: null, code: null } });
      return res.end();
    }
    const delay = fault === 'slow' ? num('delay_ms', 100) : 0;
    let i = 0;
    const next = () => {
      if (res.destroyed) return;
      if (i < events.length) {
        write(events[i++]);
        if (delay > 0) setTimeout(next, delay);
        else next();
        return;
      }
      if (fault !== 'no_done') write('[DONE]');
      res.end();
    };
    next();
  };
  const d = fault === 'slow' ? 0 : num('delay_ms', 0);
  if (d > 0) setTimeout(start, d);
  else start();
}

let nextConnId = 1;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'GET' && url.pathname === '/quit') {
    res.end('bye\n', () => process.exit(0));
    return;
  }
  if (req.method === 'GET' && url.pathname === '/stats') {
    return sendJson(res, 200, JSON.stringify(statFor(url.searchParams.get('key') || 'default')));
  }
  const isChat = url.pathname === '/v1/chat/completions';
  if (req.method !== 'POST' || !(isChat || url.pathname === '/v1/completions')) {
    return sendJson(res, 404, errorBody(404, `no route ${req.method} ${url.pathname}`));
  }
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch (e) {
      return sendJson(res, 400, errorBody(400, 'request body is not JSON'));
    }
    handleChat(req, res, body, isChat);
  });
});
server.keepAliveTimeout = 30000;
server.on('connection', (sock) => {
  sock.connId = nextConnId++;
  sock.setNoDelay(true);
});
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(0);
}, 500).unref();
server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
