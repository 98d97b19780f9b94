/** The playground's URL settings: parsed with a sentence per bad value, formatted back without the defaults. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE_DEFAULTS, formatSettings, parseSettings } from '../../src/playground/settings.js';
import { trainArgs } from '../../src/playground/run-args.js';
import { checkTrainArgs } from '../../src/train/lm-trainer.js';
import { cellNames } from '../../src/cells/registry.js';

const models = cellNames();

test('the issue\'s example URL gives those settings and formats back to itself', () => {
  const { settings, problems } = parseSettings('?model=mingru&dim=64&depth=2&steps=200&autostart=1', models);
  assert.deepEqual(problems, []);
  assert.deepEqual(settings, { ...PAGE_DEFAULTS, model: 'mingru', dim: 64, depth: 2, steps: 200, autostart: true });
  const custom = { ...settings, model: 'lru', dim: 48, lr: 0.01, device: 'cpu' as const };
  assert.equal(formatSettings(custom), '?model=lru&dim=48&lr=0.01&device=cpu&autostart=1');
  assert.deepEqual(parseSettings(formatSettings(custom), models).settings, custom);
  assert.equal(formatSettings(PAGE_DEFAULTS), '');
});

test('bad values are reported one sentence each and replaced by the defaults', () => {
  const { settings, problems } = parseSettings('?model=mamba&dim=0&depth=2.5&steps=abc&lr=-1&device=tpu&batch=', models);
  assert.deepEqual(settings, PAGE_DEFAULTS);
  assert.equal(problems.length, 7);
  assert.match(problems[0]!, /unknown model 'mamba' .*available: mingru/);
  assert.match(problems.join('\n'), /dim=0 in the URL is not an integer in \[1, 1024\]; using 64/);
  assert.match(problems.join('\n'), /device=tpu in the URL is not auto, webgpu or cpu/);
});

test('every cell of the registry makes valid recur train arguments', () => {
  for (const model of models) checkTrainArgs(trainArgs({ ...PAGE_DEFAULTS, model }));
});
