/**
 * The docs and the examples, against the tasks they describe:
 * (a) every examples/*.yml and every ```yaml block of README.md, overview.md and docs/*.md parses
 *     (Azure Pipelines refuses what the `yaml` package refuses, e.g. a plain scalar holding ': ');
 * (b) every step `- task: <Relevo task>@<major>` in them names the task's current major and only
 *     inputs its task.json has (keys that are template expressions, `${{ if … }}:`, are looked
 *     through: the inputs under them are checked too);
 * (c) every input of every tasks/<folder>/task.json is documented in docs/<folder>.md, as
 *     `inputName` in the first column of a table; and every name in the first column of an inputs
 *     table (a table whose first header is `input`) is an input of that task.json;
 * (d) relative links in those Markdown files lead to files that exist, and `#anchors` to headings.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from 'yaml';

const ROOT = resolve(__dirname, '..');

interface TaskInfo {
  folder: string;
  name: string;
  major: number;
  inputs: Set<string>;
}

const tasks: TaskInfo[] = readdirSync(join(ROOT, 'tasks'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(ROOT, 'tasks', d.name, 'task.json')))
  .map((d) => {
    const json = JSON.parse(readFileSync(join(ROOT, 'tasks', d.name, 'task.json'), 'utf8')) as {
      name: string;
      version: { Major: number };
      inputs?: { name: string }[];
    };
    return { folder: d.name, name: json.name, major: json.version.Major, inputs: new Set((json.inputs ?? []).map((i) => i.name)) };
  });
const taskByName = new Map(tasks.map((t) => [t.name.toLowerCase(), t]));

/** Markdown files whose YAML blocks and links are checked, relative to the root. */
function markdownFiles(): string[] {
  const exampleDocs = (readdirSync(join(ROOT, 'examples'), { recursive: true }) as string[])
    .filter((f) => f.endsWith('.md'))
    .map((f) => `examples/${f}`);
  const docs = existsSync(join(ROOT, 'docs'))
    ? readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', 'overview.md', ...docs, ...exampleDocs];
}

/** Every YAML file under examples/, templates in subfolders (examples/whole-flow/) included. */
function exampleFiles(): string[] {
  return (readdirSync(join(ROOT, 'examples'), { recursive: true }) as string[])
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => `examples/${f}`);
}

interface YamlSource {
  /** What a failure names: `examples/x.yml`, or `README.md, the yaml block at line 12`. */
  where: string;
  text: string;
  /** The line of the source's first line in its file, less one (0 for a whole file). */
  lineOffset: number;
  file: string;
}

interface Fence {
  lang: string;
  /** 1-based line of the opening fence. */
  line: number;
  body: string;
}

