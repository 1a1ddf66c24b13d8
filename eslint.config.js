// Lint rules: typescript-eslint's recommended type-aware set, no array spread into a call's
// arguments, and a guard that keeps heavy libraries out of the wrapper's hot path (see
// docs/decisions.md).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/driver/**', '.cache/**', 'reports/**', '.stryker-tmp/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
      // An array spread into a call's arguments overflows the stack once the array is large
      // (stats crashed so at 300k samples, issue 23): loop, reduce or pass the array instead.
      'no-restricted-syntax': ['error', { selector: 'CallExpression > SpreadElement, NewExpression > SpreadElement', message: 'Do not spread an array into a call\'s arguments (the stack overflows on a large one): loop, reduce or pass the array.' }],
    },
  },
  {
    // Ink elements' children: a screen's rows and cells at most, never journal data.
    files: ['tui/components/**/*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['wrapper/**/*.ts', 'src/cni/**/*.ts', 'src/config/**/*.ts', 'src/invoke/**/*.ts', 'src/journal/writer.ts', 'src/journal/record.ts', 'src/trace/ids.ts', 'src/trace/clock.ts', 'src/plugin/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['@opentelemetry/*', 'ink', 'react', 'zod', 'execa', '../cli/*', '../../tui/*'], message: 'The wrapper hot path must not load this (docs/decisions.md: hot path).' },
        ],
      }],
    },
  },
);
