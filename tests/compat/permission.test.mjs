// The real PermissionClient of @backstage/plugin-permission-common (what the frontend's
// permission API wraps) against Cairn's /api/permission/authorize, with a user token from
// Cairn's guest sign-in. The server runs a policy that lets users do everything but unregister
// locations and refresh payments-service.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigReader } from '@backstage/config';
import { AuthorizeResult, PermissionClient } from '@backstage/plugin-permission-common';
import {
  catalogEntityCreatePermission,
  catalogEntityRefreshPermission,
  catalogLocationDeletePermission,
} from '@backstage/plugin-catalog-common/alpha';
import { SERVER, SKIP_UNLESS_CONFIGURED, failIfNotConfigured } from './support.mjs';

failIfNotConfigured();

async function guestToken() {
  const res = await fetch(`${SERVER}/api/auth/guest/refresh`, {
    headers: { 'x-requested-with': 'XMLHttpRequest' },
  });
  assert.equal(res.status, 200);
  const session = await res.json();
  assert.equal(session.backstageIdentity.identity.type, 'user');
  return session.backstageIdentity.token;
}

describe('permission client', { skip: SKIP_UNLESS_CONFIGURED }, () => {
  it('authorizes basic and resource permissions as the policy says', async () => {
    const client = new PermissionClient({
      discovery: { getBaseUrl: async pluginId => `${SERVER}/api/${pluginId}` },
      config: new ConfigReader({ permission: { enabled: true } }),
    });
    const token = await guestToken();
    const answers = await client.authorize(
      [
        { permission: catalogEntityCreatePermission },
        { permission: catalogLocationDeletePermission },
        { permission: catalogEntityRefreshPermission, resourceRef: 'component:default/orders-domain-model' },
        { permission: catalogEntityRefreshPermission, resourceRef: 'component:default/payments-service' },
      ],
      { token },
    );
    assert.deepEqual(
      answers.map(a => a.result),
      [AuthorizeResult.ALLOW, AuthorizeResult.DENY, AuthorizeResult.ALLOW, AuthorizeResult.DENY],
    );
  });
});
