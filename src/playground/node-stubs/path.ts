/** Stand-in for `node:path` in the playground bundle: the trainer uses it to name files in messages. */
export const sep = '/';
export const join = (...parts: string[]): string => parts.filter((p) => p !== '').join('/');
export const dirname = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '.');
export const basename = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
export const resolve = (p: string): string => p;
