// Enroll secrets and agent enrollment (DESIGN §6): secrets shown once and
// stored as SHA-256, their expiry, use limit (atomic under concurrency),
// revocation and binding to a user; POST /api/v1/agent/enroll and what it
// answers (credential, org, subject, the signed keyset, check-in settings);
// the one 401 for every unusable secret; roles and tenancy; the agent
// credential on the agent API only (tokens never there, agents never on org
// routes); and the credential's end: disable (403 agent_disabled), delete,
// user deactivation and deletion, org deletion (401 node_invalid).

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { assertProblem, digest, errorPointers, isUuid, sha256hex, useServer, waitFor, walkPages } from './harness.mjs';

const SECRET_RE = /^bwe_[A-Za-z0-9_-]{43}$/;
const CREDENTIAL_RE = /^bwa_[A-Za-z0-9_-]{43}$/;
const DIGEST_ETAG_RE = /^"[0-9a-f]{64}"$/;
const NIL = '00000000-0000-4000-8000-000000000000';
/** How long a change made elsewhere (a trigger's NOTIFY) may take to reach the credential cache. */
const NOTIFY_WAIT_MS = 5000;

const randomSecret = () => 'bwe_' + crypto.randomBytes(32).toString('base64url');
const randomCredential = () => 'bwa_' + crypto.randomBytes(32).toString('base64url');
const inAnHour = () => new Date(Date.now() + 3600e3).toISOString();

