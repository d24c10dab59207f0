// Type-aware lint: the rules that catch real bugs in async socket code (floating promises above all).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'demo/public/vendor/**',
      'test-results/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    // The SDK's browser code: no zod (the protocol's light entry instead), nothing of Node, no packages.
    files: ['sdk/**/*.ts', 'signaling/protocol/light/**/*.ts'],
    ignores: ['**/*.test.ts', 'sdk/build-*.ts', 'sdk/node.ts', 'sdk/platform/node.ts', '**/generate.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['zod', 'zod/*', '**/signaling/protocol/index.js', 'node:*', 'ws', '@roamhq/wrtc'],
              message: 'The browser entry stays small and Node-free: use signaling/protocol/light/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test-support/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
