/**
 * The playground page (main thread): the form, the text, the live curves, generation, checkpoints
 * and the runs kept in IndexedDB. All computation happens in the training worker (worker.ts); this
 * module only sends it requests and shows what it reports, so the page stays responsive.
 */
import { figureSvg, type ChartSpec } from '../train/plot.js';
import type { FromWorker, NamedBytes, TextSource, ToWorker } from './protocol.js';
import { PAGE_DEFAULTS, formatSettings, parseSettings, type PageSettings } from './settings.js';
import { deleteRun, getRun, listRuns, putRun, type StoredRun } from './store.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

const form = $<HTMLFormElement>('settings');
const textBox = $<HTMLTextAreaElement>('text');
const sampleOut = $('sample');
const buttons = {
  train: $<HTMLButtonElement>('train'), stop: $<HTMLButtonElement>('stop'), resume: $<HTMLButtonElement>('resume'),
  generate: $<HTMLButtonElement>('generate'), save: $<HTMLButtonElement>('save'),
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'recur-training' });
const send = (m: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(m, transfer);

/** What the page knows of the current run. */
const run = {
  id: '',
  settings: { ...PAGE_DEFAULTS } as PageSettings,
  train: [] as [number, number][],
  val: [] as [number, number, number][],
  step: 0,
  running: false,
  generating: false,
  hasModel: false,
  resumable: false,
  /** Set once the run's weights were kept in IndexedDB at its current step. */
  storedStep: -1,
};

// ---------------------------------------------------------------------------------------------
// Notices

function notify(text: string, kind: 'info' | 'error' = 'info'): void {
  const p = document.createElement('p');
  p.className = kind === 'error' ? 'notice error' : 'notice';
  p.textContent = text;
  $('notices').append(p);
  if (kind === 'info') setTimeout(() => p.remove(), 15_000);
}

// ---------------------------------------------------------------------------------------------
// Settings: form ⇄ URL

function fillForm(s: PageSettings): void {
  for (const [key, value] of Object.entries(s)) {
    const field = form.elements.namedItem(key) as HTMLInputElement | HTMLSelectElement | null;
    if (field) field.value = String(value);
  }
}

function readForm(): PageSettings {
  const data = new FormData(form);
  const query = new URLSearchParams();
  data.forEach((v, k) => query.set(k, String(v)));
  const models = Array.from($<HTMLSelectElement>('model').options).map((o) => o.value);
  const { settings, problems } = parseSettings(query.toString(), models);
  for (const p of problems) notify(p.replace(' in the URL', ''), 'error');
  return { ...settings, text: '', autostart: false };
}

function showShareLink(s: PageSettings): void {
  const query = formatSettings({ ...s, text: '' });
  history.replaceState(null, '', `${location.pathname}${query}`);
  $('share').textContent = `This run's link: ${location.href}`;
}

// ---------------------------------------------------------------------------------------------
// The text

let sampleBytes: ArrayBuffer = new ArrayBuffer(0);
/** The text as read (a file's exact bytes); null once the box was edited (then the box's text is used). */
let textSource: TextSource | null = null;

function setText(source: TextSource): void {
  textSource = source;
  textBox.value = new TextDecoder().decode(source.bytes);
  showTextInfo(source.name);
}

function showTextInfo(name: string): void {
  $('text-name').textContent = name;
  $('text-chars').textContent = [...textBox.value].length.toLocaleString('en-US');
}

function currentText(): TextSource {
  if (textSource) return { name: textSource.name, bytes: textSource.bytes.slice(0) };
  return { name: 'pasted text', bytes: new TextEncoder().encode(textBox.value).buffer as ArrayBuffer };
}

textBox.addEventListener('input', () => {
  textSource = null;
  showTextInfo('pasted text');
});
$<HTMLInputElement>('upload').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  setText({ name: file.name, bytes: await file.arrayBuffer() });
});
$('use-sample').addEventListener('click', () => setText({ name: 'sample.txt', bytes: sampleBytes.slice(0) }));

// ---------------------------------------------------------------------------------------------
// Progress: numbers and the curves (the SVG writer of `recur train`'s curves.svg)

let plotPending = false;
function schedulePlot(): void {
  if (plotPending) return;
  plotPending = true;
  requestAnimationFrame(() => {
    plotPending = false;
    drawPlot();
  });
}

