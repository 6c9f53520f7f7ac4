// Bundles the sample workloads into one self-contained file that runs with plain `node` on Node 20:
//   node test/cluster/samples/build.mjs [outfile]   (default: .cluster/build/samples.js)
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const esbuild = require('esbuild');

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const outfile = path.resolve(process.argv[2] ?? path.join(repoRoot, '.cluster/build/samples.js'));

const result = await esbuild.build({
  entryPoints: [path.join(here, 'samples.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`samples: ${outfile} (${bytes} bytes)`);
