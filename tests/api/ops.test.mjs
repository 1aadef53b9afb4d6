// Operations endpoints: /healthz, /readyz, /metrics (Prometheus text 0.0.4)
// and the error registry page /docs/errors.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, latestMigration, parseErrorsDef, uniqueSlug, useServer } from './harness.mjs';

/** Parse Prometheus text: [{name, labels: {..}, value}] plus the TYPE of each family. */
function parseMetrics (text)
{
  const samples = [];
  const types = new Map();
  for (const line of text.split('\n'))
    {
      if (line === '')
        continue;
      let m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (m)
        {
          types.set(m[1], m[2]);
          continue;
        }
      if (line.startsWith('#'))
        continue;
      m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
      assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
      const labels = {};
      if (m[2])
        {
          const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/g;
          let consumed = 0;
          for (const l of m[2].matchAll(re))
            {
              labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
              consumed += l[0].length;
            }
          assert.equal(consumed, m[2].length, `bad label set in ${JSON.stringify(line)}`);
        }
      const value = Number(m[3] === '+Inf' ? Infinity : m[3]);
      assert.ok(!Number.isNaN(value), `bad value in ${JSON.stringify(line)}`);
      samples.push({ name: m[1], labels, value });
    }
  return { samples, types };
}

describe('ops', () => {
  const s = useServer('ops');

  const metrics = async () => {
    const r = await s.api('GET', '/metrics');
    assert.equal(r.status, 200);
    return parseMetrics(r.text);
  };
  const find = (ms, name, labels = {}) => ms.samples.filter((x) => x.name === name
    && Object.entries(labels).every(([k, v]) => x.labels[k] === v));

  s.test('/healthz → 200 {"status":"ok"} without a credential', async () => {
    const r = await s.api('GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type')?.split(';')[0], 'application/json');
    assert.deepEqual(r.json, { status: 'ok' });
    const withJunk = await s.api('GET', '/healthz', { token: 'junk' });
    assert.equal(withJunk.status, 200, 'public routes ignore credentials');
    assert.deepEqual(withJunk.json, { status: 'ok' });
  });

  s.test('/readyz → 200 with the schema version of the newest migration', async () => {
    const r = await s.api('GET', '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ready', schema_version: latestMigration() });
  });

  s.test('/metrics: text 0.0.4 with HTTP counters per route pattern, histograms and pool figures', async () => {
    const slug = uniqueSlug('metrics');
    assert.equal((await s.api('POST', '/api/v1/orgs', { token: s.token, body: { slug, name: 'M' } })).status, 201);
    for (let i = 0; i < 3; i++)
      assert.equal((await s.api('GET', `/api/v1/orgs/${slug}`, { token: s.token })).status, 200);
    assert.equal((await s.api('GET', '/api/v1/orgs/no-such-org', { token: s.token })).status, 404);
    assert.equal((await s.api('GET', '/definitely/not/a/route')).status, 404);

    const r = await s.api('GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain; ?version=0\.0\.4(;|$)/);
    const ms = parseMetrics(r.text);

    const route = '/api/v1/orgs/{org}';
    const ok = find(ms, 'bulwark_http_requests_total', { route, method: 'GET', status: '200' });
    assert.equal(ok.length, 1, `one series for GET ${route} 200:\n${r.text}`);
    assert.ok(ok[0].value >= 3, `GET ${route} 200 counted ${ok[0].value}`);
    assert.ok(r.text.includes(`bulwark_http_requests_total{`), 'the family by its exact name');
    assert.equal(find(ms, 'bulwark_http_requests_total', { route, method: 'GET', status: '404' }).length, 1);
    assert.equal(find(ms, 'bulwark_http_requests_total', { route: '/api/v1/orgs', method: 'POST', status: '201' }).length, 1);
    const unmatched = find(ms, 'bulwark_http_requests_total', { route: 'unmatched' });
    assert.ok(unmatched.length >= 1 && unmatched.every((x) => x.labels.status === '404' || x.labels.status === '405'),
              'unknown paths are counted under route="unmatched"');
    assert.ok(!ms.samples.some((x) => x.labels.route?.includes(slug) || x.labels.route === '/definitely/not/a/route'),
              'no raw paths as route labels (cardinality)');
    assert.equal(ms.types.get('bulwark_http_requests_total'), 'counter');

    assert.equal(ms.types.get('bulwark_http_request_duration_seconds'), 'histogram');
    const buckets = find(ms, 'bulwark_http_request_duration_seconds_bucket', { route, method: 'GET', status: '200' });
    assert.ok(buckets.length >= 2, 'histogram buckets');
    const inf = buckets.find((b) => b.labels.le === '+Inf');
    assert.ok(inf, 'an le="+Inf" bucket');
    const sorted = buckets.map((b) => [Number(b.labels.le === '+Inf' ? Infinity : b.labels.le), b.value]).sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++)
      assert.ok(sorted[i][1] >= sorted[i - 1][1], 'buckets are cumulative');
    const count = find(ms, 'bulwark_http_request_duration_seconds_count', { route, method: 'GET', status: '200' });
    const sum = find(ms, 'bulwark_http_request_duration_seconds_sum', { route, method: 'GET', status: '200' });
    assert.equal(count.length, 1);
    assert.equal(sum.length, 1);
    assert.equal(count[0].value, inf.value, '_count = +Inf bucket');
    assert.equal(count[0].value, ok[0].value, '_count = requests counted');
    assert.ok(sum[0].value > 0 && sum[0].value < 60 * count[0].value, `_sum ${sum[0].value} s`);

    for (const [name, type] of [['bulwark_db_connections_open', 'gauge'], ['bulwark_db_connects_total', 'counter'],
                                ['bulwark_db_connect_failures_total', 'counter'], ['bulwark_db_statements_total', 'counter'],
                                ['bulwark_db_errors_total', 'counter'], ['bulwark_db_tx_retries_total', 'counter']])
      {
        assert.equal(find(ms, name).length, 1, `${name} present once`);
        assert.equal(ms.types.get(name), type, `${name} is a ${type}`);
      }
    assert.ok(find(ms, 'bulwark_db_connections_open')[0].value >= 1, 'the pool has a connection open');
    assert.ok(find(ms, 'bulwark_db_connects_total')[0].value >= 1);
    assert.ok(find(ms, 'bulwark_db_statements_total')[0].value >= 5);
  });

  s.test('/metrics counters go up with traffic', async () => {
    const key = { route: '/healthz', method: 'GET', status: '200' };
    const before = find(await metrics(), 'bulwark_http_requests_total', key)[0]?.value ?? 0;
    for (let i = 0; i < 4; i++)
      await s.api('GET', '/healthz');
    const after = find(await metrics(), 'bulwark_http_requests_total', key)[0].value;
    assert.equal(after - before, 4);
  });

  s.test('/readyz → 503 while the schema is not current, 200 again once it is', async () => {
    const v = latestMigration();
    const future = v + 100;
    await s.psql(`INSERT INTO schema_migrations
                  SELECT (jsonb_populate_record(NULL::schema_migrations, to_jsonb(m) || '{"version": ${future}}')).*
                  FROM schema_migrations m WHERE version = ${v}`);
    try
      {
        const r = await s.api('GET', '/readyz');
        assert.equal(r.status, 503, `schema ${future} in the database, ${v} in the binary: ${r.text}`);
        assertProblem(r, 503, 'database_unavailable');
        assert.match(r.headers.get('retry-after'), /^[1-9][0-9]*$/);
        const h = await s.api('GET', '/healthz');
        assert.equal(h.status, 200);
        assert.deepEqual(h.json, { status: 'ok' }, '/healthz does not read the schema');
      }
    finally
      {
        await s.psql(`DELETE FROM schema_migrations WHERE version = ${future}`);
      }
    const back = await s.api('GET', '/readyz');
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.schema_version, v);
    assert.deepEqual(back.json, { status: 'ready', schema_version: v });
  });

  s.test('/docs/errors: Markdown with every code of api/errors.def', async () => {
    const r = await s.api('GET', '/docs/errors');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/markdown; ?charset=utf-8$/i);
    const errors = parseErrorsDef();
    assert.ok(errors.length >= 13);
    for (const e of errors)
      {
        assert.ok(r.text.includes(e.code), `code ${e.code} missing from /docs/errors`);
        assert.ok(r.text.includes(e.title), `title of ${e.code} missing`);
        assert.ok(r.text.includes(String(e.status)), `status of ${e.code} missing`);
      }
    assert.match(r.text, /^#/m, 'Markdown headings');
  });
});
