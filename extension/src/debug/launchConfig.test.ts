import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'jsonc-parser';
import type { WorkspaceFacts } from './debugLanguages.js';
import { canBaseOn, launchConfigName, launchEntry, launchEntryFrom } from './launchConfig.js';
import { LaunchJsonError, readConfigurations, upsertLaunchEntry, type LaunchEntry } from './launchJson.js';
import { makeMarker, type TelepathMarker } from './telepathMarker.js';

const testdata = path.join(import.meta.dirname, 'testdata');
const SPACES = { insertSpaces: true, tabSize: 4 };

/** Compares with testdata/<name>; UPDATE_GOLDEN=1 rewrites it instead. */
function golden(name: string, actual: string): void {
  const file = path.join(testdata, name);
  if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(file, actual);
  assert.equal(actual, fs.readFileSync(file, 'utf8'), `differs from testdata/${name} (UPDATE_GOLDEN=1 rewrites it)`);
}

const marker: TelepathMarker = makeMarker({
  workload: 'echo',
  namespace: 'samples',
  port: 'http',
  localPort: 8080,
  mode: 'personal',
  header: { name: 'x-telepath-intercept', value: 'alice-3f9a1c' },
});

const facts: Record<string, WorkspaceFacts> = {
  node: { files: ['package.json', 'server.js'], packageMain: './server.js' },
  python: { files: ['requirements.txt', 'app.py'] },
  go: { files: ['go.mod', 'main.go'] },
  java: { files: ['pom.xml'] },
  dotnet: { files: ['Echo.csproj'], dotnetProject: { name: 'Echo', targetFramework: 'net8.0' } },
};

