/**
 * The only door to the Azure Pipelines agent: typed, validated inputs (./inputs), connections
 * and tokens (./connections), output variables, secrets, the Summary tab, the build number, the
 * task result, and the run itself (`runTask`: failures and cancellations unwind the undo
 * journal). Everything else in shared/ is plain functions on plain data.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeFailure, isUserError } from '../errors';
import type { Log } from '../log';
import { allowUndoWork, cancelRun, CancelledError } from '../processes';
import { describeUnwind, journal } from '../undo';
import { host } from './host';
import { variable } from './inputs';

export {
  boolInput,
  buildBranch,
  buildId,
  choiceInput,
  input,
  intInput,
  listInput,
  pathInput,
  positiveNumberVariable,
  secretInput,
  variable,
} from './inputs';
export { endpoint, endpointCredentials, gitOptions, jobToken, pullRequestInputs, restConnection } from './connections';
export { setSecret } from './secrets';

export function setOutput(name: string, value: string | number | boolean): void {
  host.setVariable(name, String(value), false, true);
}

export function updateBuildNumber(value: string): void {
  host.writer.updateBuildNumber(value);
}

/** The agent's temp folder (cleaned after every job), or the system's outside an agent. */
export function tempDirectory(): string {
  return variable('Agent.TempDirectory') ?? tmpdir();
}

/** Shows Markdown on the run's Summary tab. */
export function uploadSummary(taskName: string, markdown: string): void {
  const dir = join(tempDirectory(), 'relevo');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${taskName}-${process.pid}-${Date.now()}.md`);
  writeFileSync(file, markdown);
  host.writer.uploadSummary(file);
}

/** Uploads a file or folder as an artifact of the run (`##vso[artifact.upload]`; a container artifact). */
export function uploadArtifact(name: string, path: string): void {
  host.writer.uploadArtifact(name, name, path);
}

export const agentLog: Log = {
  info: (message) => console.log(message),
  warn: (message) => host.writer.issue('warning', message),
  group: (title) => host.writer.group(title),
  endGroup: () => host.writer.endGroup(),
};

/** How long after SIGINT the agent sends SIGTERM; the undo must be done by then. */
const AGENT_GRACE_MS = 7500;

/**
 * Runs a task body and turns its outcome into the task result the agent reads. A failure
 * unwinds the run's undo journal (shared/undo.ts) and says what was put back. A cancellation
 * (SIGINT, then SIGTERM from the agent) stops every process the run started, lets the body
 * settle, unwinds the same journal within the agent's grace period and fails the step; a
 * second signal does not interrupt it.
 */
export async function runTask(body: () => Promise<void>): Promise<void> {
  let cancelling: Promise<void> | undefined;
  const work = body();
  const settled = work.then(
    () => undefined,
    () => undefined,
  );
  const cancel = async (signal: NodeJS.Signals) => {
    const started = Date.now();
    console.log(`Cancel requested (${signal}): stopping what runs and putting back what this run changed.`);
    await cancelRun(1000);
    await Promise.race([settled, new Promise((r) => setTimeout(r, 1500))]);
    allowUndoWork();
    const report = await journal.unwind(AGENT_GRACE_MS - 700 - (Date.now() - started));
    // An undo step abandoned at the deadline may have left a process running: it stops too.
    await cancelRun(200);
    const lines = describeUnwind(report);
    for (const line of lines) console.log(line);
    if (!lines.length) console.log('Nothing had been changed yet.');
    host.writer.complete('Failed', `Cancelled (${signal}). ${lines.join(' ') || 'Nothing had been changed yet.'}`);
    process.exit(1);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    cancelling ??= cancel(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await work;
    if (cancelling) return await cancelling;
    host.writer.complete('Succeeded', 'Done.');
  } catch (err) {
    if (cancelling) return await cancelling;
    if (!isUserError(err) && !(err instanceof CancelledError)) console.error(err);
    const lines = describeUnwind(await journal.unwind());
    for (const line of lines) console.log(line);
    host.writer.complete('Failed', [describeFailure(err), ...lines].join(' '));
  }
  // The result ends the step: nothing the run abandoned (a request cut on a stall whose body is
  // still blocked in its socket, a timer) may keep the agent waiting for the process.
  process.exit();
}
