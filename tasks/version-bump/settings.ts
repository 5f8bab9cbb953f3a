/**
 * VersionBump's inputs, read and checked into the options the core takes. The branch may need
 * the repository (a run outside a pipeline builds the branch checked out), so it is resolved
 * by the caller: `settings` takes it as given.
 */
import * as agent from '../../shared/agent';
import { UserError } from '../../shared/errors';
import type { BranchContext } from '../../shared/git/branch';
import type { VersionBumpOptions } from '../../shared/release/versionBump';
import { DEFAULT_BRANCH_CHANNELS, parseBranchChannels } from '../../shared/versioning/channels';
import { parseVersionFileSpecs } from '../../shared/versioning/versionFiles';

export interface VersionBumpSettings {
  dir: string;
  dryRun: boolean;
  updateBuildNumber: boolean;
  options: (branch: BranchContext) => VersionBumpOptions;
}

export function readSettings(): VersionBumpSettings {
  const dir = agent.pathInput('workingDirectory') ?? process.cwd();
  const dryRun = agent.boolInput('dryRun');
  // Every input is read (and a bad one refused) before the repository is touched.
  const options: Omit<VersionBumpOptions, 'branch'> = {
    tagFormat: agent.input('tagFormat') ?? 'v{version}',
    component: agent.input('component') ?? '',
    paths: agent.listInput('paths'),
    bump: agent.choiceInput('bump', ['auto', 'major', 'minor', 'patch', 'none'] as const),
    channels: parseBranchChannels(agent.input('branchChannels') ?? DEFAULT_BRANCH_CHANNELS),
    initialVersion: agent.input('initialVersion') ?? '0.1.0',
    versionFiles: parseVersionFileSpecs(agent.input('versionFiles') ?? '', dir),
    createTag: agent.boolInput('createTag'),
    pushTag: agent.boolInput('pushTag'),
    commitVersionFiles: agent.boolInput('commitVersionFiles'),
    changelogFile: agent.pathInput('changelogFile', dir),
    today: new Date().toISOString().slice(0, 10),
    dryRun,
    buildId: agent.buildId(),
    submodules: agent.boolInput('submodules') ? { tagFormat: agent.input('submoduleTagFormat') ?? 'v{version}' } : undefined,
  };
  return { dir, dryRun, updateBuildNumber: agent.boolInput('updateBuildNumber'), options: (branch) => ({ ...options, branch }) };
}

/** The branch this run builds: Build.SourceBranch, else the branch checked out. */
export async function resolveBranch(currentBranch: () => Promise<string | undefined>): Promise<BranchContext> {
  const built = agent.buildBranch();
  if (built) return built;
  const checkedOut = await currentBranch();
  if (checkedOut) return { branch: checkedOut, ref: `refs/heads/${checkedOut}`, kind: 'branch' };
  throw new UserError('cannot tell which branch this run builds: Build.SourceBranch is not set and HEAD is detached.', {
    fix: 'run the task in a pipeline (the agent sets Build.SourceBranch), or set the variable Build.SourceBranch to refs/heads/<branch>.',
  });
}