describe('launch.json generation', () => {
  for (const language of ['node', 'python', 'go', 'java', 'dotnet'] as const) {
    test(`${language}: a new launch.json`, () => {
      const { entry } = launchEntry(language, marker, facts[language]!);
      const { text, replaced } = upsertLaunchEntry(undefined, entry, SPACES);
      assert.equal(replaced, false);
      golden(`${language}.golden.json`, text);
      const configs = readConfigurations(text);
      assert.equal(configs.length, 1);
      assert.equal(configs[0]!.name, 'Telepath: Intercept echo (samples)');
      assert.deepEqual(configs[0]!.telepath, marker);
    });
  }

  test('the entries of each language carry the debugger type and what it needs to run', () => {
    const types = Object.fromEntries((['node', 'python', 'go', 'java', 'dotnet'] as const).map((l) => [l, launchEntry(l, marker, facts[l]!).entry]));
    assert.equal(types.node!.type, 'node');
    assert.equal(types.node!.program, '${workspaceFolder}/server.js');
    assert.equal(types.python!.type, 'debugpy');
    assert.equal(types.python!.program, '${workspaceFolder}/app.py');
    assert.deepEqual([types.go!.type, types.go!.mode, types.go!.program], ['go', 'auto', '${workspaceFolder}']);
    assert.equal(types.java!.type, 'java');
    assert.equal(types.dotnet!.type, 'coreclr');
    assert.equal(types.dotnet!.program, '${workspaceFolder}/bin/Debug/net8.0/Echo.dll');
    for (const e of Object.values(types)) assert.equal(e.request, 'launch');
  });

  test('what the workspace does not tell is a placeholder, and reported', () => {
    assert.deepEqual(launchEntry('java', marker, facts.java!).placeholders, ['mainClass']);
    assert.deepEqual(launchEntry('dotnet', marker, { files: [] }).placeholders, ['program']);
    assert.equal(launchEntry('dotnet', marker, { files: [] }).entry.program, '${workspaceFolder}/bin/Debug/<target-framework>/<project>.dll');
    assert.deepEqual(launchEntry('node', marker, { files: [] }).placeholders, ['program']);
    assert.deepEqual(launchEntry('go', marker, { files: [] }).placeholders, []);
  });

  test('node: package.json main first, then the open file', () => {
    const open = { path: 'src/index.ts', languageId: 'typescript' };
    assert.equal(launchEntry('node', marker, { files: ['package.json'], packageMain: 'dist/main.js', activeFile: open }).entry.program, '${workspaceFolder}/dist/main.js');
    assert.equal(launchEntry('node', marker, { files: ['package.json'], activeFile: open }).entry.program, '${workspaceFolder}/src/index.ts');
  });

  test('keeps comments, other entries, indentation and the trailing commas of an existing launch.json', () => {
    const existing = fs.readFileSync(path.join(testdata, 'existing.launch.json'), 'utf8');
    const { entry } = launchEntry('python', marker, facts.python!);
    const { text, replaced } = upsertLaunchEntry(existing, entry, SPACES);
    assert.equal(replaced, false);
    golden('existing.golden.json', text);
    // Everything the user wrote is still there, unchanged, in front of the new entry.
    const cut = text.indexOf('\t\t{\n\t\t\t"name": "Telepath');
    assert.ok(cut > 0);
    assert.equal(text.slice(0, cut), existing.slice(0, existing.indexOf('\t],')));
    assert.deepEqual(readConfigurations(text).map((c) => c.name), ['Launch server', 'Attach', 'Telepath: Intercept echo (samples)']);
    assert.deepEqual((parse(text) as { compounds: unknown }).compounds, []);
  });

  test('idempotent: the same intercept again changes nothing', () => {
    const existing = fs.readFileSync(path.join(testdata, 'existing.launch.json'), 'utf8');
    const { entry } = launchEntry('python', marker, facts.python!);
    const once = upsertLaunchEntry(existing, entry, SPACES).text;
    const twice = upsertLaunchEntry(once, entry, SPACES);
    assert.equal(twice.replaced, true);
    assert.equal(twice.text, once);
    for (const language of ['node', 'go', 'java', 'dotnet'] as const) {
      const fresh = upsertLaunchEntry(undefined, launchEntry(language, marker, facts[language]!).entry, SPACES).text;
      assert.equal(upsertLaunchEntry(fresh, launchEntry(language, marker, facts[language]!).entry, SPACES).text, fresh, language);
    }
  });

  test('the same intercept replaces its own entry in place; another intercept gets its own', () => {
    const existing = fs.readFileSync(path.join(testdata, 'existing.launch.json'), 'utf8');
    const first = upsertLaunchEntry(existing, launchEntry('node', marker, facts.node!).entry, SPACES).text;
    const moved = launchEntry('node', { ...marker, localPort: 9090, mode: 'global', header: undefined } as TelepathMarker, facts.node!).entry;
    delete (moved.telepath as Partial<TelepathMarker>).header;
    const second = upsertLaunchEntry(first, moved, SPACES);
    assert.equal(second.replaced, true);
    const configs = readConfigurations(second.text);
    assert.equal(configs.length, 3);
    assert.deepEqual(configs[2]!.telepath, { workload: 'echo', namespace: 'samples', port: 'http', localPort: 9090, mode: 'global' });
    const other = launchEntry('node', makeMarker({ workload: 'statefulset/web', namespace: 'samples', localPort: 8081, mode: 'global' }), facts.node!).entry;
    assert.equal(other.name, 'Telepath: Intercept web (samples)');
    const third = upsertLaunchEntry(second.text, other, SPACES);
    assert.equal(third.replaced, false);
    assert.deepEqual(readConfigurations(third.text).map((c) => c.name), ['Launch server', 'Attach', 'Telepath: Intercept echo (samples)', 'Telepath: Intercept web (samples)']);
  });

  test('a launch.json without configurations, with an empty list, or with only comments in it', () => {
    const { entry } = launchEntry('go', marker, facts.go!);
    const noConfigs = upsertLaunchEntry('{\n  // mine\n  "version": "0.2.0"\n}\n', entry, SPACES).text;
    assert.match(noConfigs, /^\{\n {2}\/\/ mine\n {2}"version": "0\.2\.0",\n {2}"configurations": \[\n {4}\{\n {6}"name": "Telepath: Intercept echo \(samples\)",/);
    const commented = upsertLaunchEntry('{\n  "configurations": [\n    // nothing yet\n  ]\n}', entry, SPACES).text;
    assert.match(commented, /\[\n {4}\/\/ nothing yet\n {4}\{\n/);
    assert.equal(readConfigurations(commented).length, 1);
    assert.equal(readConfigurations(upsertLaunchEntry('   \n', entry, SPACES).text).length, 1);
  });

  test('a launch.json that cannot be read safely is refused, not rewritten', () => {
    const { entry } = launchEntry('go', marker, facts.go!);
    assert.throws(() => upsertLaunchEntry('{ "configurations": [ { "name": } ] }', entry, SPACES), (e: unknown) => e instanceof LaunchJsonError && /syntax error .* on line 1/.test(e.message));
    assert.throws(() => upsertLaunchEntry('{ "configurations": {} }', entry, SPACES), /not an array/);
    assert.throws(() => upsertLaunchEntry('[]', entry, SPACES), /does not hold a JSON object/);
  });

  test('CRLF files stay CRLF', () => {
    const crlf = '{\r\n    "version": "0.2.0",\r\n    "configurations": []\r\n}\r\n';
    const out = upsertLaunchEntry(crlf, launchEntry('go', marker, facts.go!).entry, SPACES).text;
    assert.equal(out.replace(/\r\n/g, '').includes('\n'), false);
  });

  test('an entry made from the user\'s own configuration keeps everything but its name', () => {
    const base = { name: 'Launch server', type: 'node', request: 'launch', program: '${workspaceFolder}/server.js', env: { LOG_LEVEL: 'debug' } };
    const entry: LaunchEntry = launchEntryFrom(base, marker);
    assert.deepEqual(entry, { ...base, name: launchConfigName(marker), telepath: marker });
    assert.equal(base.name, 'Launch server', 'the original is not changed');
    assert.equal(canBaseOn(base), true);
    assert.equal(canBaseOn({ name: 'Attach', type: 'node', request: 'attach' }), false);
  });
});
