// Copies the components' stylesheet next to the compiled library (dist/styles.css).
import { copyFileSync, mkdirSync } from 'node:fs';
mkdirSync(new URL('../dist/', import.meta.url), { recursive: true });
copyFileSync(new URL('../src/react/styles.css', import.meta.url), new URL('../dist/styles.css', import.meta.url));
