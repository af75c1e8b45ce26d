import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { resolve } from "node:path";

// Builds the demo app (customer page + agent console) into dist-demo/, which
// `soporte serve` serves at `/` and `/agente/` (the widget's panel and loader
// are vite.panel.config.ts and vite.widget.config.ts). The library itself is
// built by `tsc -p tsconfig.build.json` (see package.json).
export default defineConfig({
  root: 'demo',
  base: '/',
  plugins: [react()],
  build: {
    outDir: resolve(import.meta.dirname, 'dist-demo'),
    emptyOutDir: true,
    // No inline scripts or data: modules: the server's CSP allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: {
        cliente: resolve(import.meta.dirname, 'demo/index.html'),
        agente: resolve(import.meta.dirname, 'demo/agente/index.html'),
      },
    },
  },
  test: {
    root: '.',
    environment: 'jsdom',
    globals: true,
    include: ['test/**/*.test.{ts,tsx}'],
  },
});
