// Org signing keys and keysets (DESIGN §6): a new org has keyset 1, a JWS
// JSON document whose signature verifies with node:crypto against the key it
// lists; the private key is stored sealed with the master key (AES-256-GCM,
// bound to the org) and nothing else; rotation publishes keyset N+1 signed
// by the keys of N and N+1, retires the old key, re-signs the org's heads
// and is audited; roles; another org's keyset is 404; the agent endpoint
// serves the agent's own org's keysets.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { TEST_MASTER_KEY, assertProblem, canonicalJson, digest, sha256hex, useServer, waitFor } from './harness.mjs';

const KID_RE = /^[0-9a-f]{64}$/;
const IMMUTABLE = 'private, max-age=31536000, immutable';

const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

/** The public key of a JWK as a node KeyObject. */
const jwkKey = (jwk) => crypto.createPublicKey({ key: jwk, format: 'jwk' });

/** kid of a JWK: hex SHA-256 of its SPKI DER. */
const kidOf = (jwk) => sha256hex(jwkKey(jwk).export({ type: 'spki', format: 'der' }));

/** Whether ES256 signature @sig (base64url R||S) over @input verifies with @jwk. */
const es256Verify = (jwk, input, sig) =>
  crypto.verify('sha256', Buffer.from(input), { key: jwkKey(jwk), dsaEncoding: 'ieee-p1363' },
                Buffer.from(sig, 'base64url'));

/**
 * Check keyset document text @text of @org at @version: shape, canonical
 * payload, kids; returns {payload, signers: [kid...]} with every signature
 * verified against @keys (kid → jwk: its own keys plus the previous ones).
 */
function checkKeyset (text, org, version, trusted = {})
{
  const doc = JSON.parse(text);
  assert.deepEqual(Object.keys(doc).sort(), ['payload', 'signatures']);
  const payloadText = Buffer.from(doc.payload, 'base64url').toString('utf8');
  const payload = JSON.parse(payloadText);
  assert.equal(payloadText, canonicalJson(payload), 'the signed payload is canonical JSON');
  assert.deepEqual(Object.keys(payload).sort(), ['iat', 'keys', 'org', 'version']);
  assert.equal(payload.org, org.id);
  assert.equal(payload.version, version);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 600, `iat ${payload.iat}`);
  const keys = { ...trusted };
  for (const [kid, k] of Object.entries(payload.keys))
    {
      assert.match(kid, KID_RE);
      assert.equal(k.alg, 'ES256');
      assert.deepEqual(k.roles, ['head', 'keyset']);
      assert.deepEqual(Object.keys(k.jwk).sort(), ['crv', 'kty', 'x', 'y']);
      assert.equal(k.jwk.kty, 'EC');
      assert.equal(k.jwk.crv, 'P-256');
      assert.equal(kidOf(k.jwk), kid, 'kid = hex SHA-256 of the SPKI DER');
      keys[kid] = k.jwk;
    }
  const signers = [];
  for (const s of doc.signatures)
    {
      const header = b64json(s.protected);
      assert.deepEqual(header, { alg: 'ES256', kid: header.kid, typ: 'bulwark-keyset+jwt' });
      assert.ok(keys[header.kid], `signed by an unknown key ${header.kid}`);
      assert.ok(es256Verify(keys[header.kid], `${s.protected}.${doc.payload}`, s.signature),
                `signature by ${header.kid} verifies`);
      signers.push(header.kid);
    }
  return { payload, signers };
}

/** AES-256-GCM open of a sealed key (nonce || ciphertext || tag) with @aad. */
function unseal (sealed, aad)
{
  const d = crypto.createDecipheriv('aes-256-gcm', Buffer.from(TEST_MASTER_KEY, 'hex'), sealed.subarray(0, 12));
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
}

