import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'test/**/*.test.ts',
      'apps/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
})
