#!/usr/bin/env node
// The borders between Telepath's parts, written in one place, and the check that the sources keep
// them (run by `npm run lint` and by test/unit/borders.test.ts; docs/architecture.md draws them).
//   node scripts/borders.mjs      prints every import that crosses a border; exit 1 if any
// A part may import its own files and the parts its arrow names; test/ and scripts/ may import any.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Folder -> the folders it may import from (besides itself). The most specific folder wins, so
 * daemon/src/user/ is checked by its own line, not daemon/'s.
 */
export const ARROWS = {
  'protocol/': [],
  'common/': ['protocol/'],
  'daemon/src/network/': ['protocol/', 'common/'],
  'daemon/src/user/': ['protocol/', 'common/', 'daemon/src/network/'],
  'traffic-manager/': ['protocol/', 'common/'],
  'traffic-agent/': ['protocol/', 'common/'],
  'extension/': ['protocol/', 'common/'],
};

/**
 * Programs whose whole import graph (type-only imports aside: they load nothing) must stay clear
 * of some packages: the CLI must start fast, and the root process reads no kubeconfig.
 */
export const PROGRAMS = {
  'daemon/src/user/cli/bin.ts': { why: 'the CLI is a thin JSON-RPC client and must start fast', packages: ['@kubernetes/client-node', '@grpc/grpc-js', 'ssh2', 'dns-packet', 'ws'] },
  'daemon/src/network/networkBin.ts': { why: 'the root process never reads a kubeconfig', packages: ['@kubernetes/client-node', 'ssh2'] },
};

const SPEC = /(?:^|[\s;])(import\s+type\s+|import\s+|export\s+)(?:[^'";]*?\sfrom\s+)?['"]([^'"\n]+)['"]|(?:import|require)\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g;

/** The imports of one source file: { spec, typeOnly }. */
export function importsOf(source) {
  const out = [];
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  for (const m of text.matchAll(SPEC)) {
    if (m[3]) out.push({ spec: m[3], typeOnly: false });
    else if (m[2]) out.push({ spec: m[2], typeOnly: /^import\s+type\s/.test(m[1]) || /^export\s+type\s/.test(m[0].trim()) });
  }
  return out;
}

function sourceFiles(root, dirs) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const f = path.join(d, name);
      if (name === 'node_modules' || name === 'gen') continue;
      if (statSync(f).isDirectory()) walk(f);
      else if (/\.(ts|mts|mjs|js)$/.test(name)) out.push(path.relative(root, f));
    }
  };
  for (const d of dirs) if (existsSync(path.join(root, d))) walk(path.join(root, d));
  return out;
}

const ownerOf = (file) => Object.keys(ARROWS).filter((f) => file.startsWith(f)).sort((a, b) => b.length - a.length)[0];

/** A relative import's file, as the bundler resolves it ('./x.js' -> x.ts, a folder -> index.ts). */
function resolveRelative(root, from, spec) {
  const base = path.join(path.dirname(from), spec);
  for (const c of [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')]) {
    if (existsSync(path.join(root, c)) && statSync(path.join(root, c)).isFile()) return c;
  }
  return base;
}

/** Every border crossing under `root`, as "file: imports target (rule)". */
export function checkBorders(root) {
  const problems = [];
  const files = sourceFiles(root, Object.keys(ARROWS));
  for (const file of files) {
    const owner = ownerOf(file);
    if (!owner) continue;
    for (const { spec } of importsOf(readFileSync(path.join(root, file), 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = resolveRelative(root, file, spec);
      const targetOwner = ownerOf(target);
      if (target.startsWith('..') || !targetOwner) {
        problems.push(`${file}: imports ${target}, outside every part`);
      } else if (targetOwner !== owner && !ARROWS[owner].includes(targetOwner)) {
        problems.push(`${file}: imports ${target} (${owner} may import ${[owner, ...ARROWS[owner]].join(', ')})`);
      }
    }
  }
  for (const [entry, rule] of Object.entries(PROGRAMS)) {
    if (!existsSync(path.join(root, entry))) continue;
    const seen = new Map([[entry, []]]);
    const queue = [entry];
    while (queue.length) {
      const file = queue.shift();
      for (const { spec, typeOnly } of importsOf(readFileSync(path.join(root, file), 'utf8'))) {
        if (typeOnly) continue;
        if (spec.startsWith('.')) {
          const target = resolveRelative(root, file, spec);
          if (!seen.has(target) && existsSync(path.join(root, target))) {
            seen.set(target, [...seen.get(file), file]);
            queue.push(target);
          }
        } else {
          const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
          if (rule.packages.includes(pkg)) problems.push(`${entry}: loads ${pkg} through ${[...seen.get(file), file].join(' -> ')} (${rule.why})`);
        }
      }
    }
  }
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const problems = checkBorders(root);
  for (const p of problems) console.error(`borders: ${p}`);
  if (problems.length) {
    console.error(`borders: ${problems.length} import(s) cross a border; the allowed arrows are in scripts/borders.mjs`);
    process.exit(1);
  }
}
