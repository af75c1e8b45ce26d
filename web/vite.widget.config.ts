import { defineConfig } from 'vite';
import { resolve } from 'node:path';

// `widget.js`, the one-tag loader a host page includes: one small IIFE with
// no dependencies, at a stable URL (not hashed: host pages link to it), next
// to the demo build it opens as an iframe (`/widget/`).
export default defineConfig({
  build: {
    outDir: resolve(import.meta.dirname, 'dist-demo'),
    emptyOutDir: false,
    copyPublicDir: false,
    target: 'es2019',
    lib: {
      entry: resolve(import.meta.dirname, 'widget/loader.ts'),
      formats: ['iife'],
      name: 'SoporteWidget',
      fileName: () => 'widget.js',
    },
  },
});
