// The bundle compiler and signed heads (DESIGN §6), observed in the
// database: a policy change compiles one head per subject (every user with a
// live agent, every userless agent); bundles are the canonical JSON bytes
// whose SHA-256 is their key, shared by subjects with equal content; a change
// raises the version of the affected subjects only; versions and serials
// only go up, even after a "restore" of the counters; heads are ES256 JWS
// that node:crypto verifies; a new agent's first check-in compiles its
// subject on the spot; heads are re-signed before they expire, by the one
// replica holding the advisory lock.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { Bulwarkd, SpecValidator, assertProblem, canonicalJson, sha256hex, useServer, waitFor } from './harness.mjs';

const PUBLIC_URL = 'https://bulwark.example.test';
/** The re-signing job's advisory lock key (server/heads.h BW_HEAD_RESIGN_LOCK_KEY) as pg_locks shows it. */
const RESIGN_LOCK = { classid: 0x42574845, objid: 0x53494731 };
/** Generous bound for a compilation after a committed change to show up. */
const COMPILE_MS = 10000;

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

function policyDoc (name, scope, host)
{
  return { schema: 'bulwark.policy/v1', name, mode: 'enforce', scope,
           network: [{ id: 'r1', decision: 'allow', hosts: [host], ports: [443] }] };
}

/** Test helpers on one server handle @s. */
function helpers (s)
{
  const h = {
    /** The org's heads by subject id. */
    heads: async (org) => {
      const rows = await s.psql(`SELECT subject_id, bundle_version, sha256, length, head_serial, keyset_version, jws,
                                        extract (epoch FROM issued_at)::bigint, extract (epoch FROM expires_at)::bigint
                                 FROM heads WHERE org_id = '${org.id}' ORDER BY subject_id`);
      return Object.fromEntries(rows.split('\n').filter(Boolean).map((l) => {
        const [subject, version, sha256, length, serial, keyset, jws, iat, exp] = l.split('|');
        return [subject, { version: BigInt(version), sha256, length: Number(length), serial: BigInt(serial),
                           keyset: Number(keyset), jws, iat: Number(iat), exp: Number(exp) }];
      }));
    },
    /** Bundle @sha's stored bytes and its row's org and version. */
    bundle: async (sha) => {
      const [hex, org, version] = (await s.psql(`SELECT encode (body, 'hex'), org_id, version FROM bundles
                                                 WHERE sha256 = '${sha}'`)).split('|');
      return { bytes: Buffer.from(hex, 'hex'), org, version: BigInt(version) };
    },
    /** Wait until the org's heads are compiled at its current policy version. */
    compiled: async (org) => {
      const ok = await waitFor(async () => 't' === await s.psql(
        `SELECT coalesce (b.compiled_policy_version = o.policy_version, false)
         FROM orgs o LEFT JOIN bundle_state b ON b.org_id = o.id WHERE o.id = '${org.id}'`), COMPILE_MS, 50);
      assert.ok(ok, 'the org was compiled at its current policy version');
    },
    /** Insert an agent of @org (for user @userId, or userless): {id, cred}. */
    agent: async (org, userId = null) => {
      const cred = 'bwa_' + crypto.randomBytes(32).toString('base64url');
      const id = await s.psql(`INSERT INTO agents (org_id, user_id, credential_sha256, hostname, platform, agent_version)
                               VALUES ('${org.id}', ${userId ? `'${userId}'` : 'NULL'},
                                       decode('${sha256hex(cred)}', 'hex'), 'host', 'linux', '0.1.0') RETURNING id`);
      return { id, cred };
    },
    /** The org's keyset 1 keys: kid → jwk. */
    keys: async (org, token) => {
      const r = await s.api('GET', `/api/v1/orgs/${org.id}/keysets/1`, { token });
      assert.equal(r.status, 200);
      const payload = b64json(JSON.parse(r.text).payload);
      return Object.fromEntries(Object.entries(payload.keys).map(([kid, k]) => [kid, k.jwk]));
    },
  };
  return h;
}

