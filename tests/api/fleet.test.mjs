// The fleet view (DESIGN §6): GET …/agents with its status filters and
// GET …/fleet/summary, driven by real check-ins.  Each agent enrolls, checks
// in as a real agent would (first with no bundle, then reporting the one it
// was told to fetch, or something else), and the view must show what it
// should run (its subject's head), what it reported, online/offline, drift,
// staleness, disabled, and the share of agents on their latest bundle.
// Reported status is flushed in bulk (every 2 s), so the view is polled.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { assertProblem, useServer, waitFor } from './harness.mjs';

/** Bulk flushes of reported status run every 2 s: wait this long for one. */
const FLUSH_WAIT_MS = 10000;

describe('fleet', () => {
  const s = useServer('fleet', { env: { BULWARK_MASTER_KEY: crypto.randomBytes(32).toString('hex') } });
  let F, E, owner, viewer, secret, userSecret, user;
  const agentsUrl = (org = F) => `/api/v1/orgs/${org.id}/agents`;
  const summaryUrl = (org = F) => `/api/v1/orgs/${org.id}/fleet/summary`;

  const enroll = async (sec, hostname) => {
    const r = await s.api('POST', '/api/v1/agent/enroll', {
      body: { enroll_secret: sec.secret, hostname, platform: 'darwin-arm64', agent_version: '1.0.0' } });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  /** One check-in of @agent reporting @report (merged into a nothing-to-say body); the reply body. */
  const checkin = async (agent, report = {}) => {
    const r = await s.api('POST', '/api/v1/agent/checkin', {
      token: agent.credential,
      body: { agent_version: '1.0.1', keyset_version: agent.keyset_version, bundle: null, last_error: null,
              stale: false, events: { spooled: 0, dropped: 0, last_seq: 0 }, ...report } });
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  /** The bundle a check-in reply tells the agent to run, as the agent reports it back. */
  const told = (reply) => ({ version: reply.bundle.version, sha256: reply.bundle.sha256, head_serial: reply.bundle.head_serial });
  const list = async (query = '', token = viewer.secret) => {
    const r = await s.api('GET', `${agentsUrl()}${query}`, { token });
    assert.equal(r.status, 200, r.text);
    return r.json.items;
  };
  const byHost = (items) => Object.fromEntries(items.map((a) => [a.hostname, a]));
  const ids = (items) => items.map((a) => a.id).sort();
  /** The subject's current head, read from the database. */
  const head = async (subject) => {
    const row = await s.psql(`SELECT bundle_version || ' ' || sha256 || ' ' || head_serial FROM heads`
                             + ` WHERE org_id = '${F.id}' AND subject_id = '${subject}'`);
    if (row === '')
      return null;
    const [v, sha, serial] = row.split(' ');
    return { bundle_version: Number(v), sha256: sha, head_serial: Number(serial) };
  };

  s.test('setup: an org, tokens, a user, secrets', async () => {
    F = await s.newOrg('fleet');
    E = await s.newOrg('empty');
    owner = await s.mint(F, 'owner');
    viewer = await s.mint(F, 'viewer');
    const u = await s.api('POST', `/api/v1/orgs/${F.id}/users`, { token: owner.secret, body: { user_name: 'erin' } });
    assert.equal(u.status, 201, u.text);
    user = u.json;
    for (const [name, body] of [['fleet', {}], ['erin', { user_id: user.id }]])
      {
        const r = await s.api('POST', `/api/v1/orgs/${F.id}/enroll-secrets`, { token: owner.secret, body: { name, ...body } });
        assert.equal(r.status, 201, r.text);
        if (name === 'fleet')
          secret = r.json;
        else
          userSecret = r.json;
      }
  });

  s.test('an org without agents: all zero, nothing to be on, the share is 1', async () => {
    const r = await s.api('GET', summaryUrl(E), { token: s.token });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { agents: 0, online: 0, offline: 0, stale: 0, drift: 0, disabled: 0,
                               latest_bundle_version: null, on_latest: 0, on_latest_share: 1 });
    assert.deepEqual((await s.api('GET', agentsUrl(E), { token: s.token })).json, { items: [], next_cursor: null });
  });

  const A = {};
  s.test('agents check in: current, lagging, stale, disabled, silent', async () => {
    for (const h of ['current', 'lagging', 'stale', 'disabled', 'silent'])
      A[h] = await enroll(secret, h);
    A.erin = await enroll(userSecret, 'erin-laptop');
    assert.deepEqual(A.erin.subject, { kind: 'user', id: user.id });

    // current: fetches what it is told and reports it, with some events
    const first = await checkin(A.current);
    assert.equal(first.bundle.state, 'update', JSON.stringify(first));
    const again = await checkin(A.current, { bundle: told(first), events: { spooled: 5, dropped: 1, last_seq: 42 } });
    assert.equal(again.bundle.state, 'current', JSON.stringify(again));
    // lagging: keeps running nothing, and says why
    await checkin(A.lagging, { last_error: 'bundle fetch failed: connection reset' });
    // stale: runs what it is told but past its head's expiry
    const st = await checkin(A.stale);
    await checkin(A.stale, { bundle: told(st), stale: true });
    // disabled: current, then an admin disables it
    const dis = await checkin(A.disabled);
    await checkin(A.disabled, { bundle: told(dis) });
    const p = await s.api('PATCH', `${agentsUrl()}/${A.disabled.agent_id}`, { token: owner.secret, body: { disabled: true } });
    assert.equal(p.status, 200, p.text);
    // erin's laptop: current on erin's bundle
    const er = await checkin(A.erin);
    await checkin(A.erin, { bundle: told(er) });
    // silent never checks in

    const seen = await waitFor(async () => {
      const items = byHost(await list());
      return ['current', 'lagging', 'stale', 'disabled', 'erin-laptop'].every((h) => items[h]?.last_seen_at
                                                                               && (h === 'lagging' || items[h].active))
        ? items : null;
    }, FLUSH_WAIT_MS);
    assert.ok(seen, 'the reported status is flushed within a few seconds');
  });

  s.test('each agent: desired from its subject\'s head, active as reported, online, drift, stale', async () => {
    const items = byHost(await list());
    assert.equal(Object.keys(items).length, 6);
    const cur = items.current;
    const curHead = await head(A.current.agent_id);
    assert.ok(curHead, 'the agent, its own subject, has a head');
    assert.deepEqual(cur.desired, curHead);
    assert.deepEqual(cur.active, curHead, 'it runs what it should');
    assert.equal(cur.online, true);
    assert.equal(cur.drift, false);
    assert.equal(cur.stale, false);
    assert.equal(cur.last_error, null);
    assert.equal(cur.agent_version, '1.0.1', 'the version reported at check-in');
    assert.equal(cur.keyset_version, A.current.keyset_version);
    assert.deepEqual(cur.events, { spooled: 5, dropped: 1, last_seq: 0 }, 'last_seq is what intake received, not what the agent reports');
    assert.ok(Math.abs(Date.parse(cur.last_seen_at) - Date.now()) < 60000, cur.last_seen_at);

    const lag = items.lagging;
    assert.deepEqual(lag.desired, await head(A.lagging.agent_id));
    assert.notEqual(lag.desired, null);
    assert.equal(lag.active, null);
    assert.equal(lag.drift, true, 'a head to run and nothing running: drift');
    assert.equal(lag.online, true);
    assert.equal(lag.last_error, 'bundle fetch failed: connection reset');

    const st = items.stale;
    assert.equal(st.stale, true);
    assert.equal(st.drift, false);
    assert.deepEqual(st.active, st.desired);

    assert.equal(items.disabled.disabled, true);
    assert.equal(items.disabled.online, true, 'disabled is not offline: it was seen');

    const er = items['erin-laptop'];
    assert.equal(er.user_id, user.id);
    assert.deepEqual(er.desired, await head(user.id), 'a user\'s agent runs its user\'s head');
    assert.equal(er.drift, false);

    const si = items.silent;
    assert.equal(si.online, false);
    assert.equal(si.last_seen_at, null);
    assert.equal(si.active, null);
    assert.equal(si.agent_version, '1.0.0', 'as enrolled');
    assert.equal(si.drift, si.desired !== null, 'drift only once it has something to run');
  });

  s.test('status filters', async () => {
    const items = byHost(await list());
    const want = (...hosts) => hosts.map((h) => items[h].id).sort();
    assert.deepEqual(ids(await list('?status=online')), want('current', 'lagging', 'stale', 'disabled', 'erin-laptop'));
    assert.deepEqual(ids(await list('?status=offline')), want('silent'));
    assert.deepEqual(ids(await list('?status=stale')), want('stale'));
    assert.deepEqual(ids(await list('?status=disabled')), want('disabled'));
    const drifting = ['lagging', ...(items.silent.desired ? ['silent'] : [])];
    assert.deepEqual(ids(await list('?status=drift')), want(...drifting));
    assert.deepEqual(ids(await list(`?status=online&user_id=${user.id}`)), want('erin-laptop'));
    assert.deepEqual(await list(`?status=offline&user_id=${user.id}`), []);
    // paging a filtered list
    const p1 = await s.api('GET', `${agentsUrl()}?status=online&limit=2`, { token: viewer.secret });
    assert.equal(p1.json.items.length, 2);
    assert.notEqual(p1.json.next_cursor, null);
    const p2 = await s.api('GET', `${agentsUrl()}?status=online&limit=2&cursor=${encodeURIComponent(p1.json.next_cursor)}`,
                           { token: viewer.secret });
    const p3 = await s.api('GET', `${agentsUrl()}?status=online&limit=2&cursor=${encodeURIComponent(p2.json.next_cursor)}`,
                           { token: viewer.secret });
    assert.equal(p3.json.next_cursor, null);
    assert.deepEqual([...p1.json.items, ...p2.json.items, ...p3.json.items].map((a) => a.id).sort(),
                     want('current', 'lagging', 'stale', 'disabled', 'erin-laptop'));
    const bad = await s.api('GET', `${agentsUrl()}?status=ONLINE`, { token: viewer.secret });
    assertProblem(bad, 400, 'validation_failed');
    assert.deepEqual(bad.json.errors, [{ parameter: 'status', message: 'must be one of online, offline, stale, drift, disabled' }]);
  });

  s.test('summary: counts, the latest version, and the share on it', async () => {
    const items = byHost(await list());
    const silentDrifts = items.silent.desired !== null;
    const latest = Number(await s.psql(`SELECT max(bundle_version) FROM heads WHERE org_id = '${F.id}'`));
    const r = await s.api('GET', summaryUrl(), { token: viewer.secret });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      agents: 6, online: 5, offline: 1, stale: 1, drift: silentDrifts ? 2 : 1, disabled: 1,
      latest_bundle_version: latest,
      on_latest: 4, // current, stale, disabled, erin-laptop run their subject's head
      on_latest_share: 0.666667, // 4 / 6, to 6 significant digits
    });
    assert.match(r.text, /"on_latest_share":0\.666667[,}]/);
    assert.ok(latest >= items.current.desired.bundle_version);
  });

  s.test('deleted agents leave the view; another org\'s view is 404 to this org\'s token', async () => {
    const items = byHost(await list());
    assert.equal((await s.api('DELETE', `${agentsUrl()}/${items.lagging.id}`, { token: owner.secret })).status, 204);
    const r = await s.api('GET', summaryUrl(), { token: viewer.secret });
    assert.equal(r.json.agents, 5);
    assert.equal(r.json.on_latest, 4);
    assert.equal(r.json.on_latest_share, 4 / 5);
    assert.ok(!(await list()).some((a) => a.id === items.lagging.id));
    assertProblem(await s.api('GET', summaryUrl(E), { token: viewer.secret }), 404, 'not_found');
    assertProblem(await s.api('GET', agentsUrl(E), { token: viewer.secret }), 404, 'not_found');
  });
});
