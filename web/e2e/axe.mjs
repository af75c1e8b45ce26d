// WCAG 2.1 AA checks with axe-core, in the page itself: every test page and
// the widget are audited, and a serious or critical violation fails.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const source = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** The serious and critical WCAG 2.1 A/AA violations on `page` (within `selector`). */
export async function accessibilityProblems(page, selector = 'body') {
  // Evaluated over the DevTools protocol, which the page's CSP (script-src
  // 'self') does not govern: a <script> tag would be refused, rightly.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(source);
  const results = await page.evaluate(
    (context) =>
      window.axe.run(context, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] }),
    selector,
  );
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}
