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
