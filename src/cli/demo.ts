/**
 * TEMPORARY placeholder written by the infrastructure change so that main.ts compiles; the lead's
 * real `recur demo` (train a tiny model, then generate) replaces this whole file.
 */
import type { Command } from 'commander';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('train a tiny recurrent language model and sample from it (placeholder: not implemented yet)')
    .action(() => {
      console.log('demo: coming in the next commit');
    });
}
