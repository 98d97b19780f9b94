/// <reference types="@webgpu/types" />
/**
 * Getting a WebGPU device: `navigator.gpu` in a browser; in Node the optional npm package `webgpu`
 * (Dawn), imported only here and only when asked for. Every failure is one sentence naming what is
 * missing (no package, no Vulkan loader, no adapter).
 */

export interface WebGPUOptions {
  /** 'high-performance' (default) or 'low-power' (navigator.gpu.requestAdapter's hint). */
  powerPreference?: GPUPowerPreference;
  /** Extra Dawn options for the Node package (e.g. 'backend=vulkan', 'adapter=NVIDIA H100'). */
  dawnOptions?: string[];
}

/** What the adapter is (reported by benchmarks and the CLI). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Whether this is a CPU/software implementation (SwiftShader, lavapipe, WARP): never a GPU figure. */
  software: boolean;
  features: string[];
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapter: AdapterDescription;
  /** The GPU object's constants (GPUBufferUsage, GPUMapMode), from the package in Node. */
  usage: { STORAGE: number; UNIFORM: number; COPY_SRC: number; COPY_DST: number; MAP_READ: number };
  mapRead: number;
  /**
   * The GPU entry object and adapter, held for the device's lifetime: Dawn's instance lives in the
   * `create()` object, and once that is garbage-collected its event processing crashes the process.
   */
  keepAlive: readonly unknown[];
}

/** The limits a device is asked for: the adapter's own, where they exceed the defaults. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
] as const;

/** Optional features used where the adapter offers them. */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

const SOFTWARE_ADAPTER = /swiftshader|lavapipe|llvmpipe|warp|microsoft basic render|software/i;

export async function acquireDevice(opts: WebGPUOptions = {}): Promise<AcquiredDevice> {
  const { gpu, consts } = await gpuEntry(opts);
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(`WebGPU has no adapter here (${noAdapterHint()}); use the 'cpu' backend.`);
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`;
  return {
    device,
    adapter: {
      vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
      software: SOFTWARE_ADAPTER.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
      features: [...device.features].sort(),
    },
    usage: consts.usage,
    mapRead: consts.mapRead,
    keepAlive: [gpu, adapter],
  };
}

interface GpuEntry {
  gpu: GPU;
  consts: { usage: AcquiredDevice['usage']; mapRead: number };
}

/** The browser's navigator.gpu, else Dawn from the optional `webgpu` package (Node). */
async function gpuEntry(opts: WebGPUOptions): Promise<GpuEntry> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const g = globalThis as unknown as { GPUBufferUsage?: AcquiredDevice['usage']; GPUMapMode?: { READ: number } };
  if (nav?.gpu && g.GPUBufferUsage && g.GPUMapMode) return { gpu: nav.gpu, consts: { usage: g.GPUBufferUsage, mapRead: g.GPUMapMode.READ } };
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) throw new Error("this browser offers no WebGPU (navigator.gpu is missing); use the 'cpu' backend.");
  await preloadVulkanLoader();
  // A variable specifier: bundlers for the browser leave this Node-only import alone.
  const specifier = 'webgpu';
  let mod: { create(options: string[]): GPU; globals: Record<string, unknown> };
  try {
    mod = (await import(specifier)) as typeof mod;
  } catch {
    throw new Error("the WebGPU backend in Node needs the optional package 'webgpu' (Dawn): run `npm install webgpu`.");
  }
  const usage = mod.globals.GPUBufferUsage as AcquiredDevice['usage'];
  const mapMode = mod.globals.GPUMapMode as { READ: number };
  return { gpu: mod.create(opts.dawnOptions ?? []), consts: { usage, mapRead: mapMode.READ } };
}

/**
 * Dawn loads the Vulkan loader as `libvulkan.so.1`. Debian's chromium package ships one next to
 * SwiftShader; where the system has none (no libvulkan1), load that copy first, so that Dawn's
 * dlopen finds it already in the process (dlopen matches by soname).
 */
async function preloadVulkanLoader(): Promise<void> {
  if (process.platform !== 'linux') return;
  // variable specifiers here too: a browser bundle must not try to resolve Node's modules
  const fsName = 'node:fs', moduleName = 'node:module';
  const fs = (await import(fsName)) as typeof import('node:fs');
  const candidates = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1'];
  if (candidates.some((p) => fs.existsSync(p))) return;
  const bundled = '/usr/lib/chromium/libvulkan.so.1';
  if (!fs.existsSync(bundled)) return;
  try {
    const { createRequire } = (await import(moduleName)) as typeof import('node:module');
    const koffi = createRequire(import.meta.url)('koffi') as { load(path: string): unknown };
    koffi.load(bundled);
  } catch {
    // Dawn then reports the missing loader itself, and the adapter request fails with the hint below.
  }
}

function noAdapterHint(): string {
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode) return 'the browser exposes navigator.gpu but gave no adapter';
  return 'Dawn found no Vulkan device: a GPU driver, or for software rendering the Vulkan loader (libvulkan1) and ' +
    'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json from Debian\'s chromium package';
}
