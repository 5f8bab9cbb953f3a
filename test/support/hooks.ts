import type { Context } from 'mocha';
import { cleanTempDirs } from './repo';

export const mochaHooks = {
  afterAll(this: Context): void {
    // Thousands of repositories from the failure-at-every-step loops: removing them is disk work, not a test.
    this.timeout(300_000);
    if (!process.env.RELEVO_KEEP_TEMP) cleanTempDirs();
  },
};
