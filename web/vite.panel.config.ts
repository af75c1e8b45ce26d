import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';

// The widget's chat panel (`/widget/`, framed by host pages) into
// dist-demo/. The same components as everywhere, rendered by Preact's React
// compatibility layer: React DOM alone weighs ~60 KB gzip, more than half of
// the panel's 100 KB budget (scripts/widget-size.mjs); Preact is ~5 KB.
// The widget's end-to-end test runs this build in Chromium.
export default defineConfig({
  root: 'demo',
  base: '/',
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^react-dom\/client$/, replacement: 'preact/compat/client' },
      { find: /^react-dom$/, replacement: 'preact/compat' },
      { find: /^react\/jsx-runtime$/, replacement: 'preact/jsx-runtime' },
      { find: /^react$/, replacement: 'preact/compat' },
    ],
  },
  build: {
    outDir: resolve(import.meta.dirname, 'dist-demo'),
    emptyOutDir: false,
    copyPublicDir: false,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { widget: resolve(import.meta.dirname, 'demo/widget/index.html') },
    },
  },
});
