import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as agent from '../../shared/agent';
import type { SqlEngine } from '../../shared/sampling/engine';
import { regenerateSampleData } from '../../shared/sampling/regenerate';
import { sampleSummary } from '../../shared/sampling/summary';
import { readSettings, type EngineSettings } from './settings';

void agent.runTask(async () => {
  const s = readSettings();
  const engine = await openEngine(s.engine, s.salt);
  let result;
  try {
    result = await regenerateSampleData(s.config, engine, { environments: s.environments, dryRun: s.dryRun }, agent.agentLog);
  } finally {
    await engine.close();
  }
  const reportPath = s.reportFile ?? join(agent.tempDirectory(), 'relevo', `sample-data-report-${Date.now()}.json`);
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, `${JSON.stringify(result.report, null, 2)}\n`);
  agent.setOutput('report', reportPath);
  agent.uploadSummary('regenerate-sample-data', sampleSummary(result.report, reportPath));
  if (result.error) throw result.error;
});

/** Each engine's module is loaded only when it is the one used (DuckDB from the tool cache, never from the bundle). */
async function openEngine(e: EngineSettings, salt: string | undefined): Promise<SqlEngine> {
  if (e.kind === 'databricks') {
    const [client, { openDatabricksEngine }] = await Promise.all([e.databricks(), import('../../shared/sampling/databricksEngine')]);
    return openDatabricksEngine({
      client,
      warehouseId: e.warehouseId,
      salt,
      statementTimeoutMs: e.statementTimeoutMs,
      warn: (m) => agent.agentLog.warn(m),
    });
  }
  const [{ acquireDuckDb }, { openDuckDbEngine }] = await Promise.all([
    import('../../shared/sampling/duckdbTool'),
    import('../../shared/sampling/duckdbEngine'),
  ]);
  const moduleDir = await acquireDuckDb({ ...e, log: agent.agentLog });
  return openDuckDbEngine({ moduleDir, tempDir: join(agent.tempDirectory(), 'relevo-duckdb'), salt, warn: (m) => agent.agentLog.warn(m) });
}
