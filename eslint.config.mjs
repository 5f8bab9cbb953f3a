import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'dist.builds/', 'out/', 'node_modules/', '.bench/', 'coverage/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Only the agent adapter may talk to the agent.
    files: ['shared/**/*.ts', 'tasks/**/*.ts'],
    ignores: ['shared/agent/commands.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['azure-pipelines-task-lib', 'azure-pipelines-task-lib/*'],
              message: 'Only shared/agent/commands.ts imports azure-pipelines-task-lib.',
            },
          ],
        },
      ],
    },
  },
  {
    // A choice among several outcomes reads better as named steps than as nested ternaries.
    files: ['shared/**/*.ts', 'tasks/**/*.ts'],
    rules: { 'no-nested-ternary': 'error' },
  },
);
