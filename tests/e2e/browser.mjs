// A stock Backstage app in Chromium against Cairn alone, page by page.
//
// Serves the built app (APP_DIST) on APP_PORT with its runtime config pointing at CAIRN_URL (the
// way Backstage's app backend injects config: a `backstage.io/config` script in index.html),
// signs in as the guest and visits each page, recording every backend request that failed and
// every error panel. Screenshots go to SCREENSHOTS. Prints one line per page and exits 1 if any
// page failed. The same server is the Git host for the import page: `/git/<repo>` is
// `git http-backend` (smart HTTP) over the repositories in GIT_ROOT.

import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile, mkdir, stat } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';

const CAIRN = process.env.CAIRN_URL.replace(/\/+$/, '');
const DIST = process.env.APP_DIST;
const PORT = Number(process.env.APP_PORT);
const SHOTS = process.env.SCREENSHOTS;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const APP = `http://127.0.0.1:${PORT}`;
const GIT_ROOT = process.env.GIT_ROOT;
const GIT_HTTP_BACKEND = join(execFileSync('git', ['--exec-path']).toString().trim(), 'git-http-backend');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon',
  '.woff2': 'font/woff2', '.woff': 'font/woff', '.map': 'application/json',
};

/** index.html with the build's config, pointed at Cairn and this server. */
async function indexHtml() {
  const html = await readFile(join(DIST, 'index.html'), 'utf8');
  const tag = /<script type="backstage.io\/config">([\s\S]*?)<\/script>/;
  const configs = JSON.parse(html.match(tag)[1]);
  configs.push({
    context: 'cairn-e2e',
    data: {
      app: { baseUrl: APP, title: 'Cairn e2e' },
      backend: { baseUrl: CAIRN },
      permission: { enabled: true },
    },
  });
  return html.replace(tag, () => `<script type="backstage.io/config">${JSON.stringify(configs)}</script>`);
}

/** One CGI request to `git http-backend`: the request body in, its headers and body out. */
function gitHttpBackend(req, res, url) {
  const cgi = spawn(GIT_HTTP_BACKEND, [], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: GIT_ROOT,
      GIT_HTTP_EXPORT_ALL: '1',
      PATH_INFO: url.pathname.slice('/git'.length),
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      CONTENT_LENGTH: req.headers['content-length'] ?? '',
      HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
      GIT_PROTOCOL: req.headers['git-protocol'] ?? '',
      REMOTE_ADDR: '127.0.0.1',
    },
  });
  req.pipe(cgi.stdin);
  let head = Buffer.alloc(0);
  let started = false;
  cgi.stdout.on('data', chunk => {
    if (started) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    started = true;
    let status = 200;
    const headers = {};
    for (const line of head.subarray(0, end).toString().split('\r\n')) {
      const at = line.indexOf(':');
      const [name, value] = [line.slice(0, at).trim(), line.slice(at + 1).trim()];
      if (name.toLowerCase() === 'status') status = parseInt(value, 10);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.write(head.subarray(end + 4));
  });
  cgi.stdout.on('end', () => {
    if (!started) res.writeHead(502);
    res.end();
  });
}

async function serve() {
  const index = await indexHtml();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, APP);
    if (GIT_ROOT && url.pathname.startsWith('/git/')) return gitHttpBackend(req, res, url);
    const path = normalize(decodeURIComponent(new URL(req.url, APP).pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(DIST, path);
    try {
      if (path !== '/' && (await stat(file)).isFile()) {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
        res.end(await readFile(file));
        return;
      }
    } catch {}
    // Every other path is the app's own route.
    res.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store' });
    res.end(index);
  });
  await new Promise(resolve => server.listen(PORT, '127.0.0.1', resolve));
  return server;
}

const results = [];
let failedRequests = [];

