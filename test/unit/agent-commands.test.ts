import { strict as assert } from 'node:assert';
import { commandFromString } from 'azure-pipelines-task-lib/taskcommand';
import { CommandWriter } from '../../shared/agent/commands';

function writer(options: { correlationId?: string; debug?: boolean } = {}): { w: CommandWriter; lines: string[] } {
  const lines: string[] = [];
  return { w: new CommandWriter((line) => lines.push(line), options), lines };
}

describe('agent command writer', () => {
  it('formats an output variable as task-lib does, and the agent reads it back whole', () => {
    const { w, lines } = writer();
    w.setVariable('version', '1.3.0;x]%\r\ny', { secret: false, isOutput: true });
    assert.equal(lines[0], '##vso[task.setvariable variable=version;isOutput=true;issecret=false;]1.3.0;x]%AZP25%0D%0Ay\n');
    const back = commandFromString(lines[0].trimEnd()) as unknown as {
      command: string;
      properties: Record<string, string>;
      message: string;
    };
    assert.equal(back.command, 'task.setvariable');
    assert.equal(back.message, '1.3.0;x]%\r\ny');
  });

  it('neutralises foreign commands in issue and result messages, keeps them one line', () => {
    const { w, lines } = writer({ correlationId: 'c-1' });
    w.complete('Failed', 'subject ##vso[task.setvariable variable=a]b\nnext ##[error]x');
    assert.deepEqual(lines, [
      '##vso[task.issue type=error;source=TaskInternal;correlationId=c-1;]subject ## vso[task.setvariable variable=a]b%0Anext ## [error]x\n',
      '##vso[task.complete result=Failed;]subject ## vso[task.setvariable variable=a]b%0Anext ## [error]x\n',
    ]);
    for (const line of lines) assert.equal(line.slice(1).indexOf('##vso['), -1);
  });

  it('writes debug lines only in debug mode; a success has no error issue', () => {
    const quiet = writer();
    quiet.w.debug('x');
    quiet.w.complete('Succeeded', 'Done.');
    assert.deepEqual(quiet.lines, ['##vso[task.complete result=Succeeded;]Done.\n']);
    const loud = writer({ debug: true });
    loud.w.debug('y ##vso[task.complete result=Failed]');
    assert.deepEqual(loud.lines, ['##vso[task.debug]y ## vso[task.complete result=Failed]\n']);
  });

  it('folds with group lines whose title cannot carry a command or a second line', () => {
    const { w, lines } = writer();
    w.group('Build ##vso[task.complete result=Failed]\nx');
    w.endGroup();
    assert.deepEqual(lines, ['##[group]Build ## vso[task.complete result=Failed] x\n', '##[endgroup]\n']);
  });

  it('secrets, summary, build number and artifacts in their commands', () => {
    const { w, lines } = writer();
    w.setSecret('s3cr3t');
    w.uploadSummary('/tmp/s.md');
    w.updateBuildNumber('1.2.3');
    w.uploadArtifact('wheels', 'wheels', '/out');
    assert.deepEqual(lines, [
      '##vso[task.setsecret]s3cr3t\n',
      '##vso[task.uploadsummary]/tmp/s.md\n',
      '##vso[build.updatebuildnumber]1.2.3\n',
      '##vso[artifact.upload containerfolder=wheels;artifactname=wheels;]/out\n',
    ]);
  });
});
