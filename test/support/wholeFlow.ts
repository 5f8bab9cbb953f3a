/**
 * Runs the pipelines of examples/whole-flow/ build by build, as Azure Pipelines would: every
 * stage and step whose condition holds, in order, with the template's parameters and `$(…)`
 * filled in (pipelineTemplate.ts). Relevo steps run through their built bundles; a script that
 * posts a commit status posts it to the Azure DevOps contract server. Used by the whole-flow test
 * and by `npm run demo`. (The agent's differences: Debian's Python without build isolation,
 * since there is no package index here, and paths the agent would root.)
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runTask, type RunOptions, type TaskRun } from './agentRunner';
import { startAzureDevOpsServer, type AzureDevOpsServer } from './azureDevOpsServer';
import { startDatabricksServer, type DatabricksServer } from './databricksServer';
import { evaluate, inputsOf, templateSteps, type TemplateStep } from './pipelineTemplate';
import { checkout, promote, type EnvRepo } from './promotion';
import { startPypiServer, type PypiServer } from './pypiServer';
import { tempDir } from './repo';
import { bump } from './versionBump';

export const PYTHON = '/usr/bin/python3';

export function canBuildWheels(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import build, setuptools, wheel'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The services a team's pipelines talk to, as contract servers: Azure DevOps, its feed, a Databricks workspace (pre and pro volumes and clusters). */
export interface FlowServices {
  ado: AzureDevOpsServer;
  feed: PypiServer;
  db: DatabricksServer;
  /** The job token: Azure DevOps and the organization's feed take it. */
  jobToken: string;
  /** The variables of the `relevo-libraries` variable group. */
  variableGroup: Record<string, string>;
  stop(): Promise<void>;
}

export async function startFlowServices(): Promise<FlowServices> {
  const [ado, feed, db] = await Promise.all([startAzureDevOpsServer(), startPypiServer(), startDatabricksServer()]);
  feed.acceptToken(ado.token);
  for (const v of ['/Volumes/main/libs/pre', '/Volumes/main/libs/pro']) db.addVolume(v);
  db.addCluster('pre-1', { name: 'pre' });
  db.addCluster('pro-1', { name: 'pro' });
  return {
    ado,
    feed,
    db,
    jobToken: ado.token,
    variableGroup: {
      volumePathPre: '/Volumes/main/libs/pre',
      volumePathPro: '/Volumes/main/libs/pro',
      clusterIdsPre: 'pre-1',
      clusterIdsPro: 'pro-1',
    },
    stop: async () => {
      await Promise.all([ado.stop(), feed.stop(), db.stop()]);
    },
  };
}

/** What one build ran: each step as `stage: task (name)`, and the variables it ended with (outputs as `name.output`). */
export interface FlowBuild {
  ran: string[];
  variables: Record<string, string>;
}

export interface FlowBuildOptions {
  /** The template's parameters. */
  parameters: Record<string, string>;
  /** The repository's id on the Azure DevOps contract server. */
  repositoryId: string;
  /** Called after each Relevo step (the demo prints it); a status post has no run. */
  onStep?: (step: TemplateStep, inputs: Record<string, string>, run?: TaskRun) => void;
  /** Whether a Relevo step that fails stops the build (default: it throws). */
  check?: (run: TaskRun) => TaskRun;
}

/** One CI build of `branch` of `r` through the template `file` (relative to examples/whole-flow/). */
export async function runFlowBuild(file: string, r: EnvRepo, branch: string, s: FlowServices, o: FlowBuildOptions): Promise<FlowBuild> {
  const agent = checkout(r, branch);
  const variables: Record<string, string> = { 'Build.SourceBranch': `refs/heads/${branch}`, ...s.variableGroup };
  const agentVariables = {
    'Build.SourceBranch': `refs/heads/${branch}`,
    'Build.SourceVersion': agent.head(),
    'Build.SourcesDirectory': agent.dir,
    'Build.Repository.ID': o.repositoryId,
    'System.TeamProject': s.ado.project.name,
  };
  const rest: Omit<RunOptions, 'inputs'> = {
    accessToken: s.jobToken,
    variables: { ...agentVariables, 'System.TeamFoundationCollectionUri': s.ado.url },
  };
  const check =
    o.check ??
    ((run: TaskRun) => {
      if (run.result !== 'Succeeded') throw new Error(`${file}, ${branch}: a step ended ${run.result}: ${run.resultMessage}`);
      return run;
    });
  const ran: string[] = [];
  for (const step of templateSteps(file, o.parameters)) {
    if (!evaluate(step.stageCondition, variables) || !evaluate(step.condition, variables)) continue;
    ran.push(`${step.stage}: ${step.task}${step.name ? ` (${step.name})` : ''}`);
    const inputs = inputsOf(step, variables);
    let run: TaskRun | undefined;
    if (step.task === 'PostStatus') {
      s.ado.addStatus(o.repositoryId, agent.head(), { state: 'succeeded', context: { genre: inputs.genre, name: inputs.name } });
    } else if (step.task === 'VersionBump@1') {
      run = check(await bump(agent, inputs, rest));
    } else if (step.task === 'PromoteBranch@1') {
      run = check(await promote(agent, branch, inputs, rest));
    } else if (step.task === 'BuildWheel@1') {
      run = check(
        await runTask('build-wheel', {
          inputs: {
            ...inputs,
            projectDirectory: join(agent.dir, inputs.projectDirectory),
            pythonInterpreter: PYTHON,
            isolation: false,
            outputDirectory: join(tempDir('relevo-flow-wheels-'), 'wheels'),
          },
          accessToken: s.jobToken,
          endpoints: Object.fromEntries(
            [o.parameters.databricksPre, o.parameters.databricksPro].map((id) => [
              id,
              { url: s.db.url, scheme: 'Token', parameters: { apitoken: s.db.token } },
            ]),
          ),
          // The feed is this organization's: the job token may go there.
          variables: {
            ...agentVariables,
            'System.TeamFoundationCollectionUri': new URL('/org/', s.feed.url).href,
            'Relevo.DatabricksPollMs': '5',
          },
        }),
      );
    } else {
      throw new Error(`${file}: the runner cannot run ${step.task}`);
    }
    for (const [k, v] of Object.entries(run?.outputs ?? {})) variables[`${step.name}.${k}`] = v;
    o.onStep?.(step, inputs, run);
  }
  return { ran, variables };
}
