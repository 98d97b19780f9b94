/**
 * Runs kept in the browser (IndexedDB): settings, curves and the weights file of each run, so a
 * reload or a later visit can reopen them. Failures (private windows without IndexedDB, quota)
 * surface as errors the page shows; the playground works without the store.
 */
import type { PageSettings } from './settings.js';

export interface StoredRun {
  id: string;
  /** ISO time of the run's start. */
  created: string;
  title: string;
  settings: PageSettings;
  textName: string;
  step: number;
  train: [number, number][];
  /** [step, loss, accuracy] */
  val: [number, number, number][];
  /** The run's self-contained .safetensors (as Save downloads it), when saved. */
  weights: ArrayBuffer | null;
}

const DB_NAME = 'recur-playground';
const STORE = 'runs';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

let opened: Promise<IDBDatabase> | null = null;

function database(): Promise<IDBDatabase> {
  if (!globalThis.indexedDB) return Promise.reject(new Error('this browser keeps no IndexedDB here, so runs are not kept'));
  opened ??= new Promise((resolve, reject) => {
    const r = indexedDB.open(DB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE, { keyPath: 'id' });
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB could not be opened'));
  });
  return opened;
}

async function withStore<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await database();
  return request(fn(db.transaction(STORE, mode).objectStore(STORE)));
}

export async function putRun(run: StoredRun): Promise<void> {
  await withStore('readwrite', (s) => s.put(run));
}

export async function getRun(id: string): Promise<StoredRun | undefined> {
  return withStore<StoredRun | undefined>('readonly', (s) => s.get(id) as IDBRequest<StoredRun | undefined>);
}

export async function deleteRun(id: string): Promise<void> {
  await withStore('readwrite', (s) => s.delete(id));
}

/** Every kept run, newest first (weights included: page-sized models are a few hundred kB). */
export async function listRuns(): Promise<StoredRun[]> {
  const runs = await withStore<StoredRun[]>('readonly', (s) => s.getAll() as IDBRequest<StoredRun[]>);
  return runs.sort((a, b) => b.created.localeCompare(a.created));
}