describe('enroll', () => {
  const s = useServer('enroll', { env: { BULWARK_MASTER_KEY: crypto.randomBytes(32).toString('hex') } });
  const P = () => s.token;
  let A, B, ownerA, adminA, viewerA, auditorA, reviewerA, ownerB, alice, bob;
  const secrets = (org = A) => `/api/v1/orgs/${org.id}/enroll-secrets`;
  const agents = (org = A) => `/api/v1/orgs/${org.id}/agents`;

  /** Create an enroll secret in @org; its 201 body (secret included). */
  const mkSecret = async (body = {}, org = A, token = org === A ? ownerA.secret : ownerB.secret) => {
    const r = await s.api('POST', secrets(org), { token, body: { name: 'laptops', ...body } });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.secret, SECRET_RE);
    return r.json;
  };
  /** POST /api/v1/agent/enroll with @secret; the raw response. */
  const enroll = (secret, extra = {}) => s.api('POST', '/api/v1/agent/enroll', {
    body: { enroll_secret: secret, hostname: 'laptop-1.example.com', platform: 'linux-x86_64',
            agent_version: '0.4.0', ...extra } });
  /** Enroll successfully; the 201 body. */
  const enrolled = async (secret, extra) => {
    const r = await enroll(secret, extra);
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  /** An agent request authenticated by @credential: the keyset it enrolled with. */
  const agentProbe = (credential, version = 1) => s.api('GET', `/api/v1/agent/keysets/${version}`, { token: credential });
  const assertNodeInvalid = (r) => {
    assertProblem(r, 401, 'authentication_required');
    assert.equal(r.json.node_invalid, true, r.text);
    assert.match(r.headers.get('www-authenticate'), /^Bearer\b/);
  };
  const assertSecretInvalid = (r) => {
    assertProblem(r, 401, 'enroll_secret_invalid');
    assert.match(r.headers.get('www-authenticate'), /^Bearer\b/);
    assert.equal(r.json.detail, 'the enroll secret is unknown, expired, revoked, used up, or its user is inactive', 'one message for all');
    assert.equal(r.json.node_invalid, undefined);
  };
  const uses = async (secret) => Number(await s.psql(`SELECT uses FROM enroll_secrets WHERE id = '${secret.id}'`));
  const auditOf = async (org, action, target) => JSON.parse(await s.psql(
    `SELECT coalesce(json_agg(json_build_object('actor', actor, 'target_type', target_type, 'before', before_sha256,`
    + ` 'after', after_sha256) ORDER BY seq), '[]') FROM audit_log`
    + ` WHERE org_id = '${org.id}' AND action = '${action}' AND target_id = '${target}'`));

  s.test('setup: orgs A and B, tokens of every role, users alice and bob', async () => {
    A = await s.newOrg('enra');
    B = await s.newOrg('enrb');
    ownerA = await s.mint(A, 'owner');
    adminA = await s.mint(A, 'policy_admin');
    viewerA = await s.mint(A, 'viewer');
    auditorA = await s.mint(A, 'auditor');
    reviewerA = await s.mint(A, 'catalog_reviewer');
    ownerB = await s.mint(B, 'owner');
    for (const name of ['alice', 'bob'])
      {
        const r = await s.api('POST', `/api/v1/orgs/${A.id}/users`, { token: ownerA.secret, body: { user_name: name } });
        assert.equal(r.status, 201, r.text);
        if (name === 'alice')
          alice = r.json;
        else
          bob = r.json;
      }
  });

  let plain;
  s.test('create: the secret once, its fields, ETag, Location, no-store, SHA-256 only, audited', async () => {
    const before = Date.now();
    const r = await s.api('POST', secrets(), { token: ownerA.secret, body: { name: 'fleet 2026' } });
    assert.equal(r.status, 201, r.text);
    plain = r.json;
    assert.ok(isUuid(plain.id));
    assert.match(plain.secret, SECRET_RE);
    const { secret, ...shown } = plain;
    assert.deepEqual(shown, {
      id: plain.id, name: 'fleet 2026', prefix: secret.slice(0, 12), user_id: null, expires_at: null,
      max_uses: null, uses: 0, created_at: plain.created_at, created_by: `token:${ownerA.id}`, revoked_at: null,
    });
    assert.ok(Math.abs(Date.parse(plain.created_at) - before) < 60000);
    assert.match(r.headers.get('etag'), DIGEST_ETAG_RE);
    assert.equal(r.headers.get('etag'), `"${digest(shown)}"`, 'the ETag is the digest of the secret without the secret');
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${A.id}/enroll-secrets/${plain.id}`);
    assert.equal(r.headers.get('cache-control'), 'no-store');

    const g = await s.api('GET', r.headers.get('location'), { token: viewerA.secret });
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(g.json, shown, 'GET answers it without the secret');
    assert.equal(g.headers.get('etag'), r.headers.get('etag'));

    assert.equal(await s.psql(`SELECT encode(secret_sha256, 'hex') || ' ' || prefix FROM enroll_secrets WHERE id = '${plain.id}'`),
                 `${sha256hex(secret)} ${plain.prefix}`);
    assert.equal(await s.psql(`SELECT count(*) FROM enroll_secrets s WHERE strpos(s::text, '${secret}') > 0`), '0');
    assert.deepEqual(await auditOf(A, 'enroll_secret.create', plain.id),
                     [{ actor: `token:${ownerA.id}`, target_type: 'enroll_secret', before: null, after: digest(shown) }]);
  });

  s.test('create: validation names each bad field', async () => {
    const bad = async (body, pointers) => {
      const r = await s.api('POST', secrets(), { token: ownerA.secret, body });
      assertProblem(r, 400, 'validation_failed');
      assert.deepEqual(errorPointers(r), pointers.sort(), r.text);
    };
    await bad({}, ['/name']);
    await bad({ name: '' }, ['/name']);
    await bad({ name: 'x'.repeat(129) }, ['/name']);
    await bad({ name: ' padded' }, ['/name']);
    await bad({ name: 'ok', max_uses: 0 }, ['/max_uses']);
    await bad({ name: 'ok', max_uses: 1000001 }, ['/max_uses']);
    await bad({ name: 'ok', max_uses: '3' }, ['/max_uses']);
    await bad({ name: 'ok', expires_at: 'tomorrow' }, ['/expires_at']);
    await bad({ name: 'ok', expires_at: '2001-01-01T00:00:00Z' }, ['/expires_at']);
    await bad({ name: 'ok', user_id: 'alice' }, ['/user_id']);
    await bad({ name: 'ok', user_id: NIL }, ['/user_id']);
    await bad({ name: 'ok', color: 'red' }, ['/color']);
    await bad({ name: 7, max_uses: -1 }, ['/name', '/max_uses']);
    // a user of another org is no user of this one
    const carol = await s.api('POST', `/api/v1/orgs/${B.id}/users`, { token: ownerB.secret, body: { user_name: 'carol' } });
    assert.equal(carol.status, 201, carol.text);
    await bad({ name: 'ok', user_id: carol.json.id }, ['/user_id']);
    // nor is an inactive user
    const dave = await s.api('POST', `/api/v1/orgs/${A.id}/users`, { token: ownerA.secret, body: { user_name: 'dave', active: false } });
    assert.equal(dave.status, 201, dave.text);
    await bad({ name: 'ok', user_id: dave.json.id }, ['/user_id']);
    // limits at their bounds are fine, null means none
    const ok = await mkSecret({ name: 'x'.repeat(128), max_uses: 1000000, expires_at: null, user_id: null });
    assert.equal(ok.max_uses, 1000000);
    assert.equal(ok.expires_at, null);
    assert.equal((await s.api('DELETE', `${secrets()}/${ok.id}`, { token: ownerA.secret })).status, 204);
  });

  let first;
  s.test('enroll: credential, org, subject, the signed keyset, check-in settings; stored and audited', async () => {
    const r = await enroll(plain.secret);
    assert.equal(r.status, 201, r.text);
    first = r.json;
    assert.ok(isUuid(first.agent_id));
    assert.match(first.credential, CREDENTIAL_RE);
    assert.deepEqual(first.org, { id: A.id, slug: A.slug });
    assert.deepEqual(first.subject, { kind: 'agent', id: first.agent_id }, 'no user: the agent is its own subject');
    assert.deepEqual(first.checkin, { interval_s: 60, jitter_s: 10 }, 'the defaults of BULWARK_CHECKIN_INTERVAL/_JITTER');
    assert.ok(Number.isInteger(first.keyset_version) && first.keyset_version >= 1);
    assert.equal(typeof first.keyset.payload, 'string');
    assert.ok(Array.isArray(first.keyset.signatures) && first.keyset.signatures.length >= 1, r.text);
    const payload = JSON.parse(Buffer.from(first.keyset.payload, 'base64url').toString('utf8'));
    assert.equal(payload.version, first.keyset_version, 'the keyset document is the version it says');
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${A.id}/agents/${first.agent_id}`);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.match(r.headers.get('etag'), DIGEST_ETAG_RE);

    // the keyset is the one the agent API serves for that version, to this very credential
    const k = await agentProbe(first.credential, first.keyset_version);
    assert.equal(k.status, 200, k.text);
    assert.deepEqual(JSON.parse(k.text), first.keyset);

    assert.equal(await uses(plain), 1);
    assert.equal(await s.psql(`SELECT encode(credential_sha256, 'hex') FROM agents WHERE id = '${first.agent_id}'`),
                 sha256hex(first.credential), 'the credential is stored as its SHA-256');
    assert.equal(await s.psql(`SELECT count(*) FROM agents a WHERE strpos(a::text, '${first.credential}') > 0`), '0');

    const g = await s.api('GET', `${agents()}/${first.agent_id}`, { token: viewerA.secret });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.headers.get('etag'), r.headers.get('etag'));
    assert.deepEqual(g.json, {
      id: first.agent_id, user_id: null, hostname: 'laptop-1.example.com', platform: 'linux-x86_64',
      agent_version: '0.4.0', enrolled_at: g.json.enrolled_at, last_seen_at: null, online: false, disabled: false,
      desired: g.json.desired, active: null, drift: g.json.drift, stale: false, last_error: null,
      keyset_version: null, events: { spooled: 0, dropped: 0, last_seq: 0 },
    });
    assert.ok(Math.abs(Date.parse(g.json.enrolled_at) - Date.now()) < 60000);
    const audit = await auditOf(A, 'agent.enroll', first.agent_id);
    assert.equal(audit.length, 1);
    assert.equal(audit[0].actor, `enroll-secret:${plain.id}`, 'the secret enrolled it');
    assert.equal(audit[0].target_type, 'agent');
    assert.match(audit[0].after, /^[0-9a-f]{64}$/);
    // the audit log lists the record, and the chain still verifies
    const list = await s.api('GET', `/api/v1/orgs/${A.id}/audit?action=agent.enroll`, { token: ownerA.secret });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.items.some((x) => x.actor === `enroll-secret:${plain.id}` && x.target.id === first.agent_id), list.text);
    const v = await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: ownerA.secret });
    assert.equal(v.json.ok, true, v.text);
  });

  s.test('enroll: body validation (400 naming fields) before the secret is looked at', async () => {
    const r1 = await s.api('POST', '/api/v1/agent/enroll', { body: { enroll_secret: plain.secret } });
    assertProblem(r1, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r1), ['/agent_version', '/hostname', '/platform']);
    const r2 = await enroll(plain.secret, { hostname: 'h'.repeat(254), platform: 'p'.repeat(65), agent_version: '' });
    assertProblem(r2, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r2), ['/agent_version', '/hostname', '/platform']);
    const r3 = await enroll(plain.secret, { serial: 'x' });
    assertProblem(r3, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r3), ['/serial']);
    assert.equal(await uses(plain), 1, 'refused enrollments use nothing up');
  });

  s.test('every unusable secret gets the same 401 enroll_secret_invalid', async () => {
    const answers = [];
    const refused = async (secret) => {
      const r = await enroll(secret);
      assertSecretInvalid(r);
      const { request_id: _rid, ...rest } = r.json;
      answers.push(rest);
    };
    await refused(randomSecret());                 // unknown
    await refused('bwe_short');                    // malformed
    await refused(ownerA.secret);                  // a token is no enroll secret
    // expired
    const expiring = await mkSecret({ expires_at: inAnHour() });
    assert.ok(Math.abs(Date.parse(expiring.expires_at) - Date.now() - 3600e3) < 60000, expiring.expires_at);
    await enrolled(expiring.secret);
    await s.psql(`UPDATE enroll_secrets SET expires_at = now () - interval '1 second' WHERE id = '${expiring.id}'`);
    await refused(expiring.secret);
    // revoked
    const revoked = await mkSecret();
    const del = await s.api('DELETE', `${secrets()}/${revoked.id}`, { token: adminA.secret });
    assert.equal(del.status, 204, del.text);
    await refused(revoked.secret);
    const g = await s.api('GET', `${secrets()}/${revoked.id}`, { token: ownerA.secret });
    assert.ok(Date.parse(g.json.revoked_at) > 0, g.text);
    assertProblem(await s.api('DELETE', `${secrets()}/${revoked.id}`, { token: ownerA.secret }), 404, 'not_found');
    assert.deepEqual(await auditOf(A, 'enroll_secret.revoke', revoked.id), [{
      actor: `token:${adminA.id}`, target_type: 'enroll_secret',
      before: digest({ ...g.json, revoked_at: null }), after: digest(g.json) }]);
    // used up
    const twice = await mkSecret({ max_uses: 2 });
    await enrolled(twice.secret);
    await enrolled(twice.secret);
    await refused(twice.secret);
    assert.equal(await uses(twice), 2);
    assert.equal((await s.api('GET', `${secrets()}/${twice.id}`, { token: ownerA.secret })).json.uses, 2);
    // a deleted org's secret
    const C = await s.newOrg('enrc');
    const cs = await mkSecret({}, C, P());
    await enrolled(cs.secret);
    assert.equal((await s.api('DELETE', `/api/v1/orgs/${C.id}`, { token: P() })).status, 204);
    await refused(cs.secret);
    for (const a of answers.slice(1))
      assert.deepEqual(a, answers[0], 'one answer for all');
  });

  s.test('concurrent enrollments never exceed max_uses', async () => {
    const limited = await mkSecret({ max_uses: 3 });
    const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => enroll(limited.secret, { hostname: `race-${i}` })));
    const ok = rs.filter((r) => r.status === 201);
    assert.equal(ok.length, 3, rs.map((r) => r.status).join(','));
    for (const r of rs.filter((x) => x.status !== 201))
      assertSecretInvalid(r);
    assert.equal(new Set(ok.map((r) => r.json.agent_id)).size, 3);
    assert.equal(new Set(ok.map((r) => r.json.credential)).size, 3);
    assert.equal(await uses(limited), 3);
    assert.equal(await s.psql(`SELECT count(*) FROM agents WHERE enroll_secret_id = '${limited.id}'`), '3');
    assert.equal(Number(await s.psql(`SELECT count(*) FROM audit_log WHERE org_id = '${A.id}' AND actor = 'enroll-secret:${limited.id}'`)), 3);
  });

  let aliceAgent, aliceSecret;
  s.test('a secret bound to a user: its agents have that user as subject', async () => {
    aliceSecret = await mkSecret({ user_id: alice.id, name: 'alice laptops' });
    assert.equal(aliceSecret.user_id, alice.id);
    aliceAgent = await enrolled(aliceSecret.secret, { hostname: 'alice-mbp' });
    assert.deepEqual(aliceAgent.subject, { kind: 'user', id: alice.id });
    const g = await s.api('GET', `${agents()}/${aliceAgent.agent_id}`, { token: ownerA.secret });
    assert.equal(g.json.user_id, alice.id);
    assert.equal(g.json.hostname, 'alice-mbp');
    const mine = await s.api('GET', `${agents()}?user_id=${alice.id}`, { token: ownerA.secret });
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.json.items.map((a) => a.id), [aliceAgent.agent_id]);
    assert.equal(mine.json.next_cursor, null);
    const none = await s.api('GET', `${agents()}?user_id=${bob.id}`, { token: ownerA.secret });
    assert.deepEqual(none.json.items, []);
    const badq = await s.api('GET', `${agents()}?user_id=alice&status=asleep`, { token: ownerA.secret });
    assertProblem(badq, 400, 'validation_failed');
    assert.deepEqual(errorPointers(badq), ['status', 'user_id']);
  });

  s.test('lists: secrets and agents page by cursor, oldest first, never showing secrets', async () => {
    const all = await walkPages(s.api, secrets(), { token: auditorA.secret, limit: 2 });
    assert.ok(all.items.length >= 4, `${all.items.length} secrets`);
    assert.equal(new Set(all.items.map((x) => x.id)).size, all.items.length);
    assert.ok(all.items.every((x) => x.secret === undefined && x.revoked_at === null), 'live ones only, no secrets');
    assert.ok(all.items.some((x) => x.id === plain.id));
    const sorted = [...all.items].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
    assert.deepEqual(all.items.map((x) => x.id), sorted.map((x) => x.id));
    const ags = await walkPages(s.api, agents(), { token: viewerA.secret, limit: 3 });
    const expected = (await s.psql(`SELECT string_agg(id::text, ',' ORDER BY enrolled_at, id) FROM agents`
                                   + ` WHERE org_id = '${A.id}' AND deleted_at IS NULL`)).split(',');
    assert.deepEqual(ags.items.map((a) => a.id), expected);
    assertProblem(await s.api('GET', `${agents()}?cursor=nope`, { token: viewerA.secret }), 400, 'validation_failed');
  });

  s.test('roles: agent.read for every role, agent.write for owner and policy_admin', async () => {
    for (const t of [viewerA, auditorA, reviewerA])
      {
        assert.equal((await s.api('GET', secrets(), { token: t.secret })).status, 200);
        assert.equal((await s.api('GET', agents(), { token: t.secret })).status, 200);
        assert.equal((await s.api('GET', `${agents()}/${first.agent_id}`, { token: t.secret })).status, 200);
        assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}/fleet/summary`, { token: t.secret })).status, 200);
        assertProblem(await s.api('POST', secrets(), { token: t.secret, body: { name: 'x' } }), 403, 'permission_denied');
        assertProblem(await s.api('DELETE', `${secrets()}/${plain.id}`, { token: t.secret }), 403, 'permission_denied');
        assertProblem(await s.api('PATCH', `${agents()}/${first.agent_id}`, { token: t.secret, body: { disabled: true } }),
                      403, 'permission_denied');
        assertProblem(await s.api('DELETE', `${agents()}/${first.agent_id}`, { token: t.secret }), 403, 'permission_denied');
      }
    const byAdmin = await mkSecret({ name: 'by admin' }, A, adminA.secret);
    assert.equal(byAdmin.created_by, `token:${adminA.id}`);
    assert.equal((await s.api('GET', `${agents()}/${first.agent_id}`, { token: P() })).status, 200, 'the platform admin too');
    assertProblem(await s.api('GET', secrets(), {}), 401, 'authentication_required');
  });

  let bAgent, bSecret;
  s.test('tenancy: another org\'s secrets and agents are 404', async () => {
    bSecret = await mkSecret({}, B);
    bAgent = await enrolled(bSecret.secret);
    assert.deepEqual(bAgent.org, { id: B.id, slug: B.slug });
    for (const [m, path, body] of [
      ['GET', `${secrets()}/${bSecret.id}`], ['DELETE', `${secrets()}/${bSecret.id}`],
      ['GET', `${agents()}/${bAgent.agent_id}`], ['PATCH', `${agents()}/${bAgent.agent_id}`, { disabled: true }],
      ['DELETE', `${agents()}/${bAgent.agent_id}`],
      ['GET', `${agents()}/not-a-uuid`], ['GET', `${secrets()}/${NIL}`],
    ])
      assertProblem(await s.api(m, path, { token: ownerA.secret, body }), 404, 'not_found');
    // A's token on B's paths
    assertProblem(await s.api('GET', secrets(B), { token: ownerA.secret }), 404, 'not_found');
    assertProblem(await s.api('GET', agents(B), { token: ownerA.secret }), 404, 'not_found');
    assert.ok(!(await s.api('GET', agents(), { token: ownerA.secret })).json.items.some((a) => a.id === bAgent.agent_id));
    // nothing changed in B
    assert.equal((await agentProbe(bAgent.credential)).status, 200);
    assert.equal((await s.api('GET', `${secrets(B)}/${bSecret.id}`, { token: ownerB.secret })).json.revoked_at, null);
  });

  s.test('credentials stay on their side: tokens never on the agent API, agents never on org routes', async () => {
    for (const token of [ownerA.secret, P(), randomCredential(), 'bwa_short', undefined])
      assertNodeInvalid(await agentProbe(token));
    const r = await s.api('GET', '/api/v1/agent/keysets/1', { headers: { authorization: `Basic ${first.credential}` } });
    assertNodeInvalid(r);
    for (const path of [`/api/v1/orgs/${A.id}`, agents(), `${agents()}/${first.agent_id}`])
      {
        const x = await s.api('GET', path, { token: first.credential });
        assertProblem(x, 401, 'authentication_required');
        assert.equal(x.json.node_invalid, undefined, 'org routes know nothing of node_invalid');
      }
  });

  s.test('disable → 403 agent_disabled (the credential still known); enable → back; If-Match; audited', async () => {
    const url = `${agents()}/${first.agent_id}`;
    const g = await s.api('GET', url, { token: ownerA.secret });
    const etag = g.headers.get('etag');
    assertProblem(await s.api('PATCH', url, { token: ownerA.secret, body: {} }), 400, 'validation_failed');
    assertProblem(await s.api('PATCH', url, { token: ownerA.secret, body: { disabled: 'yes' } }), 400, 'validation_failed');
    assertProblem(await s.api('PATCH', url, { token: ownerA.secret, body: { disabled: true },
                                              headers: { 'if-match': `"${'0'.repeat(64)}"` } }), 412, 'precondition_failed');
    assert.equal((await agentProbe(first.credential)).status, 200, 'nothing changed');

    const d = await s.api('PATCH', url, { token: adminA.secret, body: { disabled: true }, headers: { 'if-match': etag } });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.disabled, true);
    assert.notEqual(d.headers.get('etag'), etag, 'the ETag changes with the state');
    const admin = ({ id, user_id, hostname, platform, enrolled_at }) => ({ id, user_id, hostname, platform, enrolled_at });
    assert.deepEqual(admin(d.json), admin(g.json), 'the same agent');
    const r = await agentProbe(first.credential);
    assertProblem(r, 403, 'agent_disabled');
    assert.equal(r.json.node_invalid, undefined, 'disabled is not invalid: do not enroll again');
    assertProblem(await agentProbe(first.credential), 403, 'agent_disabled');
    const dis = await s.api('GET', `${agents()}?status=disabled`, { token: ownerA.secret });
    assert.deepEqual(dis.json.items.map((a) => a.id), [first.agent_id]);
    // the old ETag no longer matches
    assertProblem(await s.api('PATCH', url, { token: ownerA.secret, body: { disabled: false }, headers: { 'if-match': etag } }),
                  412, 'precondition_failed');
    const e = await s.api('PATCH', url, { token: ownerA.secret, body: { disabled: false } });
    assert.equal(e.status, 200, e.text);
    assert.equal(e.json.disabled, false);
    assert.equal((await agentProbe(first.credential)).status, 200, 'enabled again');
    assert.deepEqual((await s.api('GET', `${agents()}?status=disabled`, { token: ownerA.secret })).json.items, []);
    const dAudit = await auditOf(A, 'agent.disable', first.agent_id);
    const eAudit = await auditOf(A, 'agent.enable', first.agent_id);
    assert.deepEqual(dAudit.map((x) => [x.actor, x.target_type]), [[`token:${adminA.id}`, 'agent']]);
    assert.deepEqual(eAudit.map((x) => [x.actor, x.after]), [[`token:${ownerA.id}`, digest(e.json)]]);
    assert.equal(dAudit[0].after, digest(d.json));
  });

  s.test('delete → 401 node_invalid; gone from the fleet; audited', async () => {
    const victim = await enrolled(plain.secret, { hostname: 'stolen-laptop' });
    assert.equal((await agentProbe(victim.credential)).status, 200);
    const url = `${agents()}/${victim.agent_id}`;
    const before = (await s.api('GET', url, { token: ownerA.secret })).json;
    const d = await s.api('DELETE', url, { token: ownerA.secret });
    assert.equal(d.status, 204, d.text);
    assertNodeInvalid(await agentProbe(victim.credential));
    assertProblem(await s.api('GET', url, { token: ownerA.secret }), 404, 'not_found');
    assertProblem(await s.api('DELETE', url, { token: ownerA.secret }), 404, 'not_found');
    assert.ok(!(await s.api('GET', agents(), { token: ownerA.secret })).json.items.some((a) => a.id === victim.agent_id));
    assert.deepEqual(await auditOf(A, 'agent.delete', victim.agent_id),
                     [{ actor: `token:${ownerA.id}`, target_type: 'agent', before: digest(before), after: null }]);
    assert.equal((await agentProbe(first.credential)).status, 200, 'other agents unaffected');
  });

  s.test('deactivating a user ends its agents\' credentials (401 node_invalid); its secret enrolls no more', async () => {
    const other = await enrolled(aliceSecret.secret, { hostname: 'alice-desktop' });
    assert.equal((await agentProbe(aliceAgent.credential)).status, 200);
    assert.equal((await agentProbe(other.credential)).status, 200);
    const r = await s.api('PATCH', `/api/v1/orgs/${A.id}/users/${alice.id}`, { token: ownerA.secret, body: { active: false } });
    assert.equal(r.status, 200, r.text);
    for (const cred of [aliceAgent.credential, other.credential])
      {
        const last = await waitFor(async () => { const x = await agentProbe(cred); return x.status === 401 ? x : null; }, NOTIFY_WAIT_MS);
        assert.ok(last, 'the agent of a deactivated user is refused');
        assertNodeInvalid(last);
      }
    assertSecretInvalid(await enroll(aliceSecret.secret));
    assert.deepEqual((await s.api('GET', `${agents()}?user_id=${alice.id}`, { token: ownerA.secret })).json.items, []);
    assert.equal((await agentProbe(first.credential)).status, 200, 'agents of others unaffected');
    // reactivating does not bring the credentials back
    assert.equal((await s.api('PATCH', `/api/v1/orgs/${A.id}/users/${alice.id}`, { token: ownerA.secret, body: { active: true } })).status, 200);
    assertNodeInvalid(await agentProbe(aliceAgent.credential));
  });

  s.test('deleting a user ends its agents\' credentials and its secrets', async () => {
    const bobSecret = await mkSecret({ user_id: bob.id, name: 'bob laptops' });
    const bobAgent = await enrolled(bobSecret.secret, { hostname: 'bob-laptop' });
    assert.deepEqual(bobAgent.subject, { kind: 'user', id: bob.id });
    assert.equal((await agentProbe(bobAgent.credential)).status, 200);
    assert.equal((await s.api('DELETE', `/api/v1/orgs/${A.id}/users/${bob.id}`, { token: ownerA.secret })).status, 204);
    const last = await waitFor(async () => { const x = await agentProbe(bobAgent.credential); return x.status === 401 ? x : null; },
                               NOTIFY_WAIT_MS);
    assert.ok(last, 'the agent of a deleted user is refused');
    assertNodeInvalid(last);
    assertSecretInvalid(await enroll(bobSecret.secret));
    assertProblem(await s.api('GET', `${secrets()}/${bobSecret.id}`, { token: ownerA.secret }), 404, 'not_found');
  });

  s.test('deleting the org ends its agents\' credentials (401 node_invalid)', async () => {
    const second = await enrolled(bSecret.secret, { hostname: 'b-2' });
    assert.equal((await agentProbe(bAgent.credential)).status, 200);
    assert.equal((await agentProbe(second.credential)).status, 200);
    assert.equal((await s.api('DELETE', `/api/v1/orgs/${B.id}`, { token: P() })).status, 204);
    for (const cred of [bAgent.credential, second.credential])
      {
        const last = await waitFor(async () => { const x = await agentProbe(cred); return x.status === 401 ? x : null; }, NOTIFY_WAIT_MS);
        assert.ok(last, 'the agent of a deleted org is refused');
        assertNodeInvalid(last);
      }
    assertSecretInvalid(await enroll(bSecret.secret));
    assert.equal((await agentProbe(first.credential)).status, 200, 'org A unaffected');
  });

  s.test('enrollment attempts are rate-limited: 429 too_many_requests + Retry-After, then it works again', async () => {
    let limited = null;
    for (let round = 0; round < 20 && !limited; round++)
      {
        const rs = await Promise.all(Array.from({ length: 25 }, () => enroll(randomSecret())));
        for (const r of rs)
          if (r.status !== 429)
            assertSecretInvalid(r);
        limited = rs.find((r) => r.status === 429) ?? null;
      }
    assert.ok(limited, 'no 429 after 500 attempts');
    assertProblem(limited, 429, 'too_many_requests');
    assert.equal(limited.headers.get('retry-after'), '1');
    const again = await waitFor(async () => { const r = await enroll(plain.secret, { hostname: 'patient' }); return r.status === 201 ? r : null; },
                                10000, 500);
    assert.ok(again, 'enrollment works again once the client backed off');
  });
});
