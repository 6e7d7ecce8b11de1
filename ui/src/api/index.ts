// Picks the transport at startup: the Tauri window has `__TAURI_INTERNALS__`.
import type { CremaApi } from './api';
import { createHttpApi } from './http';

export type * from './api';
export type * from './types';
export { ApiError, humanMessage } from './errors';
export { listAllJobs } from './api';

export function isTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

export async function createApi(): Promise<CremaApi> {
  if (isTauri()) {
    const [{ createTauriApi }, { tauriDeps }] = await Promise.all([import('./tauri'), import('./tauri-runtime')]);
    return createTauriApi(tauriDeps);
  }
  return createHttpApi();
}
