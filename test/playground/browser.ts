/**
 * Driving the playground in headless Chromium for tests: Debian's `chromium` through playwright-core
 * (no browser download), WebGPU through the SwiftShader Vulkan driver it ships, a fresh profile per launch,
 * the page served by `recur playground`'s own server on a free port.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { servePlayground } from '../../src/cli/playground.js';

export const CHROMIUM = process.env.RECUR_CHROMIUM ?? '/usr/bin/chromium';

/** Headless, no sandbox (CI runs as root), WebGPU on SwiftShader's Vulkan, nothing phoning home. */
export const CHROMIUM_FLAGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];

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

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'recur-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1280, height: 900 }, acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
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
