// Drives Debian's Chromium (through puppeteer-core, over the DevTools protocol) for the
// integration suite's browser tests, tests/integration/browser.rs. One command per run; it prints
// one JSON document on stdout and exits non-zero on any error.
//
//   node drive.mjs click-facet '{"url": "...", "facet": "architecture", "value": "llama", "javascript": true}'
//       The page's models and facet counts, a real click on the facet's checkbox (with
//       JavaScript off, then also on "Apply filters"), and the models and counts after it.
//   node drive.mjs text '{"url": "...", "selector": "#curl-snippet"}'
//       The text content of the first element the selector matches, as the browser renders it.
//   node drive.mjs axe '{"url": "..."}'
//       axe-core's audit of the page: {violations, incomplete: [{id, impact, help, nodes}],
//       passes: the number of rules passed}.
//   node drive.mjs screenshot '{"url": "...", "path": "...", "width": 1280, "height": 900}'
//       A full-page PNG.
//
// CHROMIUM names the browser binary (default /usr/bin/chromium).

import { createRequire } from 'node:module';
import puppeteer from 'puppeteer-core';

const require = createRequire(import.meta.url);
const [command, rawArgs] = process.argv.slice(2);
const args = JSON.parse(rawArgs ?? '{}');

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
  ],
});

/** What the catalog page shows: the cards' model ids and names, and each facet's counts. */
async function catalogState(page) {
  return page.evaluate(() => {
    const models = [...document.querySelectorAll('[data-model-id]')].map((card) => ({
      id: card.getAttribute('data-model-id'),
      name: card.querySelector('h3').textContent.trim(),
    }));
    const facets = {};
    for (const set of document.querySelectorAll('fieldset[data-facet]')) {
      facets[set.getAttribute('data-facet')] = [...set.querySelectorAll('input')].map((input) => {
        const label = set.querySelector(`label[for="${input.id}"]`);
        const count = label?.querySelector('[data-count]');
        return {
          value: input.value,
          label: label?.querySelector('.value')?.textContent.trim() ?? null,
          count: count ? Number(count.getAttribute('data-count')) : null,
          checked: input.checked,
        };
      });
    }
    const chips = [...document.querySelectorAll('a.chip')].map((a) => ({
      text: a.textContent.trim(),
      href: a.getAttribute('href'),
    }));
    const heading = document.querySelector('#results-heading')?.textContent.trim() ?? null;
    return { url: location.href, heading, models, facets, chips };
  });
}

async function open(url) {
  const page = await browser.newPage();
  page.setDefaultNavigationTimeout(20000);
  await page.setViewport({ width: args.width ?? 1280, height: args.height ?? 900 });
  if (args.javascript === false) {
    await page.setJavaScriptEnabled(false);
  }
  const response = await page.goto(url, { waitUntil: 'load' });
  if (!response) {
    throw new Error(`no response from ${url}`);
  }
  return { page, status: response.status() };
}

async function run() {
  switch (command) {
    case 'click-facet': {
      const { page, status } = await open(args.url);
      const before = await catalogState(page);
      const selector = `fieldset[data-facet="${args.facet}"] input[value="${args.value}"]`;
      const box = await page.$(selector);
      if (!box) {
        throw new Error(`no facet input ${selector}`);
      }
      if (args.javascript === false) {
        // Without scripts a click only ticks the box; the form's button submits it.
        await box.click();
        await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#apply')]);
      } else {
        await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), box.click()]);
      }
      const after = await catalogState(page);
      return { status, before, after };
    }
    case 'text': {
      const { page, status } = await open(args.url);
      const text = await page.$eval(args.selector, (el) => el.textContent);
      return { status, text };
    }
    case 'axe': {
      const { page, status } = await open(args.url);
      await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
      const result = await page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document);
        const brief = (v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => n.target.join(' ')),
        });
        return {
          violations: r.violations.map(brief),
          // What axe could not decide (e.g. contrast over an unknown background).
          incomplete: r.incomplete.map(brief),
          passes: r.passes.length,
        };
      });
      return { status, ...result };
    }
    case 'screenshot': {
      const { page, status } = await open(args.url);
      await page.screenshot({ path: args.path, fullPage: true });
      return { status, path: args.path };
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
}

try {
  const out = await run();
  process.stdout.write(JSON.stringify(out));
} finally {
  await browser.close();
}
