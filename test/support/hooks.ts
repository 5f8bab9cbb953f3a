import { cleanTempDirs } from './repo';

export const mochaHooks = {
  afterAll(): void {
    if (!process.env.RELEVO_KEEP_TEMP) cleanTempDirs();
  },
};
