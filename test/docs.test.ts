// The repository explains itself: every citation of a docs page or of a BENCHMARKS.md section
// points at a heading that exists, and nothing cites a file outside the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The folders and top-level files whose text may cite docs. */
const CITING = ['src', 'test', 'bench', 'tools', 'docs', 'README.md', 'BENCHMARKS.md'];
const TEXT = /\.(ts|py|md|json)$/;

function files(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => (name === 'node_modules' ? [] : files(join(path, name))));
}

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function anchorsOf(markdownFile: string): Set<string> {
  const text = readFileSync(join(root, markdownFile), 'utf8');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => headingAnchor(m[1])));
}

const everything = CITING.flatMap((p) => files(join(root, p)));
const citing = everything.filter((f) => TEXT.test(f));

test('headingAnchor makes the anchors GitHub makes', () => {
  assert.equal(headingAnchor('LSTM, GRU, Elman, sLSTM'), 'lstm-gru-elman-slstm');
  assert.equal(headingAnchor('Sequence classifier (deep LRU)'), 'sequence-classifier-deep-lru');
  assert.equal(headingAnchor('On the 2-core development machine (no GPU)'), 'on-the-2-core-development-machine-no-gpu');
});

test('every section of docs/ or BENCHMARKS.md cited in the repository is an existing heading', () => {
  const anchors = new Map<string, Set<string>>();
  const broken: string[] = [];
  let cited = 0;
  for (const file of citing) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\b((?:docs\/[\w-]+|BENCHMARKS)\.md)#([\w-]+)/g)) {
      cited++;
      const [, page, anchor] = m;
      if (!anchors.has(page)) anchors.set(page, anchorsOf(page));
      if (!anchors.get(page)!.has(anchor)) broken.push(`${relative(root, file)}: ${page}#${anchor}`);
    }
    if (!file.endsWith('.md')) continue;
    const own = relative(root, file);
    for (const m of text.matchAll(/\]\(#([\w-]+)\)/g)) {
      cited++;
      if (!anchors.has(own)) anchors.set(own, anchorsOf(own));
      if (!anchors.get(own)!.has(m[1])) broken.push(`${own}: #${m[1]}`);
    }
  }
  assert.ok(cited > 20, `found ${cited} citations: the scan reads the source files`);
  assert.deepEqual(broken, [], `citations of headings that do not exist:\n${broken.join('\n')}`);
});

test('nothing cites the reference notes that lived outside the repository', () => {
  const outside = ['REFERENCE', 'md'].join('.'); // spelled apart so that this file does not cite it
  // Every file, generated pages (HTML, scripts) included.
  const citingIt = everything.filter((f) => readFileSync(f, 'latin1').includes(outside)).map((f) => relative(root, f));
  assert.deepEqual(citingIt, []);
});