function drawPlot(): void {
  const charts: ChartSpec[] = [
    {
      title: 'Loss', xLabel: 'step', yLabel: 'nats/char',
      series: [
        { name: 'train loss', points: run.train },
        { name: 'val loss', points: run.val.map(([s, l]) => [s, l] as const), markers: true },
      ],
    },
    {
      title: 'Validation accuracy', xLabel: 'step', yLabel: 'next-character accuracy',
      series: [{ name: 'val accuracy', points: run.val.map(([s, , a]) => [s, a] as const), markers: true }],
      yInclude: [0],
    },
  ];
  const narrow = $('plot').clientWidth < 640;
  $('plot').innerHTML = run.train.length || run.val.length
    ? figureSvg(charts, { columns: narrow ? 1 : 2, chartWidth: narrow ? 420 : 520, chartHeight: narrow ? 300 : 340 })
    : '';
}
// One chart per row on narrow screens: redraw when the panel's width changes.
let plotWidth = 0;
new ResizeObserver(([entry]) => {
  const width = Math.round(entry?.contentRect.width ?? 0);
  if (width !== plotWidth) {
    plotWidth = width;
    schedulePlot();
  }
}).observe($('plot'));

/** A loss as a plain number: 4 decimals shown, the full value in data-value (for scripts comparing runs). */
function showNumber(id: string, value: number): void {
  const el = $(id);
  el.textContent = value.toFixed(4);
  el.dataset.value = String(value);
}

function resetProgress(): void {
  run.train = [];
  run.val = [];
  for (const id of ['loss', 'val-loss', 'val-accuracy', 'speed']) {
    $(id).textContent = '–';
    delete $(id).dataset.value;
  }
  $('step').textContent = '0';
  drawPlot();
}

function updateButtons(): void {
  buttons.train.disabled = run.running;
  buttons.stop.disabled = !run.running && !run.generating;
  buttons.resume.disabled = run.running || !run.resumable;
  buttons.generate.disabled = !run.hasModel || run.generating;
  buttons.save.disabled = !run.hasModel;
}

// ---------------------------------------------------------------------------------------------
// Runs kept in IndexedDB

async function storeRun(weights: ArrayBuffer | null): Promise<void> {
  if (!run.id) return;
  const s = run.settings;
  const record: StoredRun = {
    id: run.id, created: run.id, title: `${s.model} ${s.dim}×${s.depth}, ${run.step} steps`, settings: s,
    textName: $('text-name').textContent ?? '', step: run.step, train: run.train, val: run.val, weights,
  };
  await putRun(record);
  await showRuns();
}

