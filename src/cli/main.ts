#!/usr/bin/env node
/**
 * The `recur` command line. Each command lives in its own module, src/cli/<command>.ts, exporting
 * `register<Command>(program: Command)` that adds itself with `program.command(...)` (which
 * inherits the error handling set up here). To add a command: write the module, add its register
 * function to COMMANDS below. Errors: throw UserError (errors.ts) for what the user can fix.
 */
import '../default-backend.js';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { enableCpuThreads } from '../backend/cpu/threads-node.js';
import { registerCudaBackend } from '../register-cuda.js';
import { initWebGPU } from '../register-webgpu.js';
import { setBackend } from '../tensor/engine.js';
import { registerBench } from './bench.js';
import { registerDemo } from './demo.js';
import { registerEval } from './eval.js';
import { registerGenerate } from './generate.js';
import { registerPlayground } from './playground.js';
import { registerTrain } from './train.js';
import { UserError, positiveInt, runCli } from './errors.js';

// A reader that closes the pipe early (`recur --help | head -3`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

const COMMANDS: ((program: Command) => void)[] = [registerDemo, registerTrain, registerGenerate, registerEval, registerBench, registerPlayground];

/** Every command below `cmd` that runs something, with its full name and options: the help's index. */
function commandIndex(program: Command): string {
  const help = program.createHelp();
  const lines: string[] = [];
  const walk = (cmd: Command, path: string[]): void => {
    for (const sub of help.visibleCommands(cmd)) {
      if (sub.name() === 'help') continue;
      const full = [...path, sub.name()];
      const children = help.visibleCommands(sub).filter((c) => c.name() !== 'help');
      if (children.length > 0) {
        walk(sub, full);
        continue;
      }
      const args = sub.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
      lines.push(`  ${[...full, args].filter(Boolean).join(' ')}`);
      lines.push(`      ${sub.description()}`);
      for (const opt of help.visibleOptions(sub)) {
        if (opt.long === '--help') continue;
        lines.push(`      ${help.optionTerm(opt).padEnd(26)} ${help.optionDescription(opt)}`);
      }
    }
  };
  walk(program, ['recur']);
  return lines.join('\n');
}

/** Commands added with addCommand() do not inherit settings: give every command the error handling. */
function applyErrorHandling(cmd: Command): void {
  cmd.exitOverride().configureOutput({ outputError: () => {} });
  for (const sub of cmd.commands) applyErrorHandling(sub);
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Makes `name` the backend new tensors are created on; a missing GPU is the user's to fix. */
async function selectDevice(name: string): Promise<void> {
  if (name !== 'cpu' && name !== 'cuda' && name !== 'webgpu') throw new UserError(`unknown device '${name}' (RECUR_DEVICE or --device: cpu, cuda or webgpu)`);
  registerCudaBackend(); // loads nothing until selected
  try {
    if (name === 'webgpu') await initWebGPU();
    setBackend(name);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

export function buildProgram(): Command {
  const program = new Command('recur');
  program
    .description('Modern recurrent sequence models (minGRU, minLSTM, LRU, ...) in TypeScript: train, generate, benchmark.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .addOption(new Option('--threads <n>', 'CPU threads for large matmuls (default: all cores)').argParser(positiveInt('--threads')))
    .addOption(new Option('--device <name>', 'where tensors live and kernels run (default: $RECUR_DEVICE or cpu)').choices(['cpu', 'cuda', 'webgpu']))
    .showSuggestionAfterError(true);

  program.hook('preAction', async () => {
    const { threads, device } = program.opts<{ threads?: number; device?: string }>();
    enableCpuThreads(threads === undefined ? {} : { threads });
    await selectDevice(device ?? process.env.RECUR_DEVICE ?? 'cpu');
  });

  for (const register of COMMANDS) register(program);
  // Parse errors are thrown (not process.exit) and commander's own error text is dropped:
  // errors.ts prints them as one 'recur: ...' line with exit code 2.
  applyErrorHandling(program);

  program.addHelpText('after', () => `\nAll commands and their flags:\n${commandIndex(program)}\n\nRun 'recur <command> --help' for details. RECUR_DEBUG=1 prints stack traces on errors.`);
  return program;
}

await runCli(async () => {
  await buildProgram().parseAsync(process.argv);
});