describe('signing keys and keysets', () => {
  const s = useServer('keys');
  const P = () => s.token;
  const keysetPath = (org, v) => `/api/v1/orgs/${org.id}/keysets/${v}`;

  let A, B, ownerA, adminA, viewerA, auditorA, ownerB;
  let ks1Text, ks1;
  s.test('setup: orgs A and B with tokens', async () => {
    A = await s.newOrg('keys-a');
    B = await s.newOrg('keys-b');
    ownerA = (await s.mint(A, 'owner')).secret;
    adminA = (await s.mint(A, 'policy_admin')).secret;
    viewerA = (await s.mint(A, 'viewer')).secret;
    auditorA = (await s.mint(A, 'auditor')).secret;
    ownerB = (await s.mint(B, 'owner')).secret;
  });

  s.test('a new org has keyset 1, self-signed by its one key; immutable caching', async () => {
    const r = await s.api('GET', keysetPath(A, 1), { token: viewerA });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('cache-control'), IMMUTABLE);
    assert.equal(r.headers.get('etag'), `"${sha256hex(r.text)}"`);
    ks1Text = r.text;
    ks1 = checkKeyset(r.text, A, 1);
    const kids = Object.keys(ks1.payload.keys);
    assert.equal(kids.length, 1);
    assert.deepEqual(ks1.signers, kids, 'signed by exactly its own key');
    // the same bytes by slug, and 304 for the holder of the ETag
    const bySlug = await s.api('GET', `/api/v1/orgs/${A.slug}/keysets/1`, { token: P() });
    assert.equal(bySlug.text, ks1Text, 'served byte for byte as stored');
    const nm = await s.api('GET', keysetPath(A, 1), { token: viewerA,
                                                     headers: { 'if-none-match': r.headers.get('etag') } });
    assert.equal(nm.status, 304);
    assert.equal(nm.text, '');
    assert.equal(nm.headers.get('etag'), r.headers.get('etag'));
    const weak = await s.api('GET', keysetPath(A, 1), { token: viewerA,
                                                       headers: { 'if-none-match': `"x", W/${r.headers.get('etag')}` } });
    assert.equal(weak.status, 304, 'If-None-Match compares weakly, in a list');
    const other = await s.api('GET', keysetPath(A, 1), { token: viewerA, headers: { 'if-none-match': '"abc"' } });
    assert.equal(other.status, 200);
    // the stored document is exactly what is served
    assert.equal(await s.psql(`SELECT document FROM keysets WHERE org_id = '${A.id}' AND version = 1`), ks1Text);
    assert.equal(await s.psql(`SELECT keyset_version FROM bundle_state WHERE org_id = '${A.id}'`), '1');
  });

  s.test('the private key is stored sealed by the master key, bound to its org', async () => {
    const [kid] = Object.keys(ks1.payload.keys);
    const row = (await s.psql(`SELECT encode(public_spki, 'hex') || ' ' || encode(private_sealed, 'hex') || ' '
                                      || master_key_id || ' ' || (retired_at IS NULL)
                               FROM signing_keys WHERE org_id = '${A.id}'`)).split(' ');
    const [spki, sealedHex, masterKeyId, current] = row;
    assert.equal(sha256hex(Buffer.from(spki, 'hex')), kid);
    assert.equal(current, 'true');
    assert.equal(masterKeyId, sha256hex(Buffer.from(TEST_MASTER_KEY, 'hex')).slice(0, 16));
    const sealed = Buffer.from(sealedHex, 'hex');
    const der = unseal(sealed, A.id);
    const priv = crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    assert.deepEqual(crypto.createPublicKey(priv).export({ format: 'jwk' }), ks1.payload.keys[kid].jwk,
                     'the sealed private key is the keyset key');
    assert.throws(() => unseal(sealed, B.id), /unable to authenticate|Unsupported state/,
                  'the org id is authenticated data: the sealed key does not open for another org');
    assert.equal(sealed.indexOf(der), -1, 'the private key is not stored in the clear');
    const leaks = await s.psql(`SELECT count(*) FROM signing_keys WHERE position(decode('${der.toString('hex')}', 'hex') IN private_sealed) > 0`);
    assert.equal(leaks, '0');
  });

  s.test('another org\'s keyset, an unknown version and malformed versions are 404', async () => {
    assertProblem(await s.api('GET', keysetPath(B, 1), { token: ownerA }), 404, 'not_found');
    for (const v of ['2', '0', '01', '-1', 'abc', '1.0', '99999999999999999999'])
      assertProblem(await s.api('GET', keysetPath(A, v), { token: ownerA }), 404, 'not_found');
    const own = await s.api('GET', keysetPath(B, 1), { token: ownerB });
    assert.equal(own.status, 200);
    const ksB = checkKeyset(own.text, B, 1);
    assert.notDeepEqual(Object.keys(ksB.payload.keys), Object.keys(ks1.payload.keys), 'each org has its own key');
  });

  s.test('roles: every role reads keysets, only the owner rotates', async () => {
    for (const t of [viewerA, auditorA, adminA])
      assert.equal((await s.api('GET', keysetPath(A, 1), { token: t })).status, 200);
    for (const t of [viewerA, auditorA, adminA])
      assertProblem(await s.api('POST', `/api/v1/orgs/${A.id}/keys/rotate`, { token: t }), 403, 'permission_denied');
    assertProblem(await s.api('POST', `/api/v1/orgs/${A.id}/keys/rotate`, { token: ownerB }), 404, 'not_found');
    assertProblem(await s.api('POST', `/api/v1/orgs/${A.id}/keys/rotate`), 401, 'authentication_required');
    assert.equal(await s.psql(`SELECT count(*) FROM keysets WHERE org_id = '${A.id}'`), '1', 'nothing rotated');
  });

  let agentA, agentB, headBefore;
  s.test('setup: an agent per org and a policy, so A has a signed head', async () => {
    const mk = async (org) => {
      const cred = 'bwa_' + crypto.randomBytes(32).toString('base64url');
      const id = await s.psql(`INSERT INTO agents (org_id, credential_sha256, hostname, platform, agent_version)
                               VALUES ('${org.id}', decode('${sha256hex(cred)}', 'hex'), 'host', 'linux', '0.1.0')
                               RETURNING id`);
      return { id, cred };
    };
    agentA = await mk(A);
    agentB = await mk(B);
    const doc = { schema: 'bulwark.policy/v1', name: 'baseline', mode: 'enforce', scope: { org_wide: true },
                  network: [{ id: 'npm', decision: 'allow', hosts: ['registry.npmjs.org'], ports: [443] }] };
    const r = await s.api('POST', `/api/v1/orgs/${A.id}/policies`, { token: ownerA, body: { document: doc } });
    assert.equal(r.status, 201, r.text);
    headBefore = await waitFor(async () => {
      const row = await s.psql(`SELECT head_serial || ' ' || keyset_version || ' ' || jws FROM heads
                                WHERE org_id = '${A.id}' AND subject_id = '${agentA.id}'`);
      return row ? row.split(' ') : null;
    }, 10000);
    assert.ok(headBefore, 'the policy change compiled a head for the agent');
    assert.equal(headBefore[1], '1');
    const [h] = headBefore[2].split('.');
    assert.equal(b64json(h).kid, Object.keys(ks1.payload.keys)[0], 'signed by the keyset 1 key');
  });

  let ks2;
  s.test('rotation: keyset 2 signed by the keys of 1 and 2; old key retired; audited; heads re-signed', async () => {
    const auditBefore = await s.auditCount(A);
    const r = await s.api('POST', `/api/v1/orgs/${A.id}/keys/rotate`, { token: ownerA });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(Object.keys(r.json).sort(), ['keyset_version', 'kid']);
    assert.equal(r.json.keyset_version, 2);
    assert.match(r.json.kid, KID_RE);
    assert.equal(r.headers.get('etag'), '"2"');
    assert.equal(r.headers.get('location'), keysetPath(A, 2));
    const [oldKid] = Object.keys(ks1.payload.keys);
    assert.notEqual(r.json.kid, oldKid);

    const g = await s.api('GET', r.headers.get('location'), { token: viewerA });
    assert.equal(g.status, 200);
    ks2 = checkKeyset(g.text, A, 2, { [oldKid]: ks1.payload.keys[oldKid].jwk });
    assert.deepEqual(Object.keys(ks2.payload.keys), [r.json.kid], 'keyset 2 lists the new key only');
    assert.deepEqual([...ks2.signers].sort(), [oldKid, r.json.kid].sort(), 'signed by the old and the new key');
    assert.equal((await s.api('GET', keysetPath(A, 1), { token: viewerA })).text, ks1Text, 'keyset 1 unchanged');

    const keys = (await s.psql(`SELECT kid || ' ' || (retired_at IS NOT NULL) FROM signing_keys
                                WHERE org_id = '${A.id}' ORDER BY created_at`)).split('\n');
    assert.deepEqual(keys, [`${oldKid} true`, `${r.json.kid} false`]);
    assert.equal(await s.psql(`SELECT keyset_version FROM bundle_state WHERE org_id = '${A.id}'`), '2');

    assert.equal(await s.auditCount(A), auditBefore + 1, 'one audit record');
    const audit = await s.api('GET', `/api/v1/orgs/${A.id}/audit?limit=200`, { token: ownerA });
    const rec = audit.json.items.find((x) => x.action === 'key.rotate');
    assert.ok(rec, 'a key.rotate record');
    assert.equal(rec.action, 'key.rotate');
    assert.deepEqual(rec.target, { type: 'keyset', id: '2' });
    assert.equal(rec.actor.startsWith('token:'), true);
    assert.equal(rec.before_sha256, digest({ keyset_version: 1 }));
    assert.equal(rec.after_sha256, digest({ keyset_version: 2, kid: r.json.kid }));

    // the head was re-signed in the same transaction: new serial, new key, same bundle
    const after = (await s.psql(`SELECT head_serial || ' ' || keyset_version || ' ' || jws FROM heads
                                 WHERE org_id = '${A.id}' AND subject_id = '${agentA.id}'`)).split(' ');
    assert.ok(BigInt(after[0]) > BigInt(headBefore[0]), 'a higher head_serial');
    assert.equal(after[1], '2');
    const [h, p, sig] = after[2].split('.');
    assert.deepEqual(b64json(h), { alg: 'ES256', kid: r.json.kid, typ: 'bulwark-head+jwt' });
    assert.ok(es256Verify(ks2.payload.keys[r.json.kid].jwk, `${h}.${p}`, sig), 'the new head verifies with the new key');
    const claims = b64json(p);
    const old = b64json(headBefore[2].split('.')[1]);
    assert.equal(claims.keyset_version, 2);
    assert.equal(claims.head_serial, Number(after[0]));
    assert.deepEqual([claims.bundle_version, claims.sha256, claims.length], [old.bundle_version, old.sha256, old.length]);
  });

  s.test('rotating again: keyset 3 signed by the keys of 2 and 3', async () => {
    const r = await s.api('POST', `/api/v1/orgs/${A.slug}/keys/rotate`, { token: ownerA });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.keyset_version, 3);
    const [kid2] = Object.keys(ks2.payload.keys);
    const g = await s.api('GET', keysetPath(A, 3), { token: viewerA });
    const ks3 = checkKeyset(g.text, A, 3, { [kid2]: ks2.payload.keys[kid2].jwk });
    assert.deepEqual([...ks3.signers].sort(), [kid2, r.json.kid].sort());
    assert.equal(await s.psql(`SELECT count(*) FROM signing_keys WHERE org_id = '${A.id}' AND retired_at IS NULL`), '1');
    // a new policy version is signed by the newest key
    const doc = { schema: 'bulwark.policy/v1', name: 'second', mode: 'enforce', scope: { org_wide: true },
                  network: [{ id: 'gh', decision: 'allow', hosts: ['github.com'], ports: [443] }] };
    assert.equal((await s.api('POST', `/api/v1/orgs/${A.id}/policies`, { token: ownerA, body: { document: doc } })).status, 201);
    const kid = await waitFor(async () => {
      const jws = await s.psql(`SELECT jws FROM heads WHERE org_id = '${A.id}' AND subject_id = '${agentA.id}'
                                AND keyset_version = 3 AND bundle_version > ${b64json(headBefore[2].split('.')[1]).bundle_version}`);
      return jws ? b64json(jws.split('.')[0]).kid : null;
    }, 10000);
    assert.equal(kid, r.json.kid);
  });

  s.test('the agent endpoint serves the keysets of the agent\'s own org', async () => {
    const a = await s.api('GET', '/api/v1/agent/keysets/1', { token: agentA.cred });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, ks1Text);
    assert.equal(a.headers.get('cache-control'), IMMUTABLE);
    assert.equal(a.headers.get('etag'), `"${sha256hex(ks1Text)}"`);
    assert.equal((await s.api('GET', '/api/v1/agent/keysets/3', { token: agentA.cred })).status, 200);
    assertProblem(await s.api('GET', '/api/v1/agent/keysets/4', { token: agentA.cred }), 404, 'not_found');
    const b = await s.api('GET', '/api/v1/agent/keysets/1', { token: agentB.cred });
    assert.equal(b.status, 200);
    assert.equal(JSON.parse(Buffer.from(JSON.parse(b.text).payload, 'base64url')).org, B.id, 'org B\'s keyset');
    assertProblem(await s.api('GET', '/api/v1/agent/keysets/2', { token: agentB.cred }), 404, 'not_found');
    const anon = await s.api('GET', '/api/v1/agent/keysets/1');
    assertProblem(anon, 401, 'authentication_required');
    assertProblem(await s.api('GET', '/api/v1/agent/keysets/1', { token: ownerA }), 401, 'authentication_required');
  });

  s.test('keys survive a restart: the same master key opens them and heads keep verifying', async () => {
    await s.srv.restart();
    const r = await s.api('POST', `/api/v1/orgs/${B.id}/keys/rotate`, { token: ownerB });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.keyset_version, 2);
    assert.equal((await s.api('GET', keysetPath(A, 3), { token: viewerA })).status, 200);
  });
});
