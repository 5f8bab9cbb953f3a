import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as agent from '../../shared/agent';
import { UserError } from '../../shared/errors';
import { loadConfig } from '../../shared/sampling/config';
import type { SqlEngine } from '../../shared/sampling/engine';
import { regenerateSampleData } from '../../shared/sampling/regenerate';
import { sampleSummary } from '../../shared/sampling/summary';

void agent.runTask(async () => {
  const configFile = agent.pathInput('configFile')!;
  const config = loadConfig(configFile);
  const engineName = agent.choiceInput('engine', ['duckdb', 'databricks'] as const);
  const dryRun = agent.boolInput('dryRun');
  const salt = agent.secretInput('maskingSalt');
  if (salt && /^\$\([\w.]+\)$/.test(salt)) {
    throw new UserError(`the variable ${salt} is not defined.`, { input: 'maskingSalt', fix: 'define it as a secret variable (pipeline variables, or a variable group), or correct its name.' });
  }
  const masks = config.tables.flatMap((t) => Object.entries(t.mask).filter(([, m]) => m.kind === 'hash' || m.kind === 'email' || m.kind === 'phone').map(([c]) => `${t.name}.${c}`));
  if (masks.length && !salt && !dryRun) {
    throw new UserError(`${masks.length} column(s) are masked (${masks.slice(0, 3).join(', ')}${masks.length > 3 ? ', …' : ''}), and masks need a salt.`, { input: 'maskingSalt', fix: 'set it to a secret variable, e.g. $(SampleMaskingSalt) (a long random value, the same on every run).' });
  }
  if ((config.source.kind === 'files') !== (engineName === 'duckdb')) {
    throw new UserError(`the ${engineName} engine reads ${engineName === 'duckdb' ? 'files ({ path, format })' : 'tables ({ catalog, schema })'}, and the configuration's source is ${config.source.kind === 'files' ? 'a folder' : 'a catalog and schema'}.`, { input: 'engine', fix: `use engine ${config.source.kind === 'files' ? 'duckdb' : 'databricks'}, or change source in ${configFile}.` });
  }

  const engine: SqlEngine = engineName === 'duckdb' ? await duckDbEngine(salt) : await databricksEngine(salt);
  let result;
  try {
    result = await regenerateSampleData(config, engine, { environments: agent.listInput('environments'), dryRun }, agent.agentLog);
  } finally {
    await engine.close();
  }
  const reportPath = agent.pathInput('reportFile') ?? join(agent.tempDirectory(), 'relevo', `sample-data-report-${Date.now()}.json`);
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, `${JSON.stringify(result.report, null, 2)}\n`);
  agent.setOutput('report', reportPath);
  agent.uploadSummary('regenerate-sample-data', sampleSummary(result.report, reportPath));
  if (result.error) throw result.error;
});

/** DuckDB from the tool cache (downloaded there once per agent), never from the bundle. */
async function duckDbEngine(salt: string | undefined): Promise<SqlEngine> {
  const [{ acquireDuckDb }, { openDuckDbEngine }] = await Promise.all([import('../../shared/sampling/duckdbTool'), import('../../shared/sampling/duckdbEngine')]);
  const moduleDir = await acquireDuckDb({
    toolsDirectory: agent.variable('Agent.ToolsDirectory'),
    modulePath: agent.variable('Relevo.DuckDbModulePath'),
    registry: agent.variable('Relevo.NpmRegistry'),
    log: agent.agentLog,
  });
  return openDuckDbEngine({ moduleDir, tempDir: join(agent.tempDirectory(), 'relevo-duckdb'), salt });
}

async function databricksEngine(salt: string | undefined): Promise<SqlEngine> {
  void salt;
  throw new UserError('the databricks engine is not available in this build yet.', { input: 'engine', fix: 'use engine duckdb.' });
}
