import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { detectLanguages, targetFramework } from './debugLanguages.js';

describe('the workspace\'s language', () => {
  test('from its build files', () => {
    assert.deepEqual(detectLanguages({ files: ['package.json', 'README.md'] }), ['node']);
    assert.deepEqual(detectLanguages({ files: ['go.mod', 'go.sum'] }), ['go']);
    assert.deepEqual(detectLanguages({ files: ['pyproject.toml'] }), ['python']);
    assert.deepEqual(detectLanguages({ files: ['build.gradle.kts'] }), ['java']);
    assert.deepEqual(detectLanguages({ files: ['Shop.sln', 'x.csproj'] }), ['dotnet']);
    assert.deepEqual(detectLanguages({ files: ['notes.txt'] }), []);
  });

  test('the open file\'s language comes first', () => {
    assert.deepEqual(detectLanguages({ files: ['package.json', 'requirements.txt'], activeFile: { path: 'tools/x.py', languageId: 'python' } }), ['python', 'node']);
  });

  test('a .NET project\'s target framework', () => {
    assert.equal(targetFramework('<Project><PropertyGroup><TargetFramework>net8.0</TargetFramework></PropertyGroup></Project>'), 'net8.0');
    assert.equal(targetFramework('<TargetFrameworks>net8.0;net6.0</TargetFrameworks>'), 'net8.0');
    assert.equal(targetFramework('<Project/>'), undefined);
  });
});
