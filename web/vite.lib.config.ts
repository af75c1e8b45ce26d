import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { resolve } from 'node:path';

// The library build: plain ES modules with React left to the host app
// (peer dependency). Declarations come from `tsc -p tsconfig.build.json`.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    sourcemap: true,
    minify: false,
    lib: {
      // `client/index` sits next to its declarations (dist/client/index.d.ts):
      // a dist/client.js would shadow that folder when a .d.ts imports './client'.
      entry: { index: resolve(import.meta.dirname, 'src/index.ts'), 'client/index': resolve(import.meta.dirname, 'src/client/index.ts') },
      formats: ['es'],
    },
    rollupOptions: {
      external: ['react', 'react-dom', 'react/jsx-runtime', 'react-dom/client'],
      output: {
        // The React entry uses hooks and browser APIs: Next.js (App Router)
        // must treat it as a client module. The framework-free `client` entry
        // stays usable on a server, so it gets no directive.
        banner: (chunk) => (chunk.isEntry && chunk.name === 'index' ? '"use client";' : ''),
      },
    },
  },
});
