// Decision event intake (DESIGN §7): POST /api/v1/agent/events with an
// agent credential.  Counts and stored rows (values read back from the
// database), gzip bodies and their limits, duplicates, seq gaps, every
// validation pointer with nothing stored, org and agent from the
// credential only, partitions created at intake and dropped past retention.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { assertProblem, errorPointers, sha256hex, useServer, waitFor } from './harness.mjs';

/** Retention the server runs with here (days). */
const RETENTION_DAYS = 7;
const DAY_MS = 86400000;
const EVENTS = '/api/v1/agent/events';
const POLICY_ID = '0b4c2f7e-5c4e-4a57-9b59-3f2f5d1c9a10';

/** A UUIDv7 (RFC 9562 §5.7) for the millisecond @ms. */
function uuidv7 (ms = Date.now())
{
  const b = crypto.randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** UTC day of @ms as the partition name's suffix: YYYYMMDD. */
const dayName = (ms) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');

describe('agent events', () => {
  const s = useServer('events', { env: { BULWARK_EVENT_RETENTION_DAYS: String(RETENTION_DAYS),
                                         BULWARK_MASTER_KEY: crypto.randomBytes(32).toString('hex') } });

  /** An agent of @org, inserted directly (enrollment is tested elsewhere): {id, cred, org}. */
  const newAgent = async (org) => {
    const cred = 'bwa_' + crypto.randomBytes(32).toString('base64url');
    const id = await s.psql(`INSERT INTO agents (org_id, credential_sha256, hostname, platform, agent_version)
                             VALUES ('${org.id}', decode('${sha256hex(cred)}', 'hex'), 'laptop-1', 'linux', '0.1.0')
                             RETURNING id`);
    return { id, cred, org, seq: 0 };
  };

  /** A valid event of @agent with the next seq; @over replaces members (undefined deletes). */
  const ev = (agent, over = {}) => {
    const e = {
      event_id: uuidv7(), seq: ++agent.seq, time: new Date().toISOString(), user: 'al@example.com',
      session: { id: 'sess-1', agent: 'claude-code', client: 'vscode' },
      surface: 'network', action: 'connect', resource: { host: 'registry.npmjs.org', port: 443 },
      decision: 'allow', mode: 'enforce', rule: { policy_id: POLICY_ID, revision: 3, rule_id: 'npm' },
      reason: 'rule', bundle_version: 1764417600000, ...over };
    for (const [k, v] of Object.entries(e))
      if (v === undefined)
        delete e[k];
    return e;
  };

  const post = (agent, body, opts = {}) => s.api('POST', EVENTS, { token: agent.cred, body, ...opts });
  const postGzip = (agent, body, headers = {}) =>
    s.api('POST', EVENTS, { token: agent.cred, rawBody: zlib.gzipSync(Buffer.from(JSON.stringify(body))),
                            headers: { 'content-encoding': 'gzip', ...headers } });

  /** The stored events of @agent, ascending by seq, as objects. */
  const rows = async (agent) => JSON.parse(await s.psql(
    `SELECT coalesce(json_agg(row_to_json(e) ORDER BY e.seq, e.event_id), '[]') FROM (
       SELECT org_id, agent_id, event_id, seq, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS time,
              user_id, reported_user, session, surface, action, resource, decision, mode, rule, reason,
              bundle_version, tableoid::regclass::text AS part
         FROM events WHERE agent_id = '${agent.id}') e`));
  const count = async (agent) => Number(await s.psql(`SELECT count(*) FROM events WHERE agent_id = '${agent.id}'`));
  const lastSeq = async (agent) => Number(await s.psql(`SELECT last_event_seq FROM agents WHERE id = '${agent.id}'`));
  const gapRows = async (agent) => (await s.psql(
    `SELECT from_seq || '-' || to_seq FROM event_seq_gaps WHERE agent_id = '${agent.id}' ORDER BY from_seq`))
    .split('\n').filter(Boolean);
  const partitionExists = async (name) =>
    (await s.psql(`SELECT count(*) FROM pg_class WHERE relname = '${name}' AND relkind = 'r'`)) === '1';

  let A, B, a1, a2, b1;
  s.test('setup: two orgs, agents inserted with their credentials', async () => {
    A = await s.newOrg('evta');
    B = await s.newOrg('evtb');
    a1 = await newAgent(A);
    a2 = await newAgent(A);
    b1 = await newAgent(B);
  });

  s.test('a batch is stored with every value, org and agent taken from the credential', async () => {
    const batch = [
      ev(a1),
      ev(a1, { user: null, session: null, surface: 'filesystem', action: 'write',
               resource: { path: '/home/al/src/app/main.c', access: 'write' }, decision: 'deny',
               rule: null, reason: 'default', mode: 'audit' }),
      ev(a1, { session: undefined, surface: 'credentials', action: 'use',
               resource: { credential: 'github-token', mcp_server: 'io.github.github/github-mcp-server' },
               decision: 'require_approval' }),
      ev(a1, { user: undefined, surface: 'mcp', action: 'invoke_tool',
               resource: { server: 'io.github.github/github-mcp-server', tool: 'get_me',
                           identity: { image_digest: 'sha256:' + 'ab'.repeat(32) } },
               rule: undefined, reason: 'catalog', decision: 'deny', bundle_version: 0 }),
      ev(a1, { resource: { ip: '2001:db8::1', port: 8443 },
               time: new Date(Date.now() - 3600000).toISOString().replace('Z', '+00:00') }),
      ev(a1, { resource: { host: '[2001:db8::2]', port: 443 } }),
    ];
    const r = await post(a1, { events: batch });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { accepted: 6, duplicates: 0, gaps: [] });
    const got = await rows(a1);
    assert.equal(got.length, 6);
    for (const [i, e] of batch.entries())
      {
        const row = got[i];
        assert.equal(row.org_id, A.id, 'org from the credential');
        assert.equal(row.agent_id, a1.id, 'agent from the credential');
        assert.equal(row.event_id, e.event_id);
        assert.equal(row.seq, e.seq);
        assert.equal(Date.parse(row.time), Date.parse(e.time), `time of event ${i}`);
        // a userless agent's `user` is what it reported, never a verified user id
        assert.equal(row.user_id, null);
        assert.equal(row.reported_user, e.user ?? null);
        assert.deepEqual(row.session, e.session ?? null);
        assert.deepEqual([row.surface, row.action, row.decision, row.mode, row.reason],
                         [e.surface, e.action, e.decision, e.mode, e.reason]);
        assert.deepEqual(row.resource, e.resource);
        assert.deepEqual(row.rule, e.rule ?? null);
        assert.equal(row.bundle_version, e.bundle_version);
        assert.equal(row.part, `events_${dayName(Date.parse(e.time))}`, 'stored in the partition of its UTC day');
      }
    assert.equal(await lastSeq(a1), 6);
  });

  s.test('a time is stored to the microsecond, whatever its offset', async () => {
    const e = ev(a1, { time: '' });
    const base = new Date(Date.now() - 7200000);
    const [date, clock] = base.toISOString().split('T');
    e.time = `${date}t${clock.slice(0, 8)}.1234567+02:30`; // 7 digits: the 7th is cut
    const r = await post(a1, { events: [e] });
    assert.equal(r.status, 202, r.text);
    const row = (await rows(a1)).find((x) => x.event_id === e.event_id);
    const expect = new Date(Date.parse(`${date}T${clock.slice(0, 8)}Z`) - 150 * 60000).toISOString()
      .replace(/\.\d+Z$/, '.123456Z');
    assert.equal(row.time, expect);
  });

  s.test('a gzip body is decoded; a resend is counted as duplicates and stored once', async () => {
    const batch = [ev(a1), ev(a1), ev(a1)];
    const before = await count(a1);
    const r = await postGzip(a1, { events: batch });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { accepted: 3, duplicates: 0, gaps: [] });
    assert.equal(await count(a1), before + 3);
    const again = await postGzip(a1, { events: batch });
    assert.equal(again.status, 202, again.text);
    assert.deepEqual(again.json, { accepted: 0, duplicates: 3, gaps: [] });
    const mixed = await post(a1, { events: [batch[1], ev(a1)] });
    assert.equal(mixed.status, 202, mixed.text);
    assert.deepEqual(mixed.json, { accepted: 1, duplicates: 1, gaps: [] });
    assert.equal(await count(a1), before + 4);
    const ids = await s.psql(`SELECT count(DISTINCT event_id) FROM events WHERE agent_id = '${a1.id}'`);
    assert.equal(Number(ids), before + 4);
  });

  s.test('the same batch sent twice at once is stored once', async () => {
    const g = await newAgent(A);
    const body = { events: Array.from({ length: 200 }, () => ev(g)) };
    const [r1, r2] = await Promise.all([post(g, body), post(g, body)]);
    assert.equal(r1.status, 202, r1.text);
    assert.equal(r2.status, 202, r2.text);
    assert.deepEqual([r1.json.accepted + r2.json.accepted, r1.json.duplicates + r2.json.duplicates], [200, 200]);
    assert.ok([r1.json.accepted, r2.json.accepted].includes(0), 'one of them stored everything');
    assert.deepEqual([r1.json.gaps, r2.json.gaps], [[], []]);
    assert.equal(await count(g), 200);
    assert.equal(await lastSeq(g), 200);
  });

  s.test('the same event twice in one batch is stored once', async () => {
    const e = ev(a2);
    const r = await post(a2, { events: [e, { ...e }, ev(a2)] });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { accepted: 2, duplicates: 1, gaps: [] });
    assert.equal(await count(a2), 2);
  });

  s.test('seq gaps are recorded and answered; late events fill nothing and make no gap', async () => {
    const g = await newAgent(A);
    let r = await post(g, { events: [1, 2, 3].map((seq) => ev(g, { seq })) });
    assert.deepEqual(r.json, { accepted: 3, duplicates: 0, gaps: [] });
    r = await post(g, { events: [ev(g, { seq: 7 }), ev(g, { seq: 5 })] });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { accepted: 2, duplicates: 0, gaps: [{ from_seq: 4, to_seq: 4 }, { from_seq: 6, to_seq: 6 }] });
    assert.equal(await lastSeq(g), 7);
    r = await post(g, { events: [ev(g, { seq: 4 })] });
    assert.deepEqual(r.json, { accepted: 1, duplicates: 0, gaps: [] }, 'a late event is no gap');
    r = await post(g, { events: [ev(g, { seq: 20 })] });
    assert.deepEqual(r.json, { accepted: 1, duplicates: 0, gaps: [{ from_seq: 8, to_seq: 19 }] });
    assert.deepEqual(await gapRows(g), ['4-4', '6-6', '8-19']);
    assert.equal(await lastSeq(g), 20);
    const org = await s.psql(`SELECT DISTINCT org_id FROM event_seq_gaps WHERE agent_id = '${g.id}'`);
    assert.equal(org, A.id);
  });

  s.test('every invalid field is named by its pointer, and nothing of the batch is stored', async () => {
    const v = (over) => ev(a2, over);
    const old = new Date(Date.now() - (RETENTION_DAYS + 1) * DAY_MS).toISOString();
    const future = new Date(Date.now() + 2 * DAY_MS).toISOString();
    const batch = [
      v({}),                                                                   // 0 valid
      v({ event_id: crypto.randomUUID() }),                                    // 1 a v4
      v({ seq: 0 }),                                                           // 2
      v({ time: 'yesterday' }),                                                // 3
      v({ time: future }),                                                     // 4
      v({ time: old }),                                                        // 5
      v({ agent_id: a1.id }),                                                  // 6
      v({ surface: 'dns' }),                                                   // 7
      v({ action: 'read' }),                                                   // 8
      v({ resource: { host: 'example.com', url: 'https://example.com/?q=secret' } }), // 9
      v({ surface: 'filesystem', action: 'read', resource: { path: '/etc/passwd', access: 'write' } }), // 10
      v({ surface: 'credentials', action: 'use',
          resource: { credential: 'gh', host: 'api.github.com', mcp_server: 'io.github.github/github-mcp-server',
                      secret: 'ghp_abc' } }),                                  // 11
      v({ surface: 'mcp', action: 'list_tools', resource: { server: 'x', tool: 'get_me', arguments: { q: 1 } } }), // 12
      v({ decision: 'maybe' }),                                                // 13
      v({ mode: 'observe' }),                                                  // 14
      v({ rule: null }),                                                       // 15 reason rule, no rule
      v({ rule: { policy_id: 'nope', revision: 0, rule_id: 'npm' } }),         // 16
      v({ bundle_version: -1 }),                                               // 17
      v({ session: { id: 's', prompt: 'rm -rf ~' } }),                         // 18
      v({ user: 42 }),                                                         // 19
      'an event',                                                              // 20
      {},                                                                      // 21
      v({ resource: { ip: '010.0.0.1', port: 22 } }),                          // 22
      v({ surface: 'mcp', action: 'invoke_tool',
          resource: { server: 'x', tool: 't', identity: { image_digest: 'sha256:00', url: 'https://x' } } }), // 23
      v({ resource: { host: 'user@example.com', port: 443 } }),               // 24
      v({ surface: 'mcp', action: 'list_tools',
          resource: { server: 'x', identity: { package: 'p', version: '1' } } }),  // 25 a package names its registry
      v({ surface: 'mcp', action: 'list_tools',
          resource: { server: 'x', identity: { url: 'https://x/', registry_type: 'npm' } } }), // 26
    ];
    const before = await count(a2);
    const seqBefore = await lastSeq(a2);
    const r = await post(a2, { events: batch });
    assertProblem(r, 400, 'validation_failed');
    const p = (i, ...fields) => fields.map((f) => `/events/${i}${f}`);
    assert.deepEqual(errorPointers(r), [
      ...p(1, '/event_id'), ...p(2, '/seq'), ...p(3, '/time'), ...p(4, '/time'), ...p(5, '/time'),
      ...p(6, '/agent_id'), ...p(7, '/surface'), ...p(8, '/action'), ...p(9, '/resource/port', '/resource/url'),
      ...p(10, '/resource/access'), ...p(11, '/resource/mcp_server', '/resource/secret'),
      ...p(12, '/resource/arguments', '/resource/tool'), ...p(13, '/decision'), ...p(14, '/mode'),
      ...p(15, '/rule'), ...p(16, '/rule/policy_id', '/rule/revision'), ...p(17, '/bundle_version'),
      ...p(18, '/session/prompt'), ...p(19, '/user'), ...p(20, ''),
      ...p(21, '/action', '/bundle_version', '/decision', '/event_id', '/mode', '/reason', '/resource', '/seq',
           '/surface', '/time'),
      ...p(22, '/resource/ip'), ...p(23, '/resource/identity'), ...p(24, '/resource/host'),
      ...p(25, '/resource/identity/registry_type'), ...p(26, '/resource/identity/registry_type'),
    ].sort());
    const msg = (ptr) => r.json.errors.find((e) => e.pointer === ptr)?.message;
    assert.match(msg('/events/1/event_id'), /UUIDv7/);
    assert.match(msg('/events/4/time'), /future/);
    assert.match(msg('/events/5/time'), new RegExp(`retention of ${RETENTION_DAYS} days`));
    assert.equal(msg('/events/6/agent_id'), 'unknown field');
    assert.match(r.json.detail, /nothing was stored/);
    assert.ok(!r.text.includes('ghp_abc') && !r.text.includes('rm -rf'), 'refused values are not echoed');
    assert.equal(await count(a2), before, 'the valid event of the batch was not stored either');
    assert.equal(await lastSeq(a2), seqBefore);
  });

  s.test('a batch of bad events lists the first 100 errors', async () => {
    const r = await post(a2, { events: Array.from({ length: 1000 }, () => ev(a2, { seq: 0, mode: 'x' })) });
    assertProblem(r, 400, 'validation_failed');
    assert.equal(r.json.errors.length, 100);
    assert.equal(r.json.errors_truncated, true);
    assert.deepEqual(r.json.errors.slice(0, 4).map((e) => e.pointer),
                     ['/events/0/seq', '/events/0/mode', '/events/1/seq', '/events/1/mode']);
    assert.match(r.json.detail, /more than 100 errors, nothing was stored/);
  });

  s.test('org and agent come from the credential: the body cannot name them', async () => {
    const e = ev(b1);
    const r = await post(b1, { events: [e], org: A.id, agent: a1.id });
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r), ['/agent', '/org']);
    const ok = await post(b1, { events: [e] });
    assert.equal(ok.status, 202, ok.text);
    const [row] = await rows(b1);
    assert.deepEqual([row.org_id, row.agent_id, row.event_id], [B.id, b1.id, e.event_id]);
    assert.equal(await s.psql(`SELECT count(*) FROM events WHERE event_id = '${e.event_id}' AND org_id = '${A.id}'`), '0');
  });

  s.test('an agent enrolled for a user reports for that user only', async () => {
    const u = await s.api('POST', `/api/v1/orgs/${A.id}/users`, { token: s.token, body: { user_name: 'ev-owner@example.com' } });
    assert.equal(u.status, 201, u.text);
    const cred = 'bwa_' + crypto.randomBytes(32).toString('base64url');
    const id = await s.psql(`INSERT INTO agents (org_id, user_id, credential_sha256, hostname, platform, agent_version)
                             VALUES ('${A.id}', '${u.json.id}', decode('${sha256hex(cred)}', 'hex'), 'l', 'linux', '0.1.0')
                             RETURNING id`);
    const owned = { id, cred, org: A, seq: 0 };
    const other = await post(owned, { events: [ev(owned, { user: 'someone-else' })] });
    assertProblem(other, 400, 'validation_failed');
    assert.deepEqual(errorPointers(other), ['/events/0/user']);
    const own = ev(owned, { user: u.json.id });
    const anon = ev(owned, { user: null });
    const ok = await post(owned, { events: [own, anon] });
    assert.equal(ok.status, 202, ok.text);
    const stored = (await rows(owned)).map((r) => [r.user_id, r.reported_user]);
    assert.deepEqual(stored, [[u.json.id, null], [u.json.id, null]], 'null is the agent\'s user');
  });

  s.test('empty and malformed batches are 400', async () => {
    let r = await post(a2, { events: [] });
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r), ['/events']);
    r = await post(a2, { events: {} });
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r), ['/events']);
    r = await post(a2, [ev(a2)]);
    assertProblem(r, 400, 'validation_failed');
    r = await s.api('POST', EVENTS, { token: a2.cred, rawBody: '{"events": [' });
    assertProblem(r, 400, 'malformed_json');
    r = await s.api('POST', EVENTS, { token: a2.cred, rawBody: Buffer.from('not gzip at all'),
                                      headers: { 'content-encoding': 'gzip' } });
    assertProblem(r, 400, 'malformed_json');
    assert.match(r.json.detail, /gzip/);
    const gz = zlib.gzipSync(Buffer.from(JSON.stringify({ events: [ev(a2)] })));
    r = await s.api('POST', EVENTS, { token: a2.cred, rawBody: gz.subarray(0, gz.length - 6),
                                      headers: { 'content-encoding': 'gzip' } });
    assertProblem(r, 400, 'malformed_json');
    r = await s.api('POST', EVENTS, { token: a2.cred, rawBody: Buffer.concat([gz, Buffer.from('trailing')]),
                                      headers: { 'content-encoding': 'gzip' } });
    assertProblem(r, 400, 'malformed_json');
  });

  s.test('1000 events (gzip) are one batch; 1001 are 413', async () => {
    const g = await newAgent(A);
    const batch = Array.from({ length: 1000 }, () => ev(g));
    let r = await postGzip(g, { events: batch });
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { accepted: 1000, duplicates: 0, gaps: [] });
    assert.equal(await count(g), 1000);
    assert.equal(await lastSeq(g), 1000);
    r = await post(g, { events: Array.from({ length: 1001 }, () => ev(g)) });
    assertProblem(r, 413, 'payload_too_large');
    assert.match(r.json.detail, /1000 events/);
    assert.equal(await count(g), 1000);
  });

  s.test('more than 1 MiB, sent as is or after gzip decoding (a gzip bomb), is 413', async () => {
    const big = { events: [ev(a2, { user: 'x'.repeat(256) })], pad: 'y'.repeat(1100000) };
    let r = await post(a2, big);
    assertProblem(r, 413, 'payload_too_large');
    assert.match(r.json.detail, /1048576 bytes/);
    const bomb = zlib.gzipSync(Buffer.alloc(64 << 20, 0x20));
    assert.ok(bomb.length < 128 * 1024, `the bomb is small on the wire (${bomb.length} bytes)`);
    r = await s.api('POST', EVENTS, { token: a2.cred, rawBody: bomb, headers: { 'content-encoding': 'gzip' } });
    assertProblem(r, 413, 'payload_too_large');
    assert.match(r.json.detail, /1048576 bytes after gzip decoding/);
    const alive = await post(a2, { events: [ev(a2)] });
    assert.equal(alive.status, 202, 'the server is fine after the bomb');
  });

  s.test('other content encodings are 415', async () => {
    for (const enc of ['br', 'deflate', 'gzip, br'])
      {
        const r = await s.api('POST', EVENTS, { token: a2.cred, rawBody: JSON.stringify({ events: [ev(a2)] }),
                                                headers: { 'content-encoding': enc } });
        assertProblem(r, 415, 'unsupported_media_type');
        assert.match(r.json.detail, /Content-Encoding/);
      }
  });

  s.test('only an agent credential is accepted', async () => {
    const owner = await s.mint(A, 'owner');
    let r = await s.api('POST', EVENTS, { token: owner.secret, body: { events: [ev(a2)] } });
    assert.equal(r.status, 401, r.text);
    r = await s.api('POST', EVENTS, { token: 'bwa_' + crypto.randomBytes(32).toString('base64url'),
                                      body: { events: [ev(a2)] } });
    assertProblem(r, 401, 'authentication_required');
    assert.equal(r.json.node_invalid, true);
    const g = await newAgent(A);
    assert.equal((await post(g, { events: [ev(g)] })).status, 202);
    await s.psql(`UPDATE agents SET disabled_at = now() WHERE id = '${g.id}'`);
    let accepted = 1; // until the NOTIFY reaches the credential cache, posts still succeed
    r = await waitFor(async () => {
      const x = await post(g, { events: [ev(g)] });
      accepted += x.status === 202 ? 1 : 0;
      return x.status === 403 ? x : null;
    }, 5000);
    assert.ok(r, 'a disabled agent is refused');
    assertProblem(r, 403, 'agent_disabled');
    assert.equal(await count(g), accepted, 'what was refused was not stored');
  });

  s.test('an event of 3 days ago creates the partition of its day', async () => {
    const ms = Date.now() - 3 * DAY_MS;
    const name = `events_${dayName(ms)}`;
    assert.equal(await partitionExists(name), false, `${name} should not exist before`);
    const e = ev(a2, { time: new Date(ms).toISOString() });
    const r = await post(a2, { events: [e] });
    assert.equal(r.status, 202, r.text);
    assert.equal(await partitionExists(name), true);
    const part = await s.psql(`SELECT tableoid::regclass FROM events WHERE event_id = '${e.event_id}'`);
    assert.equal(part, name);
  });

  s.test('partitions are ahead for today and two days; past retention they are dropped', async () => {
    for (let d = 0; d <= 2; d++)
      assert.equal(await partitionExists(`events_${dayName(Date.now() + d * DAY_MS)}`), true, `day +${d}`);
    const oldMs = Date.now() - (RETENTION_DAYS + 3) * DAY_MS;
    const oldName = `events_${dayName(oldMs)}`;
    await s.psql(`SELECT events_partition_ensure('${new Date(oldMs).toISOString().slice(0, 10)}')`);
    await s.psql(`INSERT INTO events (org_id, agent_id, event_id, seq, time, surface, action, resource, decision)
                  VALUES ('${A.id}', '${a2.id}', '${uuidv7(oldMs)}', 1, '${new Date(oldMs).toISOString()}',
                          'network', 'connect', '{"host": "old.example", "port": 1}', 'allow')`);
    assert.equal(await partitionExists(oldName), true);
    const kept = `events_${dayName(Date.now() - 3 * DAY_MS)}`;
    await s.srv.restart(); // the upkeep's first round runs at start
    const gone = await waitFor(async () => !(await partitionExists(oldName)), 10000);
    assert.ok(gone, `${oldName} was not dropped`);
    assert.equal(await partitionExists(kept), true, 'a partition within the retention stays');
    assert.equal(await s.psql(`SELECT count(*) FROM events WHERE resource->>'host' = 'old.example'`), '0');
    const r = await post(a2, { events: [ev(a2)] });
    assert.equal(r.status, 202, 'intake works after the restart');
  });
});
