/**
 * What each push refusal (shared/git/push.ts) means for the user and how to fix it: one table
 * for every task that pushes. A task passes in only what is its own (its repository, the
 * permissions its push needs, what a re-run does, its way round a branch policy); the words
 * stay the same across tasks.
 */
import { quoteForeign } from '../output';
import type { PushError, PushRefusal } from './push';

/** What a task adds to the table's words. */
export interface PushContext {
  /** The remote pushed to, e.g. `origin`. */
  remote: string;
  /** The repository as users find it in Project settings, e.g. `the repository` or `'app'`. */
  repository: string;
  /** What the push moves, as the subject of a sentence: `the branch or tag`. */
  refs: string;
  /** The branch a branch policy is on, when the task knows it. */
  branch?: string;
  /** The permissions the push needs besides bypassing policies, e.g. `['Contribute', 'Create tag']`. */
  permissions: readonly string[];
  /** What a re-run does once another run pushed first: `it starts from the new commit and gives the next version`. */
  rerun: string;
  /** The task's way to move the branch without a direct push, e.g. `use 'strategy: pull-request'`. */
  withoutDirectPush: string;
  /** A sentence added to one refusal's fix: what this task's re-run or undo does there. */
  notes?: Partial<Record<PushRefusal, string>>;
}

interface Refusal {
  /** What happened, without a final full stop; `reason` is git's or the server's words, quoted. */
  what(reason: string, c: PushContext): string;
  fix(c: PushContext): string;
}

const IDENTITY = 'the build service identity ("<project> Build Service (<organization>)")';
const SECURITY = '(Project settings → Repositories → Security)';

/** `'a'`, `'a' and 'b'`, `'a', 'b' and 'c'`. */
function permissionList(names: readonly string[]): string {
  const quoted = names.map((n) => `'${n}'`);
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}` : (quoted[0] ?? '');
}

/** Every refusal has its entry (the type says so), so a new kind of refusal cannot go unexplained. */
export const PUSH_REFUSALS: { readonly [R in PushRefusal]: Refusal } = {
  local: {
    what: (reason) => `git refused the push on the agent, before contacting the remote: ${reason}`,
    fix: () =>
      "git's own checks on the agent said no (repository hooks do not run for Relevo's pushes): see its message above, and check the remote's URL and the agent's git configuration.",
  },
  race: {
    what: (reason, c) => `${c.refs} moved on '${quoteForeign(c.remote)}' since this run read it (another run pushed first): ${reason}`,
    fix: (c) => `re-run the pipeline: ${c.rerun}.`,
  },
  policy: {
    what: (_reason, c) => `a branch policy${c.branch ? ` on '${quoteForeign(c.branch)}'` : ''} refused the direct push (TF402455)`,
    fix: (c) =>
      `${c.withoutDirectPush}, or give ${IDENTITY} ${permissionList([...c.permissions, 'Bypass policies when pushing'])} on ${c.repository} ${SECURITY}.`,
  },
  auth: {
    what: (reason, c) => `'${quoteForeign(c.remote)}' refused the credentials or a permission: ${reason}`,
    fix: (c) => `give ${IDENTITY} ${permissionList(c.permissions)} on ${c.repository} ${SECURITY}.`,
  },
  timeout: {
    what: (reason, c) => `the push to '${quoteForeign(c.remote)}' stopped: ${reason}`,
    fix: (c) => `check that the agent can reach '${quoteForeign(c.remote)}', then re-run.`,
  },
  server: {
    what: (reason, c) => `the remote '${quoteForeign(c.remote)}' rejected the push (a server hook, rule or permission): ${reason}`,
    fix: () => "see the server's message above (a hook, a rule or a branch or tag permission); fix that, then re-run.",
  },
};

/** The message (without a final full stop) and fix for a refused push, in the table's words plus the task's. */
export function explainPushRefusal(err: PushError, c: PushContext): { what: string; fix: string } {
  const entry = PUSH_REFUSALS[err.refusal];
  const note = c.notes?.[err.refusal];
  return { what: entry.what(quoteForeign(err.reason), c), fix: note ? `${entry.fix(c)} ${note}` : entry.fix(c) };
}
