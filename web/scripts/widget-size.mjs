// Fails the build when the widget grows past its budget (issue 19):
// `widget.js` at most 15 KB gzip, the panel's first load (its HTML's JS and
// CSS) at most 100 KB gzip. Prints the sizes (docs/BENCHMARKS.md keeps them).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = resolve(import.meta.dirname, '../dist-demo');
const gz = (path) => gzipSync(readFileSync(resolve(dist, path)), { level: 9 }).length;
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;

const loader = gz('widget.js') + gz('widget-launcher.css');
const html = readFileSync(resolve(dist, 'widget/index.html'), 'utf8');
const assets = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
const panel = assets.reduce((sum, path) => sum + gz(path), 0);
console.log(`widget.js + launcher CSS: ${kb(loader)} gzip (budget 15 KB); panel first load: ${kb(panel)} gzip in ${assets.length} files (budget 100 KB)`);
if (loader > 15_000 || panel > 100_000) {
  console.error('the widget is over its size budget');
  process.exit(1);
}
