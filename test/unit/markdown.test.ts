import { strict as assert } from 'node:assert';
import { markdownCode, markdownLink, markdownText } from '../../shared/markdown';

/**
 * A table row's cells as GFM reads them (cmark-gfm and markdown-it alike): split at every `|`
 * that no backslash precedes, before any inline parsing (so also inside code spans).
 */
function cells(row: string): string[] {
  return row
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** What CommonMark shows for text outside code: a backslash before ASCII punctuation is the character itself. */
function shown(markdown: string): string {
  return markdown.replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

/** Markdown syntax characters that no backslash escapes. */
function unescapedSyntax(markdown: string): string[] {
  return [...markdown.matchAll(/(?<!\\)(?:\\\\)*([`*~<>&[\]|])/g)].map((m) => m[1]);
}

const FOREIGN = [
  'a | b',
  'fix: *bold* _em_ __strong__ ~~gone~~ `code` <b>html</b> &amp; [link](http://x) ![img](y)',
  '##vso[task.complete result=Succeeded]x',
  '##[error]boom',
  'line one\nline two\r\nline three\rfour',
  'back\\slash \\| and a trailing \\',
  '# heading',
  '- list',
  '1. ordered',
  '> quote',
  '<script>alert(1)</script>',
  '| whole row | injected |',
];

describe('markdown: foreign text in Summary tabs and pull request descriptions', () => {
  it('text in a table cell stays in its cell, on one line, and shows exactly as it was', () => {
    for (const text of FOREIGN) {
      const md = markdownText(text);
      const row = `| first | ${md} | last |`;
      assert.deepEqual(cells(row), ['first', md, 'last'], `${JSON.stringify(text)} broke the row: ${row}`);
      assert.doesNotMatch(md, /[\r\n]/);
      assert.equal(shown(md), text.replace(/\r\n|\r|\n/g, ' '), `${JSON.stringify(text)} is shown as written`);
      assert.deepEqual(unescapedSyntax(md), [], `${JSON.stringify(text)} keeps Markdown syntax: ${md}`);
    }
  });

  it('keeps ordinary text readable: no escapes where Markdown would read none', () => {
    assert.equal(markdownText('feat: ingest v1.2.0'), 'feat: ingest v1.2.0');
    assert.equal(markdownText('email, full_name, phone'), 'email, full_name, phone');
    assert.equal(markdownText('1.2.0'), '1.2.0');
    assert.equal(markdownText('_private'), '\\_private');
    assert.equal(markdownText('1. first'), '1\\. first');
    assert.equal(markdownText('## title'), '\\## title');
    assert.equal(markdownText('##vso[x]'), '\\##vso\\[x\\]');
  });

  it('a code span holds any text, backticks too, and stays in its table cell', () => {
    assert.equal(markdownCode('components/ingest'), '`components/ingest`');
    assert.equal(markdownCode('a`b'), '``a`b``');
    assert.equal(markdownCode('`x`'), '`` `x` ``');
    assert.equal(markdownCode('a | b'), '`a \\| b`');
    assert.equal(markdownCode('a | b', false), '`a | b`', 'outside a table a pipe needs nothing');
    assert.equal(markdownCode(''), '');
    for (const text of FOREIGN) {
      const code = markdownCode(text);
      assert.deepEqual(cells(`| ${code} | last |`), [code, 'last'], `${JSON.stringify(text)} broke the row`);
      assert.doesNotMatch(code, /[\r\n]/);
      // The span ends where it should: its fence is longer than any run of backticks inside.
      const fence = /^`+/.exec(code)![0];
      assert.ok(!code.slice(fence.length, -fence.length).includes(fence), `${JSON.stringify(text)}: the fence closes early`);
    }
  });

  it('links only to http(s), with the destination unable to end early or split a cell', () => {
    assert.equal(
      markdownLink('pull request 7', 'https://dev.azure.com/o/p/_git/r/pullrequest/7'),
      '[pull request 7](https://dev.azure.com/o/p/_git/r/pullrequest/7)',
    );
    assert.equal(markdownLink('x', 'javascript:alert(1)'), 'x');
    assert.equal(markdownLink('x', undefined), 'x');
    const link = markdownLink('folder', 'https://h/#folder/a b)(c|d\ne');
    assert.equal(link, '[folder](https://h/#folder/a%20b%29%28c%7Cd%20e)');
    assert.deepEqual(cells(`| ${link} | last |`), [link, 'last']);
  });
});
