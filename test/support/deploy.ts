/**
 * An orchestration release and a stand-in workspace for DeployToDatabricks: components with
 * tags, an orchestration repository that pins them (gitlinks and the lock file UpdateSubmodules
 * writes), checked out as the agent checks out; and the Repos/Jobs contract server holding the
 * components' remotes, a Git folder per component and a job per component, where the previous
 * release left them. Used by the tests, the bench and the demo.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runTask, type RunOptions, type TaskRun } from './agentRunner';
import { startDatabricksServer, type DatabricksServer } from './databricksServer';
import { makeComponent, pinSubmodules, type ComponentRepo } from './orchestration';
import { git, remoteTags, Repo, tempDir } from './repo';

export interface Release {
  base: string;
  components: ComponentRepo[];
  /** The orchestration's bare remote and the agent's checkout of it (detached at the release). */
  bare: string;
  checkout: Repo;
  /** The version each component is released at, and the one before. */
  tag: string;
  previousTag: string;
}

export interface ReleaseOptions {
  names?: string[];
  /** Write the lock file (default true); `disagree`: the lock file names another commit for the first component. */
  lock?: boolean | 'disagree';
  tags?: string[];
}

/** Components with tags v1.0.0 and v1.1.0, an orchestration pinning each at v1.1.0 with its lock file, and the agent's checkout of it. */
export function makeRelease(options: ReleaseOptions = {}): Release {
  const names = options.names ?? ['ingest', 'report', 'history'];
  const tags = options.tags ?? ['v1.0.0', 'v1.1.0'];
  const base = tempDir('relevo-deploy-');
  const components = names.map((n) => makeComponent(base, n, tags));
  const tag = tags[tags.length - 1];
  const source = Repo.init('main', join(base, 'work', 'orchestration'));
  source.write('README.md', '# orchestration\n').commitAll('chore: start');
  const pins = components.map((c) => ({ name: c.name, path: `components/${c.name}`, url: `../${c.name}.git`, commit: c.commits[tag] }));
  pinSubmodules(source, pins, 'chore(components): release');
  if (options.lock !== false) {
    const entries = components.map((c, i) => ({
      name: c.name,
      path: `components/${c.name}`,
      url: c.bare,
      version: tag.slice(1),
      tag,
      commit: i === 0 && options.lock === 'disagree' ? c.commits[tags[0]] : c.commits[tag],
    }));
    source.write(
      'components.lock.json',
      JSON.stringify({ lockfileVersion: 1, generatedBy: 'Relevo UpdateSubmodules', components: entries }, null, 2) + '\n',
    );
    source.git('add', 'components.lock.json');
    source.git('commit', '-q', '-m', 'chore(components): lock');
  }
  source.tag('v2.0.0');
  const bare = join(base, 'orchestration.git');
  mkdirSync(bare, { recursive: true });
  git(bare, 'init', '-q', '--bare', '-b', 'main');
  git(source.dir, 'push', '-q', bare, 'HEAD:refs/heads/main', '--tags');
  const work = join(base, 'checkout');
  execFileSync('git', ['clone', '-q', '--no-checkout', bare, work], { stdio: 'ignore' });
  const checkout = new Repo(work);
  checkout.git('checkout', '-q', '--detach', 'origin/main');
  return { base, components, bare, checkout, tag, previousTag: tags[tags.length - 2] };
}

/** What Databricks could fetch from a bare remote: branch tips and peeled tags. */
export function remoteOf(bare: string): { branches: Record<string, string>; tags: Record<string, string> } {
  const branches: Record<string, string> = {};
  for (const line of git(bare, 'for-each-ref', '--format=%(refname:strip=2) %(objectname)', 'refs/heads').split('\n').filter(Boolean)) {
    const [name, sha] = line.split(' ');
    branches[name] = sha;
  }
  return { branches, tags: remoteTags(bare) };
}

export interface WorkspaceOptions {
  /** Git folders at /Workspace/pro/<name> (default every component), detached at the previous tag or on `branch`. */
  folders?: string[] | false;
  folderAt?: { tag?: string; branch?: string };
  /** A job per component, `<name> nightly`, pinned to the previous tag's commit (default every component). */
  jobs?: string[] | false;
}

/** The stand-in workspace where the previous release left things. */
export async function makeWorkspace(release: Release, options: WorkspaceOptions = {}): Promise<DatabricksServer> {
  const ws = await startDatabricksServer();
  for (const c of release.components) ws.addRemote(c.bare, remoteOf(c.bare));
  ws.addRemote(release.bare, remoteOf(release.bare));
  ws.addDirectory('/Workspace/pro');
  const folders = options.folders === false ? [] : (options.folders ?? release.components.map((c) => c.name));
  for (const name of folders) {
    const c = release.components.find((x) => x.name === name)!;
    ws.addRepo(
      `/Workspace/pro/${name}`,
      c.bare,
      options.folderAt?.branch ? { branch: options.folderAt.branch } : { tag: options.folderAt?.tag ?? release.previousTag },
    );
  }
  const jobs = options.jobs === false ? [] : (options.jobs ?? release.components.map((c) => c.name));
  for (const name of jobs) {
    const c = release.components.find((x) => x.name === name)!;
    ws.addJob(`${name} nightly`, { git_url: c.bare, git_provider: 'azureDevOpsServices', git_commit: c.commits[release.previousTag] });
  }
  return ws;
}

/** Runs the built task against the stand-in workspace with a PAT connection. */
export function deploy(
  release: Release,
  ws: DatabricksServer,
  inputs: RunOptions['inputs'] = {},
  options: Omit<RunOptions, 'inputs'> = {},
): Promise<TaskRun> {
  return runTask('deploy-to-databricks', {
    ...options,
    inputs: { workingDirectory: release.checkout.dir, databricksConnection: 'dbx', gitFolders: '/Workspace/pro/{component}', ...inputs },
    endpoints: { dbx: { url: ws.url, scheme: 'Token', parameters: { apitoken: ws.token } }, ...options.endpoints },
    variables: { 'Build.SourcesDirectory': release.checkout.dir, ...options.variables },
  });
}
