// Agent check-in and bundle download (DESIGN §6): enroll → check-in with no
// bundle → update (head + url) → the exact bytes, whose hash and head verify
// with node:crypto and, independently, with the openssl command line →
// current; refresh; reported status stored in bulk; long-poll woken by a
// policy change within one second (also across two replicas on one
// database), its timeout with Preference-Applied, and shutdown with parked
// requests; the nothing-changed answer with PostgreSQL stopped (no SQL);
// ETag/304/immutable caching; tenancy (another org's bundle is 404); body
// validation pointers; disabled (403) and deleted (401 node_invalid) agents.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Bulwarkd, SpecValidator, assertProblem, canonicalJson, errorPointers, pgCluster, sleep,
         useServer, waitFor } from './harness.mjs';

const CHECKIN = '/api/v1/agent/checkin';
/** The protocol's bound: a change reaches every waiting agent within a second (DESIGN §6). */
const PROPAGATION_MS = 1000;
/** How long a test lets a long-poll park before it changes something. */
const PARK_SETTLE_MS = 400;
/** The bulk flush period of reported status (BW_AGENT_STATUS_FLUSH_S) plus slack. */
const FLUSH_WAIT_MS = 8000;

const run = promisify(execFile);
const b64url = (s) => Buffer.from(s, 'base64url');

/** A valid org-wide policy document named @name. */
const policyDoc = (name, host = 'registry.npmjs.org') => ({
  schema: 'bulwark.policy/v1',
  name,
  mode: 'enforce',
  scope: { org_wide: true },
  network: [{ id: 'npm', decision: 'allow', hosts: [host], ports: [443] }],
});

/** A check-in body; @over replaces members. */
const report = (over = {}) => ({
  agent_version: '0.1.0', keyset_version: 1, bundle: null, last_error: null, stale: false,
  events: { spooled: 0, dropped: 0, last_seq: 0 }, ...over,
});

/** The bundle reference an agent reports for the reply @b of a check-in. */
const running = (b) => ({ version: b.version, sha256: b.sha256, head_serial: b.head_serial });