/** Verify head JWS @jws with the keys @keys (kid → jwk); returns its claims. */
function verifyHead (jws, keys)
{
  const [h, p, sig] = jws.split('.');
  const header = b64json(h);
  assert.deepEqual(header, { alg: 'ES256', kid: header.kid, typ: 'bulwark-head+jwt' });
  assert.ok(keys[header.kid], `head signed by unknown key ${header.kid}`);
  const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`),
                           { key: crypto.createPublicKey({ key: keys[header.kid], format: 'jwk' }),
                             dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'));
  assert.ok(ok, 'the head signature verifies (ES256, R||S)');
  const text = Buffer.from(p, 'base64url').toString('utf8');
  const claims = JSON.parse(text);
  assert.equal(text, canonicalJson(claims), 'claims are canonical JSON');
  assert.deepEqual(Object.keys(claims).sort(),
                   ['aud', 'bundle_version', 'exp', 'head_serial', 'iat', 'iss', 'keyset_version', 'length', 'sha256', 'sub']);
  return claims;
}

describe('bundles and heads', () => {
  const s = useServer('bundles', { env: { BULWARK_PUBLIC_URL: PUBLIC_URL, BULWARK_CHECKIN_INTERVAL: '45',
                                          BULWARK_CHECKIN_JITTER: '5', BULWARK_STALE_LIMIT: '3600' } });
  const h = helpers(s);

  let A, B, owner, g1, g2, u1, u2, u3, u4, a1, a2, a3, a3b, ax, bx, a5;
  let pOrg, pG1, pU3;
  s.test('setup: users in groups, agents, three policies', async () => {
    A = await s.newOrg('bun-a');
    B = await s.newOrg('bun-b');
    owner = (await s.mint(A, 'owner')).secret;
    const base = `/api/v1/orgs/${A.id}`;
    const user = async (n) => (await s.api('POST', `${base}/users`, { token: owner, body: { user_name: n } })).json.id;
    const group = async (n) => (await s.api('POST', `${base}/groups`, { token: owner, body: { display_name: n } })).json.id;
    [u1, u2, u3, u4] = [await user('u1'), await user('u2'), await user('u3'), await user('u4')];
    [g1, g2] = [await group('eng'), await group('ops')];
    for (const [g, u] of [[g1, u1], [g1, u2], [g2, u3]])
      assert.equal((await s.api('PUT', `${base}/groups/${g}/members/${u}`, { token: owner })).status, 204);
    a1 = await h.agent(A, u1);
    a2 = await h.agent(A, u2);
    a3 = await h.agent(A, u3);
    a3b = await h.agent(A, u3);
    ax = await h.agent(A);
    bx = await h.agent(B);
    const pol = async (doc) => {
      const r = await s.api('POST', `${base}/policies`, { token: owner, body: { document: doc } });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    pOrg = await pol(policyDoc('org', { org_wide: true }, 'registry.npmjs.org'));
    pG1 = await pol(policyDoc('eng', { org_wide: false, groups: [g1] }, 'github.com'));
    pU3 = await pol(policyDoc('u3', { org_wide: false, users: [u3] }, 'pypi.org'));
    await h.compiled(A);
  });

  let H1;
  s.test('one head per subject; bundles are canonical bytes keyed by their SHA-256, shared when equal', async () => {
    H1 = await h.heads(A);
    assert.deepEqual(Object.keys(H1).sort(), [u1, u2, u3, ax.id].sort(),
                     'users with agents and the userless agent; u4 has no agent; u3\'s two agents share one head');
    assert.equal(H1[u1].sha256, H1[u2].sha256, 'two users in the same groups share one bundle');
    assert.equal(new Set(Object.values(H1).map((x) => x.sha256)).size, 3);
    const expect = {
      [u1]: [pOrg, pG1], [u2]: [pOrg, pG1], [u3]: [pOrg, pU3], [ax.id]: [pOrg],
    };
    for (const [subject, head] of Object.entries(H1))
      {
        const b = await h.bundle(head.sha256);
        assert.equal(sha256hex(b.bytes), head.sha256, 'the key is the SHA-256 of the stored bytes');
        assert.equal(b.bytes.length, head.length);
        assert.equal(b.org, A.id);
        const text = b.bytes.toString('utf8');
        const doc = JSON.parse(text);
        assert.equal(text, canonicalJson(doc), 'canonical JSON: sorted keys, no whitespace');
        assert.equal(BigInt(doc.version), head.version);
        assert.equal(b.version, head.version);
        assert.deepEqual(Object.keys(doc).sort(), ['catalog', 'org', 'policies', 'schema', 'settings', 'version']);
        assert.equal(doc.schema, 'bulwark.bundle/v1');
        assert.equal(doc.org, A.id);
        assert.deepEqual(doc.catalog, []);
        assert.deepEqual(doc.settings, { checkin_interval_s: 45, checkin_jitter_s: 5, stale_limit_s: 3600,
                                         events_batch_max: 1000 });
        assert.deepEqual(doc.policies.map((p) => [p.id, p.revision]), expect[subject].map((p) => [p.id, p.revision]),
                         `the policies that apply to ${subject}, oldest first`);
        for (const [i, p] of doc.policies.entries())
          assert.deepEqual(p.document, expect[subject][i].document);
      }
    const now = Date.now();
    for (const head of Object.values(H1))
      assert.ok(head.version > BigInt(now - 600000) && head.version <= BigInt(now + 1000),
                'versions are drawn as GREATEST(last + 1, epoch ms)');
  });

  s.test('heads are ES256 JWS over the DESIGN §6 claims, verified with node:crypto', async () => {
    const keys = await h.keys(A, owner);
    for (const [subject, head] of Object.entries(H1))
      {
        const c = verifyHead(head.jws, keys);
        assert.deepEqual(c, {
          iss: PUBLIC_URL, sub: A.id, aud: subject, bundle_version: Number(head.version),
          head_serial: Number(head.serial), sha256: head.sha256, length: head.length,
          iat: head.iat, exp: head.iat + 86400, keyset_version: 1,
        });
        assert.equal(head.exp, c.exp);
        assert.ok(Math.abs(c.iat - Date.now() / 1000) < 120);
      }
  });

  s.test('a policy change raises the version of the affected subjects only', async () => {
    const before = await h.heads(A);
    const url = `/api/v1/orgs/${A.id}/policies/${pG1.id}`;
    const r = await s.api('PUT', url, { token: owner, headers: { 'If-Match': '"1"' },
                                        body: { document: policyDoc('eng', { org_wide: false, groups: [g1] }, 'gitlab.com') } });
    assert.equal(r.status, 200, r.text);
    await h.compiled(A);
    const after = await h.heads(A);
    for (const u of [u1, u2])
      {
        assert.ok(after[u].version > before[u].version, 'a higher bundle version');
        assert.ok(after[u].serial > before[u].serial, 'a new head serial');
        assert.notEqual(after[u].sha256, before[u].sha256);
      }
    assert.equal(after[u1].sha256, after[u2].sha256);
    assert.equal(after[u1].version, after[u2].version, 'one version per compilation');
    for (const u of [u3, ax.id])
      assert.deepEqual(after[u], before[u], `${u} is not affected: same head`);
    const doc = JSON.parse((await h.bundle(after[u1].sha256)).bytes);
    assert.deepEqual(doc.policies.map((p) => [p.id, p.revision]), [[pOrg.id, 1], [pG1.id, 2]]);
    assert.equal(doc.policies[1].document.network[0].hosts[0], 'gitlab.com');
    H1 = after;
  });

  s.test('a user who leaves a group gets a new, higher version with the content of the org-wide bundle', async () => {
    const r = await s.api('DELETE', `/api/v1/orgs/${A.id}/groups/${g1}/members/${u2}`, { token: owner });
    assert.equal(r.status, 204, r.text);
    await h.compiled(A);
    const after = await h.heads(A);
    assert.deepEqual(after[u1], H1[u1], 'u1 keeps its head');
    assert.ok(after[u2].version > H1[u2].version, 'never a lower version, even for content seen before');
    const withoutVersion = (b) => { const d = JSON.parse(b.bytes); delete d.version; return d; };
    assert.deepEqual(withoutVersion(await h.bundle(after[u2].sha256)), withoutVersion(await h.bundle(after[ax.id].sha256)),
                     'same content as the userless agent\'s bundle');
    H1 = after;
  });

  s.test('a new agent\'s first check-in compiles its subject (and every other new one), reusing the bundle of equal content', async () => {
    const a4 = await h.agent(A, u4);
    a5 = await h.agent(A); // enrolled, has not checked in yet
    const r = await s.api('POST', '/api/v1/agent/checkin', {
      token: a4.cred,
      body: { agent_version: '0.1.0', keyset_version: 1, bundle: null, last_error: null, stale: false,
              events: { spooled: 0, dropped: 0, last_seq: 0 } },
    });
    assert.equal(r.status, 200, r.text);
    const heads = await h.heads(A);
    assert.ok(heads[u4], 'the subject has a head now');
    // u2 (no group any more) and the userless agent hold bundles of this content; u2's is newer
    assert.equal(heads[u4].sha256, heads[u2].sha256, 'the newest bundle of the same content');
    assert.equal(heads[u4].version, heads[u2].version, 'no new version for a new subject');
    assert.ok(heads[u4].serial > H1[u2].serial, 'a head of its own, with a new serial');
    assert.equal(r.json.bundle.state, 'update');
    assert.equal(r.json.bundle.sha256, heads[u4].sha256);
    assert.equal(r.json.bundle.version, Number(heads[u4].version));
    assert.equal(r.json.bundle.head, heads[u4].jws);
    const c = verifyHead(r.json.bundle.head, await h.keys(A, owner));
    assert.equal(c.aud, u4);
    for (const u of [u1, u2, u3, ax.id])
      assert.deepEqual(heads[u], H1[u], 'nobody else changed');
    assert.ok(heads[a5.id], 'the other new subject was compiled in the same pass');
    assert.equal(heads[a5.id].serial, heads[u4].serial, 'one compilation, one serial');
    assert.equal(heads[a5.id].sha256, heads[u4].sha256, 'same content: the same bundle');
    // the bundle download serves exactly the stored bytes, to this org's agents only
    const d = await s.api('GET', `/api/v1/agent/bundles/${heads[u4].sha256}`, { token: a4.cred });
    assert.equal(d.status, 200);
    assert.deepEqual(Buffer.from(d.text), (await h.bundle(heads[u4].sha256)).bytes);
    assertProblem(await s.api('GET', `/api/v1/agent/bundles/${heads[u4].sha256}`, { token: bx.cred }), 404, 'not_found');
    H1 = heads;
  });

  s.test('subjects without a live agent lose their head at the next compilation', async () => {
    await s.psql(`UPDATE agents SET deleted_at = now () WHERE id IN ('${a3.id}', '${a3b.id}')`);
    const r = await s.api('DELETE', `/api/v1/orgs/${A.id}/policies/${pU3.id}`, { token: owner });
    assert.equal(r.status, 204, r.text);
    await h.compiled(A);
    const heads = await h.heads(A);
    assert.deepEqual(Object.keys(heads).sort(), [u1, u2, u4, ax.id, a5.id].sort());
    for (const u of [u1, u2, u4, ax.id, a5.id])
      assert.deepEqual(heads[u], H1[u], 'deleting a policy that applied to u3 alone changes nobody else');
    H1 = heads;
  });

  s.test('versions and serials only go up, also after the counters were restored from an old backup', async () => {
    await s.psql(`UPDATE bundle_state SET bundle_version = 5, head_serial = 5 WHERE org_id = '${A.id}'`);
    await s.api('POST', `/api/v1/orgs/${A.id}/policies`, { token: owner, body: { document: policyDoc('more', { org_wide: true }, 'a.example') } });
    await h.compiled(A);
    let heads = await h.heads(A);
    for (const u of Object.keys(heads))
      {
        assert.ok(heads[u].version > H1[u].version, 'above every version issued before the "restore"');
        assert.ok(heads[u].serial > H1[u].serial);
      }
    const far = 9000000000000000n;
    await s.psql(`UPDATE bundle_state SET bundle_version = ${far}, head_serial = ${far} WHERE org_id = '${A.id}'`);
    await s.api('POST', `/api/v1/orgs/${A.id}/policies`, { token: owner, body: { document: policyDoc('most', { org_wide: true }, 'b.example') } });
    await h.compiled(A);
    heads = await h.heads(A);
    for (const u of Object.keys(heads))
      assert.deepEqual([heads[u].version, heads[u].serial], [far + 1n, far + 1n], 'last + 1 when that is higher');
  });

});

describe('head expiry: re-signing (BULWARK_HEAD_TTL=60)', () => {
  const s = useServer('bundles_ttl', { env: { BULWARK_HEAD_TTL: '60' } });
  const h = helpers(s);

  s.test('heads are re-signed with a higher serial before they expire, by one replica', async () => {
    const A = await s.newOrg('ttl');
    const owner = (await s.mint(A, 'owner')).secret;
    const ag = await h.agent(A);
    const r = await s.api('POST', `/api/v1/orgs/${A.id}/policies`, { token: owner,
                                                                   body: { document: policyDoc('org', { org_wide: true }, 'x.example') } });
    assert.equal(r.status, 201);
    await h.compiled(A);
    const first = (await h.heads(A))[ag.id];
    assert.equal(first.exp - first.iat, 60);

    // a second replica on the same database: only one holds the job's lock
    const srv2 = new Bulwarkd(s.db, { token: s.token, env: { BULWARK_HEAD_TTL: '60' }, validator: await SpecValidator.create() });
    await srv2.start();
    try
      {
        const holders = await waitFor(async () => {
          const n = await s.psql(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                                  AND classid = ${RESIGN_LOCK.classid} AND objid = ${RESIGN_LOCK.objid} AND objsubid = 1`);
          return n === '1' ? n : null;
        }, 30000);
        assert.equal(holders, '1', 'exactly one replica holds the re-signing lock');

        // less than half the lifetime left after 30 s; the job runs every 15 s
        const next = await waitFor(async () => {
          const cur = (await h.heads(A))[ag.id];
          return cur && cur.serial > first.serial ? cur : null;
        }, 90000, 1000);
        assert.ok(next, 'the head was re-signed within its lifetime');
        assert.ok(next.exp > first.exp, 'a later expiry');
        assert.ok(next.exp - Date.now() / 1000 > 0, 'before the old head expired');
        assert.deepEqual([next.version, next.sha256, next.length], [first.version, first.sha256, first.length],
                         'same bundle, new head');
        const c = verifyHead(next.jws, await h.keys(A, owner));
        assert.equal(c.head_serial, Number(next.serial));
        assert.equal(c.exp - c.iat, 60);
        assert.equal(await s.psql(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
                                   AND classid = ${RESIGN_LOCK.classid} AND objid = ${RESIGN_LOCK.objid}`), '1',
                     'the lock is not stacked by repeated runs');
      }
    finally
      {
        await srv2.stop();
      }
  }, { timeout: 180000 });
});
