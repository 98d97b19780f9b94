/**
 * Driving the playground in headless Chromium for tests (tools/chromium.ts launches it), the page
 * served by `recur playground`'s own server on a free port.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { servePlayground } from '../../src/cli/playground.js';
import { CHROMIUM } from '../../tools/chromium.js';

export { launchBrowser, type Browser } from '../../tools/chromium.js';

/** Where tests leave screenshots (ignored by git). */
export const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/playground/', import.meta.url));

/**
 * Why the browser tests cannot run here, or undefined when they can. Under CI a missing Chromium
 * is a failure (.ci/run installs it), never a skip.
 */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium for the playground tests`);
  return `${CHROMIUM} is missing (apt-get install chromium)`;
}

/** The playground served on 127.0.0.1 with a free port (the CLI command's server). */
export async function startPlayground(): Promise<{ url: string; close(): Promise<void> }> {
  const { server, url } = await servePlayground({ port: 0, host: '127.0.0.1' });
  return { url, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

/** Console errors, failed requests and uncaught exceptions of a page, as they happen. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  return errors;
}

export const byTestId = (id: string): string => `[data-testid="${id}"]`;

/** The text of a data-testid element. */
export async function textOf(page: Page, id: string): Promise<string> {
  return (await page.textContent(byTestId(id)))?.trim() ?? '';
}

/** A loss shown by the page at full precision (data-value), falling back to the text. */
export async function numberOf(page: Page, id: string): Promise<number> {
  const v = await page.getAttribute(byTestId(id), 'data-value');
  return Number(v ?? (await textOf(page, id)));
}

/** Waits until the page's step counter shows `step` and training has stopped (Train enabled again). */
export async function waitForStep(page: Page, step: number, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel[0]!)?.textContent === want && !(document.querySelector(sel[1]!) as HTMLButtonElement | null)?.disabled,
    [[byTestId('step'), byTestId('train')], String(step)] as const, { timeout },
  );
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
