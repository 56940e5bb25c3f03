// Write side of the catalog compatibility plan (catalog-api.md §14, script 2, steps 16–19):
// register, inspect and remove a `url` location with the real @backstage/catalog-client.
//
// The server cannot reach the internet, so the location target is a file:// URL of a
// catalog-info.yaml written to a fresh temp dir (Cairn accepts file:// URLs for
// `type: url`). The server must therefore run on the same machine / filesystem.
//
// The tests in this file run in order and build on each other (dry run → add → inspect →
// remove); when an early one fails, the later ones fail with a pointer to it.

import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  SKIP_UNLESS_CONFIGURED,
  createCatalogClient,
  failIfNotConfigured,
  isResponseError,
  pollUntil,
} from './support.mjs';

failIfNotConfigured();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const GENERATED_LOCATION_REF = /^location:default\/generated-[0-9a-f]{40}$/;
const POLL = {
  timeoutMs: Number(process.env.CAIRN_POLL_TIMEOUT_MS) || 10_000,
  intervalMs: 100,
};

describe('catalog locations API (catalog-client 1.16.2)', { skip: SKIP_UNLESS_CONFIGURED }, () => {
  /** @type {import('@backstage/catalog-client').CatalogClient} */
  let client;
  let dir; // temp dir holding catalog-info.yaml
  let target; // file://…/catalog-info.yaml
  let locationRef; // url:file://…/catalog-info.yaml
  let ownerRef; // an existing Group, used as spec.owner
  let componentName; // compat-widget-<hex>
  let componentRef; // component:default/compat-widget-<hex>

  let dryRun; // result of the dry-run addLocation
  let added; // result of the real addLocation
  let removed = false;

  const registered = () => {
    assert.ok(added, 'the location was not registered (see the failure of "addLocation registers …")');
    return added.location;
  };

  before(async () => {
    client = createCatalogClient();

    const groups = await client.getEntities({
      filter: { kind: 'group' },
      fields: ['kind', 'metadata.name', 'metadata.namespace'],
    });
    assert.ok(groups.items.length > 0, 'the server must serve at least one Group (used as owner)');
    ownerRef = stringifyEntityRef(groups.items[0]);

    componentName = `compat-widget-${crypto.randomBytes(4).toString('hex')}`;
    componentRef = `component:default/${componentName}`;

    // realpath: on some systems the temp dir is behind a symlink (/var -> /private/var).
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-compat-')));
    const file = path.join(dir, 'catalog-info.yaml');
    fs.writeFileSync(
      file,
      [
        'apiVersion: backstage.io/v1alpha1',
        'kind: Component',
        'metadata:',
        `  name: ${componentName}`,
        '  description: Registered by the Cairn compatibility tests',
        'spec:',
        '  type: service',
        '  lifecycle: experimental',
        `  owner: ${JSON.stringify(ownerRef)}`,
        '',
      ].join('\n'),
    );
    target = `file://${file}`;
    locationRef = `url:${target}`;
  });

  after(async () => {
    if (added && !removed) {
      try {
        await client.removeLocationById(added.location.id);
      } catch (e) {
        console.error(`cleanup: could not remove location ${added.location.id}: ${e}`);
      }
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // -- step 16 --------------------------------------------------------------

  test('addLocation with dryRun previews the Location entity and the entities in the file', async t => {
    t.diagnostic(`target: ${target}; owner: ${ownerRef}`);
    dryRun = await client.addLocation({ type: 'url', target, dryRun: true });
    assert.equal(dryRun.exists, false);
    assert.equal(dryRun.location.id, locationRef);
    assert.equal(dryRun.location.type, 'url');
    assert.equal(dryRun.location.target, target);
    assert.ok(Array.isArray(dryRun.entities), 'entities must be an array');
    assert.equal(dryRun.entities[0]?.kind, 'Location');
    const widget = dryRun.entities.find(
      e => e.kind === 'Component' && e.metadata?.name === componentName,
    );
    assert.ok(widget, `${componentRef} should be among ${JSON.stringify(dryRun.entities.map(e => `${e.kind}:${e.metadata?.name}`))}`);
    assert.equal(widget.spec.owner, ownerRef);
  });

  test('a dry run registers nothing', async () => {
    assert.equal(await client.getLocationByRef(locationRef), undefined);
    assert.equal(await client.getEntityByRef(componentRef), undefined);
  });

  // -- step 17 --------------------------------------------------------------

  test('addLocation registers the location (201, uuid id, generated Location entity ref, no entities)', async () => {
    added = await client.addLocation({ target }); // type defaults to 'url' in the client
    assert.match(added.location.id, UUID);
    assert.equal(added.location.type, 'url');
    assert.equal(added.location.target, target);
    assert.match(added.location.entityRef, GENERATED_LOCATION_REF);
    assert.deepEqual(added.entities, []);
    if (dryRun?.entities[0]?.metadata?.name) {
      assert.equal(
        added.location.entityRef,
        `location:default/${dryRun.entities[0].metadata.name}`,
        'the Location entity of the dry run and of the registration must have the same name',
      );
    }
  });

  test('adding the same location again rejects with 409 ConflictError', async () => {
    registered();
    await assert.rejects(client.addLocation({ target }), isResponseError(409, 'ConflictError'));
  });

  test('adding it again with onConflict "refresh" returns the existing location', async () => {
    const { id } = registered();
    const again = await client.addLocation({ target, onConflict: 'refresh' });
    assert.equal(again.location.id, id);
    assert.equal(again.location.target, target);
  });

  // -- step 18 --------------------------------------------------------------

  test('getLocationById returns the registered location', async () => {
    const { id, entityRef } = registered();
    const loc = await client.getLocationById(id);
    assert.ok(loc, `location ${id} not found`);
    assert.equal(loc.id, id);
    assert.equal(loc.type, 'url');
    assert.equal(loc.target, target);
    assert.equal(loc.entityRef, entityRef);
  });

  test('getLocationByRef finds the registered location among getLocations', async () => {
    const { id } = registered();
    const loc = await client.getLocationByRef(locationRef);
    assert.ok(loc, `${locationRef} not listed by GET /locations`);
    assert.equal(loc.id, id);
  });

  test('the component in the file is ingested and served with owner relation and location annotations', async () => {
    registered();
    const entity = await pollUntil(() => client.getEntityByRef(componentRef), e => e !== undefined, {
      ...POLL,
      what: `${componentRef} to be served`,
    });
    assert.equal(entity.kind, 'Component');
    assert.equal(entity.metadata.name, componentName);
    assert.equal(entity.spec.owner, ownerRef);
    assert.ok(
      entity.relations.some(r => r.type === 'ownedBy' && r.targetRef === ownerRef),
      `expected relation ownedBy ${ownerRef}, got ${JSON.stringify(entity.relations)}`,
    );
    const annotations = entity.metadata.annotations ?? {};
    assert.equal(annotations['backstage.io/managed-by-location'], locationRef);
    assert.equal(annotations['backstage.io/managed-by-origin-location'], locationRef);
  });

  test('the Location entity is served and is an ancestor of the component', async () => {
    const { entityRef } = registered();
    const locationEntity = await pollUntil(() => client.getEntityByRef(entityRef), e => e !== undefined, {
      ...POLL,
      what: `${entityRef} to be served`,
    });
    assert.equal(locationEntity.kind, 'Location');
    assert.equal(locationEntity.spec.target, target);

    const ancestry = await client.getEntityAncestors({ entityRef: componentRef });
    assert.equal(ancestry.rootEntityRef, componentRef);
    assert.ok(
      ancestry.items[0].parentEntityRefs.includes(entityRef),
      `parents of ${componentRef}: ${JSON.stringify(ancestry.items[0].parentEntityRefs)}`,
    );
  });

  test('getLocationByEntity returns the location that manages the component', async () => {
    const { id } = registered();
    const loc = await client.getLocationByEntity(componentRef);
    assert.ok(loc, `no location found for ${componentRef}`);
    assert.equal(loc.id, id);
  });

  // -- step 19 --------------------------------------------------------------

  test('removeLocationById unregisters the location', async () => {
    const { id } = registered();
    await client.removeLocationById(id);
    removed = true;
    assert.equal(await client.getLocationById(id), undefined);
    assert.equal(await client.getLocationByRef(locationRef), undefined);
  });

  test('after removal, the component and the Location entity disappear', async () => {
    const { entityRef } = registered();
    assert.ok(removed, 'the location was not removed (see the previous test)');
    await pollUntil(() => client.getEntityByRef(componentRef), e => e === undefined, {
      ...POLL,
      what: `${componentRef} to disappear`,
    });
    await pollUntil(() => client.getEntityByRef(entityRef), e => e === undefined, {
      ...POLL,
      what: `${entityRef} to disappear`,
    });
  });

  test('removeLocationById rejects an unknown id with 404 NotFoundError', async () => {
    await assert.rejects(
      client.removeLocationById(crypto.randomUUID()),
      isResponseError(404, 'NotFoundError'),
    );
  });

  test('removeEntityByUid resolves for an unknown uid (204)', async () => {
    await client.removeEntityByUid('no-such-uid');
  });
});
