// The real Tauri runtime for `createTauriApi`. Imported dynamically, only
// inside the desktop window, so the browser bundle does not load it.
import { Channel, convertFileSrc, invoke } from '@tauri-apps/api/core';
import { getCurrentWebview } from '@tauri-apps/api/webview';
import { open } from '@tauri-apps/plugin-dialog';
import type { TauriDeps } from './tauri';

export const tauriDeps: TauriDeps = {
  invoke: (cmd, args) => invoke(cmd, args),
  Channel: Channel as unknown as TauriDeps['Channel'],
  convertFileSrc: (p) => convertFileSrc(p),
  async openDialog({ multiple, directory, title }) {
    const r = await open({ multiple, directory, title });
    if (r === null) return [];
    return Array.isArray(r) ? r : [r];
  },
  async onDragDrop(handler) {
    return getCurrentWebview().onDragDropEvent((e) => {
      if (e.payload.type === 'drop') handler(e.payload.paths);
    });
  },
};