async function check(page, name, path, expect) {
  failedRequests = [];
  let error = null;
  try {
    if (path) await page.goto(`${APP}${path}`, { waitUntil: 'domcontentloaded' });
    await expect(page);
    await page.waitForLoadState('networkidle', { timeout: 15000 }).catch(() => {});
    const panels = await page
      .locator('[role=alert], .MuiAlert-standardError')
      .allInnerTexts()
      .catch(() => []);
    const errors = panels.map(t => t.trim()).filter(t => /error|fail|cannot|could not/i.test(t));
    if (errors.length) error = `error panel: ${errors.join(' | ').slice(0, 300)}`;
  } catch (e) {
    error = e.message.split('\n')[0].slice(0, 300);
  }
  const shot = join(SHOTS, `${String(results.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  if (!error && failedRequests.length) error = `failed requests: ${failedRequests.join(', ')}`;
  results.push({ name, path: path ?? page.url().replace(APP, ''), ok: !error, error, shot });
}

const text = (page, pattern, timeout = 45000) =>
  page.getByText(pattern).first().waitFor({ state: 'visible', timeout });

async function main() {
  await mkdir(SHOTS, { recursive: true });
  const server = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // Generous: CI runs this beside the rest of the suite on two cores.
  page.setDefaultTimeout(45000);
  page.on('response', r => {
    if (r.url().startsWith(CAIRN) && r.status() >= 400) {
      failedRequests.push(`${r.request().method()} ${r.url().replace(CAIRN, '')} ${r.status()}`);
    }
  });
  // A request the app itself cancelled (ERR_ABORTED: it moved on) is not a backend failure.
  page.on('requestfailed', r => {
    if (r.url().startsWith(CAIRN) && r.failure()?.errorText !== 'net::ERR_ABORTED') {
      failedRequests.push(`${r.method()} ${r.url().replace(CAIRN, '')} ${r.failure()?.errorText}`);
    }
  });

  // The guest is in team-orders: the catalog opens on its owned components.
  await check(page, 'sign-in', '/', async p => {
    await p.getByRole('button', { name: /enter/i }).click();
    await text(p, /Owned Components \(3\)/);
  });
  await check(page, 'catalog-all', null, async p => {
    await p.getByRole('menuitem', { name: /^All/ }).click();
    await text(p, /All Components \(\d+\)/);
    await text(p, 'Auth Library');
  });
  await check(page, 'catalog-owned', null, async p => {
    await p.getByRole('menuitem', { name: /^Owned/ }).click();
    await text(p, 'Orders Service');
    await p.getByText('Payments Service', { exact: true }).waitFor({ state: 'detached' });
  });
  await check(page, 'entity', '/catalog/default/component/payments-service', async p => {
    await text(p, /^About$/);
    await text(p, 'Payments & Billing');
  });
  await check(page, 'dependencies', '/catalog/default/component/payments-service/dependencies', async p => {
    await text(p, /Relations|Depends on/i);
  });
  await check(page, 'catalog-graph', '/catalog-graph?rootEntityRefs%5B%5D=component%3Adefault%2Fpayments-service', async p => {
    await text(p, /payments-service/);
  });
  await check(page, 'docs', '/docs/default/component/payments-service', async p => {
    await text(p, /tokenised by the PSP/);
  });
  await check(page, 'search', '/search?query=payments', async p => {
    await text(p, 'Payments Service');
  });
  await check(page, 'create', '/create', async p => {
    await text(p, 'Rust service (actix-web)');
  });
  // A template run from its form to the end, its live log, and the new entity.
  // (The card's Choose leads here.)
  await check(page, 'template-form', '/create/templates/default/rust-service', async p => {
    await p.getByRole('textbox', { name: /^Name/ }).fill('e2e-service');
    const owner = p.getByRole('combobox', { name: /^Owner/ }).or(p.getByRole('textbox', { name: /^Owner/ }));
    await owner.first().click();
    // The picker lists groups by title and also takes a typed ref.
    await owner.first().fill('Order Management');
    await p.getByRole('option', { name: /Order Management/ }).first().click();
    await p.getByRole('button', { name: /^Next/ }).click();
    await p.getByRole('button', { name: /^Review/ }).click();
    await p.getByRole('button', { name: /^Create/ }).click();
  });
  await check(page, 'template-task', null, async p => {
    await text(p, /Register in the catalog/);
    await p.getByRole('button', { name: /Open in catalog/i }).or(p.getByRole('link', { name: /Open in catalog/i })).first().waitFor();
  });
  await check(page, 'template-entity', null, async p => {
    await p.getByRole('button', { name: /Open in catalog/i }).or(p.getByRole('link', { name: /Open in catalog/i })).first().click();
    await text(p, 'e2e-service');
    await text(p, /^About$/);
  });
  // The finished task rang the bell: the notification is listed.
  await check(page, 'notification-of-task', '/notifications', async p => {
    await text(p, /Rust service \(actix-web\): run completed/);
  });
  // A component registered by its file's URL on a Git host: analysed (a dry run), imported,
  // then opened from the import page's last step.
  await check(page, 'catalog-import', '/catalog-import', async p => {
    await text(p, /Register an existing component|Start tracking your component/i);
    await p.getByRole('textbox', { name: /URL/i }).fill(`${APP}/git/import-demo.git/blob/main/catalog-info.yaml`);
    await p.getByRole('button', { name: /^Analyze/i }).click();
    await text(p, /The following entities will be added/);
    await p.getByText('import-demo', { exact: true }).first().waitFor();
  });
  await check(page, 'catalog-import-done', null, async p => {
    await p.getByRole('button', { name: /^Import/i }).click();
    await p.getByRole('link', { name: /View Component/i }).or(p.getByRole('button', { name: /View Component/i })).first().click();
    await text(p, 'Registered from the import page');
    await text(p, /^About$/);
  });
  await check(page, 'notifications', '/notifications', async p => {
    await text(p, /Notifications/);
  });

  await browser.close();
  server.close();
  console.log('| page | path | result |');
  console.log('|---|---|---|');
  for (const r of results) {
    console.log(`| ${r.name} | ${r.path} | ${r.ok ? 'ok' : r.error.replace(/\|/g, '/')} |`);
  }
  console.log(`screenshots: ${SHOTS}`);
  process.exit(results.every(r => r.ok) ? 0 : 1);
}

main().catch(e => {
  console.error(e);
  process.exit(2);
});
