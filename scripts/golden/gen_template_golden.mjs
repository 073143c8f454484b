#!/usr/bin/env node
// Regenerates tests/golden/templates/expected/ and the expected results in
// tests/unit/template_features.json with the reference chat-template renderer, the npm package
// @huggingface/jinja pinned in tests/clients/package.json (run scripts/deps.sh or `npm ci` in
// tests/clients first).
//
//   node scripts/golden/gen_template_golden.mjs [TEMPLATES_DIR]     (default: ../shared/templates)
//
// For every template T and conversation C (tests/golden/templates/conversations/C.json, an OpenAI
// chat request body) and add_generation_prompt on (gp) and off (nogp), it renders what
// `baton template -t T.jinja -f C.json [--no-generation-prompt] --bos B --eos E --date 2024-07-26`
// must print, into expected/T__C__gp.txt. When the reference throws, expected/T__C__gp.error
// holds "raise" (the template's raise_exception) or "error" (anything else) on its first line
// and the reference's message after it. tokens.tsv records B and E per template. The same is
// done for the fixtures' vocabularies that carry a template (expected/gguf-V__C__gp.txt,
// rendered by `baton template -m V.gguf`, gguf.tsv).
//
// The variables are those transformers and llama.cpp pass: messages (tool-call arguments given
// as JSON strings of objects are parsed, as baton does), tools (null when absent),
// add_generation_prompt, bos_token, eos_token, then the body's chat_template_kwargs. The clock
// strftime_now() reads is fixed at 2024-07-26 00:00 local time.
//
// tests/unit/template_features.json is a list of small templates, one language feature each,
// with their variables; this script sets each case's "expect" (the output) or "error" (the
// reference's message) and "raised" (true when the template's raise_exception threw), which
// tests/unit/test_template.c then requires of baton.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const require = createRequire(path.join(root, "tests/clients/package.json"));
const { Template, Environment } = require("@huggingface/jinja");
const version = JSON.parse(
  fs.readFileSync(path.join(root, "tests/clients/node_modules/@huggingface/jinja/package.json"), "utf8"),
).version;

const templatesDir = path.resolve(process.argv[2] ?? path.join(root, "../shared/templates"));
const goldenDir = path.join(root, "tests/golden/templates");
const convDir = path.join(goldenDir, "conversations");
const outDir = path.join(goldenDir, "expected");

// A fixed clock for strftime_now.
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(2024, 6, 26, 0, 0, 0);
    else super(...args);
  }
  static now() {
    return new RealDate(2024, 6, 26, 0, 0, 0).getTime();
  }
};
const month = new Intl.DateTimeFormat(undefined, { month: "short" }).format(new Date());
if (month !== "Jul") throw new Error(`run with an English locale (month 7 formats as ${month})`);

// Tag the template's own raise_exception so .error files can say which kind of error it was.
class TemplateRaise extends Error {}
const origSet = Environment.prototype.set;
Environment.prototype.set = function (name, value) {
  if (name === "raise_exception") {
    value = (msg) => {
      throw new TemplateRaise(msg);
    };
  }
  return origSet.call(this, name, value);
};

// BOS/EOS texts as each model family's tokenizer has them (first match wins).
const FAMILY_TOKENS = [
  [/Hermes-2-Pro/, "<|begin_of_text|>", "<|im_end|>"],
  [/meta-llama|Hermes-3|firefunction|functionary/, "<|begin_of_text|>", "<|eot_id|>"],
  [/deepseek/i, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"],
  [/Qwen|QwQ/, "<|endoftext|>", "<|im_end|>"],
  [/gemma/, "<bos>", "<eos>"],
  [/Phi-3/, "<s>", "<|endoftext|>"],
  [/granite/, "<|end_of_text|>", "<|end_of_text|>"],
  [/Cohere/, "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"],
  [/Kimi|moonshot/, "[BOS]", "[EOS]"],
  [/LFM2/, "<|startoftext|>", "<|im_end|>"],
  [/MiniMax/, "]~!b[", "[e~["],
  [/gpt-oss/, "<|startoftext|>", "<|return|>"],
  [/GLM/, "[gMASK]", "<|endoftext|>"],
  [/SmolLM/, "<|im_start|>", "<|im_end|>"],
  [/MiniCPM/, "<s>", "<|im_end|>"],
];
function tokensFor(name) {
  for (const [re, bos, eos] of FAMILY_TOKENS) if (re.test(name)) return [bos, eos];
  return ["<s>", "</s>"];
}

// As baton's tmpl_render_chat: function.arguments holding a JSON object or array is parsed.
function normalizeMessages(messages) {
  return messages.map((m) => {
    if (!Array.isArray(m.tool_calls)) return m;
    return {
      ...m,
      tool_calls: m.tool_calls.map((c) => {
        const args = c?.function?.arguments;
        if (typeof args !== "string") return c;
        let parsed;
        try {
          parsed = JSON.parse(args);
        } catch {
          return c;
        }
        if (parsed === null || typeof parsed !== "object") return c;
        return { ...c, function: { ...c.function, arguments: parsed } };
      }),
    };
  });
}

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });
const conversations = fs
  .readdirSync(convDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => [path.basename(f, ".json"), JSON.parse(fs.readFileSync(path.join(convDir, f), "utf8"))]);
const templates = fs.readdirSync(templatesDir).filter((f) => f.endsWith(".jinja")).sort();

