// PostgreSQL goes away under a running bulwarkd and comes back: 503
// database_unavailable with Retry-After meanwhile, /healthz unaffected, and
// recovery without restarting bulwarkd.
//
// This file stops the one test cluster ($BULWARK_TEST_PGCLUSTER), so it must
// not run beside other test files: run the suite with
//   node --test --test-concurrency=1 tests/api/

import { describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { pgCluster, sleep, uniqueSlug, useServer } from './harness.mjs';

/** Longest a request may take while the database is down (it must fail fast, not hang). */
const DOWN_ANSWER_MS = 5000;
/** Contract: requests succeed again within this after PostgreSQL is back. */
const RECOVERY_MS = 10000;

function assertUnavailable (r, what)
{
  assert.equal(r.status, 503, `${what}: expected 503 while PostgreSQL is down, got ${r.status}: ${r.text}`);
  assert.equal(r.json?.code, 'database_unavailable', `${what}: ${r.text}`);
  const ra = r.headers.get('retry-after');
  assert.match(ra ?? '', /^[1-9][0-9]*$/, `${what}: Retry-After ${ra}`);
}

describe('resilience', () => {
  const s = useServer('resilience');
  let clusterDown = false;

  // Whatever happens, leave the cluster running for whoever comes next.
  after(async () => {
    if (clusterDown)
      await pgCluster('start');
  });

  s.test('PostgreSQL stops and starts under a running bulwarkd', async () => {
    const org = await s.newOrg('sturdy');
    const tok = await s.mint(org, 'viewer', { name: 'v' });
    assert.equal((await s.api('GET', `/api/v1/orgs/${org.id}`, { token: tok.secret })).status, 200);
    assert.equal((await s.api('GET', '/readyz')).status, 200);

    clusterDown = true;
    try
      {
        await pgCluster('stop');

        const timed = async (what, fn) => {
          const t0 = Date.now();
          const r = await fn();
          assert.ok(Date.now() - t0 < DOWN_ANSWER_MS, `${what} took ${Date.now() - t0} ms while the database is down`);
          return r;
        };
        assertUnavailable(await timed('GET /api/v1/orgs (platform)',
                                      () => s.api('GET', '/api/v1/orgs', { token: s.token })), 'GET /api/v1/orgs');
        assertUnavailable(await timed('GET org (org token)',
                                      () => s.api('GET', `/api/v1/orgs/${org.id}`, { token: tok.secret })),
                          'a valid org token while the database is down (must not be 401)');
        assertUnavailable(await timed('POST org', () => s.api('POST', '/api/v1/orgs', {
          token: s.token, body: { slug: uniqueSlug('never'), name: 'Never' } })), 'POST /api/v1/orgs');
        assertUnavailable(await timed('readyz', () => s.api('GET', '/readyz')), '/readyz');
        const h = await timed('healthz', () => s.api('GET', '/healthz'));
        assert.equal(h.status, 200, '/healthz does not depend on the database');
        assert.deepEqual(h.json, { status: 'ok' });
        const m = await timed('metrics', () => s.api('GET', '/metrics'));
        assert.equal(m.status, 200, '/metrics is served while the database is down');
        const fails = /^bulwark_db_connect_failures_total (\d+)/m.exec(m.text);
        assert.ok(fails && Number(fails[1]) >= 1, 'failed reconnects are counted');
        // A second round: still 503 (no crash, no stuck connection).
        assertUnavailable(await timed('GET again', () => s.api('GET', '/api/v1/orgs', { token: s.token })), 'again');

        await pgCluster('start');
        clusterDown = false;
      }
    finally
      {
        if (clusterDown)
          {
            await pgCluster('start');
            clusterDown = false;
          }
      }

    const t0 = Date.now();
    let last;
    while (Date.now() - t0 < RECOVERY_MS)
      {
        last = await s.api('GET', '/api/v1/orgs', { token: s.token });
        if (last.status === 200)
          break;
        assertUnavailable(last, 'while reconnecting');
        await sleep(250);
      }
    assert.equal(last.status, 200, `no recovery within ${RECOVERY_MS} ms of PostgreSQL being back: ${last.text}`);
    assert.ok(last.json.items.some((o) => o.id === org.id), 'data survived');
    // Every worker's connection recovers, not just one: a burst of parallel requests all succeed
    // (a worker may still be inside its reconnect interval for a moment: allow the recovery window).
    const burst = async () => Promise.all(Array.from({ length: 8 }, () =>
      s.api('GET', `/api/v1/orgs/${org.id}`, { token: tok.secret })));
    let rs = await burst();
    let statuses = rs.map((r) => r.status);
    while (statuses.some((st) => st !== 200) && Date.now() - t0 < RECOVERY_MS)
      {
        await sleep(250);
        rs = await burst();
        statuses = rs.map((r) => r.status);
      }
    assert.deepEqual(statuses, Array(8).fill(200), 'every worker serves again after the recovery window');
    assert.ok(rs.every((r) => r.json.id === org.id), 'each answered the org asked for');
    const ready = await s.api('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.equal(ready.json.status, 'ready');
    const created = await s.api('POST', '/api/v1/orgs', { token: s.token, body: { slug: uniqueSlug('after'), name: 'After' } });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.name, 'After');
    assert.equal((await s.api('GET', `/api/v1/orgs/${org.id}/audit/verify`, { token: s.token })).json.ok, true);
  });
});
