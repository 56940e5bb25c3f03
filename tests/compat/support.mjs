// Shared helpers for the Cairn compatibility tests.
//
// Not a test file itself (node --test only picks up *.test.mjs here).
// Configuration comes from the environment:
//   CAIRN_URL    base URL of the Cairn backend, e.g. http://127.0.0.1:7007 (required)
//   CAIRN_TOKEN  bearer token sent with every request (optional)

import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CatalogClient } from '@backstage/catalog-client';

export const SERVER = (process.env.CAIRN_URL ?? '').trim().replace(/\/+$/, '');
export const TOKEN = (process.env.CAIRN_TOKEN ?? '').trim();

/** Per-request timeout, so that a hung server fails a test instead of hanging the run. */
const REQUEST_TIMEOUT_MS = 15_000;

export const MISSING_URL_MESSAGE =
  'CAIRN_URL is not set. Start Cairn with the example catalog and run, from tests/compat: ' +
  'CAIRN_URL=http://127.0.0.1:7007 npm test  (add CAIRN_TOKEN=<token> if the server requires auth)';

/** `skip` option for the top-level describe() of each test file. */
export const SKIP_UNLESS_CONFIGURED = SERVER ? false : 'CAIRN_URL is not set';

/**
 * When CAIRN_URL is missing, registers one failing test carrying a clear
 * message (the real suites are then skipped via SKIP_UNLESS_CONFIGURED).
 */
export function failIfNotConfigured() {
  if (!SERVER) {
    test('configuration: CAIRN_URL must be set', () => {
      throw new Error(MISSING_URL_MESSAGE);
    });
  }
}

/** Every request the client made, as "METHOD /path" (path relative to the server). */
export const requestLog = [];

/** The real @backstage/catalog-client, wired as shown in catalog-api.md §14. */
export function createCatalogClient() {
  if (!SERVER) throw new Error(MISSING_URL_MESSAGE);
  return new CatalogClient({
    discoveryApi: { getBaseUrl: async pluginId => `${SERVER}/api/${pluginId}` },
    fetchApi: {
      fetch: (url, init = {}) => {
        const headers = new Headers(init.headers);
        if (TOKEN) headers.set('authorization', `Bearer ${TOKEN}`);
        const u = new URL(url);
        requestLog.push(`${init.method ?? 'GET'} ${u.pathname}${u.search}`);
        return fetch(url, {
          ...init,
          headers,
          signal: init.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      },
    },
  });
}

/**
 * Polls `fn` every `intervalMs` until it returns a value for which `done`
 * is true, or throws after `timeoutMs`. Returns that value.
 */
export async function pollUntil(fn, done, { timeoutMs = 10_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (done(value)) return value;
    if (Date.now() >= deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Waits until the server serves a non-empty catalog whose entity count is
 * stable across two reads, so that counting tests are not run during the
 * initial ingestion. Returns the entity count.
 */
export async function waitForSettledCatalog(client, { timeoutMs = 30_000 } = {}) {
  const count = async () =>
    (await client.getEntities({ fields: ['metadata.uid'] })).items.length;
  let previous = -1;
  const settled = await pollUntil(
    async () => {
      const current = await count();
      const stable = current > 0 && current === previous;
      previous = current;
      return { current, stable };
    },
    r => r.stable,
    { timeoutMs, intervalMs: 500, what: 'a non-empty catalog with a stable entity count' },
  );
  return settled.current;
}

/** Asserting helper for assert.rejects: a ResponseError with the given status and cause name. */
export function isResponseError(statusCode, causeName) {
  return e => {
    if (e?.name !== 'ResponseError') {
      throw new Error(`expected a ResponseError, got ${e?.name}: ${e?.message}`);
    }
    if (e.statusCode !== statusCode) {
      throw new Error(
        `expected status ${statusCode}, got ${e.statusCode} (${e.cause?.name}: ${e.cause?.message})`,
      );
    }
    if (e.response?.status !== statusCode) {
      throw new Error(
        `HTTP status ${e.response?.status} differs from body response.statusCode ${e.statusCode}`,
      );
    }
    if (e.cause?.name !== causeName) {
      throw new Error(
        `expected error name ${causeName}, got ${e.cause?.name}: ${e.cause?.message}`,
      );
    }
    return true;
  };
}
