/**
 * Stand-in for `node:fs` in the playground bundle. The page reuses the CLI's trainer and checkpoint
 * code (src/train) so that a page run computes what `recur train` computes; those modules also
 * write run directories, which a page never does. Their file functions resolve here and throw.
 */
function unavailable(name: string): never {
  throw new Error(`${name} is not available in the browser (the playground keeps files in IndexedDB and downloads)`);
}

export const appendFileSync = (): never => unavailable('fs.appendFileSync');
export const existsSync = (): never => unavailable('fs.existsSync');
export const statSync = (): never => unavailable('fs.statSync');
export const truncateSync = (): never => unavailable('fs.truncateSync');
export const promises = new Proxy({}, { get: (_t, key) => () => unavailable(`fs.promises.${String(key)}`) });
