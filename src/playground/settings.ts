/**
 * The playground's settings and their URL form (`?model=mingru&dim=64&depth=2&steps=200&autostart=1`),
 * so a run can be shared as a link and driven by tests. Everything else of a training run is
 * recur train's defaults (the worker's trainArgs). This module has no imports: the page's main
 * bundle stays small, the library lives in the worker's.
 */
/** Where tensors live: the GPU when the browser offers one (and the backend is built in), else the CPU. */
export type DevicePreference = 'auto' | 'webgpu' | 'cpu';

export interface PageSettings {
  model: string;
  dim: number;
  depth: number;
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  evalEvery: number;
  seed: number;
  device: DevicePreference;
  /** CPU threads: 0 = as many as the page may use. */
  threads: number;
  /** Start training as soon as the page has loaded. */
  autostart: boolean;
  /** A text given in the URL itself (short texts only); empty = the bundled sample or the text box. */
  text: string;
}

/** Small enough to show a falling loss within a minute on a 2-core laptop. */
export const PAGE_DEFAULTS: PageSettings = {
  model: 'mingru', dim: 64, depth: 2, steps: 200, batch: 16, seq: 64, lr: 3e-3, evalEvery: 25, seed: 1,
  device: 'auto', threads: 0, autostart: false, text: '',
};

/** Upper bounds that keep a mistyped URL from asking a tab for gigabytes. */
const LIMITS: Partial<Record<keyof PageSettings, number>> = { dim: 1024, depth: 16, steps: 1_000_000, batch: 512, seq: 4096, evalEvery: 1_000_000, threads: 64 };

type NumberKey = 'dim' | 'depth' | 'steps' | 'batch' | 'seq' | 'lr' | 'evalEvery' | 'seed' | 'threads';
const INTEGER_KEYS: readonly NumberKey[] = ['dim', 'depth', 'steps', 'batch', 'seq', 'evalEvery', 'seed', 'threads'];

/**
 * Settings from a query string. Bad values are reported (one sentence each) and replaced by the
 * defaults, so a link with a typo still opens a working page.
 */
export function parseSettings(search: string, models: readonly string[]): { settings: PageSettings; problems: string[] } {
  const q = new URLSearchParams(search);
  const s: PageSettings = { ...PAGE_DEFAULTS };
  const problems: string[] = [];
  const model = q.get('model');
  if (model !== null) {
    if (models.includes(model)) s.model = model;
    else problems.push(`unknown model '${model}' in the URL (available: ${models.join(', ')}); using ${s.model}`);
  }
  for (const key of [...INTEGER_KEYS, 'lr'] as const) {
    const raw = q.get(key);
    if (raw === null) continue;
    const v = Number(raw);
    const integer = INTEGER_KEYS.includes(key);
    const min = key === 'seed' || key === 'threads' ? 0 : integer ? 1 : Number.MIN_VALUE;
    const max = LIMITS[key] ?? Infinity;
    if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v)) || v < min || v > max) {
      problems.push(`${key}=${raw} in the URL is not ${integer ? 'an integer' : 'a number'} in [${min === Number.MIN_VALUE ? '>0' : min}, ${max}]; using ${s[key]}`);
      continue;
    }
    s[key] = v;
  }
  const device = q.get('device');
  if (device !== null) {
    if (device === 'auto' || device === 'webgpu' || device === 'cpu') s.device = device;
    else problems.push(`device=${device} in the URL is not auto, webgpu or cpu; using ${s.device}`);
  }
  const autostart = q.get('autostart');
  if (autostart !== null) s.autostart = autostart === '1' || autostart === 'true';
  s.text = q.get('text') ?? '';
  return { settings: s, problems };
}

/** The query string of settings: only what differs from the defaults, so links stay short. */
export function formatSettings(s: PageSettings): string {
  const q = new URLSearchParams();
  for (const key of Object.keys(PAGE_DEFAULTS) as (keyof PageSettings)[]) {
    if (key === 'autostart' || s[key] === PAGE_DEFAULTS[key]) continue;
    q.set(key, String(s[key]));
  }
  if (s.autostart) q.set('autostart', '1');
  const text = q.toString();
  return text ? `?${text}` : '';
}
