/** Stand-in for `node:crypto` in the playground bundle (atomic file writes use it; a page never writes files). */
export const randomBytes = (): never => {
  throw new Error('crypto.randomBytes is not available in the browser');
};
export const createHash = (): never => {
  throw new Error('crypto.createHash is not available in the browser (the playground hashes with crypto.subtle)');
};
