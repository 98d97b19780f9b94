/**
 * `npm run fuzz -- --cases N [--seed S] [--only safetensors|flags|rundir] [--limit-ms L]`: the three
 * fuzzers of test/fuzz/fuzzers.ts, longer than CI runs them; prints a table of cases tried and
 * clean (docs/reliability.md keeps the latest one) and every failing case; exit 1 on any failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fuzzCheckpointFiles, fuzzFlags, fuzzRunDirectories, makeRun, type FuzzReport } from './fuzzers.js';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '200' }, seed: { type: 'string', default: '1' }, only: { type: 'string' }, 'limit-ms': { type: 'string', default: '5000' } } });
const cases = Number(values.cases), seed = Number(values.seed), limitMs = Number(values['limit-ms']);
if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(seed) || !(limitMs > 0)) {
  process.stderr.write('fuzz: --cases and --seed must be positive integers, --limit-ms a positive number\n');
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), 'recur-fuzz-'));
const reports: FuzzReport[] = [];
try {
  const { run, text } = await makeRun(dir);
  const want = (name: string) => values.only === undefined || values.only === name;
  if (want('safetensors')) reports.push(await fuzzCheckpointFiles(run, seed, cases));
  if (want('flags')) reports.push(await fuzzFlags(run, text, seed, cases, limitMs));
  if (want('rundir')) reports.push(await fuzzRunDirectories(run, text, seed, cases, limitMs));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`| fuzzer (seed ${seed}) | cases tried | clean | failing | slowest case |\n|---|---|---|---|---|\n`);
for (const r of reports) process.stdout.write(`| ${r.name} | ${r.tried} | ${r.clean} | ${r.failures.length} | ${(r.slowestMs / 1000).toFixed(2)} s |\n`);
for (const r of reports) for (const f of r.failures) process.stdout.write(`FAIL ${r.name}: ${f}\n`);
process.exitCode = reports.some((r) => r.failures.length) ? 1 : 0;
