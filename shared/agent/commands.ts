/**
 * The agent's logging commands, formatted by azure-pipelines-task-lib's own `TaskCommand` (the
 * same escaping of properties and data), written to one `write` function: the agent adapter
 * passes the raw stdout writer (shared/output.ts guards everything else). Messages of issues
 * and of the result, and group titles, may hold text the task did not write: they are
 * neutralised. The only module in shared/ that imports azure-pipelines-task-lib.
 */
import { EOL } from 'node:os';
import { TaskCommand } from 'azure-pipelines-task-lib/taskcommand';
import { neutralise } from '../output';

export type TaskResultName = 'Succeeded' | 'Failed';

export class CommandWriter {
  constructor(
    private readonly write: (line: string) => void,
    private readonly options: { correlationId?: string; debug?: boolean } = {},
  ) {}

  command(name: string, properties: Record<string, string> | null, message: string): void {
    this.write(new TaskCommand(name, properties as Record<string, string>, message).toString() + EOL);
  }

  debug(message: string): void {
    // Debug lines echo inputs and variables (a branch name): data, neutralised like any other.
    if (this.options.debug) this.command('task.debug', null, neutralise(message));
  }

  /** An error or warning, with `source=TaskInternal` and the agent's correlation id, as task-lib writes it. */
  issue(type: 'warning' | 'error', message: string): void {
    this.command('task.issue', { type, source: 'TaskInternal', correlationId: this.options.correlationId ?? '' }, neutralise(message));
  }

  /** The result the agent reads; a failure's message is also an error issue. */
  complete(result: TaskResultName, message: string): void {
    this.debug(`task result: ${result}`);
    if (result === 'Failed' && message) this.issue('error', message);
    this.command('task.complete', { result }, neutralise(message));
  }

  setVariable(name: string, value: string, options: { secret: boolean; isOutput: boolean }): void {
    this.command('task.setvariable', { variable: name || '', isOutput: String(options.isOutput), issecret: String(options.secret) }, value);
  }

  setSecret(value: string): void {
    this.command('task.setsecret', {}, value);
  }

  updateBuildNumber(value: string): void {
    this.command('build.updatebuildnumber', null, value);
  }

  uploadSummary(path: string): void {
    this.command('task.uploadsummary', null, path);
  }

  uploadArtifact(containerFolder: string, name: string, path: string): void {
    this.command('artifact.upload', { containerfolder: containerFolder, artifactname: name }, path);
  }

  /** The agent's log folding (not a ##vso command: a line of its own). */
  group(title: string): void {
    this.write(`##[group]${neutralise(title).replace(/\n/g, ' ')}${EOL}`);
  }

  endGroup(): void {
    this.write(`##[endgroup]${EOL}`);
  }
}
