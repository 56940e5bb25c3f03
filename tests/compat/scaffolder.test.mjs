// The real ScaffolderClient (@backstage/plugin-scaffolder-common) against Cairn: the calls the
// Backstage frontend's template form, task page and task list make.

// fetch-event-source is browser code: it needs a document and a window.
globalThis.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };
globalThis.window ??= globalThis;

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ScaffolderClient } from '@backstage/plugin-scaffolder-common';

import { SERVER, TOKEN, SKIP_UNLESS_CONFIGURED, failIfNotConfigured } from './support.mjs';

failIfNotConfigured();

const identityApi = {
  getBackstageIdentity: async () => ({ type: 'user', userEntityRef: 'user:default/guest', ownershipEntityRefs: [] }),
  getCredentials: async () => ({ token: TOKEN || undefined }),
};
const client = (useLongPollingLogs = false) =>
  new ScaffolderClient({
    discoveryApi: { getBaseUrl: async id => `${SERVER}/api/${id}` },
    fetchApi: { fetch },
    identityApi,
    scmIntegrationsApi: {},
    useLongPollingLogs,
  });

/** Every event of a task's log stream until it completes. */
/** A task's events until its completion; fails after 60 s (or at once without a task id)
 * instead of holding the suite. */
const collect = (c, taskId, after) =>
  new Promise((resolve, reject) => {
    if (!taskId) {
      reject(new Error('no task to follow: creating it failed'));
      return;
    }
    const events = [];
    const timer = setTimeout(() => reject(new Error(`task ${taskId} did not complete in 60 s`)), 60_000);
    c.streamLogs({ taskId, after }).subscribe({
      next: e => events.push(e),
      error: e => {
        clearTimeout(timer);
        reject(e);
      },
      complete: () => {
        clearTimeout(timer);
        resolve(events);
      },
    });
  });

const VALUES = { name: `sales-${Date.now()}`, owner: 'group:default/team-data', domain: 'domain:default/fulfillment' };

