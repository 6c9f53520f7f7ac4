import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { formatEnv } from './envFile.js';

/** Values that break naive quoting. */
const NASTY: Record<string, string> = {
  EMPTY: '',
  PLAIN: 'hello',
  SPACED: 'hello world',
  PADDED: '  padded  ',
  TAB: '\tx',
  SINGLE: "it's",
  DOUBLE: 'say "hi"',
  BOTH: `it's "both"`,
  ALL_THREE: `it's "all" \`three\``,
  BACKTICKS: '`id`',
  SUBST: '$(id) and ${HOME} and $HOME',
  HASH: 'a #not a comment',
  EQUALS: 'a=b=c',
  NEWLINES: 'line 1\nline 2\n',
  NEWLINE_QUOTE: 'line "1"\nline 2',
  CRLF: 'dos\r\nline',
  LITERAL_ESCAPE: 'not a newline: \\n',
  BACKSLASH: 'C:\\Program Files\\',
  BACKSLASH_QUOTED: '#C:\\dir\\',
  UNICODE: 'héllo wörld ☃ 🚀 \u00a0nbsp',
  SEPARATOR: 'a\u2028b',
  QUOTE_ESCAPE: `'\\''`,
  SURROUNDED: "'quoted'",
  JSON: '{"a": [1, 2], "b": "c"}',
};

test('sh: sourcing the file in /bin/sh gives back every value exactly', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telepath-env-'));
  try {
    const env = { ...NASTY, 'bad-key': 'x', '1ABC': 'y', 'a.b': 'z', lower_ok: 'fine' };
    const file = path.join(dir, 'env.sh');
    fs.writeFileSync(file, formatEnv(env, 'sh'));
    const out = execFileSync('/bin/sh', ['-c', '. "$1" && env -0', 'sh', file], { env: {}, encoding: 'utf8' });
    const got = new Map(
      out
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    for (const [k, v] of Object.entries(NASTY)) assert.equal(got.get(k), v, k);
    assert.equal(got.get('lower_ok'), 'fine');
    for (const k of ['bad-key', '1ABC', 'a.b']) assert.equal(got.has(k), false, k);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sh: exact lines, sorted keys, comments for names a shell cannot take', () => {
  assert.equal(
    formatEnv({ B: "it's", A: 'x y', 'my-key': '1' }, 'sh'),
    `export A='x y'\nexport B='it'\\''s'\n# "my-key" left out: not a valid shell variable name\n`,
  );
  assert.equal(formatEnv({}, 'sh'), '');
});

/** The `dotenv` package's parser (lib/main.js, v15-16), which is not installed here. */
function dotenvParse(src: string): Record<string, string> {
  const LINE = /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/gm;
  const obj: Record<string, string> = {};
  const lines = src.replace(/\r\n?/gm, '\n');
  let match: RegExpExecArray | null;
  while ((match = LINE.exec(lines)) !== null) {
    let value = (match[2] ?? '').trim();
    const maybeQuote = value[0];
    value = value.replace(/^(['"`])([\s\S]*)\1$/gm, '$2');
    if (maybeQuote === '"') value = value.replace(/\\n/g, '\n').replace(/\\r/g, '\r');
    obj[match[1]] = value;
  }
  return obj;
}

/** What dotenv cannot carry: all three quotes; a backslash before the closing quote; a CR with a quote. */
const DOTENV_UNQUOTABLE = ['ALL_THREE', 'BACKSLASH_QUOTED'];

test('dotenv: the dotenv parser reads back every value it can carry, and only the others are left out', () => {
  const text = formatEnv({ ...NASTY, 'a.b-c': 'dots', 'bad key': 'no', 'CR_QUOTE': 'a"\rb' }, 'dotenv');
  const expected: Record<string, string> = { ...NASTY, 'a.b-c': 'dots' };
  for (const k of DOTENV_UNQUOTABLE) delete expected[k];
  assert.deepEqual(dotenvParse(text), expected);
  const comments = text.split('\n').filter((l) => l.startsWith('#'));
  assert.deepEqual(comments, [
    '# ALL_THREE left out: dotenv has no quoting for its value',
    '# BACKSLASH_QUOTED left out: dotenv has no quoting for its value',
    '# CR_QUOTE left out: dotenv has no quoting for its value',
    '# "bad key" left out: dotenv keys are letters, digits, "_", "." and "-"',
  ]);
});

test('dotenv: each value alone reads back too (no help from neighbouring lines)', () => {
  for (const [k, v] of Object.entries(NASTY)) {
    if (DOTENV_UNQUOTABLE.includes(k)) continue;
    assert.deepEqual(dotenvParse(formatEnv({ [k]: v }, 'dotenv')), { [k]: v }, k);
  }
});

test('dotenv: bare when possible, then single, double and back quotes', () => {
  assert.equal(
    formatEnv({ PLAIN: 'a b', EMPTY: '', HASH: 'a#b', SINGLE: "it's", DOUBLE: 'say "hi"', BOTH: `it's "x"`, NL: 'a\nb', DOLLAR: '$HOME' }, 'dotenv'),
    [
      `BOTH=\`it's "x"\``,
      `DOLLAR='$HOME'`,
      `DOUBLE='say "hi"'`,
      `EMPTY=`,
      `HASH='a#b'`,
      `NL="a\\nb"`,
      `PLAIN=a b`,
      `SINGLE="it's"`,
      '',
    ].join('\n'),
  );
});

test('dotenv: a quoted value ending in a backslash is left out, as dotenv would run on into the next line', () => {
  const text = formatEnv({ A: '#x\\', B: ' #y' }, 'dotenv');
  assert.equal(text, "# A left out: dotenv has no quoting for its value\nB=' #y'\n");
  assert.deepEqual(dotenvParse(text), { B: ' #y' });
  // What the parser would make of the obvious quoting:
  assert.deepEqual(dotenvParse("A='#x\\'\nB=' #y'\n"), { A: "#x\\'\nB=" });
});

test('dotenv: a weird key in a comment cannot start a line of its own', () => {
  const text = formatEnv({ 'x\u2028EVIL=1': 'v', 'y\nEVIL=2': 'v' }, 'dotenv');
  assert.deepEqual(dotenvParse(text), {});
  assert.equal(text.split(/\r\n|[\n\r\u2028\u2029]/).filter(Boolean).length, 2);
});

test('json: pretty, keys sorted', () => {
  assert.equal(formatEnv({ b: '2', a: 'x"\n' }, 'json'), '{\n  "a": "x\\"\\n",\n  "b": "2"\n}\n');
  assert.deepEqual(JSON.parse(formatEnv(NASTY, 'json')), NASTY);
  assert.equal(formatEnv({}, 'json'), '{}\n');
});
