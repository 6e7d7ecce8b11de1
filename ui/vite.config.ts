/// <reference types="vitest/config" />
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// `npm run dev` proxies the API to a local `crema serve` (CREMA_API, default 127.0.0.1:8080).
const api = process.env.CREMA_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [svelte()],
  // Relative asset URLs: the same build works at `/` of `crema serve` and inside the Tauri window.
  base: './',
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
    proxy: { '/v1': api, '/auth': api },
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 700,
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});
