// The official MCP TypeScript SDK client (@modelcontextprotocol/sdk, its
// StreamableHTTPClientTransport) against Cairn's MCP server at /api/mcp-actions/v1, as an
// agent's MCP client would connect: initialize, list the tools, call them.

import { describe, before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SERVER, TOKEN, SKIP_UNLESS_CONFIGURED, failIfNotConfigured } from './support.mjs';

failIfNotConfigured();

describe('MCP: the official SDK client', { skip: SKIP_UNLESS_CONFIGURED }, () => {
  let client;

  before(async () => {
    const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
    const transport = new StreamableHTTPClientTransport(new URL(`${SERVER}/api/mcp-actions/v1`), {
      requestInit: { headers },
    });
    client = new Client({ name: 'cairn-compat', version: '0.0.0' });
    await client.connect(transport);
  });

  after(async () => {
    await client?.close();
  });

  test('initialize names the server and offers tools', () => {
    assert.equal(client.getServerVersion()?.name, 'cairn');
    assert.ok(client.getServerCapabilities()?.tools, 'tools capability');
  });

  test('a person is served with their own rights', { skip: TOKEN ? false : 'CAIRN_TOKEN is not set' }, async () => {
    const me = await client.callTool({ name: 'cairn_who_am_i', arguments: {} });
    assert.ok(!me.isError, JSON.stringify(me));
    assert.equal(me.structuredContent.agent, false);
    assert.match(me.structuredContent.caller, /^user:/);
  });

  test('tools/list holds the catalog tools with their schemas and hints', async () => {
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map(t => [t.name, t]));
    for (const name of [
      'catalog_get_catalog_entity',
      'catalog_query_catalog_entities',
      'catalog_get_catalog_model_description',
      'catalog_validate_entity',
    ]) {
      assert.ok(byName[name], `${name} listed`);
      assert.equal(byName[name].inputSchema.type, 'object');
      assert.equal(byName[name].annotations?.readOnlyHint, true);
    }
  });

  test('query, then get one of the entities it found', async () => {
    const page = await client.callTool({
      name: 'catalog_query_catalog_entities',
      arguments: { query: { kind: 'component' }, fields: ['kind', 'metadata.name', 'metadata.namespace'], limit: 2 },
    });
    assert.ok(!page.isError, JSON.stringify(page));
    const { items, totalItems, hasMoreEntities } = page.structuredContent;
    assert.equal(items.length, 2);
    assert.ok(totalItems > 2 && hasMoreEntities, `${totalItems} components, more pages`);
    assert.deepEqual(JSON.parse(page.content[0].text), page.structuredContent);

    const { kind, metadata } = items[0];
    const one = await client.callTool({
      name: 'catalog_get_catalog_entity',
      arguments: { kind, namespace: metadata.namespace, name: metadata.name },
    });
    assert.ok(!one.isError, JSON.stringify(one));
    assert.equal(one.structuredContent.metadata.name, metadata.name);
    assert.ok(Array.isArray(one.structuredContent.relations));
  });

  test('a missing entity and bad arguments are tool errors, not protocol errors', async () => {
    const missing = await client.callTool({
      name: 'catalog_get_catalog_entity',
      arguments: { name: 'no-such-entity-anywhere' },
    });
    assert.equal(missing.isError, true);
    assert.match(missing.content[0].text, /^NotFoundError: /);
    const bad = await client.callTool({ name: 'catalog_get_catalog_entity', arguments: { kind: 3 } });
    assert.equal(bad.isError, true);
    assert.match(bad.content[0].text, /^InputError: Invalid input/);
  });

  test('validate-entity judges YAML as ingestion would', async () => {
    const result = await client.callTool({
      name: 'catalog_validate_entity',
      arguments: { entity: 'apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Not Valid\n' },
    });
    assert.equal(result.structuredContent.isValidYaml, true);
    assert.equal(result.structuredContent.isValid, false);
    assert.ok(result.structuredContent.errors.length > 0);
  });
});