async function showRuns(): Promise<void> {
  const list = $('runs');
  let runs: StoredRun[];
  try {
    runs = await listRuns();
  } catch (e) {
    list.textContent = e instanceof Error ? e.message : String(e);
    return;
  }
  list.replaceChildren(...runs.map((r) => {
    const li = document.createElement('li');
    const label = document.createElement('span');
    const lastVal = r.val.at(-1);
    label.textContent = `${r.title} on ${r.textName}${lastVal ? `, val loss ${lastVal[1].toFixed(3)}` : ''} (${new Date(r.created).toLocaleString()})`;
    const open = document.createElement('button');
    open.type = 'button';
    open.textContent = 'Open';
    open.disabled = !r.weights;
    open.setAttribute('aria-label', `Open ${r.title}`);
    open.addEventListener('click', () => void openRun(r.id));
    const del = document.createElement('button');
    del.type = 'button';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${r.title}`);
    del.addEventListener('click', () => void deleteRun(r.id).then(showRuns));
    const actions = document.createElement('span');
    actions.append(open, ' ', del);
    li.append(label, actions);
    return li;
  }));
}

async function openRun(id: string): Promise<void> {
  const r = await getRun(id);
  if (!r?.weights) return;
  run.id = r.id;
  run.settings = r.settings;
  fillForm(r.settings);
  resetProgress();
  run.train = r.train;
  run.val = r.val;
  drawPlot();
  send({ type: 'load', files: [{ name: `${r.title}.safetensors`, bytes: r.weights.slice(0) }], text: currentText() });
}

// ---------------------------------------------------------------------------------------------
// Buttons

function startTraining(): void {
  const s = readForm();
  run.settings = s;
  run.id = new Date().toISOString();
  run.storedStep = -1;
  showShareLink(s);
  resetProgress();
  sampleOut.textContent = '';
  $('steps').textContent = String(s.steps);
  run.running = true;
  updateButtons();
  const text = currentText();
  send({ type: 'train', settings: s, text }, [text.bytes]);
}

buttons.train.addEventListener('click', startTraining);
buttons.stop.addEventListener('click', () => send({ type: 'stop' }));
buttons.resume.addEventListener('click', () => {
  const steps = Number((form.elements.namedItem('steps') as HTMLInputElement).value);
  run.running = true;
  updateButtons();
  send({ type: 'resume', steps: Number.isInteger(steps) && steps > 0 ? steps : run.settings.steps });
});

function generate(): void {
  const temperature = Number($<HTMLInputElement>('temperature').value);
  const length = Number($<HTMLInputElement>('length').value);
  const prompt = $<HTMLInputElement>('prompt').value;
  sampleOut.textContent = prompt;
  run.generating = true;
  updateButtons();
  send({
    type: 'generate', prompt, temperature: Number.isFinite(temperature) && temperature >= 0 ? temperature : 0.8,
    maxTokens: Number.isInteger(length) && length > 0 ? Math.min(length, 5000) : 300, seed: Math.floor(Math.random() * 2 ** 31),
  });
}
buttons.generate.addEventListener('click', generate);
buttons.save.addEventListener('click', () => send({ type: 'save', purpose: 'download' }));

$<HTMLInputElement>('load').addEventListener('change', async (e) => {
  const input = e.target as HTMLInputElement;
  const files: NamedBytes[] = await Promise.all(Array.from(input.files ?? []).map(async (f) => ({ name: f.name, bytes: await f.arrayBuffer() })));
  input.value = '';
  if (files.length === 0) return;
  run.id = new Date().toISOString();
  resetProgress();
  send({ type: 'load', files, text: currentText() }, files.map((f) => f.bytes));
});

function download(fileName: string, bytes: ArrayBuffer): void {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// ---------------------------------------------------------------------------------------------
// What the worker reports

let autostart = false;

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'device': {
      $('device').textContent = m.label;
      $('threads').textContent = String(m.threads);
      if (m.notice) notify(m.notice);
      const select = $<HTMLSelectElement>('model');
      select.replaceChildren(...m.models.map((name) => new Option(name, name)));
      const { settings, problems } = parseSettings(location.search, m.models);
      for (const p of problems) notify(p, 'error');
      fillForm(settings);
      $('steps').textContent = String(settings.steps);
      if (settings.text) setText({ name: 'text from the URL', bytes: new TextEncoder().encode(settings.text).buffer as ArrayBuffer });
      autostart = settings.autostart;
      maybeAutostart();
      break;
    }
    case 'model':
      run.hasModel = true;
      run.resumable = m.info.resumable;
      run.step = m.info.step;
      $('params').textContent = m.info.parameters.toLocaleString('en-US');
      $('step').textContent = String(m.info.step);
      $('steps').textContent = String(m.info.steps);
      if (m.notice) notify(m.notice);
      updateButtons();
      break;
    case 'step':
      run.step = m.step;
      run.train.push([m.step, m.loss]);
      $('step').textContent = String(m.step);
      showNumber('loss', m.loss);
      $('speed').textContent = Math.round(m.tokensPerSec).toLocaleString('en-US');
      schedulePlot();
      break;
    case 'eval':
      if (run.val.at(-1)?.[0] === m.step) run.val.pop();
      run.val.push([m.step, m.loss, m.accuracy]);
      $('step').textContent = String(m.step);
      showNumber('val-loss', m.loss);
      $('val-accuracy').textContent = `${(100 * m.accuracy).toFixed(1)}%`;
      schedulePlot();
      break;
    case 'running':
      run.running = m.running;
      $('steps').textContent = String(m.steps);
      updateButtons();
      if (!m.running && run.step > 0) {
        if (run.storedStep !== run.step) send({ type: 'save', purpose: 'store' });
        if (m.step >= m.steps && !run.generating) generate(); // the run is done: show what the model writes now
      }
      break;
    case 'token':
      sampleOut.textContent += m.text;
      break;
    case 'generated':
      run.generating = false;
      updateButtons();
      break;
    case 'saved':
      if (m.purpose === 'download') download(m.fileName, m.bytes);
      else {
        run.storedStep = m.step;
        storeRun(m.bytes).catch((err: unknown) => notify(`The run was not kept in this browser: ${err instanceof Error ? err.message : String(err)}`, 'error'));
      }
      break;
    case 'error':
      run.generating = false;
      notify(m.message, 'error');
      updateButtons();
      break;
  }
};
worker.onerror = (e) => notify(`The training worker failed: ${e.message}`, 'error');

let sampleLoaded = false;
function maybeAutostart(): void {
  if (autostart && sampleLoaded && $('model').childElementCount > 0) {
    autostart = false;
    startTraining();
  }
}

async function init(): Promise<void> {
  fillForm(PAGE_DEFAULTS);
  updateButtons();
  try {
    const response = await fetch(new URL('./sample.txt', import.meta.url));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    sampleBytes = await response.arrayBuffer();
    if (textBox.value === '') setText({ name: 'sample.txt', bytes: sampleBytes.slice(0) });
  } catch (e) {
    notify(`The bundled sample text could not be read (${e instanceof Error ? e.message : String(e)}); paste or upload a text.`, 'error');
  }
  sampleLoaded = true;
  const params = new URLSearchParams(location.search);
  send({ type: 'init', device: (params.get('device') as PageSettings['device'] | null) ?? PAGE_DEFAULTS.device, threads: Number(params.get('threads') ?? 0) || 0 });
  await showRuns();
}

void init();
