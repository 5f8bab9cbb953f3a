/**
 * RegenerateSampleData's inputs, read and checked into what the regeneration takes: the
 * configuration, the salt (registered as a secret as it is read), the engine and its
 * connection. Every input is refused here, naming it, before any engine is opened.
 */
import * as agent from '../../shared/agent';
import { databricksConnection, type DatabricksConnection } from '../../shared/agent/databricks';
import { UserError } from '../../shared/errors';
import { loadConfig, type SampleConfig } from '../../shared/sampling/config';

export type EngineSettings =
  | { kind: 'duckdb'; toolsDirectory?: string; modulePath?: string; registry?: string }
  | { kind: 'databricks'; databricks: DatabricksConnection; warehouseId: string; statementTimeoutMs?: number };

export interface RegenerateSettings {
  configFile: string;
  config: SampleConfig;
  dryRun: boolean;
  salt?: string;
  environments: string[];
  /** Where the JSON report goes; undefined: the agent's temp folder. */
  reportFile?: string;
  engine: EngineSettings;
}

export function readSettings(): RegenerateSettings {
  const configFile = agent.pathInput('configFile');
  if (!configFile)
    throw new UserError('there is no configuration file.', {
      input: 'configFile',
      fix: 'set it to the sampling configuration, e.g. sampling.yml.',
    });
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
  return {
    configFile,
    config,
    dryRun,
    salt,
    environments: agent.listInput('environments'),
    reportFile: agent.pathInput('reportFile'),
    engine: engineName === 'duckdb' ? duckDbSettings() : databricksSettings(),
  };
}

/** DuckDB comes from the tool cache (downloaded there once per agent), or from a module folder the pipeline names. */
function duckDbSettings(): EngineSettings {
  return {
    kind: 'duckdb',
    toolsDirectory: agent.variable('Agent.ToolsDirectory'),
    modulePath: agent.variable('Relevo.DuckDbModulePath'),
    registry: agent.variable('Relevo.NpmRegistry'),
  };
}

/** A SQL warehouse through a Databricks service connection; `Relevo.StatementTimeoutSeconds` bounds each statement. */
function databricksSettings(): EngineSettings {
  const databricks = databricksConnection({ connection: 'databricksConnection', neededBy: 'the databricks engine' });
  const warehouseId = agent.input('warehouseId');
  if (!warehouseId)
    throw new UserError('the databricks engine needs a SQL warehouse.', {
      input: 'warehouseId',
      fix: 'set it to the warehouse id (SQL Warehouses → Connection details).',
    });
  const seconds = agent.positiveNumberVariable('Relevo.StatementTimeoutSeconds');
  return { kind: 'databricks', databricks, warehouseId, statementTimeoutMs: seconds === undefined ? undefined : seconds * 1000 };
}
