import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../../src/default-backend.js';
import { escapeXml, figureSvg, formatTick, niceTicks } from '../../src/train/plot.js';
import { curvesSvg, type LogRecord } from '../../src/train/loop.js';

interface XmlElement { name: string; attrs: Record<string, string>; text: string }

/**
 * A strict little XML well-formedness check (no dependency): one root, balanced tags, quoted and
 * unique attributes, no raw '<' or stray '&' in text or attribute values. Returns every element.
 */
function parseXml(src: string): XmlElement[] {
  const token = /<\?[\s\S]*?\?>|<!--[\s\S]*?-->|<\/([A-Za-z_][\w:.-]*)\s*>|<([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|[^<]+/y;
  const badAmp = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const stack: XmlElement[] = [];
  const all: XmlElement[] = [];
  let roots = 0;
  let pos = 0;
  while (pos < src.length) {
    token.lastIndex = pos;
    const m = token.exec(src);
    if (!m) throw new Error(`not well-formed at offset ${pos}: ${JSON.stringify(src.slice(pos, pos + 40))}`);
    pos = token.lastIndex;
    const [whole, close, open, attrText, selfClose] = m;
    if (whole.startsWith('<?') || whole.startsWith('<!--')) continue;
    if (close) {
      const top = stack.pop();
      if (top?.name !== close) throw new Error(`</${close}> closes <${top?.name ?? 'nothing'}>`);
    } else if (open) {
      if (stack.length === 0 && ++roots > 1) throw new Error('more than one root element');
      const attrs: Record<string, string> = {};
      for (const a of (attrText ?? '').matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]} on <${open}>`);
        const v = a[2] ?? a[3] ?? '';
        if (badAmp.test(v)) throw new Error(`unescaped & in ${a[1]}="${v}"`);
        attrs[a[1]!] = v;
      }
      const el = { name: open, attrs, text: '' };
      all.push(el);
      if (!selfClose) stack.push(el);
    } else {
      if (badAmp.test(whole)) throw new Error(`unescaped & in text ${JSON.stringify(whole)}`);
      if (stack.length === 0 && whole.trim()) throw new Error(`text outside the root: ${JSON.stringify(whole)}`);
      if (stack.length) stack[stack.length - 1]!.text += whole;
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (roots !== 1) throw new Error('no root element');
  return all;
}

test('the XML checker itself rejects what is not well-formed', () => {
  assert.doesNotThrow(() => parseXml('<?xml version="1.0"?><a x="1"><b/>t &amp; u</a>'));
  for (const bad of ['<a><b></a></b>', '<a x=1></a>', '<a>&</a>', '<a></a><b></b>', '<a x="1" x="2"/>', '<a>', '<a>1 < 2</a>']) {
    assert.throws(() => parseXml(bad), Error, bad);
  }
});

test('niceTicks: steps of 1, 2 or 5 × 10^k covering the range; degenerate ranges widen', () => {
  assert.deepEqual(niceTicks(0, 1).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = niceTicks(1.37, 4.21);
  assert.deepEqual(t.ticks, [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5]);
  assert.ok(t.min <= 1.37 && t.max >= 4.21);
  assert.deepEqual(niceTicks(0, 5000, 6).ticks, [0, 1000, 2000, 3000, 4000, 5000]);
  const flat = niceTicks(2, 2);
  assert.ok(flat.min < 2 && flat.max > 2);
  assert.equal(formatTick(0.30000000000000004, 0.1), '0.3');
  assert.equal(formatTick(20000, 5000), '20k');
  assert.equal(escapeXml(`a<b & "c" 'd'>`), 'a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;');
});

test('figureSvg: a well-formed SVG with one polyline per series, a legend entry each, escaped names', () => {
  const svg = figureSvg([
    { title: 'Loss <nats>', xLabel: 'step', yLabel: 'loss', series: [
      { name: 'train & co', points: [[1, 4], [2, 3], [3, NaN], [4, 2.5]] },
      { name: 'val', points: [[2, 3.5], [4, 2.8]], markers: true, dashed: true },
    ] },
    { title: 'Accuracy', xLabel: 'step', yLabel: 'acc', series: [{ name: 'single', points: [[4, 0.3]] }], yInclude: [0] },
  ]);
  const els = parseXml(svg);
  assert.equal(els[0]!.name, 'svg');
  assert.equal(els[0]!.attrs.xmlns, 'http://www.w3.org/2000/svg');
  const lines = els.filter((e) => e.name === 'polyline');
  assert.deepEqual(lines.map((e) => e.attrs['data-name']), ['train &amp; co', 'val'], 'raw (escaped) attribute values');
  assert.equal(lines[0]!.attrs.points!.split(' ').length, 3, 'the NaN point is skipped');
  assert.ok(els.some((e) => e.name === 'g' && e.attrs['data-name'] === 'single'), 'a one-point series gets a marker');
  const texts = els.filter((e) => e.name === 'text').map((e) => e.text);
  for (const s of ['Loss &lt;nats&gt;', 'train &amp; co', 'val', 'single', 'Accuracy']) assert.ok(texts.includes(s), `text ${s}`);
  for (const e of els) for (const v of Object.values(e.attrs)) assert.doesNotMatch(v, /NaN|undefined|Infinity/);
});

test('curvesSvg: train loss, validation loss and validation accuracy against steps', () => {
  const records: LogRecord[] = [{ type: 'start', step: 0 }];
  for (let s = 1; s <= 30; s++) records.push({ type: 'train', step: s, loss: 4 / Math.sqrt(s), lr: 1e-3, grad_norm: 1, tokens: s * 64, tokens_per_sec: 1000, elapsed_s: s });
  for (const s of [10, 20, 30]) records.push({ type: 'val', step: s, loss: 3 / Math.sqrt(s), bits_per_char: 1, accuracy: s / 60, tokens: 100 });
  const els = parseXml(curvesSvg(records));
  const byName = (n: string) => els.find((e) => e.name === 'polyline' && e.attrs['data-name'] === n);
  assert.equal(byName('train loss')!.attrs.points!.split(' ').length, 30);
  assert.equal(byName('val loss')!.attrs.points!.split(' ').length, 3);
  assert.equal(byName('val accuracy')!.attrs.points!.split(' ').length, 3);
  assert.equal(els.filter((e) => e.name === 'circle').length, 6, 'markers on the validation points');
  const legends = els.filter((e, i) => e.name === 'rect' && els[i - 1]?.name === 'g' && els[i - 1]!.attrs.class === 'legend').map((e) => Number(e.attrs.y));
  assert.ok(legends[0]! < 180 && legends[1]! > 180, `legends where the curves are not: falling loss → top, rising accuracy → bottom (${legends})`);
  // An empty log still gives a valid (empty) figure.
  assert.doesNotThrow(() => parseXml(curvesSvg([])));
});