/** The fenced code blocks of a Markdown text (``` or ~~~, three or more). */
function fences(markdown: string): Fence[] {
  const lines = markdown.split(/\r?\n/);
  const out: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(lines[i]);
    if (!open) continue;
    const [, marker, lang] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`).test(lines[j]))
      body.push(lines[j++]);
    out.push({ lang: lang.toLowerCase(), line: i + 1, body: body.join('\n') });
    i = j;
  }
  return out;
}

/** The Markdown text with fenced blocks blanked (their lines kept, so line numbers hold). */
function withoutFences(markdown: string): string[] {
  const lines = markdown.split(/\r?\n/);
  const blank = new Set<number>();
  for (const f of fences(markdown)) {
    const count = f.body === '' ? 0 : f.body.split('\n').length;
    for (let l = f.line - 1; l <= f.line + count; l++) blank.add(l);
  }
  return lines.map((l, i) => (blank.has(i) ? '' : l));
}

function yamlSources(): YamlSource[] {
  const sources: YamlSource[] = exampleFiles().map((file) => ({
    where: file,
    text: readFileSync(join(ROOT, file), 'utf8'),
    lineOffset: 0,
    file,
  }));
  for (const file of markdownFiles()) {
    for (const f of fences(readFileSync(join(ROOT, file), 'utf8'))) {
      if (f.lang === 'yaml' || f.lang === 'yml')
        sources.push({ where: `${file}, the yaml block at line ${f.line}`, text: f.body, lineOffset: f.line, file });
    }
  }
  return sources;
}

function parse(source: YamlSource) {
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(source.text, { lineCounter, prettyErrors: true });
  const docs = Array.isArray(parsed) ? parsed : [];
  const line = (offset: number | undefined) => (offset === undefined ? '?' : lineCounter.linePos(offset).line + source.lineOffset);
  return { docs, line };
}

const scalarText = (node: unknown): string | undefined =>
  isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number' || typeof node.value === 'boolean')
    ? String(node.value)
    : undefined;
const isTemplateExpression = (key: string) => /^\$\{\{.*\}\}$/s.test(key.trim());

/** Each problem with a Relevo task step found anywhere in the document (steps under jobs, stages, templates). */
function stepProblems(root: YamlNode | null | undefined, where: string, line: (offset: number | undefined) => number | string): string[] {
  const problems: string[] = [];
  const visit = (node: unknown) => {
    if (isSeq(node)) {
      for (const item of node.items) visit(item);
      return;
    }
    if (!isMap(node)) return;
    const taskPair = node.items.find((p) => isPair(p) && scalarText(p.key) === 'task');
    const reference = taskPair ? scalarText(taskPair.value) : undefined;
    const m = reference ? /^([A-Za-z0-9-]+)@(\d+)$/.exec(reference.trim()) : null;
    const task = m ? taskByName.get(m[1].toLowerCase()) : undefined;
    if (task && m) {
      const nameNode = node.items.find((p) => isPair(p) && scalarText(p.key) === 'name');
      const stepLine = line((taskPair!.key as YamlNode).range?.[0]);
      const step = `step '${reference}'${nameNode ? ` (name: ${scalarText(nameNode.value)})` : ''} at line ${stepLine}`;
      if (m[1] !== task.name) problems.push(`${where}: ${step} spells the task '${m[1]}'; its name is '${task.name}'.`);
      if (Number(m[2]) !== task.major)
        problems.push(`${where}: ${step} asks for major ${m[2]}; tasks/${task.folder}/task.json is major ${task.major}.`);
      const inputsPair = node.items.find((p) => isPair(p) && scalarText(p.key) === 'inputs');
      const checkInputs = (inputs: unknown) => {
        if (!isMap(inputs)) return;
        for (const pair of inputs.items) {
          const key = scalarText(pair.key);
          if (key === undefined) continue;
          if (isTemplateExpression(key)) {
            checkInputs(pair.value); // ${{ if … }}: the inputs it inserts are inputs too
            continue;
          }
          if (task.inputs.has(key)) continue;
          const near = [...task.inputs].find((i) => i.toLowerCase() === key.toLowerCase());
          problems.push(
            `${where}: ${step} has input '${key}' (line ${line((pair.key as YamlNode).range?.[0])}), which tasks/${task.folder}/task.json does not have${near ? ` (did you mean '${near}'?)` : ''}.`,
          );
        }
      };
      if (inputsPair) checkInputs(inputsPair.value);
    }
    for (const pair of node.items) visit(pair.value);
  };
  visit(root);
  return problems;
}

/**
 * The `names` in the first cell of the page's table rows: in every table, and in the inputs
 * tables only (those whose header's first cell is `input`), with the line of each.
 */
function tableFirstColumnNames(markdown: string): { all: Set<string>; inputRows: { name: string; line: number }[] } {
  const all = new Set<string>();
  const inputRows: { name: string; line: number }[] = [];
  let header: string | undefined;
  withoutFences(markdown).forEach((row, i) => {
    if (!row.trimStart().startsWith('|')) {
      header = undefined;
      return;
    }
    const first = row
      .trimStart()
      .slice(1)
      .split(/(?<!\\)\|/)[0]
      .trim();
    if (header === undefined) {
      header = first.toLowerCase();
      return;
    }
    if (/^:?-+:?$/.test(first)) return;
    for (const m of first.matchAll(/`([^`]+)`/g)) {
      all.add(m[1].trim());
      if (header === 'input') inputRows.push({ name: m[1].trim(), line: i + 1 });
    }
  });
  return { all, inputRows };
}

