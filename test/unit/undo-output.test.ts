import { strict as assert } from 'node:assert';
import { neutralise, quoteForeign } from '../../shared/output';
import { describeUnwind, UndoJournal } from '../../shared/undo';

describe('undo journal', () => {
  it('unwinds newest first, each step on its own, once', async () => {
    const journal = new UndoJournal();
    const done: string[] = [];
    journal.register('a', () => done.push('a'));
    journal.register('b', () => {
      throw new Error('refused');
    });
    const forget = journal.register('c', () => done.push('c'));
    journal.register('d', async () => void done.push('d'));
    forget();
    const report = await journal.unwind();
    assert.deepEqual(done, ['d', 'a']);
    assert.deepEqual(report.undone, ['d', 'a']);
    assert.deepEqual(report.left, [{ what: 'b', reason: 'refused' }]);
    assert.equal(await journal.unwind(), report, 'a second unwind gets the first report');
    assert.deepEqual(done, ['d', 'a']);
    assert.throws(() => journal.register('e', () => undefined), /while the run is being undone/);
  });

  it('keeps what landed, and says so', async () => {
    const journal = new UndoJournal();
    let undone = false;
    journal.register('the local tag', () => (undone = true));
    journal.landed('the tag pushed to origin');
    const report = await journal.unwind();
    assert.equal(undone, false);
    assert.deepEqual(describeUnwind(report), ['Landed before the failure, and kept: the tag pushed to origin.']);
  });

  it('stays within its total time: a step still running at the deadline is abandoned, the rest reported as not put back', async () => {
    const journal = new UndoJournal();
    journal.register('slow-first', () => undefined);
    journal.register('hangs', () => new Promise(() => undefined));
    const started = Date.now();
    const report = await journal.unwind(150);
    assert.ok(Date.now() - started < 2000);
    assert.deepEqual(report.undone, []);
    assert.deepEqual(
      report.left.map((l) => l.what),
      ['hangs', 'slow-first'],
    );
  });
});

describe('output: text the task did not write', () => {
  it('neutralises ##vso[ and ##[ in any case, and shows a bare CR', () => {
    assert.equal(neutralise('x ##vso[task.complete result=Failed]y'), 'x ## vso[task.complete result=Failed]y');
    assert.equal(neutralise('##VSO[task.setsecret]a ##[error]b'), '## VSO[task.setsecret]a ## [error]b');
    assert.equal(neutralise('a\rb\r\nc\n'), 'a\\rb\r\nc\n');
    assert.equal(neutralise('plain # text [1]'), 'plain # text [1]');
  });

  it('quotes a one-line value: CR and LF shown as escapes', () => {
    assert.equal(quoteForeign('subject\r\n##vso[task.x]\nbody\r'), 'subject\\r\\n## vso[task.x]\\nbody\\r');
  });
});
