// The real Tech Insights client (@backstage-community/plugin-tech-insights-common/client) against
// Cairn: scorecard checks appear as json-rules-engine checks with category and rank, and run
// for one entity or in bulk.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TechInsightsClient } from '@backstage-community/plugin-tech-insights-common/client';

import { SERVER, TOKEN, SKIP_UNLESS_CONFIGURED, failIfNotConfigured, pollUntil } from './support.mjs';

failIfNotConfigured();

const client = () =>
  new TechInsightsClient({
    discoveryApi: { getBaseUrl: async pluginId => `${SERVER}/api/${pluginId}` },
    identityApi: { getCredentials: async () => ({ token: TOKEN || undefined }) },
  });

const SERVICE = { kind: 'Component', namespace: 'default', name: 'orders-service' };

describe('tech insights API (tech-insights-common 0.11.0)', { skip: SKIP_UNLESS_CONFIGURED }, () => {
  test('getAllChecks lists scorecard checks as json-rules-engine checks with category and rank', async () => {
    const checks = await client().getAllChecks();
    assert.ok(checks.length > 0);
    for (const c of checks) {
      assert.equal(c.type, 'json-rules-engine');
      assert.equal(typeof c.id, 'string');
      assert.equal(typeof c.name, 'string');
      assert.ok(Array.isArray(c.factIds));
      assert.equal(typeof c.metadata, 'object');
    }
    const owner = checks.find(c => c.id === 'production-readiness.has-owner');
    assert.ok(owner, 'the built-in production readiness scorecard is listed');
    assert.equal(owner.metadata.category, 'Production readiness');
    assert.equal(owner.metadata.rank, 1);
  });

  test('runChecks returns boolean results with the facts and the evaluated rule, passing first', async () => {
    const results = await pollUntil(() => client().runChecks(SERVICE), r => r.length > 0, { what: 'check results' });
    let seenFailure = false;
    for (const r of results) {
      assert.equal(typeof r.result, 'boolean');
      assert.equal(r.check.type, 'json-rules-engine');
      assert.ok(r.check.rule.conditions, 'rule.conditions present');
      assert.equal(typeof r.facts, 'object');
      if (!r.result) seenFailure = true;
      if (seenFailure) assert.equal(r.result, false, 'passing results come first');
    }
    const owner = results.find(r => r.check.id === 'production-readiness.has-owner');
    assert.equal(owner.result, true);
  });

  test('runChecks with ids runs only those; an unknown id is a 404', async () => {
    const results = await client().runChecks(SERVICE, ['production-readiness.has-owner']);
    assert.deepEqual(results.map(r => r.check.id), ['production-readiness.has-owner']);
    await assert.rejects(client().runChecks(SERVICE, ['no-such-check']), e => e.name === 'ResponseError' && e.statusCode === 404);
  });

  test('runBulkChecks with no entities runs every entity a check applies to', async () => {
    const checks = await client().getAllChecks();
    const bulk = await client().runBulkChecks([], [checks.find(c => c.id === 'production-readiness.has-owner')]);
    assert.ok(bulk.length > 1);
    assert.ok(bulk.some(b => b.entity === 'component:default/orders-service'));
    for (const b of bulk) assert.ok(Array.isArray(b.results));
    const some = await client().runBulkChecks([SERVICE]);
    assert.equal(some.length, 1);
    assert.equal(some[0].entity, 'component:default/orders-service');
  });

  test('getFactSchemas and getFacts serve the built-in retrievers', async () => {
    const schemas = await client().getFactSchemas();
    const ownership = schemas.find(s => s.id === 'entityOwnershipFactRetriever');
    assert.equal(ownership.hasOwner.type, 'boolean');
    const facts = await client().getFacts(SERVICE, ['entityOwnershipFactRetriever', 'entityMetadataFactRetriever']);
    assert.equal(facts.entityOwnershipFactRetriever.facts.hasOwner, true);
    assert.deepEqual(facts.entityOwnershipFactRetriever.entity, { namespace: 'default', kind: 'component', name: 'orders-service' });
    assert.equal(typeof facts.entityMetadataFactRetriever.facts.hasDescription, 'boolean');
  });
});