/** GitHub's heading anchors: lower-cased, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of withoutFences(markdown)) {
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const text = h[1].replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

describe('docs and examples', () => {
  it('finds the task pages, the examples and the YAML blocks it checks', () => {
    assert.ok(tasks.length >= 5, `tasks/*/task.json: found ${tasks.length}`);
    assert.ok(exampleFiles().length > 0, 'examples/*.yml');
    assert.ok(yamlSources().length > exampleFiles().length, 'README.md, overview.md and docs/*.md have yaml blocks');
    const missing = tasks.filter((t) => !existsSync(join(ROOT, 'docs', `${t.folder}.md`))).map((t) => `docs/${t.folder}.md`);
    assert.deepEqual(missing, [], `every task has its page: missing ${missing.join(', ')}`);
  });

  it('(a) every example and every yaml block of README.md, overview.md and docs/ parses', () => {
    const problems: string[] = [];
    for (const source of yamlSources()) {
      const { docs } = parse(source);
      for (const doc of docs) {
        for (const e of doc.errors) {
          const first = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
          const pos = e.linePos?.[0];
          problems.push(`${source.where}${pos ? `, line ${pos.line + source.lineOffset} column ${pos.col}` : ''}: ${e.code}: ${first}`);
        }
      }
    }
    assert.deepEqual(problems, [], `YAML that does not parse (Azure Pipelines would refuse it):\n  ${problems.join('\n  ')}`);
  });

  it('(b) every step of a Relevo task names its major and only inputs its task.json has', () => {
    const problems: string[] = [];
    let steps = 0;
    for (const source of yamlSources()) {
      const { docs, line } = parse(source);
      for (const doc of docs) {
        if (doc.errors.length) continue; // (a) reports it
        steps += (source.text.match(/^\s*-?\s*task:\s*[A-Za-z0-9-]+@\d+/gm) ?? []).length;
        problems.push(...stepProblems(doc.contents, source.where, line));
      }
    }
    assert.ok(steps > 0, 'no task steps found: the walk is broken');
    assert.deepEqual(problems, [], `Task steps with inputs their task does not have:\n  ${problems.join('\n  ')}`);
  });

  it('(c) every input of every task.json is documented on its docs/<folder>.md page, and its inputs table names no other', () => {
    const problems: string[] = [];
    for (const t of tasks) {
      const page = join(ROOT, 'docs', `${t.folder}.md`);
      if (!existsSync(page)) {
        problems.push(`docs/${t.folder}.md is missing: it documents tasks/${t.folder}/task.json's inputs`);
        continue;
      }
      const { all, inputRows } = tableFirstColumnNames(readFileSync(page, 'utf8'));
      for (const input of t.inputs) {
        if (!all.has(input))
          problems.push(
            `tasks/${t.folder}/task.json input '${input}' is not in a table of docs/${t.folder}.md (add a row starting with \`${input}\` to its inputs table)`,
          );
      }
      if (!inputRows.length) problems.push(`docs/${t.folder}.md has no inputs table (a table whose first header is 'input')`);
      for (const row of inputRows) {
        if (!t.inputs.has(row.name))
          problems.push(`docs/${t.folder}.md:${row.line} documents input '${row.name}', which tasks/${t.folder}/task.json does not have`);
      }
    }
    assert.deepEqual(problems, [], `Inputs and their pages disagree:\n  ${problems.join('\n  ')}`);
  });

  it('(d) relative links in README.md, overview.md and docs/ lead to files and headings that exist', () => {
    const problems: string[] = [];
    for (const file of markdownFiles()) {
      const lines = withoutFences(readFileSync(join(ROOT, file), 'utf8'));
      lines.forEach((text, i) => {
        for (const m of text.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
          const link = m[1];
          if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue; // https:, mailto:
          const [path, anchor] = link.split('#', 2);
          const target = path ? resolve(dirname(join(ROOT, file)), decodeURIComponent(path)) : join(ROOT, file);
          const where = `${file}:${i + 1}: '${link}'`;
          if (!existsSync(target)) {
            problems.push(`${where}: ${relative(ROOT, target)} does not exist`);
            continue;
          }
          if (anchor && target.endsWith('.md') && statSync(target).isFile() && !anchors(readFileSync(target, 'utf8')).has(anchor)) {
            problems.push(`${where}: ${relative(ROOT, target)} has no heading '#${anchor}'`);
          }
        }
      });
    }
    assert.deepEqual(problems, [], `Broken links:\n  ${problems.join('\n  ')}`);
  });

  it('(e) one permissions table: the README and the overview hold the same one, with a row for every task', () => {
    const table = (file: string): string[] => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      const section = text.slice(text.indexOf('\n## Permissions\n'));
      const end = section.indexOf('\n## ', 5);
      return (end > 0 ? section.slice(0, end) : section).split('\n').filter((l) => l.startsWith('|'));
    };
    const readme = table('README.md');
    assert.ok(readme.length > 2, 'README.md has a ## Permissions table');
    assert.deepEqual(table('overview.md'), readme, "the overview's permissions table is the README's, row for row");
    for (const t of tasks) {
      assert.ok(
        readme.some((row) => row.startsWith(`| ${t.name}`)),
        `the permissions table has a row for ${t.name}`,
      );
    }
  });

  it('(f) the default column of every inputs table says what task.json defaults to', () => {
    const problems: string[] = [];
    for (const t of tasks) {
      const page = join(ROOT, 'docs', `${t.folder}.md`);
      if (!existsSync(page)) continue;
      const json = JSON.parse(readFileSync(join(ROOT, 'tasks', t.folder, 'task.json'), 'utf8')) as {
        inputs: { name: string; defaultValue?: string | boolean }[];
      };
      const defaults = new Map(json.inputs.map((i) => [i.name, String(i.defaultValue ?? '')]));
      let header: string[] | undefined;
      readFileSync(page, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (!line.startsWith('|')) return (header = undefined);
          const cells = line
            .split('|')
            .slice(1, -1)
            .map((c) => c.trim());
          if (!header) return (header = cells);
          if (header[0] !== 'input' || header[1] !== 'default' || /^-+$/.test(cells[0])) return;
          for (const name of [...cells[0].matchAll(/`([A-Za-z0-9]+)`/g)].map((m) => m[1])) {
            const value = defaults.get(name);
            // Multi-line defaults (branchChannels) are described in words ("as VersionBump").
            if (!value || value.includes('\n') || value === 'false') continue;
            if (!cells[1].includes(value))
              problems.push(
                `docs/${t.folder}.md:${i + 1}: '${name}' defaults to '${value}' in task.json; the default column says '${cells[1]}'`,
              );
          }
        });
    }
    assert.deepEqual(problems, [], `Defaults the docs do not give:\n  ${problems.join('\n  ')}`);
  });

  it('(g) every template an example references (without @repository) exists beside it', () => {
    const problems: string[] = [];
    for (const file of exampleFiles()) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/^\s*-?\s*template:\s*([^\s#@]+)\s*$/gm)) {
        if (!existsSync(join(ROOT, dirname(file), m[1]))) problems.push(`${file}: template '${m[1]}' does not exist`);
      }
    }
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});