/** An ECDSA signature R || S (64 bytes) as DER (ECDSA-Sig-Value, RFC 3279 §2.2.3). */
function rsToDer (sig)
{
  const int = (b) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0)
      i++;
    b = b.subarray(i);
    if (b[0] & 0x80)
      b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([0x02, b.length]), b]);
  };
  const body = Buffer.concat([int(sig.subarray(0, 32)), int(sig.subarray(32, 64))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

/** The public key @kid of a keyset document (JWS JSON serialization), as a KeyObject. */
function keysetKey (keyset, kid)
{
  const payload = JSON.parse(b64url(keyset.payload).toString('utf8'));
  const entry = payload.keys?.[kid];
  assert.ok(entry, `kid ${kid} is not in keyset version ${payload.version}`);
  assert.ok(entry.roles.includes('head'), 'the key may sign heads');
  assert.equal(entry.alg, 'ES256');
  return crypto.createPublicKey({ key: entry.jwk, format: 'jwk' });
}

/** Split a compact JWS head: {header, claims, input, sig}. */
function parseHead (jws)
{
  const [h, p, s] = jws.split('.');
  return { header: JSON.parse(b64url(h).toString('utf8')), claims: JSON.parse(b64url(p).toString('utf8')),
           input: `${h}.${p}`, sig: b64url(s) };
}

describe('agent check-in and bundles', () => {
  const env = { BULWARK_MASTER_KEY: crypto.randomBytes(32).toString('hex') };
  const s = useServer('checkin', { env });
  const P = () => s.token;

  const checkin = (agent, body, opts = {}) => s.api('POST', CHECKIN, { token: agent.credential, body, ...opts });
  const agentGet = (org, agent) => s.api('GET', `/api/v1/orgs/${org.id}/agents/${agent.agent_id}`, { token: P() });
  const changePolicy = async (org, name) => {
    const r = await s.api('POST', `/api/v1/orgs/${org.id}/policies`, { token: P(), body: { document: policyDoc(name) } });
    assert.equal(r.status, 201, r.text);
    return r;
  };

  /** Enroll an agent in @org with a fresh secret: the enroll answer. */
  const enroll = async (org, hostname = 'laptop-1') => {
    const sec = await s.api('POST', `/api/v1/orgs/${org.id}/enroll-secrets`, { token: P(), body: { name: `for ${hostname}` } });
    assert.equal(sec.status, 201, sec.text);
    const r = await s.api('POST', '/api/v1/agent/enroll', {
      body: { enroll_secret: sec.json.secret, hostname, platform: 'linux', agent_version: '0.1.0' } });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.credential, /^bwa_/);
    return r.json;
  };

  let A, B, a1, b1;
  let first;       // a1's first check-in answer (update)
  let bundleBytes; // the bytes of that bundle
  s.test('setup: orgs A and B, each with a policy and an enrolled agent', async () => {
    A = await s.newOrg('cia');
    B = await s.newOrg('cib');
    await changePolicy(A, 'A baseline');
    await changePolicy(B, 'B baseline');
    a1 = await enroll(A, 'a-laptop');
    b1 = await enroll(B, 'b-laptop');
    assert.equal(a1.org.id, A.id);
    assert.deepEqual(a1.subject, { kind: 'agent', id: a1.agent_id });
    assert.ok(a1.keyset_version >= 1);
  });

  s.test('no bundle yet: update with the head and the url; the head verifies with node:crypto', async () => {
    const r = await checkin(a1, report({ keyset_version: a1.keyset_version }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('preference-applied'), null);
    const b = r.json.bundle;
    assert.equal(b.state, 'update');
    assert.equal(b.url, `/api/v1/agent/bundles/${b.sha256}`);
    assert.ok(b.version >= 1 && b.head_serial >= 1 && b.length > 0, r.text);
    assert.equal(r.json.keyset_version, a1.keyset_version);
    assert.deepEqual(r.json.checkin, a1.checkin, 'the interval and jitter of the enrollment');
    assert.ok(r.json.checkin.interval_s >= 1);

    const h = parseHead(b.head);
    assert.equal(h.header.alg, 'ES256');
    assert.equal(h.header.typ, 'bulwark-head+jwt');
    assert.match(h.header.kid, /^[0-9a-f]{64}$/);
    assert.equal(h.sig.length, 64, 'ES256 signature: R || S');
    assert.equal(h.claims.sub, A.id);
    assert.equal(h.claims.aud, a1.agent_id, 'a userless agent is its own subject');
    assert.equal(h.claims.sha256, b.sha256);
    assert.equal(h.claims.length, b.length);
    assert.equal(h.claims.bundle_version, b.version);
    assert.equal(h.claims.head_serial, b.head_serial);
    assert.equal(h.claims.keyset_version, a1.keyset_version);
    assert.ok(h.claims.exp > Date.now() / 1000 && h.claims.iat <= Date.now() / 1000 + 5, b.head);
    const key = keysetKey(a1.keyset, h.header.kid);
    assert.ok(crypto.verify('sha256', Buffer.from(h.input), { key, dsaEncoding: 'ieee-p1363' }, h.sig),
              'the head signature verifies with the enrollment keyset');
    const tampered = Buffer.from(h.sig);
    tampered[5] ^= 1;
    assert.ok(!crypto.verify('sha256', Buffer.from(h.input), { key, dsaEncoding: 'ieee-p1363' }, tampered));
    first = r.json;
  });

  s.test('the head verifies with the openssl command line too', async () => {
    const h = parseHead(first.bundle.head);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bw-head-'));
    try
      {
        const pem = keysetKey(a1.keyset, h.header.kid).export({ type: 'spki', format: 'pem' });
        fs.writeFileSync(path.join(dir, 'pub.pem'), pem);
        fs.writeFileSync(path.join(dir, 'input'), h.input);
        fs.writeFileSync(path.join(dir, 'sig.der'), rsToDer(h.sig));
        const ok = await run('openssl', ['dgst', '-sha256', '-verify', 'pub.pem', '-signature', 'sig.der', 'input'],
                             { cwd: dir });
        assert.match(ok.stdout, /Verified OK/);
        fs.writeFileSync(path.join(dir, 'input'), h.input + 'x');
        await assert.rejects(run('openssl', ['dgst', '-sha256', '-verify', 'pub.pem', '-signature', 'sig.der', 'input'],
                                 { cwd: dir }),
                             (e) => e.code === 1 && /Verification failure/.test(e.stdout + e.stderr));
      }
    finally
      {
        fs.rmSync(dir, { recursive: true, force: true });
      }
  });

  s.test('download: the exact bytes the head signs, immutable, with the sha as ETag', async () => {
    const b = first.bundle;
    const r = await fetch(s.srv.base + b.url, { headers: { authorization: `Bearer ${a1.credential}` } });
    assert.equal(r.status, 200);
    bundleBytes = Buffer.from(await r.arrayBuffer());
    assert.equal(bundleBytes.length, b.length);
    assert.equal(crypto.createHash('sha256').update(bundleBytes).digest('hex'), b.sha256);
    assert.equal(r.headers.get('etag'), `"${b.sha256}"`);
    assert.equal(r.headers.get('cache-control'), 'private, max-age=31536000, immutable');
    assert.match(r.headers.get('content-type'), /^application\/json/);
    const doc = JSON.parse(bundleBytes.toString('utf8'));
    assert.equal(canonicalJson(doc), bundleBytes.toString('utf8'), 'canonical JSON');
    assert.equal(doc.org, A.id);
    assert.equal(doc.version, b.version);
    assert.ok(doc.policies.some((p) => p.document.name === 'A baseline'), bundleBytes.toString());
    // and through the spec validator
    const v = await s.api('GET', b.url, { token: a1.credential });
    assert.equal(v.status, 200);
    assert.equal(v.text, bundleBytes.toString('utf8'));
  });

  s.test('If-None-Match: 304 for the tag, W/, a list or *, with ETag and Cache-Control; else 200', async () => {
    const b = first.bundle;
    for (const inm of [`"${b.sha256}"`, `W/"${b.sha256}"`, `"nope", "${b.sha256}"`, '*'])
      {
        const r = await s.api('GET', b.url, { token: a1.credential, headers: { 'if-none-match': inm } });
        assert.equal(r.status, 304, `If-None-Match: ${inm}`);
        assert.equal(r.text, '');
        assert.equal(r.headers.get('etag'), `"${b.sha256}"`);
        assert.equal(r.headers.get('cache-control'), 'private, max-age=31536000, immutable');
      }
    for (const inm of ['"nope"', `"${b.sha256.toUpperCase()}"`, b.sha256, `"${b.sha256}" junk`])
      {
        const r = await s.api('GET', b.url, { token: a1.credential, headers: { 'if-none-match': inm } });
        assert.equal(r.status, 200, `If-None-Match: ${inm}`);
        assert.equal(r.text, bundleBytes.toString('utf8'));
      }
  });

  s.test('bundles of another org, unknown and malformed hashes are 404', async () => {
    const b = first.bundle;
    assertProblem(await s.api('GET', b.url, { token: b1.credential }), 404, 'not_found');
    assertProblem(await s.api('GET', b.url, { token: b1.credential, headers: { 'if-none-match': '*' } }),
                  404, 'not_found');
    const unknown = crypto.createHash('sha256').update('nothing').digest('hex');
    assertProblem(await s.api('GET', `/api/v1/agent/bundles/${unknown}`, { token: a1.credential }), 404, 'not_found');
    for (const bad of [b.sha256.toUpperCase(), b.sha256.slice(1), b.sha256 + '0', 'x'.repeat(64)])
      assertProblem(await s.api('GET', `/api/v1/agent/bundles/${bad}`, { token: a1.credential }), 404, 'not_found');
    // an org token is no agent credential
    const owner = await s.mint(A, 'owner');
    const t = await s.api('GET', b.url, { token: owner.secret });
    assertProblem(t, 401, 'authentication_required');
  });

  s.test('reporting that bundle: current, no head, no url; a lower head serial: refresh', async () => {
    const b = first.bundle;
    const r = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b) }));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.bundle, { state: 'current', version: b.version, sha256: b.sha256, length: b.length,
                                      head_serial: b.head_serial });
    const f = await checkin(a1, report({ keyset_version: a1.keyset_version,
                                         bundle: { ...running(b), head_serial: b.head_serial - 1 } }));
    assert.equal(f.status, 200, f.text);
    assert.equal(f.json.bundle.state, 'refresh');
    assert.equal(f.json.bundle.head, b.head);
    assert.equal(f.json.bundle.url, undefined);
    const u = await checkin(a1, report({ keyset_version: a1.keyset_version,
                                         bundle: { ...running(b), version: b.version - 1 } }));
    assert.equal(u.json.bundle.state, 'update');
    const x = await checkin(a1, report({ keyset_version: a1.keyset_version,
                                         bundle: { ...running(b), sha256: 'a'.repeat(64) } }));
    assert.equal(x.json.bundle.state, 'update');
  });

  s.test('the reported status reaches GET /agents/{id} with last_seen_at after the bulk flush', async () => {
    const b = first.bundle;
    const before = Date.now();
    const r = await checkin(a1, report({ agent_version: '0.2.0-rc.1', keyset_version: a1.keyset_version,
                                         bundle: running(b), last_error: 'head refused: expired',
                                         stale: true, events: { spooled: 12, dropped: 3, last_seq: 4711 } }));
    assert.equal(r.status, 200, r.text);
    const want = { agent_version: '0.2.0-rc.1', keyset_version: a1.keyset_version,
                   active: { bundle_version: b.version, sha256: b.sha256, head_serial: b.head_serial },
                   last_error: 'head refused: expired', stale: true,
                   // last_seq is what intake received (seq gaps are measured from it), not what the
                   // agent says it created
                   events: { spooled: 12, dropped: 3, last_seq: 0 } };
    const pick = (j) => ({ agent_version: j.agent_version, keyset_version: j.keyset_version, active: j.active,
                           last_error: j.last_error, stale: j.stale, events: j.events });
    const got = await waitFor(async () => {
      const g = await agentGet(A, a1);
      assert.equal(g.status, 200, g.text);
      return JSON.stringify(pick(g.json)) === JSON.stringify(want) ? g.json : null;
    }, FLUSH_WAIT_MS);
    assert.ok(got, 'the report was not stored within the flush period');
    assert.ok(Date.parse(got.last_seen_at) >= before - 2000, got.last_seen_at);
    assert.equal(got.online, true);
    assert.equal(got.drift, false, 'it runs what it should');
    assert.deepEqual(got.desired, want.active);

    // cleared again by the next report (null error, no longer stale)
    await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b) }));
    const cleared = await waitFor(async () => {
      const g = await agentGet(A, a1);
      return g.json.last_error === null && g.json.stale === false && g.json.events.spooled === 0 ? g.json : null;
    }, FLUSH_WAIT_MS);
    assert.ok(cleared, 'the later report replaced the earlier one');
    assert.equal(cleared.agent_version, '0.1.0');
  });

  s.test('Prefer: wait=N when there is something to do: answered at once, nothing applied', async () => {
    const t0 = Date.now();
    const r = await checkin(a1, report({ keyset_version: a1.keyset_version }), { headers: { prefer: 'wait=30' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.bundle.state, 'update');
    assert.equal(r.headers.get('preference-applied'), null);
    assert.ok(Date.now() - t0 < 5000);
  });

  s.test('long-poll timeout: current after N s with Preference-Applied (other preferences ignored)', async () => {
    const b = first.bundle;
    for (const prefer of ['wait=2', 'respond-async, wait=2', 'return=minimal; x="a,b", WAIT = 2'])
      {
        const t0 = Date.now();
        const r = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b) }),
                                { headers: { prefer } });
        const took = Date.now() - t0;
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.bundle.state, 'current');
        assert.equal(r.headers.get('preference-applied'), 'wait=2', prefer);
        assert.ok(took >= 1900, `Prefer: ${prefer} answered after ${took} ms, before its wait`);
      }
    for (const prefer of ['wait=0', 'wait=abc', 'respond-async'])
      {
        const r = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b) }),
                                { headers: { prefer } });
        assert.equal(r.json.bundle.state, 'current');
        assert.equal(r.headers.get('preference-applied'), null, `Prefer: ${prefer} asks for no wait`);
      }
  });

  /** Park a check-in of @agent (current at @b) on @srv with @prefer; resolves to {r, at}. */
  const park = (srv, agent, b, prefer) => srv.api('POST', CHECKIN, {
    token: agent.credential, headers: { prefer },
    body: report({ keyset_version: agent.keyset_version, bundle: running(b) }) })
    .then((r) => ({ r, at: Date.now() }));

  s.test('long-poll: a policy change reaches the waiting agent within one second', async () => {
    const b = first.bundle;
    const waiting = park(s.srv, a1, b, 'wait=30');
    await sleep(PARK_SETTLE_MS);
    await changePolicy(A, 'A tightened');
    const changed = Date.now();
    const { r, at } = await waiting;
    assert.equal(r.status, 200, r.text);
    assert.ok(at - changed < PROPAGATION_MS, `answered ${at - changed} ms after the change`);
    assert.equal(r.headers.get('preference-applied'), 'wait=30');
    assert.equal(r.json.bundle.state, 'update');
    assert.ok(r.json.bundle.version > b.version, 'a higher bundle version');
    assert.notEqual(r.json.bundle.sha256, b.sha256);
    assert.equal(parseHead(r.json.bundle.head).claims.bundle_version, r.json.bundle.version);
    first = r.json;

    // a wait above 60 s is taken as 60
    const again = park(s.srv, a1, first.bundle, 'wait=100');
    await sleep(PARK_SETTLE_MS);
    await changePolicy(A, 'A tightened again');
    const w = await again;
    assert.equal(w.r.headers.get('preference-applied'), 'wait=60');
    assert.equal(w.r.json.bundle.state, 'update');
    first = w.r.json;
  });

  s.test('long-poll: a change in another org does not end the wait', async () => {
    const waiting = park(s.srv, a1, first.bundle, 'wait=3');
    await sleep(PARK_SETTLE_MS);
    await changePolicy(B, 'B only');
    const { r } = await waiting;
    assert.equal(r.json.bundle.state, 'current');
    assert.equal(r.headers.get('preference-applied'), 'wait=3');
  });

  s.test('the nothing-changed answer runs no SQL: it works with PostgreSQL stopped', async () => {
    const b = first.bundle;
    await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b) })); // warm
    await pgCluster('stop');
    try
      {
        for (let i = 0; i < 20; i++)
          {
            const r = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b),
                                                 events: { spooled: 100 + i, dropped: 0, last_seq: 0 } }));
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.bundle.state, 'current');
          }
      }
    finally
      {
        await pgCluster('start');
      }
    await s.srv.waitReady();
    // the reports made meanwhile were kept and flushed once the database was back
    const got = await waitFor(async () => (await agentGet(A, a1)).json.events.spooled === 119, FLUSH_WAIT_MS + 5000);
    assert.ok(got, 'the report made while PostgreSQL was down was not stored after it came back');
  });

  s.test('bad bodies: 400 naming every bad field by pointer; nothing recorded', async () => {
    const b = first.bundle;
    const bad = async (body, want) => {
      const r = await checkin(a1, body);
      assertProblem(r, 400, 'validation_failed');
      assert.deepEqual(errorPointers(r), [...want].sort(), r.text);
    };
    await bad(report({ extra: 1 }), ['/extra']);
    await bad({}, ['/agent_version', '/keyset_version', '/bundle', '/last_error', '/stale', '/events']);
    await bad(report({ bundle: { ...running(b), x: 1 } }), ['/bundle/x']);
    await bad(report({ bundle: { sha256: 'A'.repeat(64), version: 0, head_serial: '1' } }),
              ['/bundle/sha256', '/bundle/version', '/bundle/head_serial']);
    await bad(report({ bundle: {} }), ['/bundle/version', '/bundle/sha256', '/bundle/head_serial']);
    await bad(report({ bundle: 'none' }), ['/bundle']);
    await bad(report({ events: { spooled: -1, dropped: 1.5, last_seq: 0, more: 0 } }),
              ['/events/spooled', '/events/dropped', '/events/more']);
    await bad(report({ events: null }), ['/events']);
    await bad(report({ last_error: 'e'.repeat(1025) }), ['/last_error']);
    await bad(report({ last_error: '' }), ['/last_error']);
    await bad(report({ last_error: 7 }), ['/last_error']);
    await bad(report({ stale: 'no' }), ['/stale']);
    await bad(report({ agent_version: '' }), ['/agent_version']);
    await bad(report({ agent_version: 'v'.repeat(65) }), ['/agent_version']);
    await bad(report({ agent_version: 'a\nb' }), ['/agent_version']);
    await bad(report({ keyset_version: 0 }), ['/keyset_version']);
    // beyond 2^53 - 1 no JSON reader is exact: refused, never stored as given
    await bad(report({ keyset_version: 2 ** 53, bundle: { ...running(b), head_serial: 2 ** 53 },
                       events: { spooled: 2 ** 53, dropped: 0, last_seq: 0 } }),
              ['/keyset_version', '/bundle/head_serial', '/events/spooled']);
    const arr = await checkin(a1, [1]);
    assertProblem(arr, 400, 'validation_failed');
    const malformed = await s.api('POST', CHECKIN, { token: a1.credential, rawBody: '{"stale": true, "stale": false}' });
    assertProblem(malformed, 400, 'malformed_json');
    // 1024 bytes of last_error are fine (multibyte: bytes, not characters)
    const ok = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b),
                                          last_error: 'é'.repeat(512) }));
    assert.equal(ok.status, 200, ok.text);
  });

  s.test('an org token or no credential is no agent: 401 node_invalid', async () => {
    const owner = await s.mint(A, 'owner');
    for (const token of [owner.secret, undefined, 'bwa_' + crypto.randomBytes(32).toString('base64url')])
      {
        const r = await s.api('POST', CHECKIN, { token, body: report() });
        assertProblem(r, 401, 'authentication_required');
        assert.equal(r.json.node_invalid, true);
      }
  });

  s.test('two replicas on one database: a change through A reaches an agent waiting on B within one second', async () => {
    const other = new Bulwarkd(s.db, { token: s.token, env, validator: await SpecValidator.create() });
    await other.start();
    try
      {
        const b = first.bundle;
        const cur = await other.api('POST', CHECKIN, { token: a1.credential,
                                                       body: report({ keyset_version: a1.keyset_version, bundle: running(b) }) });
        assert.equal(cur.json.bundle.state, 'current', cur.text);
        const waiting = park(other, a1, b, 'wait=30');
        await sleep(PARK_SETTLE_MS);
        await changePolicy(A, 'A from replica A');
        const changed = Date.now();
        const { r, at } = await waiting;
        assert.equal(r.status, 200, r.text);
        assert.ok(at - changed < PROPAGATION_MS, `answered on B ${at - changed} ms after the change on A`);
        assert.equal(r.json.bundle.state, 'update');
        assert.ok(r.json.bundle.version > b.version);
        assert.equal(r.headers.get('preference-applied'), 'wait=30');
        first = r.json;

        // B's bundle bytes are A's
        const dl = await other.api('GET', first.bundle.url, { token: a1.credential });
        assert.equal(crypto.createHash('sha256').update(dl.text).digest('hex'), first.bundle.sha256);

        // stopping B answers its parked check-ins at once, exits cleanly, and flushes the
        // reports it holds (this one's) before it exits
        const parked = other.api('POST', CHECKIN, {
          token: a1.credential, headers: { prefer: 'wait=30' },
          body: report({ keyset_version: a1.keyset_version, bundle: running(first.bundle),
                         events: { spooled: 777, dropped: 0, last_seq: 0 } }) })
          .then((r) => ({ r, at: Date.now() }));
        await sleep(PARK_SETTLE_MS);
        const t0 = Date.now();
        await other.stop();
        const p = await parked;
        assert.equal(p.r.status, 200, p.r.text);
        assert.equal(p.r.json.bundle.state, 'current');
        assert.ok(p.at - t0 < 5000, 'the parked check-in was answered at shutdown');
        assert.equal(await s.psql(`SELECT events_spooled FROM agents WHERE id = '${a1.agent_id}'`), '777',
                     'the report B held was flushed when it stopped');
      }
    finally
      {
        if (other.proc)
          await other.kill();
      }
  });

  s.test('key rotation: refresh with a head of the new key; an agent behind on keysets is not parked', async () => {
    const b = first.bundle;
    const rot = await s.api('POST', `/api/v1/orgs/${A.id}/keys/rotate`, { token: P() });
    assert.equal(rot.status, 201, rot.text);
    const v2 = rot.json.keyset_version;
    assert.equal(v2, a1.keyset_version + 1);
    // the heads were re-signed: same bundle, higher serial, under keyset v2 (the change
    // reaches this replica through NOTIFY: poll briefly)
    const f = await waitFor(async () => {
      const r = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(b) }));
      return r.json.bundle.state === 'refresh' ? r : null;
    }, 5000);
    assert.ok(f, 'no refresh after the key rotation');
    assert.equal(f.json.keyset_version, v2);
    assert.equal(f.json.bundle.sha256, b.sha256);
    assert.ok(f.json.bundle.head_serial > b.head_serial);
    const h = parseHead(f.json.bundle.head);
    assert.equal(h.claims.keyset_version, v2);
    const ks = await s.api('GET', `/api/v1/agent/keysets/${v2}`, { token: a1.credential });
    assert.equal(ks.status, 200, ks.text);
    assert.ok(crypto.verify('sha256', Buffer.from(h.input), { key: keysetKey(ks.json, h.header.kid), dsaEncoding: 'ieee-p1363' },
                            h.sig), 'the new head verifies with keyset v2');
    first = f.json;

    // it runs the new head but has not walked to keyset v2 yet: answered at once
    const t0 = Date.now();
    const behind = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(first.bundle) }),
                                 { headers: { prefer: 'wait=30' } });
    assert.equal(behind.json.bundle.state, 'current');
    assert.equal(behind.json.keyset_version, v2);
    assert.equal(behind.headers.get('preference-applied'), null);
    assert.ok(Date.now() - t0 < 5000);
    // once it holds v2 it waits
    a1.keyset_version = v2;
    const waited = await checkin(a1, report({ keyset_version: v2, bundle: running(first.bundle) }),
                                 { headers: { prefer: 'wait=1' } });
    assert.equal(waited.json.bundle.state, 'current');
    assert.equal(waited.headers.get('preference-applied'), 'wait=1');
  });

  s.test('disabled: 403 agent_disabled (check-in and download); enabled again: 200', async () => {
    const path_ = `/api/v1/orgs/${A.id}/agents/${a1.agent_id}`;
    // a check-in already waiting is answered at once, not at its deadline
    const waiting = park(s.srv, a1, first.bundle, 'wait=30');
    await sleep(PARK_SETTLE_MS);
    const d = await s.api('PATCH', path_, { token: P(), body: { disabled: true } });
    assert.equal(d.status, 200, d.text);
    const changed = Date.now();
    const parked = await waiting;
    assert.ok(parked.at - changed < PROPAGATION_MS, `answered ${parked.at - changed} ms after disabling`);
    assertProblem(parked.r, 403, 'agent_disabled');
    const r = await checkin(a1, report({ keyset_version: a1.keyset_version }));
    assertProblem(r, 403, 'agent_disabled');
    assert.equal(r.json.node_invalid, undefined);
    assertProblem(await s.api('GET', `/api/v1/agent/bundles/${first.bundle.sha256}`, { token: a1.credential }), 403, 'agent_disabled');
    const e = await s.api('PATCH', path_, { token: P(), body: { disabled: false } });
    assert.equal(e.status, 200, e.text);
    const ok = await checkin(a1, report({ keyset_version: a1.keyset_version, bundle: running(first.bundle) }));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.bundle.state, 'current');
  });

  s.test('deleted: 401 with node_invalid true (check-in and download)', async () => {
    const waiting = park(s.srv, a1, first.bundle, 'wait=30');
    await sleep(PARK_SETTLE_MS);
    const del = await s.api('DELETE', `/api/v1/orgs/${A.id}/agents/${a1.agent_id}`, { token: P() });
    assert.equal(del.status, 204, del.text);
    const changed = Date.now();
    const parked = await waiting;
    assert.ok(parked.at - changed < PROPAGATION_MS, `answered ${parked.at - changed} ms after deleting`);
    assertProblem(parked.r, 401, 'authentication_required');
    assert.equal(parked.r.json.node_invalid, true, 'a woken check-in of a deleted agent is refused, not a 500');
    const r = await checkin(a1, report({ keyset_version: a1.keyset_version }));
    assertProblem(r, 401, 'authentication_required');
    assert.equal(r.json.node_invalid, true);
    const g = await s.api('GET', `/api/v1/agent/bundles/${first.bundle.sha256}`, { token: a1.credential });
    assertProblem(g, 401, 'authentication_required');
    assert.equal(g.json.node_invalid, true);
  });
});
