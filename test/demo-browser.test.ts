import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeDemo } from '../runtime/demo.js';
import { readTitles } from '../train/serve/histories.js';
import { Recommender } from '../runtime/recommender.js';
import { tinyServingModel } from './util/serving-model.js';
import { tempDir } from './util/tmp.js';

/** Debian's chromium (installed by .ci/run); Playwright drives it and downloads nothing. */
const CHROMIUM = process.env.HM4SR_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OUTPUT = new URL('../test-output/', import.meta.url).pathname;

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/** A plain static file server: the page needs nothing else. */
function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    const file = join(root, path === '/' ? 'index.html' : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((ok) =>
    server.listen(0, '127.0.0.1', () =>
      ok({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` }),
    ),
  );
}

if (!existsSync(CHROMIUM)) {
  process.stdout.write(
    `SKIP test/demo-browser.test.ts: no chromium at ${CHROMIUM} (install Debian's chromium: apt-get install -y chromium; .ci/run does)\n`,
  );
  test.skip('the demo page recommends in headless Chromium', () => {});
} else {
  test('the demo page loads model.onnx in onnxruntime-web and recommends, with titles, after clicked items', async () => {
    const dir = tempDir('hm4sr-demo-');
    const t = tinyServingModel(dir);
    const titles = readTitles(join(t.data, `${t.name}.item`))!;
    assert.ok(titles.size > 0, 'the synthetic data has titles');
    const site = join(dir, 'site');
    writeDemo(t.model, site, titles);
    const { server, url } = await serve(site);
    const { chromium } = await import('playwright-core');
    const ctx = await chromium.launchPersistentContext(tempDir('hm4sr-chromium-'), {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
    });
    try {
      const page = await ctx.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForSelector('body[data-ready="1"], body[data-error]', { timeout: 120_000 });
      assert.equal(errors, []);
      assert.is(await page.getAttribute('body', 'data-error'), null);
      await page.click('#catalog li.item[data-item="3"]');
      await page.waitForSelector('body[data-results="1"]');
      await page.click('#catalog li.item[data-item="7"]');
      await page.waitForSelector('body[data-results="2"]');
      await page.click('#recs tr.rec >> nth=0'); // a recommendation joins the history
      await page.waitForSelector('body[data-results="3"]');
      const run = await page.evaluate(
        () =>
          (
            window as unknown as {
              hm4sr: {
                lastRun: {
                  history: number[];
                  times: number[];
                  excludeSeen: boolean;
                  items: number[];
                  scores: number[];
                };
              };
            }
          ).hm4sr.lastRun,
      );
      assert.is(run.history.length, 3);
      assert.equal(run.history.slice(0, 2), [3, 7]);
      // onnxruntime-node on the same history and click times gives the same top 10.
      const rec = await Recommender.load(t.model);
      const [want] = await rec.recommend(
        [{ items: run.history.map((i) => t.ds.itemTokens[i]), times: run.times }],
        10,
        { excludeSeen: run.excludeSeen },
      );
      assert.ok(run.excludeSeen, 'the page hides seen items by default');
      assert.equal(run.items, want.ids);
      run.scores.forEach((s, i) =>
        assert.ok(
          Math.abs(s - want.scores[i]) <= 1e-5 * (1 + Math.abs(s)),
          `score ${i}: page ${s}, node ${want.scores[i]}`,
        ),
      );
      const shown = await page.$$eval('#recs tr.rec', (rows) =>
        rows.map((r) => [r.querySelector('.token')!.textContent, r.querySelector('.title')!.textContent]),
      );
      assert.equal(
        shown,
        want.items.map((tok) => [tok, titles.get(tok)]),
      );
      mkdirSync(OUTPUT, { recursive: true });
      const shot = join(OUTPUT, 'demo-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      process.stdout.write(`screenshot: ${shot}\n`);
    } finally {
      await ctx.close();
      server.close();
    }
  });
}

test.run();
