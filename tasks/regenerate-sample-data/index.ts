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
    throw new UserError(`the variable ${salt} is not defined.`, {
      input: 'maskingSalt',
      fix: 'define it as a secret variable (pipeline variables, or a variable group), or correct its name.',
    });
  }
  const masks = config.tables.flatMap((t) =>
    Object.entries(t.mask)
      .filter(([, m]) => m.kind === 'hash' || m.kind === 'email' || m.kind === 'phone')
      .map(([c]) => `${t.name}.${c}`),
  );
  if (masks.length && !salt && !dryRun) {
    throw new UserError(
      `${masks.length} column(s) are masked (${masks.slice(0, 3).join(', ')}${masks.length > 3 ? ', …' : ''}), and masks need a salt.`,
      { input: 'maskingSalt', fix: 'set it to a secret variable, e.g. $(SampleMaskingSalt) (a long random value, the same on every run).' },
    );
  }
  if ((config.source.kind === 'files') !== (engineName === 'duckdb')) {
    throw new UserError(
      `the ${engineName} engine reads ${engineName === 'duckdb' ? 'files ({ path, format })' : 'tables ({ catalog, schema })'}, and the configuration's source is ${config.source.kind === 'files' ? 'a folder' : 'a catalog and schema'}.`,
      {
        input: 'engine',
        fix: `use engine ${config.source.kind === 'files' ? 'duckdb' : 'databricks'}, or change source in ${configFile}.`,
      },
    );
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
  const [{ acquireDuckDb }, { openDuckDbEngine }] = await Promise.all([
    import('../../shared/sampling/duckdbTool'),
    import('../../shared/sampling/duckdbEngine'),
  ]);
  const moduleDir = await acquireDuckDb({
    toolsDirectory: agent.variable('Agent.ToolsDirectory'),
    modulePath: agent.variable('Relevo.DuckDbModulePath'),
    registry: agent.variable('Relevo.NpmRegistry'),
    log: agent.agentLog,
  });
  return openDuckDbEngine({ moduleDir, tempDir: join(agent.tempDirectory(), 'relevo-duckdb'), salt, warn: (m) => agent.agentLog.warn(m) });
}

/** The plan's statements on a SQL warehouse, through the Databricks client (loaded only for this engine). */
async function databricksEngine(salt: string | undefined): Promise<SqlEngine> {
  const connection = agent.input('databricksConnection');
  const warehouseId = agent.input('warehouseId');
  if (!connection)
    throw new UserError('the databricks engine needs a Databricks service connection.', {
      input: 'databricksConnection',
      fix: 'pick the connection to the workspace that has the SQL warehouse.',
    });
  if (!warehouseId)
    throw new UserError('the databricks engine needs a SQL warehouse.', {
      input: 'warehouseId',
      fix: 'set it to the warehouse id (SQL Warehouses → Connection details).',
    });
  const endpoint = agent.endpoint(connection);
  if (!endpoint)
    throw new UserError(`the job has no service connection '${connection}'.`, {
      input: 'databricksConnection',
      fix: 'pick an existing connection and authorize the pipeline to use it.',
    });
  const [{ connectDatabricks, databricksAuthFromEndpoint }, { openDatabricksEngine }] = await Promise.all([
    import('../../shared/clients/databricks'),
    import('../../shared/sampling/databricksEngine'),
  ]);
  const { host, auth } = databricksAuthFromEndpoint(endpoint, {
    input: 'databricksConnection',
    oidcRequestUri: agent.variable('System.OidcRequestUri'),
    jobToken: agent.jobToken(),
  });
  const client = connectDatabricks({
    host,
    auth,
    onRetry: (e) => agent.agentLog.info(`Databricks: ${e.method} ${e.path} again in ${e.delayMs} ms (${e.reason}).`),
  });
  const seconds = Number(agent.variable('Relevo.StatementTimeoutSeconds'));
  return openDatabricksEngine({
    client,
    warehouseId,
    salt,
    statementTimeoutMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined,
    warn: (m) => agent.agentLog.warn(m),
  });
}
