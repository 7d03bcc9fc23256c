// Lint for the TypeScript sources and tests (typescript-eslint's recommended rules) and the
// plain Node scripts. `npm run lint` runs this and then prettier --check.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig({ ignores: ['dist/', 'data/', 'test-artifacts/', 'bench/results/', 'coverage/'] }, js.configs.recommended, tseslint.configs.recommended, {
  languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
  linterOptions: { reportUnusedDisableDirectives: 'error' },
  rules: {
    // A leading underscore marks a binding that is unused on purpose (e.g. draining an iterator).
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
    // `let { a, b } = ...` where only some are reassigned stays one statement.
    'prefer-const': ['error', { destructuring: 'all' }],
  },
});