describe('scaffolder API (plugin-scaffolder-common 2.3.0)', { skip: SKIP_UNLESS_CONFIGURED }, () => {
  test('getTemplateParameterSchema serves the pages, with the kind in any case', async () => {
    const schema = await client().getTemplateParameterSchema('template:default/data-product');
    assert.equal(schema.title, 'Data product');
    assert.equal(schema.steps.length, 1);
    assert.deepEqual(schema.steps[0].schema.required, ['name', 'owner', 'domain']);
    const again = await client().getTemplateParameterSchema('Template:default/data-product');
    assert.deepEqual(again, schema);
    await assert.rejects(client().getTemplateParameterSchema('template:default/nope'), e => {
      assert.equal(e.response.status, 404);
      assert.equal(e.body.error.name, 'NotFoundError');
      return true;
    });
  });

  test('listActions lists the built-ins sorted by id, with their input schemas', async () => {
    const actions = await client().listActions();
    const ids = actions.map(a => a.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a.localeCompare(b)));
    for (const id of ['fetch:plain', 'fetch:plain:file', 'fetch:template', 'fetch:template:file', 'debug:log', 'debug:wait',
      'catalog:register', 'catalog:fetch', 'catalog:write', 'fs:delete', 'fs:rename', 'fs:readdir', 'publish:git']) {
      assert.ok(ids.includes(id), id);
    }
    const fetchTemplate = actions.find(a => a.id === 'fetch:template');
    assert.equal(fetchTemplate.schema.input.type, 'object');
    assert.deepEqual(fetchTemplate.schema.input.required, ['url']);
  });

  test('scaffold rejects values that fail the schema with 400', async () => {
    await assert.rejects(
      client().scaffold({ templateRef: 'template:default/data-product', values: {} }),
      e => /^Backend request failed, 400/.test(e.message),
    );
  });

  let taskId;
  test('scaffold creates a task (201) whose log streams to completion over SSE', async () => {
    ({ taskId } = await client().scaffold({ templateRef: 'template:default/data-product', values: VALUES }));
    assert.equal(typeof taskId, 'string');
    const events = await collect(client(), taskId);
    assert.equal(events[0].type, 'log');
    assert.equal(events[0].body.stepId, undefined);
    const ids = events.map(e => Number(e.id));
    assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]));
    const last = events[events.length - 1];
    assert.equal(last.type, 'completion');
    assert.ok(!JSON.stringify(last.body.output ?? {}).includes('${{'));
    assert.equal(last.body.output.links[1].entityRef, `dataproduct:default/${VALUES.name}`, JSON.stringify(last.body));
    const task = await client().getTask(taskId);
    for (const key of Object.keys(task)) {
      assert.ok(['id', 'spec', 'status', 'createdAt', 'lastHeartbeatAt', 'createdBy'].includes(key), key);
    }
    assert.equal(task.status, 'completed');
    assert.match(task.createdAt, /Z$/);
    assert.equal(task.spec.templateInfo.entityRef, 'template:default/data-product');
    for (const step of task.spec.steps) {
      const statuses = events.filter(e => e.body.stepId === step.id).map(e => e.body.status).filter(Boolean);
      assert.deepEqual(statuses, ['processing', 'completed'], step.id);
    }
    const replay = await collect(client(), taskId, ids[2]);
    assert.ok(replay.every(e => Number(e.id) > ids[2] || e.type === 'completion'));
  });

  test('the long-poll log stream ends with the same completion', async () => {
    const events = await collect(client(true), taskId);
    assert.equal(events[events.length - 1].type, 'completion');
  });

  test('listTasks filters by owner and counts the total', async () => {
    const owned = await client().listTasks({ filterByOwnership: 'owned', limit: 1, offset: 0 });
    assert.equal(owned.tasks.length, 1);
    assert.ok(owned.totalTasks >= 1);
    assert.ok(owned.tasks.every(t => t.createdBy === 'user:default/guest'));
    const all = await client().listTasks({ filterByOwnership: 'all' });
    const created = all.tasks.map(t => t.createdAt);
    assert.deepEqual(created, [...created].sort().reverse());
  });

  test('retry answers 201 with the same id; cancel answers cancelled', async () => {
    const retried = await client().retry(taskId);
    assert.equal(retried.id, taskId);
    const events = await collect(client(), taskId);
    assert.equal(events.find(e => e.type === 'recovered')?.body.recoverStrategy, 'none');
    assert.equal(events[events.length - 1].type, 'completion');
    const cancelled = await client().cancelTask(taskId);
    assert.equal(cancelled.status, 'cancelled');
  });

  test('dryRun renders the uploaded template and returns base64 files', async () => {
    const b64 = s => Buffer.from(s).toString('base64');
    const result = await client().dryRun({
      template: {
        apiVersion: 'scaffolder.backstage.io/v1beta3', kind: 'Template', metadata: { name: 'compat' },
        spec: {
          type: 'service',
          parameters: [{ properties: { name: { type: 'string' } } }],
          steps: [
            { id: 'fetch', action: 'fetch:template', input: { url: './skeleton', values: { name: '${{ parameters.name }}' } } },
            { id: 'write', action: 'catalog:write', input: { entity: { apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: '${{ parameters.name }}' }, spec: { type: 'service', lifecycle: 'experimental', owner: 'team-a' } } } },
          ],
        },
      },
      values: { name: 'svc' },
      directoryContents: [{ path: 'skeleton/README.md', base64Content: b64('# ${{ values.name }}\n') }],
    });
    const readme = result.directoryContents.find(f => f.path === 'README.md');
    assert.equal(Buffer.from(readme.base64Content, 'base64').toString(), '# svc\n');
    const info = result.directoryContents.find(f => f.path === 'catalog-info.yaml');
    assert.match(Buffer.from(info.base64Content, 'base64').toString(), /backstage\.io\/source-template: template:default\/dry-run/);
    assert.ok(result.log.every(l => typeof l.body.message === 'string'));
    assert.equal(result.steps[0].id, 'fetch');
  });

  test('templating extensions and autocomplete', async () => {
    const ext = await client().listTemplatingExtensions();
    for (const f of ['parseRepoUrl', 'parseEntityRef', 'pick', 'projectSlug']) assert.ok(f in ext.filters, f);
    assert.equal(typeof ext.globals.functions, 'object');
    assert.equal(typeof ext.globals.values, 'object');
    await assert.rejects(client().autocomplete({ token: 'x', provider: 'nope', resource: 'r', context: {} }));
  });
});
