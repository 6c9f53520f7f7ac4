// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', '.cluster/**', 'node_modules/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Library code logs through an injected logger; only entry points print.
    files: ['protocol/**/*.ts', 'common/**/*.ts', 'daemon/src/**/*.ts', 'traffic-manager/**/*.ts', 'traffic-agent/**/*.ts', 'extension/**/*.ts'],
    ignores: ['**/*.test.ts', '**/main.ts', '**/cli.ts', '**/bin.ts', '**/*Bin.ts'],
    rules: { 'no-console': 'error' },
  },
);
