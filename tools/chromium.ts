/**
 * Headless Chromium for the playground tests and the browser benchmark: Debian's `chromium`
 * driven by playwright-core (no browser download), WebGPU through the SwiftShader Vulkan driver
 * that package ships, a fresh profile per launch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.RECUR_CHROMIUM ?? '/usr/bin/chromium';

/** Headless, no sandbox (CI runs as root), nothing phoning home. */
export const CHROMIUM_FLAGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
];
/** WebGPU on SwiftShader's Vulkan (without these, headless Chromium offers no adapter). */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader'];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A fresh profile; `webgpu: false` leaves WebGPU without an adapter (to test the CPU fallback). */
export async function launchBrowser(opts: { webgpu?: boolean } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'recur-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_FLAGS, ...(opts.webgpu === false ? [] : WEBGPU_FLAGS)], viewport: { width: 1280, height: 900 }, acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
