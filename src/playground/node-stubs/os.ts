/**
 * Stand-in for `node:os` in the playground bundle: the trainer checks a run's estimated memory
 * against the machine's before building it. A page learns only `navigator.deviceMemory` (GiB,
 * rounded and capped by the browser; Chromium only), so that is the budget, 4 GiB where unknown.
 */
const GiB = 2 ** 30;
export const totalmem = (): number => ((globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory ?? 4) * GiB;
export const freemem = totalmem;
