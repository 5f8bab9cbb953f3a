import { strict as assert } from 'node:assert';
import { GitCommandError, GitTimeoutError } from '../../shared/git/exec';
import { explainPushFailure, type PushRefusal } from '../../shared/git/push';
import { explainPushRefusal, PUSH_REFUSALS, type PushContext } from '../../shared/git/pushRefusals';

const ARGS = ['push', '--porcelain', '--atomic', 'origin', 'abc:refs/heads/main'];
const TO = 'To https://dev.azure.com/o/p/_git/app\n';

/** git's output for each kind of refusal, as explainPushFailure reads it. */
const FAILURES: Record<PushRefusal, GitCommandError> = {
  local: new GitCommandError(ARGS, 'error: failed to push some refs to origin\nfatal: refusing ##vso[task.complete result=Succeeded]x\n'),
  race: new GitCommandError(
    ARGS,
    'error: failed to push some refs\n',
    `${TO}!\trefs/heads/main:refs/heads/main\t[rejected] (stale info)\nDone\n`,
  ),
  policy: new GitCommandError(
    ARGS,
    'remote: TF402455: Pushes to this branch are not permitted; you must use a pull request to update this branch.\n',
    `${TO}!\trefs/heads/main:refs/heads/main\t[remote rejected] (TF402455)\n`,
  ),
  auth: new GitCommandError(ARGS, "fatal: Authentication failed for 'https://dev.azure.com/o/p/_git/app/'\n"),
  timeout: new GitTimeoutError(ARGS, '', 60),
  server: new GitCommandError(
    ARGS,
    'remote: tags are protected\n',
    `${TO}!\trefs/tags/v1:refs/tags/v1\t[remote rejected] (hook declined)\n`,
  ),
};

const CONTEXT: PushContext = {
  remote: 'origin',
  repository: "'app'",
  refs: 'the branch or tag',
  branch: 'main',
  permissions: ['Contribute', 'Create tag'],
  rerun: 'it gives the next version',
  withoutDirectPush: "use mode 'pull-request'",
};

describe('push refusals: one table of what each means and its fix', () => {
  it('every refusal explainPushFailure can give has an entry, with a message and a fix', () => {
    for (const [refusal, failure] of Object.entries(FAILURES)) {
      const err = explainPushFailure(failure);
      assert.equal(err.refusal, refusal, `git's output for ${refusal} is read as ${refusal}`);
      const { what, fix } = explainPushRefusal(err, CONTEXT);
      assert.ok(what.length > 20 && !what.endsWith('.'), `${refusal}: ${what}`);
      assert.match(fix, /\.$/, `${refusal}: the fix is a sentence`);
    }
    assert.deepEqual(Object.keys(PUSH_REFUSALS).sort(), Object.keys(FAILURES).sort());
  });

  it("says who refused and why, in git's words, with the task's own fix", () => {
    const say = (refusal: PushRefusal, c: Partial<PushContext> = {}) =>
      explainPushRefusal(explainPushFailure(FAILURES[refusal]), { ...CONTEXT, ...c });
    assert.match(say('local').what, /^git refused the push on the agent, before contacting the remote: fatal: refusing/);
    assert.match(say('local').fix, /repository hooks do not run/);
    assert.match(
      say('race').what,
      /^the branch or tag moved on 'origin' since this run read it \(another run pushed first\): refs\/heads\/main/,
    );
    assert.equal(say('race').fix, 're-run the pipeline: it gives the next version.');
    assert.equal(say('policy').what, "a branch policy on 'main' refused the direct push (TF402455)");
    assert.equal(say('policy', { branch: undefined }).what, 'a branch policy refused the direct push (TF402455)');
    assert.equal(
      say('policy').fix,
      `use mode 'pull-request', or give the build service identity ("<project> Build Service (<organization>)") 'Contribute', 'Create tag' and 'Bypass policies when pushing' on 'app' (Project settings → Repositories → Security).`,
    );
    assert.match(say('auth').what, /^'origin' refused the credentials or a permission: fatal: Authentication failed/);
    assert.match(
      say('auth', { permissions: ['Contribute'] }).fix,
      /identity \("<project> Build Service \(<organization>\)"\) 'Contribute' on 'app'/,
    );
    assert.match(say('timeout').what, /^the push to 'origin' stopped: git push made no progress for 60 s/);
    assert.match(
      say('server').what,
      /^the remote 'origin' rejected the push \(a server hook, rule or permission\): .*hook declined.*tags are protected/,
    );
  });

  it("adds the task's note to that refusal's fix only", () => {
    const notes = { timeout: 'A re-run finds a tag that did land.' };
    const timeout = explainPushRefusal(explainPushFailure(FAILURES.timeout), { ...CONTEXT, notes });
    assert.match(timeout.fix, /then re-run\. A re-run finds a tag that did land\.$/);
    const server = explainPushRefusal(explainPushFailure(FAILURES.server), { ...CONTEXT, notes });
    assert.doesNotMatch(server.fix, /did land/);
  });

  it('foreign text (a remote name, git or the server) cannot issue a logging command or break the line', () => {
    const { what } = explainPushRefusal(explainPushFailure(FAILURES.local), { ...CONTEXT, remote: 'o##[error]x' });
    assert.doesNotMatch(what, /##vso\[|##\[|\n/);
    const race = explainPushRefusal(explainPushFailure(FAILURES.race), { ...CONTEXT, remote: 'o##[error]x\ny' });
    assert.doesNotMatch(race.what, /##\[|\n/);
  });
});