// The same SDK client holding a token bound to an AI agent: what it may call follows from its
// catalog entry and the rule pack, and every call is on the audit trail.
const CODING_AGENT_TOKEN = (process.env.CAIRN_CODING_AGENT_TOKEN ?? '').trim();
const DENIED_AGENT_TOKEN = (process.env.CAIRN_DENIED_AGENT_TOKEN ?? '').trim();
const SKIP_AGENTS = SKIP_UNLESS_CONFIGURED
  || (CODING_AGENT_TOKEN && DENIED_AGENT_TOKEN ? false : 'CAIRN_CODING_AGENT_TOKEN and CAIRN_DENIED_AGENT_TOKEN are not set');

async function connectAs(token) {
  const transport = new StreamableHTTPClientTransport(new URL(`${SERVER}/api/mcp-actions/v1`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'cairn-compat-agent', version: '0.0.0' });
  await client.connect(transport);
  return client;
}

async function json(path) {
  const res = await fetch(`${SERVER}${path}`, TOKEN ? { headers: { Authorization: `Bearer ${TOKEN}` } } : {});
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

describe('MCP: agents are governed callers', { skip: SKIP_AGENTS }, () => {
  let coding;
  let denied;

  before(async () => {
    coding = await connectAs(CODING_AGENT_TOKEN);
    denied = await connectAs(DENIED_AGENT_TOKEN);
  });

  after(async () => {
    await coding?.close();
    await denied?.close();
  });

  test('an agent sees who it is and the tools its entry allows', async () => {
    const me = await coding.callTool({ name: 'cairn_who_am_i', arguments: {} });
    assert.ok(!me.isError, JSON.stringify(me));
    assert.equal(me.structuredContent.agent, true, JSON.stringify(me.structuredContent));
    assert.equal(me.structuredContent.caller, 'aiagent:default/coding-agent');
    const { tools } = await coding.listTools();
    const names = tools.map(t => t.name);
    assert.ok(names.includes('scaffolder_execute_template'), names.join(', '));
    assert.ok(names.includes('catalog_query_catalog_entities'));
  });

  test('an agent whose entry does not list Cairn is refused, and the refusal is audited', async () => {
    const { tools } = await denied.listTools();
    assert.equal(tools.length, 0, tools.map(t => t.name).join(', '));
    const refused = await denied.callTool({
      name: 'catalog_get_catalog_entity',
      arguments: { name: 'checkout-service' },
    });
    assert.equal(refused.isError, true);
    assert.match(refused.content[0].text, /^NotAllowedError: aiagent:default\/support-assistant may not call/);
    const trail = await json('/api/cairn/audit?entity=aiagent:default/support-assistant');
    const refusal = trail.items.find(r => r.action === 'mcp.tools/call'
      && r.details.tool === 'catalog:get-catalog-entity' && r.details.outcome === 'NotAllowedError');
    assert.ok(refusal, JSON.stringify(trail.items));
    assert.equal(refusal.actor, 'aiagent:default/support-assistant');
    assert.match(refusal.details.inputSha256, /^[0-9a-f]{64}$/);
  });

  test('a template executed by an agent ends with the new entity in the catalog', async () => {
    const started = await coding.callTool({
      name: 'scaffolder_execute_template',
      arguments: {
        templateRef: 'template:default/rust-service',
        values: { name: 'mcp-compat-made', owner: 'group:default/team-platform', description: 'Made by an agent over MCP' },
      },
    });
    assert.ok(!started.isError, JSON.stringify(started));
    const { taskId } = started.structuredContent;
    let status;
    for (let i = 0; i < 300 && status !== 'completed' && status !== 'failed'; i++) {
      ({ status } = await json(`/api/scaffolder/v2/tasks/${taskId}`));
      if (status !== 'completed') await new Promise(r => setTimeout(r, 200));
    }
    assert.equal(status, 'completed');
    let found;
    for (let i = 0; i < 150 && !found?.structuredContent?.metadata; i++) {
      found = await coding.callTool({
        name: 'catalog_get_catalog_entity',
        arguments: { kind: 'Component', name: 'mcp-compat-made' },
      });
      if (found.isError) await new Promise(r => setTimeout(r, 200));
    }
    assert.ok(!found.isError, JSON.stringify(found));
    assert.equal(found.structuredContent.metadata.name, 'mcp-compat-made');
  });
});
