// Read side of the catalog compatibility plan (catalog-api.md §14, script 1, steps 1–15):
// the real @backstage/catalog-client 1.16.2 against a running Cairn that serves the
// example catalog. Entity names are discovered from the server, never hard-coded.

import { describe, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import {
  SKIP_UNLESS_CONFIGURED,
  createCatalogClient,
  failIfNotConfigured,
  isResponseError,
  requestLog,
  waitForSettledCatalog,
} from './support.mjs';

failIfNotConfigured();

const lower = s => s.toLowerCase();
const uidsOf = items => items.map(e => e.metadata.uid);

/** Asserts that names are in ascending order of their lowercased form (plain code-unit comparison). */
function assertSortedByNameCaseInsensitively(items) {
  for (let i = 1; i < items.length; i++) {
    const prev = items[i - 1].metadata.name;
    const cur = items[i].metadata.name;
    assert.ok(
      lower(prev) <= lower(cur),
      `not sorted by lowercased metadata.name: "${prev}" (#${i - 1}) comes before "${cur}" (#${i})`,
    );
  }
}

function assertNoDuplicateUids(items) {
  const seen = new Set();
  for (const e of items) {
    assert.ok(!seen.has(e.metadata.uid), `uid ${e.metadata.uid} (${e.metadata.name}) returned twice`);
    seen.add(e.metadata.uid);
  }
}

describe('catalog read API (catalog-client 1.16.2)', { skip: SKIP_UNLESS_CONFIGURED }, () => {
  /** @type {import('@backstage/catalog-client').CatalogClient} */
  let client;
  let entityCount; // number of entities served by GET /entities
  let components; // all Components, full entities
  let apiCount; // number of API entities
  let component; // the Component under test (mixed-case name if there is one)
  let componentRef; // its canonical (lowercase) ref

  before(async () => {
    client = createCatalogClient();
    entityCount = await waitForSettledCatalog(client);
    components = (await client.getEntities({ filter: { kind: 'component' } })).items;
    assert.ok(components.length > 0, 'the server must serve at least one Component');
    component = components.find(c => /[A-Z]/.test(c.metadata.name)) ?? components[0];
    componentRef = stringifyEntityRef(component);
    apiCount = (await client.getEntities({ filter: { kind: 'api' }, fields: ['metadata.uid'] }))
      .items.length;
  });

  // -- step 1 ---------------------------------------------------------------

  test('getEntities with fields returns every entity, with only the selected fields', async t => {
    t.diagnostic(`catalog has ${entityCount} entities; component under test: ${componentRef} ("${component.metadata.name}")`);
    const { items } = await client.getEntities({
      fields: ['kind', 'metadata.name', 'metadata.namespace'],
    });
    assert.ok(items.length > 0, 'expected a non-empty catalog');
    assert.equal(items.length, entityCount);
    for (const e of items) {
      assert.deepEqual(Object.keys(e).sort(), ['kind', 'metadata'], JSON.stringify(e));
      assert.deepEqual(Object.keys(e.metadata).sort(), ['name', 'namespace'], JSON.stringify(e));
      assert.equal(typeof e.kind, 'string');
      assert.equal(typeof e.metadata.name, 'string');
      assert.equal(typeof e.metadata.namespace, 'string');
    }
  });

  // -- step 2 ---------------------------------------------------------------

  test('getEntities filtered by kind=component (lowercase) returns only full Component entities', () => {
    for (const e of components) {
      const label = `${e.kind}:${e.metadata.namespace}/${e.metadata.name}`;
      assert.equal(e.kind, 'Component', label);
      assert.equal(typeof e.apiVersion, 'string', `${label}: apiVersion`);
      assert.equal(typeof e.metadata.name, 'string', `${label}: metadata.name`);
      assert.equal(typeof e.metadata.namespace, 'string', `${label}: metadata.namespace`);
      assert.ok(typeof e.metadata.uid === 'string' && e.metadata.uid, `${label}: metadata.uid`);
      assert.ok(typeof e.metadata.etag === 'string' && e.metadata.etag, `${label}: metadata.etag`);
      assert.equal(typeof e.spec, 'object', `${label}: spec`);
    }
    assertNoDuplicateUids(components);
  });

  test('relations are {type, targetRef} objects with lowercase, fully qualified targetRefs', () => {
    for (const e of components) {
      const label = stringifyEntityRef(e);
      assert.ok(Array.isArray(e.relations), `${label}: relations must be an array`);
      for (const r of e.relations) {
        assert.deepEqual(Object.keys(r).sort(), ['targetRef', 'type'], `${label}: ${JSON.stringify(r)}`);
        assert.equal(typeof r.type, 'string', `${label}: ${JSON.stringify(r)}`);
        assert.equal(r.targetRef, lower(r.targetRef), `${label}: targetRef must be lowercase`);
        assert.match(r.targetRef, /^[^:/]+:[^:/]+\/[^/]+$/, `${label}: targetRef must be kind:namespace/name`);
      }
    }
  });

  test('every Component has an ownedBy relation to its resolved spec.owner', () => {
    for (const e of components) {
      const expected = stringifyEntityRef(
        parseEntityRef(e.spec.owner, { defaultKind: 'group', defaultNamespace: e.metadata.namespace }),
      );
      const ownedBy = e.relations.filter(r => r.type === 'ownedBy').map(r => r.targetRef);
      assert.ok(
        ownedBy.includes(expected),
        `${stringifyEntityRef(e)}: spec.owner "${e.spec.owner}" should give ownedBy ${expected}, got ${JSON.stringify(ownedBy)}`,
      );
    }
  });

  // -- step 3 ---------------------------------------------------------------

  test('several filter sets are ORed: users, plus groups that have spec.type', async () => {
    const { items } = await client.getEntities({
      filter: [{ kind: 'user' }, { kind: 'group', 'spec.type': CATALOG_FILTER_EXISTS }],
    });
    const kinds = new Set(items.map(e => e.kind));
    assert.deepEqual([...kinds].sort(), ['Group', 'User'], 'expected both Users and Groups, and nothing else');

    const users = await client.getEntities({ filter: { kind: 'user' }, fields: ['metadata.uid'] });
    const groups = await client.getEntities({ filter: { kind: 'group' }, fields: ['metadata.uid'] });
    // spec.type is required for Groups, so every Group matches the second set.
    assert.equal(items.length, users.items.length + groups.items.length);
    assertNoDuplicateUids(items);
  });

  // -- step 4 ---------------------------------------------------------------

  test('getEntityByRef finds the entity by its canonical ref', async () => {
    const e = await client.getEntityByRef(componentRef);
    assert.ok(e, `${componentRef} not found`);
    assert.equal(e.metadata.uid, component.metadata.uid);
    assert.equal(e.metadata.name, component.metadata.name, 'metadata.name keeps its original case');
  });

  test('getEntityByRef is case-insensitive in kind and name', async () => {
    const e = await client.getEntityByRef({
      kind: 'COMPONENT',
      namespace: component.metadata.namespace,
      name: component.metadata.name.toUpperCase(),
    });
    assert.ok(e, `COMPONENT:${component.metadata.namespace}/${component.metadata.name.toUpperCase()} not found`);
    assert.equal(e.metadata.uid, component.metadata.uid);
  });

  test('getEntityByRef returns undefined for an unknown entity (404)', async () => {
    assert.equal(await client.getEntityByRef('component:default/does-not-exist'), undefined);
  });

  // -- step 5 ---------------------------------------------------------------

  test('getEntitiesByRefs keeps order and duplicates, with undefined for unknown refs', async () => {
    const { items } = await client.getEntitiesByRefs({
      entityRefs: [componentRef, 'component:default/missing', componentRef],
      fields: ['metadata.name'],
    });
    assert.equal(items.length, 3);
    assert.equal(items[1], undefined);
    for (const i of [0, 2]) {
      assert.deepEqual(items[i], { metadata: { name: component.metadata.name } }, `items[${i}]`);
    }
  });

  // -- steps 6 and 7: cursor pagination ---------------------------------------

  /**
   * Follows nextCursor from the initial request to the end and checks the
   * invariants every page must satisfy. Returns the pages.
   */
  async function walkForward(initialRequest) {
    const { limit } = initialRequest;
    const pages = [await client.queryEntities(initialRequest)];
    const totalItems = pages[0].totalItems;
    assert.equal(typeof totalItems, 'number', 'totalItems must be a number');
    const maxPages = Math.ceil(totalItems / limit) + 1;
    while (pages.at(-1).pageInfo.nextCursor) {
      assert.ok(pages.length <= maxPages, `more than ${maxPages} pages for ${totalItems} items of ${limit}`);
      pages.push(await client.queryEntities({ cursor: pages.at(-1).pageInfo.nextCursor, limit }));
    }

    pages.forEach((page, i) => {
      const where = `page ${i + 1}/${pages.length}`;
      assert.equal(page.totalItems, totalItems, `${where}: totalItems changed`);
      assert.equal(typeof page.pageInfo, 'object', `${where}: pageInfo`);
      if (i < pages.length - 1) {
        assert.equal(page.items.length, limit, `${where}: every page but the last must be full`);
      } else {
        assert.ok(page.items.length >= 1 && page.items.length <= limit, `${where}: last page size ${page.items.length}`);
      }
      if (i === 0) {
        assert.equal(page.pageInfo.prevCursor, undefined, `${where}: first page must have no prevCursor`);
      } else {
        assert.equal(typeof page.pageInfo.prevCursor, 'string', `${where}: prevCursor expected`);
      }
    });

    const items = pages.flatMap(p => p.items);
    assert.equal(items.length, totalItems, 'number of items collected must equal totalItems');
    assertNoDuplicateUids(items);
    assertSortedByNameCaseInsensitively(items);
    return pages;
  }

  /**
   * Starting from the last page, follows prevCursor back to the first page
   * and checks each page equals the one seen on the way forward.
   */
  async function walkBackward(pages, limit) {
    assert.ok(pages?.length >= 2, 'the forward walk must have produced at least two pages');
    let page = pages.at(-1);
    for (let i = pages.length - 2; i >= 0; i--) {
      const cursor = page.pageInfo.prevCursor;
      assert.equal(typeof cursor, 'string', `page ${i + 2} must have a prevCursor`);
      page = await client.queryEntities({ cursor, limit });
      assert.deepEqual(uidsOf(page.items), uidsOf(pages[i].items), `prevCursor from page ${i + 2} must return page ${i + 1}`);
      assert.equal(page.totalItems, pages[0].totalItems, `page ${i + 1} (backwards): totalItems changed`);
      assert.equal(typeof page.pageInfo.nextCursor, 'string', `page ${i + 1} (backwards): nextCursor expected`);
    }
    assert.equal(page.pageInfo.prevCursor, undefined, 'back on the first page, there must be no prevCursor');
  }

  let allPages; // step 6
  let componentApiPages; // step 7

  test('queryEntities: following nextCursor (limit 2, by name) visits every entity once, sorted', async () => {
    allPages = await walkForward({ limit: 2, orderFields: { field: 'metadata.name', order: 'asc' } });
    assert.equal(allPages[0].totalItems, entityCount, 'every entity has a metadata.name');
  });

  test('queryEntities: following prevCursor back from the last page returns the same pages', async () => {
    await walkBackward(allPages, 2);
  });

  test('queryEntities with a filter (kind component or api, limit 1) pages through all matches', async t => {
    const logStart = requestLog.length;
    componentApiPages = await walkForward({
      filter: { kind: ['component', 'api'] },
      limit: 1,
      orderFields: { field: 'metadata.name', order: 'asc' },
    });
    const items = componentApiPages.flatMap(p => p.items);
    for (const e of items) assert.ok(['Component', 'API'].includes(e.kind), `unexpected kind ${e.kind}`);
    assert.equal(items.length, components.length + apiCount);
    const cursorRoutes = new Set(requestLog.slice(logStart + 1).map(r => r.replace(/\?.*/, '')));
    t.diagnostic(`cursor requests went to: ${[...cursorRoutes].join(', ')}`);
  });

  test('queryEntities with a filter: following prevCursor back returns the same pages', async () => {
    await walkBackward(componentApiPages, 1);
  });

  // -- step 8 ---------------------------------------------------------------

  test('queryEntities with limit 0 returns no items but the total count', async () => {
    const res = await client.queryEntities({ filter: { kind: 'component' }, limit: 0 });
    assert.deepEqual(res.items, []);
    assert.equal(res.totalItems, components.length);
    assert.deepEqual(res.pageInfo, {}, 'pageInfo has no cursors (keys omitted, not null)');
  });

  // -- step 9 ---------------------------------------------------------------

  test('queryEntities full-text filter matches a case-insensitive substring of metadata.name', async () => {
    const term = component.metadata.name.slice(0, 3).toUpperCase();
    const pages = [await client.queryEntities({ fullTextFilter: { term, fields: ['metadata.name'] } })];
    while (pages.at(-1).pageInfo.nextCursor) {
      pages.push(await client.queryEntities({ cursor: pages.at(-1).pageInfo.nextCursor }));
    }
    const items = pages.flatMap(p => p.items);
    assert.ok(uidsOf(items).includes(component.metadata.uid), `"${term}" should find ${componentRef}`);
    for (const e of items) {
      assert.ok(lower(e.metadata.name).includes(lower(term)), `"${e.metadata.name}" does not contain "${term}"`);
    }
    assert.equal(items.length, pages[0].totalItems);
    if (!/[%_]/.test(term)) {
      const all = await client.getEntities({ fields: ['metadata.name'] });
      const expected = all.items.filter(e => lower(e.metadata.name).includes(lower(term))).length;
      assert.equal(items.length, expected, `number of entities whose name contains "${term}"`);
    }
  });

  // -- step 10 --------------------------------------------------------------

  test('streamEntities (page size 3) yields every entity exactly once', async () => {
    const items = [];
    for await (const page of client.streamEntities({ pageSize: 3 })) {
      assert.ok(page.length <= 3, `page of ${page.length} items`);
      items.push(...page);
    }
    assert.equal(items.length, entityCount);
    assertNoDuplicateUids(items);
  });

  // -- step 11 --------------------------------------------------------------

  test('getEntityFacets returns every requested facet as {value, count} lists', async () => {
    const res = await client.getEntityFacets({ facets: ['kind', 'spec.type'] });
    assert.ok(res, 'getEntityFacets returned undefined (404)');
    assert.deepEqual(Object.keys(res.facets).sort(), ['kind', 'spec.type']);
    for (const [facet, values] of Object.entries(res.facets)) {
      assert.ok(Array.isArray(values), `${facet} must be an array`);
      for (const v of values) {
        assert.deepEqual(Object.keys(v).sort(), ['count', 'value'], `${facet}: ${JSON.stringify(v)}`);
        assert.equal(typeof v.value, 'string', `${facet}: ${JSON.stringify(v)}`);
        assert.ok(Number.isInteger(v.count) && v.count > 0, `${facet}: ${JSON.stringify(v)}`);
      }
    }
    const componentFacet = res.facets.kind.find(v => v.value === 'Component');
    assert.equal(componentFacet?.count, components.length, 'kind facet count for Component');
  });

  // -- step 12 --------------------------------------------------------------

  test('getEntityAncestors starts with the entity itself and only references listed ancestors', async () => {
    const res = await client.getEntityAncestors({ entityRef: componentRef });
    assert.equal(res.rootEntityRef, componentRef);
    assert.ok(res.items.length >= 1);
    assert.equal(res.items[0].entity.metadata.uid, component.metadata.uid);
    const listed = new Set(res.items.map(i => stringifyEntityRef(i.entity)));
    for (const item of res.items) {
      assert.ok(Array.isArray(item.parentEntityRefs), 'parentEntityRefs must be an array');
      for (const parent of item.parentEntityRefs) {
        assert.ok(listed.has(parent), `parent ${parent} of ${stringifyEntityRef(item.entity)} is not among the items`);
      }
    }
  });

  // -- step 13 --------------------------------------------------------------

  const validComponent = () => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'compat-validate-me' },
    spec: { type: 'service', lifecycle: 'experimental', owner: 'compat-team' },
  });
  const validateLocation = 'url:https://example.com/catalog-info.yaml';

  test('validateEntity accepts a valid Component', async () => {
    assert.deepEqual(await client.validateEntity(validComponent(), validateLocation), { valid: true });
  });

  test('validateEntity rejects a Component without spec.owner, naming the field', async () => {
    const entity = validComponent();
    delete entity.spec.owner;
    const res = await client.validateEntity(entity, validateLocation);
    assert.equal(res.valid, false);
    assert.ok(Array.isArray(res.errors) && res.errors.length > 0, `errors: ${JSON.stringify(res.errors)}`);
    assert.match(res.errors[0].message, /owner/);
  });

  // -- step 14 --------------------------------------------------------------

  test('getLocations returns a list of locations', async () => {
    const { items } = await client.getLocations();
    assert.ok(Array.isArray(items));
    for (const l of items) {
      for (const key of ['id', 'type', 'target']) {
        assert.equal(typeof l[key], 'string', `location.${key}: ${JSON.stringify(l)}`);
      }
    }
  });

  test('getLocationById returns undefined for an unknown id (404)', async () => {
    assert.equal(await client.getLocationById('no-such-id'), undefined);
  });

  // -- step 15 --------------------------------------------------------------

  test('refreshEntity resolves for an existing entity (200)', async () => {
    await client.refreshEntity(componentRef);
  });

  test('refreshEntity rejects with 404 NotFoundError for an unknown entity', async () => {
    await assert.rejects(
      client.refreshEntity('component:default/missing'),
      isResponseError(404, 'NotFoundError'),
    );
  });

  test('queryEntities rejects a malformed cursor with 400 InputError', async () => {
    await assert.rejects(
      client.queryEntities({ cursor: 'not-a-cursor' }),
      isResponseError(400, 'InputError'),
    );
  });
});