const tsv = [];
let rendered = 0, raised = 0, errors = 0;
const unparsable = [];
for (const file of templates) {
  const name = path.basename(file, ".jinja");
  const [bos, eos] = tokensFor(name);
  tsv.push(`${name}\t${bos}\t${eos}`);
  let tmpl = null, parseError = null;
  try {
    tmpl = new Template(fs.readFileSync(path.join(templatesDir, file), "utf8"));
  } catch (e) {
    parseError = e;
    unparsable.push(`${name}: ${e.message}`);
  }
  for (const [conv, body] of conversations) {
    for (const gp of [true, false]) {
      const base = path.join(outDir, `${name}__${conv}__${gp ? "gp" : "nogp"}`);
      try {
        if (parseError) throw parseError;
        const out = tmpl.render({
          messages: normalizeMessages(body.messages),
          tools: body.tools ?? null,
          add_generation_prompt: gp,
          bos_token: bos,
          eos_token: eos,
          ...(body.chat_template_kwargs ?? {}),
        });
        fs.writeFileSync(`${base}.txt`, out);
        rendered++;
      } catch (e) {
        const kind = e instanceof TemplateRaise ? "raise" : "error";
        if (kind === "raise") raised++;
        else errors++;
        fs.writeFileSync(`${base}.error`, `${kind}\n${e.message}\n`);
      }
    }
  }
}
fs.writeFileSync(path.join(goldenDir, "tokens.tsv"), tsv.join("\n") + "\n");

// The vocabularies in the fixtures that carry a chat template: `baton template -m` reads the
// template and the BOS/EOS texts from the GGUF, so the reference gets what the file holds.
// expected/gguf-V__C__gp.txt; gguf.tsv lists V with the texts used.
function ggufMeta(file) {
  const b = fs.readFileSync(file);
  let o = 0;
  const u32 = () => { const v = b.readUInt32LE(o); o += 4; return v; };
  const u64 = () => { const v = Number(b.readBigUInt64LE(o)); o += 8; return v; };
  const str = () => { const n = u64(); const v = b.toString("utf8", o, o + n); o += n; return v; };
  const size = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const value = (t) => {
    if (t === 8) return str();
    if (t === 9) {
      const et = u32(), n = u64();
      return Array.from({ length: n }, () => value(et));
    }
    const v = t === 4 ? b.readUInt32LE(o) : t === 5 ? b.readInt32LE(o) : null;
    o += size[t];
    return v;
  };
  if (b.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${file}: not a GGUF file`);
  o = 4;
  u32();
  u64();
  const nkv = u64(), kv = {};
  for (let i = 0; i < nkv; i++) {
    const key = str();
    kv[key] = value(u32());
  }
  return kv;
}
const vocabDir = path.join(path.dirname(templatesDir), "vocab");
const ggufRows = [];
for (const file of fs.existsSync(vocabDir) ? fs.readdirSync(vocabDir).sort() : []) {
  if (!file.endsWith(".gguf")) continue;
  const kv = ggufMeta(path.join(vocabDir, file));
  const src = kv["tokenizer.chat_template"];
  if (typeof src !== "string") continue;
  const tokens = kv["tokenizer.ggml.tokens"];
  const text = (id) => (typeof id === "number" && tokens[id] !== undefined ? tokens[id] : "");
  const bos = text(kv["tokenizer.ggml.bos_token_id"]), eos = text(kv["tokenizer.ggml.eos_token_id"]);
  const name = path.basename(file, ".gguf");
  ggufRows.push(`${name}\t${bos}\t${eos}`);
  const tmpl = new Template(src);
  for (const [conv, body] of conversations) {
    for (const gp of [true, false]) {
      const base = path.join(outDir, `gguf-${name}__${conv}__${gp ? "gp" : "nogp"}`);
      try {
        fs.writeFileSync(`${base}.txt`, tmpl.render({
          messages: normalizeMessages(body.messages),
          tools: body.tools ?? null,
          add_generation_prompt: gp,
          bos_token: bos,
          eos_token: eos,
          ...(body.chat_template_kwargs ?? {}),
        }));
      } catch (e) {
        fs.writeFileSync(`${base}.error`, `${e instanceof TemplateRaise ? "raise" : "error"}\n${e.message}\n`);
      }
    }
  }
}
fs.writeFileSync(path.join(goldenDir, "gguf.tsv"), ggufRows.join("\n") + "\n");
fs.writeFileSync(
  path.join(goldenDir, "REFERENCE"),
  `@huggingface/jinja ${version}\n` +
    `${templates.length} templates x ${conversations.length} conversations x 2 (add_generation_prompt)\n` +
    `rendered ${rendered}, raise_exception ${raised}, other errors ${errors}\n` +
    (unparsable.length ? `templates the reference cannot parse:\n${unparsable.map((s) => `  ${s}\n`).join("")}` : ""),
);
console.log(fs.readFileSync(path.join(goldenDir, "REFERENCE"), "utf8"));

// The feature cases: same variables as a chat render, each case's "vars" on top.
const featuresPath = path.join(root, "tests/unit/template_features.json");
const features = JSON.parse(fs.readFileSync(featuresPath, "utf8"));
let featOk = 0, featErr = 0;
for (const f of features) {
  delete f.expect;
  delete f.error;
  delete f.raised;
  try {
    // a lone surrogate (half a character picked by index) is written as U+FFFD, as in a file
    f.expect = new Template(f.template).render({
      messages: [],
      tools: null,
      add_generation_prompt: false,
      bos_token: "",
      eos_token: "",
      ...(f.vars ?? {}),
    }).toWellFormed();
    featOk++;
  } catch (e) {
    f.error = String(e.message);
    if (e instanceof TemplateRaise) f.raised = true;
    featErr++;
  }
}
fs.writeFileSync(featuresPath, JSON.stringify(features, null, 1) + "\n");
console.log(`template_features.json: ${features.length} cases, ${featOk} render, ${featErr} fail`);
