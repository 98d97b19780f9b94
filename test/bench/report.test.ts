import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const reportModule = fileURLToPath(new URL('../../src/bench/report.js', import.meta.url));
const script = `const { commandLine } = await import(${JSON.stringify(reportModule)}); console.log(commandLine());`;

/** commandLine() in a fresh process started as `node --input-type=module -e … args` with an npm event. */
function commandUnder(event: string | undefined, args: string[]): string {
  const env = { ...process.env };
  delete env.npm_lifecycle_event;
  if (event) env.npm_lifecycle_event = event;
  // With -e, argv[1] is the first argument: stands in for the bin's path.
  return execFileSync(process.execPath, ['--input-type=module', '-e', script, '/x/node_modules/.bin/recur', ...args], { env, encoding: 'utf8' }).trim();
}

test('the bench header shows the command the user ran: npx recur …, npm run SCRIPT (…), or node …', () => {
  assert.equal(commandUnder('npx', ['bench', 'cpu', '--quick']), 'npx recur bench cpu --quick');
  assert.equal(commandUnder('bench', ['--quick']), 'npm run bench (node /x/node_modules/.bin/recur --quick)');
  assert.equal(commandUnder(undefined, ['bench']), 'node /x/node_modules/.bin/recur bench');
});
