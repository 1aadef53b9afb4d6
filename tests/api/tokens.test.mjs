// Org API tokens: creation (secret shown once), roles and the permission
// table, revocation and expiry (401 like an unknown token), tenancy (another
// org's objects are 404), storage as SHA-256, and last_used_at.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, isUuid, randomToken, sha256hex, sleep, uniqueSlug, useServer, walkPages } from './harness.mjs';

const SECRET_RE = /^bwk_[A-Za-z0-9_-]{43}$/;
const ROLES = ['owner', 'policy_admin', 'catalog_reviewer', 'auditor', 'viewer'];

/** A 401 body without its request_id, to compare answers. */
const unauthorized = (r) => {
  assertProblem(r, 401, 'authentication_required');
  assert.match(r.headers.get('www-authenticate'), /^Bearer\b/);
  const { request_id: _rid, ...rest } = r.json;
  return rest;
};

describe('tokens', () => {
  const s = useServer('tokens');
  const P = () => s.token;
  const newOrg = s.newOrg;
  const mint = (org, role, by = P(), extra = {}) => s.mint(org, role, { by, name: `${role} token`, ...extra });

  let A, B, ownerA, viewerA, ownerB;
  s.test('setup: orgs A and B; the platform admin mints an owner token for each', async () => {
    A = await newOrg('alpha');
    B = await newOrg('bravo');
    const before = Date.now();
    const r = await s.api('POST', `/api/v1/orgs/${A.slug}/tokens`, { token: P(), body: { name: 'ci owner', role: 'owner' } });
    assert.equal(r.status, 201, r.text);
    ownerA = r.json;
    assert.ok(isUuid(ownerA.id));
    assert.equal(ownerA.name, 'ci owner');
    assert.equal(ownerA.role, 'owner');
    assert.match(ownerA.secret, SECRET_RE);
    assert.equal(ownerA.prefix, ownerA.secret.slice(0, 12));
    assert.equal(ownerA.created_by, 'platform-admin');
    assert.equal(ownerA.expires_at, null);
    assert.equal(ownerA.last_used_at, null);
    assert.equal(ownerA.revoked_at, null);
    assert.ok(Math.abs(Date.parse(ownerA.created_at) - before) < 60000);
    assert.ok(r.headers.get('etag'), 'mutations return an ETag');
    assert.match(r.headers.get('etag'), /^"[^"]+"$/, 'a strong ETag');
    const loc = r.headers.get('location');
    assert.match(loc, new RegExp(`^/api/v1/orgs/(${A.id}|${A.slug})/tokens/${ownerA.id}$`));
    const g = await s.api('GET', loc, { token: P() });
    assert.equal(g.status, 200);
    assert.equal(g.headers.get('etag'), r.headers.get('etag'), 'GET of the unchanged token: the ETag of its creation');
    const { secret: _s, ...withoutSecret } = ownerA;
    assert.deepEqual(g.json, withoutSecret, 'GET answers the token as created, without the secret');
    ownerB = await mint(B, 'owner');
  });

  s.test('the secret is stored as its SHA-256 only', async () => {
    const row = await s.psql(`SELECT secret_sha256 || ' ' || prefix FROM api_tokens WHERE id = '${ownerA.id}'`);
    assert.equal(row, `${sha256hex(ownerA.secret)} ${ownerA.prefix}`);
    const leaks = await s.psql(`SELECT count(*) FROM api_tokens t WHERE strpos(t::text, '${ownerA.secret}') > 0`);
    assert.equal(leaks, '0', 'the secret appears in the database');
  });

  s.test('an owner token works and mints a viewer token (created_by token:<id>)', async () => {
    const me = await s.api('GET', `/api/v1/orgs/${A.id}`, { token: ownerA.secret });
    assert.equal(me.status, 200);
    assert.equal(me.json.id, A.id);
    viewerA = await mint(A, 'viewer', ownerA.secret);
    assert.equal(viewerA.created_by, `token:${ownerA.id}`);
    assert.equal(viewerA.role, 'viewer');
    assert.notEqual(viewerA.secret, ownerA.secret);
  });

  s.test('secrets are shown once: GET and list never include them', async () => {
    const list = await s.api('GET', `/api/v1/orgs/${A.id}/tokens`, { token: ownerA.secret });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.items.map((t) => t.id), [ownerA.id, viewerA.id], 'oldest first');
    assert.ok(!list.text.includes(ownerA.secret) && !list.text.includes(viewerA.secret));
    for (const t of list.json.items)
      {
        assert.equal(t.secret, undefined);
        assert.equal(t.prefix.length, 12);
      }
    const g = await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${viewerA.id}`, { token: ownerA.secret });
    assert.equal(g.json.secret, undefined);
    assert.equal(g.json.prefix, viewerA.secret.slice(0, 12));
  });

  s.test('viewer: reads the org, everything else is 403 permission_denied', async () => {
    const v = viewerA.secret;
    const ok = await s.api('GET', `/api/v1/orgs/${A.slug}`, { token: v });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.id, A.id);
    assertProblem(await s.api('POST', `/api/v1/orgs/${A.id}/tokens`, { token: v, body: { name: 'x', role: 'viewer' } }),
                  403, 'permission_denied');
    assertProblem(await s.api('PATCH', `/api/v1/orgs/${A.id}`, { token: v, body: { name: 'Hijacked' } }), 403, 'permission_denied');
    assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/tokens`, { token: v }), 403, 'permission_denied');
    assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${ownerA.id}`, { token: v }), 403, 'permission_denied');
    assertProblem(await s.api('DELETE', `/api/v1/orgs/${A.id}/tokens/${ownerA.id}`, { token: v }), 403, 'permission_denied');
    assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/audit`, { token: v }), 403, 'permission_denied');
    assertProblem(await s.api('DELETE', `/api/v1/orgs/${A.id}`, { token: v }), 403, 'permission_denied');
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: P() })).json.name, A.name, 'nothing changed');
  });

  s.test('the permission table, role by role', async () => {
    // [method, path, body, permission]
    const probes = (t) => [
      ['GET', `/api/v1/orgs/${A.id}`, undefined, 'org.read'],
      ['PATCH', `/api/v1/orgs/${A.id}`, { name: A.name }, 'org.write'],
      ['GET', `/api/v1/orgs/${A.id}/tokens`, undefined, 'token.read'],
      ['GET', `/api/v1/orgs/${A.id}/tokens/${t.id}`, undefined, 'token.read'],
      ['POST', `/api/v1/orgs/${A.id}/tokens`, { name: 'probe', role: 'viewer' }, 'token.write'],
      ['GET', `/api/v1/orgs/${A.id}/audit`, undefined, 'audit.read'],
      ['GET', `/api/v1/orgs/${A.id}/audit/verify`, undefined, 'audit.read'],
      ['POST', '/api/v1/orgs', { slug: uniqueSlug('nope'), name: 'x' }, 'platform'],
      ['DELETE', `/api/v1/orgs/${A.id}`, undefined, 'platform'],
    ];
    const grants = {
      owner: ['org.read', 'org.write', 'token.read', 'token.write', 'audit.read'],
      policy_admin: ['org.read'],
      catalog_reviewer: ['org.read'],
      auditor: ['org.read', 'token.read', 'audit.read'],
      viewer: ['org.read'],
    };
    for (const role of ROLES)
      {
        const t = await mint(A, role);
        for (const [method, path, body, perm] of probes(t))
          {
            const r = await s.api(method, path, { token: t.secret, body });
            if (grants[role].includes(perm))
              {
                assert.ok(r.status >= 200 && r.status < 300, `${role} ${method} ${path} (${perm}): ${r.status} ${r.text}`);
                assert.equal(r.status, method === 'POST' ? 201 : 200, `${role} ${method} ${path}: ${r.text}`);
                if (method === 'POST')
                  assert.equal(r.json.created_by, `token:${t.id}`, 'minted by the probing token');
                else if (path.endsWith('/verify'))
                  assert.equal(r.json.ok, true, r.text);
                else if (path.endsWith('/tokens') || path.endsWith('/audit'))
                  assert.ok(r.json.items.length > 0, `${path} lists something: ${r.text}`);
                else if (path.endsWith(t.id))
                  assert.equal(r.json.id, t.id);
                else
                  assert.equal(r.json.id, A.id);
              }
            else
              assertProblem(r, 403, 'permission_denied');
          }
        assert.equal((await s.api('DELETE', `/api/v1/orgs/${A.id}/tokens/${t.id}`, { token: P() })).status, 204);
      }
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: P() })).status, 200, 'org A survived');
  });

  s.test('tenancy: A\'s token sees only A; B\'s objects are 404, by id and by slug', async () => {
    const a = ownerA.secret;
    const list = await s.api('GET', '/api/v1/orgs', { token: a });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.items.map((o) => o.id), [A.id]);
    assert.equal(list.json.next_cursor, null);
    const paged = await walkPages(s.api, '/api/v1/orgs', { token: a, limit: 1 });
    assert.deepEqual(paged.items.map((o) => o.id), [A.id]);

    for (const ref of [B.id, B.slug])
      {
        assertProblem(await s.api('GET', `/api/v1/orgs/${ref}`, { token: a }), 404, 'not_found');
        assertProblem(await s.api('PATCH', `/api/v1/orgs/${ref}`, { token: a, body: { name: 'Pwned' } }), 404, 'not_found');
        assertProblem(await s.api('GET', `/api/v1/orgs/${ref}/tokens`, { token: a }), 404, 'not_found');
        assertProblem(await s.api('POST', `/api/v1/orgs/${ref}/tokens`, { token: a, body: { name: 'x', role: 'owner' } }),
                      404, 'not_found');
        assertProblem(await s.api('GET', `/api/v1/orgs/${ref}/tokens/${ownerB.id}`, { token: a }), 404, 'not_found');
        assertProblem(await s.api('DELETE', `/api/v1/orgs/${ref}/tokens/${ownerB.id}`, { token: a }), 404, 'not_found');
        assertProblem(await s.api('GET', `/api/v1/orgs/${ref}/audit`, { token: a }), 404, 'not_found');
        assertProblem(await s.api('GET', `/api/v1/orgs/${ref}/audit/verify`, { token: a }), 404, 'not_found');
      }
    // B's real token id under A's path: A's token, and even the platform admin.
    for (const who of [a, P()])
      {
        assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${ownerB.id}`, { token: who }), 404, 'not_found');
        assertProblem(await s.api('DELETE', `/api/v1/orgs/${A.id}/tokens/${ownerB.id}`, { token: who }), 404, 'not_found');
      }
    const bStill = await s.api('GET', `/api/v1/orgs/${B.id}`, { token: ownerB.secret });
    assert.equal(bStill.status, 200, 'B\'s token still works');
    assert.equal(bStill.json.name, B.name);
    assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/tokens/not-a-uuid`, { token: a }), 404, 'not_found');
    assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/tokens/00000000-0000-4000-8000-000000000000`, { token: a }),
                  404, 'not_found');
  });

  s.test('org tokens cannot create or delete orgs (platform only)', async () => {
    const slug = uniqueSlug();
    assertProblem(await s.api('POST', '/api/v1/orgs', { token: ownerA.secret, body: { slug, name: 'x' } }),
                  403, 'permission_denied');
    assertProblem(await s.api('DELETE', `/api/v1/orgs/${A.id}`, { token: ownerA.secret }), 403, 'permission_denied');
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: ownerA.secret })).status, 200);
    assertProblem(await s.api('GET', `/api/v1/orgs/${slug}`, { token: P() }), 404, 'not_found');
  });

  s.test('revoke: 204; the token then gets the same 401 as an unknown one; twice → 404', async () => {
    const t = await mint(A, 'auditor', ownerA.secret);
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: t.secret })).status, 200);
    const d = await s.api('DELETE', `/api/v1/orgs/${A.id}/tokens/${t.id}`, { token: ownerA.secret });
    assert.equal(d.status, 204);
    assert.equal(d.text, '');
    const revoked = unauthorized(await s.api('GET', `/api/v1/orgs/${A.id}`, { token: t.secret }));
    const unknown = unauthorized(await s.api('GET', `/api/v1/orgs/${A.id}`, { token: randomToken() }));
    assert.deepEqual(revoked, unknown, 'revoked and unknown tokens are answered alike');
    const g = await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${t.id}`, { token: ownerA.secret });
    assert.equal(g.status, 200, 'a revoked token can still be read');
    assert.notEqual(g.json.revoked_at, null);
    assert.ok(g.json.revoked_at >= g.json.created_at);
    const list = await s.api('GET', `/api/v1/orgs/${A.id}/tokens?limit=200`, { token: ownerA.secret });
    assert.ok(!list.json.items.some((x) => x.id === t.id), 'revoked tokens are not listed');
    assertProblem(await s.api('DELETE', `/api/v1/orgs/${A.id}/tokens/${t.id}`, { token: ownerA.secret }), 404, 'not_found');
  });

  s.test('expiry: a token past expires_at gets the same 401 as an unknown one', async () => {
    const exp = new Date(Date.now() + 2000).toISOString();
    const t = await mint(A, 'viewer', ownerA.secret, { expires_at: exp });
    assert.equal(Date.parse(t.expires_at), Date.parse(exp));
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: t.secret })).status, 200);
    await sleep(Math.max(0, Date.parse(exp) - Date.now()) + 1000);
    const expired = unauthorized(await s.api('GET', `/api/v1/orgs/${A.id}`, { token: t.secret }));
    const unknown = unauthorized(await s.api('GET', `/api/v1/orgs/${A.id}`, { token: randomToken() }));
    assert.deepEqual(expired, unknown);
  });

  s.test('create: invalid bodies → 400 naming each field', async () => {
    const url = `/api/v1/orgs/${A.id}/tokens`;
    const past = new Date(Date.now() - 60000).toISOString();
    const cases = [
      [{ role: 'viewer' }, ['/name']],
      [{ name: 'x' }, ['/role']],
      [{ name: '', role: 'viewer' }, ['/name']],
      [{ name: '   ', role: 'viewer' }, ['/name']],
      [{ name: 'a\nb', role: 'viewer' }, ['/name']],
      [{ name: ' padded', role: 'viewer' }, ['/name']],
      [{ name: 'x'.repeat(201), role: 'viewer' }, ['/name']],
      [{ name: 'x', role: 'admin' }, ['/role']],
      [{ name: 'x', role: 'Owner' }, ['/role']],
      [{ name: 'x', role: 'viewer', expires_at: past }, ['/expires_at']],
      [{ name: 'x', role: 'viewer', expires_at: 'tomorrow' }, ['/expires_at']],
      [{ name: 'x', role: 'viewer', expires_at: 1893456000 }, ['/expires_at']],
      [{ name: 'x', role: 'viewer', secret: randomToken() }, ['/secret']],
      [{ name: 5, role: 7 }, ['/name', '/role']],
    ];
    for (const [body, want] of cases)
      {
        const r = await s.api('POST', url, { token: ownerA.secret, body });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(r.json.errors.map((e) => e.pointer).sort(), want, `${JSON.stringify(body)}: ${r.text}`);
      }
    const offset = new Date(Date.now() + 3600e3);
    const local = offset.toISOString().replace('Z', '+00:00');
    const r = await s.api('POST', url, { token: ownerA.secret, body: { name: 'offset', role: 'viewer', expires_at: local } });
    assert.equal(r.status, 201, `RFC 3339 with a numeric offset: ${r.text}`);
    assert.equal(Date.parse(r.json.expires_at), offset.getTime());
    assert.match(r.json.expires_at, /Z$/);
  });

  s.test('deleting an org revokes its tokens', async () => {
    const C = await newOrg('charlie');
    const t = await mint(C, 'owner');
    assert.equal((await s.api('GET', `/api/v1/orgs/${C.id}`, { token: t.secret })).status, 200);
    const del = await s.api('DELETE', `/api/v1/orgs/${C.id}`, { token: P() });
    assert.equal(del.status, 204);
    assert.equal(del.text, '');
    unauthorized(await s.api('GET', '/api/v1/orgs', { token: t.secret }));
    const row = await s.psql(`SELECT revoked_at IS NOT NULL FROM api_tokens WHERE id = '${t.id}'`);
    assert.equal(row, 't', 'revoked_at set in the same transaction as the delete');
  });

  s.test('last_used_at is recorded, and flushed at shutdown', async () => {
    const t = await mint(A, 'viewer');
    assert.equal(t.last_used_at, null);
    const before = Date.now();
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: t.secret })).status, 200);
    await s.srv.restart(); // SIGTERM flushes pending last-used times
    const g = await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${t.id}`, { token: P() });
    assert.notEqual(g.json.last_used_at, null, 'last_used_at not flushed at shutdown');
    const used = Date.parse(g.json.last_used_at);
    assert.ok(used >= before - 1000 && used <= Date.now() + 1000, `last_used_at ${g.json.last_used_at}`);
    assert.ok(g.json.last_used_at >= g.json.created_at);
    const other = await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${viewerA.id}`, { token: P() });
    assert.notEqual(other.json.last_used_at, null, 'the viewer token was used earlier too');
    // The tokens keep working after the restart (credentials live in the database).
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: ownerA.secret })).status, 200);
  });
  s.test("a developer's own token: bound to an active user, revoked with the user", async () => {
    const user = async (org, owner, body) => {
      const r = await s.api('POST', `/api/v1/orgs/${org.id}/users`, { token: owner, body });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const erin = await user(A, ownerA.secret, { user_name: 'erin' });
    const frank = await user(A, ownerA.secret, { user_name: 'frank' });
    const idle = await user(A, ownerA.secret, { user_name: 'idle', active: false });
    const other = await user(B, ownerB.secret, { user_name: 'erin' });
    const create = (user_id) => s.api('POST', `/api/v1/orgs/${A.id}/tokens`,
      { token: ownerA.secret, body: { name: 'own', role: 'viewer', user_id } });
    for (const [uid, msg] of [['nope', /uuid/], [other.id, /active user of this organization/],
                              [idle.id, /active user of this organization/],
                              ['00000000-0000-4000-8000-000000000000', /active user of this organization/]])
      {
        const r = await create(uid);
        assertProblem(r, 400, 'validation_failed');
        assert.equal(r.json.errors[0].pointer, '/user_id');
        assert.match(r.json.errors[0].message, msg);
      }
    const mine = await create(erin.id);
    assert.equal(mine.status, 201, mine.text);
    assert.equal(mine.json.user_id, erin.id);
    assert.equal(viewerA.user_id, null, 'an automation token acts as no user');
    const g = await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${mine.json.id}`, { token: ownerA.secret });
    assert.equal(g.json.user_id, erin.id);
    const franks = (await create(frank.id)).json;
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: mine.json.secret })).status, 200);
    const off = await s.api('PATCH', `/api/v1/orgs/${A.id}/users/${erin.id}`, { token: ownerA.secret, body: { active: false } });
    assert.equal(off.status, 200, off.text);
    unauthorized(await s.api('GET', `/api/v1/orgs/${A.id}`, { token: mine.json.secret }));
    const after = await s.api('GET', `/api/v1/orgs/${A.id}/tokens/${mine.json.id}`, { token: ownerA.secret });
    assert.notEqual(after.json.revoked_at, null, 'deactivation revoked the token');
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: franks.secret })).status, 200, 'other users keep theirs');
    assert.equal((await s.api('DELETE', `/api/v1/orgs/${A.id}/users/${frank.id}`, { token: ownerA.secret })).status, 204);
    unauthorized(await s.api('GET', `/api/v1/orgs/${A.id}`, { token: franks.secret }));
    assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}`, { token: viewerA.secret })).status, 200);
  });
});
