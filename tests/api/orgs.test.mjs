// Orgs: create/get/list/update/delete, slugs, ETags and If-Match, and the
// generic request handling every route shares (body parsing and limits,
// problem documents, unknown routes and methods, X-Request-ID).

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { assertProblem, isUuid, uniqueSlug, useServer, walkPages } from './harness.mjs';

/** Oversized uploads sent in a row (a lost 413 is intermittent). */
const OVERSIZE_ATTEMPTS = 10;
/** A refused chunked upload must be answered quickly, not left to the connection timeout. */
const CHUNKED_TIMEOUT_MS = 10000;
const TS_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** Pointers named by a validation problem. */
const pointers = (r) => (r.json?.errors ?? []).map((e) => e.pointer);

describe('orgs', () => {
  const s = useServer('orgs');
  const create = (body, opts = {}) => s.api('POST', '/api/v1/orgs', { token: s.token, body, ...opts });
  const newOrg = s.newOrg;

  s.test('POST creates an org: 201, body, ETag "1", Location', async () => {
    const slug = uniqueSlug('acme');
    const before = Date.now();
    const r = await create({ slug, name: 'Acme Corp' });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('content-type')?.split(';')[0], 'application/json');
    const o = r.json;
    assert.ok(isUuid(o.id), `id ${o.id}`);
    assert.equal(o.slug, slug);
    assert.equal(o.name, 'Acme Corp');
    assert.match(o.created_at, TS_RE);
    assert.equal(o.updated_at, o.created_at, 'a new org was never updated');
    assert.ok(Math.abs(Date.parse(o.created_at) - before) < 60000, `created_at ${o.created_at} is not now`);
    assert.deepEqual(Object.keys(o).sort(), ['created_at', 'id', 'name', 'slug', 'updated_at']);
    assert.equal(r.headers.get('etag'), '"1"');
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${o.id}`);

    const g = await s.api('GET', r.headers.get('location'), { token: s.token });
    assert.equal(g.status, 200);
    assert.deepEqual(g.json, o);
  });

  s.test('GET by id and by slug answer the same org and ETag', async () => {
    const o = await newOrg();
    const byId = await s.api('GET', `/api/v1/orgs/${o.id}`, { token: s.token });
    const bySlug = await s.api('GET', `/api/v1/orgs/${o.slug}`, { token: s.token });
    assert.equal(byId.status, 200);
    assert.equal(bySlug.status, 200);
    assert.deepEqual(byId.json, o);
    assert.deepEqual(bySlug.json, o);
    assert.equal(byId.headers.get('etag'), '"1"');
    assert.equal(bySlug.headers.get('etag'), '"1"');
    // UUIDs are case-insensitive on input (RFC 9562 §4).
    const byUpper = await s.api('GET', `/api/v1/orgs/${o.id.toUpperCase()}`, { token: s.token });
    assert.equal(byUpper.status, 200, byUpper.text);
    assert.deepEqual(byUpper.json, o);
    for (const missing of ['no-such-org', '00000000-0000-4000-8000-000000000000', 'NOT_A_SLUG'])
      assertProblem(await s.api('GET', `/api/v1/orgs/${missing}`, { token: s.token }), 404, 'not_found');
  });

  s.test('list: every org once, oldest first, across pages of limit=1', async () => {
    const created = [];
    for (let i = 0; i < 3; i++)
      created.push(await newOrg('page'));
    const all = await s.api('GET', '/api/v1/orgs?limit=200', { token: s.token });
    assert.equal(all.status, 200);
    assert.equal(all.json.next_cursor, null, 'fewer than 200 orgs: one page');
    const { items, pages } = await walkPages(s.api, '/api/v1/orgs', { token: s.token, limit: 1 });
    const ids = items.map((o) => o.id);
    assert.equal(new Set(ids).size, ids.length, 'an org appeared on two pages');
    assert.deepEqual(ids, all.json.items.map((o) => o.id), 'pages of 1 = one page of 200, same order');
    assert.ok(pages <= items.length + 1, 'one org per page (at most one empty last page)');
    for (const c of created)
      assert.ok(ids.includes(c.id), `created org ${c.slug} missing from the list`);
    for (let i = 1; i < items.length; i++)
      assert.ok(items[i - 1].created_at <= items[i].created_at, 'oldest first');
    assert.deepEqual(ids.slice(-3), created.map((c) => c.id), 'the three newest are last, in order');

    const two = await s.api('GET', '/api/v1/orgs?limit=2', { token: s.token });
    assert.equal(two.json.items.length, 2);
    assert.equal(typeof two.json.next_cursor, 'string');
    const rest = await s.api('GET', `/api/v1/orgs?limit=200&cursor=${encodeURIComponent(two.json.next_cursor)}`,
                             { token: s.token });
    assert.deepEqual([...two.json.items, ...rest.json.items].map((o) => o.id), all.json.items.map((o) => o.id));
  });

  s.test('list: default limit is 50', async () => {
    const have = (await s.api('GET', '/api/v1/orgs?limit=200', { token: s.token })).json.items.length;
    for (let i = have; i < 51; i++)
      await newOrg('many');
    const r = await s.api('GET', '/api/v1/orgs', { token: s.token });
    assert.equal(r.json.items.length, 50);
    assert.equal(typeof r.json.next_cursor, 'string');
  });

  s.test('list: bad limit or cursor → 400 naming the parameter', async () => {
    for (const [query, param] of [['limit=0', 'limit'], ['limit=201', 'limit'], ['limit=abc', 'limit'],
                                  ['limit=-1', 'limit'], ['limit=1.5', 'limit'], ['limit=10abc', 'limit'],
                                  ['cursor=%25%25%25', 'cursor'], ['cursor=bm90LWEtY3Vyc29y', 'cursor']])
      {
        const r = await s.api('GET', `/api/v1/orgs?${query}`, { token: s.token });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(r.json.errors.map((e) => e.parameter), [param], `?${query}: ${r.text}`);
      }
  });

  s.test('PATCH: ETag goes up, If-Match is honoured, stale If-Match → 412', async () => {
    const o = await newOrg();
    const url = `/api/v1/orgs/${o.id}`;
    const p1 = await s.api('PATCH', url, { token: s.token, body: { name: 'Renamed once' } });
    assert.equal(p1.status, 200, p1.text);
    assert.equal(p1.json.name, 'Renamed once');
    assert.equal(p1.json.slug, o.slug);
    assert.equal(p1.json.id, o.id);
    assert.equal(p1.json.created_at, o.created_at);
    assert.ok(p1.json.updated_at > o.updated_at, 'updated_at moves on');
    assert.equal(p1.headers.get('etag'), '"2"');

    const p2 = await s.api('PATCH', url, { token: s.token, body: { name: 'Renamed twice' },
                                            headers: { 'if-match': '"2"' } });
    assert.equal(p2.status, 200, p2.text);
    assert.equal(p2.headers.get('etag'), '"3"');
    assert.deepEqual(p2.json, { ...p1.json, name: 'Renamed twice', updated_at: p2.json.updated_at });
    assert.ok(p2.json.updated_at > p1.json.updated_at, 'updated_at moves on');

    const stale = await s.api('PATCH', url, { token: s.token, body: { name: 'Lost update' },
                                               headers: { 'if-match': '"1"' } });
    assertProblem(stale, 412, 'precondition_failed');
    const g = await s.api('GET', url, { token: s.token });
    assert.equal(g.json.name, 'Renamed twice', 'a 412 changes nothing');
    assert.equal(g.headers.get('etag'), '"3"');

    const garbage = await s.api('PATCH', url, { token: s.token, body: { name: 'x' }, headers: { 'if-match': 'nonsense' } });
    assertProblem(garbage, 412, 'precondition_failed');

    const slug = uniqueSlug('moved');
    const p3 = await s.api('PATCH', url, { token: s.token, body: { slug }, headers: { 'if-match': '"3"' } });
    assert.equal(p3.status, 200, p3.text);
    assert.equal(p3.json.slug, slug);
    assert.equal(p3.json.name, 'Renamed twice', 'PATCH changes only what it names');
    assert.equal(p3.headers.get('etag'), '"4"');
    assert.equal((await s.api('GET', `/api/v1/orgs/${slug}`, { token: s.token })).json.id, o.id);
    assertProblem(await s.api('GET', `/api/v1/orgs/${o.slug}`, { token: s.token }), 404, 'not_found');

    const p4 = await s.api('PATCH', `/api/v1/orgs/${slug}`, { token: s.token, body: { name: 'By slug', slug: o.slug } });
    assert.equal(p4.status, 200, p4.text);
    assert.deepEqual([p4.json.name, p4.json.slug], ['By slug', o.slug]);
    assert.equal(p4.headers.get('etag'), '"5"');
  });

  s.test('PATCH: empty, unknown or invalid fields → 400 naming them', async () => {
    const o = await newOrg();
    const url = `/api/v1/orgs/${o.id}`;
    const empty = await s.api('PATCH', url, { token: s.token, body: {} });
    assertProblem(empty, 400, 'validation_failed');
    const unknown = await s.api('PATCH', url, { token: s.token, body: { name: 'ok', id: o.id } });
    assertProblem(unknown, 400, 'validation_failed');
    assert.deepEqual(pointers(unknown), ['/id']);
    const bad = await s.api('PATCH', url, { token: s.token, body: { name: '', slug: 'Bad' } });
    assertProblem(bad, 400, 'validation_failed');
    assert.deepEqual(pointers(bad).sort(), ['/name', '/slug']);
    const g = await s.api('GET', url, { token: s.token });
    assert.deepEqual(g.json, o, 'failed PATCHes change nothing');
    assert.equal(g.headers.get('etag'), '"1"');
  });

  s.test('slug taken by a live org → 409 conflict naming /slug (create and PATCH)', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const dup = await create({ slug: a.slug, name: 'Copycat' });
    assertProblem(dup, 409, 'conflict');
    assert.deepEqual(pointers(dup), ['/slug']);
    const mv = await s.api('PATCH', `/api/v1/orgs/${b.id}`, { token: s.token, body: { slug: a.slug } });
    assertProblem(mv, 409, 'conflict');
    assert.deepEqual(pointers(mv), ['/slug']);
    assert.equal((await s.api('GET', `/api/v1/orgs/${b.id}`, { token: s.token })).json.slug, b.slug);
  });

  s.test('DELETE: 204, then 404 by id and slug, gone from the list, slug reusable', async () => {
    const o = await newOrg('gone');
    const d = await s.api('DELETE', `/api/v1/orgs/${o.slug}`, { token: s.token });
    assert.equal(d.status, 204);
    assert.equal(d.text, '');
    for (const ref of [o.id, o.slug])
      {
        assertProblem(await s.api('GET', `/api/v1/orgs/${ref}`, { token: s.token }), 404, 'not_found');
        assertProblem(await s.api('PATCH', `/api/v1/orgs/${ref}`, { token: s.token, body: { name: 'x' } }), 404, 'not_found');
        assertProblem(await s.api('DELETE', `/api/v1/orgs/${ref}`, { token: s.token }), 404, 'not_found');
        assertProblem(await s.api('GET', `/api/v1/orgs/${ref}/tokens`, { token: s.token }), 404, 'not_found');
      }
    const list = await s.api('GET', '/api/v1/orgs?limit=200', { token: s.token });
    assert.ok(!list.json.items.some((x) => x.id === o.id), 'deleted org still listed');

    const again = await create({ slug: o.slug, name: 'Second life' });
    assert.equal(again.status, 201, again.text);
    assert.notEqual(again.json.id, o.id);
    assert.equal(again.headers.get('etag'), '"1"');
    const g = await s.api('GET', `/api/v1/orgs/${o.slug}`, { token: s.token });
    assert.equal(g.json.id, again.json.id, 'the slug now names the new org');
  });

  s.test('bad slugs → 400 naming /slug', async () => {
    const bad = ['Acme', 'ac--me', '1acme', 'a'.repeat(64), 'deadbeef-dead-4eef-8ead-beefdeadbeef',
                 'a', '', 'acme-', '-acme', 'ac_me', 'ac me', 'acmé'];
    for (const slug of bad)
      {
        const r = await create({ slug, name: 'Bad slug' });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(pointers(r), ['/slug'], `slug ${JSON.stringify(slug)}: ${r.text}`);
      }
    const longest = uniqueSlug('a').padEnd(63, 'c');
    assert.equal(longest.length, 63);
    const ok = await create({ slug: longest, name: 'Longest slug' });
    assert.equal(ok.status, 201, `63-char slug: ${ok.text}`);
    assert.equal(ok.json.slug, longest);
    const short = await create({ slug: 'z9', name: 'Shortest' });
    assert.equal(short.status, 201, `2-char slug: ${short.text}`);
    assert.equal(short.json.slug, 'z9');
  });

  s.test('names: empty, blank or over 200 bytes → 400 /name; 200 bytes is fine', async () => {
    for (const name of ['', '   ', '\t\n', 'x'.repeat(201), 'é'.repeat(101)])
      {
        const r = await create({ slug: uniqueSlug(), name });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(pointers(r), ['/name'], `name of ${Buffer.byteLength(name)} bytes: ${r.text}`);
      }
    const r = await create({ slug: uniqueSlug(), name: 'é'.repeat(100) });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.name, 'é'.repeat(100), 'UTF-8 round trip');
  });

  s.test('wrong types, unknown and missing fields → 400 validation_failed with every pointer', async () => {
    const cases = [
      [{ slug: uniqueSlug(), name: 5 }, ['/name']],
      [{ slug: 7, name: 'x' }, ['/slug']],
      [{ slug: uniqueSlug(), name: null }, ['/name']],
      [{ slug: uniqueSlug(), name: 'x', extra: 1 }, ['/extra']],
      [{ slug: uniqueSlug() }, ['/name']],
      [{ name: 'x' }, ['/slug']],
      [{}, ['/name', '/slug']],
      [{ slug: 'BAD', name: 5, zzz: true }, ['/name', '/slug', '/zzz']],
      [{ slug: uniqueSlug(), name: 'x', 'a/b~c': 1 }, ['/a~1b~0c']],
    ];
    for (const [body, want] of cases)
      {
        const r = await create(body);
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(pointers(r).sort(), want, `${JSON.stringify(body)}: ${r.text}`);
        for (const e of r.json.errors)
          assert.ok(e.message.length > 0);
      }
    // a refused create makes nothing
    assertProblem(await s.api('GET', `/api/v1/orgs/${cases[0][0].slug}`, { token: s.token }), 404, 'not_found');
  });

  s.test('malformed JSON, duplicate keys, empty body → 400 malformed_json', async () => {
    for (const raw of ['{"slug":', '', 'nul', '{"slug":"x"} {"name":"y"}', "{'slug':'x'}",
                       Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])])
      {
        const r = await create(undefined, { rawBody: raw });
        assertProblem(r, 400, 'malformed_json');
        assert.equal(r.json.errors, undefined, 'malformed_json without a duplicate key names no field');
      }
    // A duplicate key names the field it repeats.
    for (const [raw, pointer] of [['{"slug":"a","slug":"b"}', '/slug'],
                                  [`{"slug":"${uniqueSlug()}","name":"x","name":"y"}`, '/name']])
      {
        const r = await create(undefined, { rawBody: raw });
        assertProblem(r, 400, 'malformed_json');
        assert.deepEqual(pointers(r), [pointer], r.text);
      }
  });

  s.test('a body that is not an object → 400 validation_failed at pointer ""', async () => {
    for (const raw of ['[1,2]', '"acme"', '42', 'null', 'true'])
      {
        const r = await create(undefined, { rawBody: raw });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(pointers(r), [''], `${raw}: ${r.text}`);
      }
  });

  s.test('Content-Type other than application/json → 415', async () => {
    const body = JSON.stringify({ slug: uniqueSlug(), name: 'Typed' });
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', null])
      {
        const r = await create(undefined, { rawBody: body, headers: { 'content-type': ct } });
        assertProblem(r, 415, 'unsupported_media_type');
      }
    const list = await s.api('GET', '/api/v1/orgs?limit=200', { token: s.token });
    assert.ok(!list.json.items.some((o) => o.name === 'Typed'), 'a 415 created nothing');
    const ok = await create(undefined, { rawBody: body, headers: { 'content-type': 'application/json; charset=utf-8' } });
    assert.equal(ok.status, 201, `charset parameter must be accepted: ${ok.text}`);
    assert.deepEqual([ok.json.slug, ok.json.name], [JSON.parse(body).slug, 'Typed']);
    const upper = await create(undefined, { rawBody: JSON.stringify({ slug: uniqueSlug(), name: 'Upper' }),
                                            headers: { 'content-type': 'Application/JSON' } });
    assert.equal(upper.status, 201, `media types are case-insensitive (RFC 9110 §8.3.1): ${upper.text}`);
  });

  s.test('a body over 1 MiB → 413 problem+json', async () => {
    // Several times: the client must reliably *read* the 413 while it is still sending
    // (RFC 9112 §9.6: a server that closes with unread input resets the connection and the
    // client may lose the response).
    const big = JSON.stringify({ slug: uniqueSlug(), name: 'x'.repeat(1100 * 1024) });
    for (let i = 0; i < OVERSIZE_ATTEMPTS; i++)
      {
        const r = await create(undefined, { rawBody: big });
        assertProblem(r, 413, 'payload_too_large');
        // The server still works afterwards (and did not leave the connection in a bad state).
        const g = await s.api('GET', '/api/v1/orgs?limit=1', { token: s.token });
        assert.equal(g.status, 200);
        assert.equal(g.json.items.length, 1);
      }
  });

  s.test('a chunked body over 1 MiB (no Content-Length) → 413 too', async () => {
    const url = new URL('/api/v1/orgs', s.srv.base);
    const res = await new Promise((resolve, reject) => {
      const req = http.request(url, { method: 'POST', headers: { authorization: `Bearer ${s.token}`,
                                                                   'content-type': 'application/json',
                                                                   'transfer-encoding': 'chunked' } }, (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (d) => { text += d; });
        r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, text }));
      });
      req.on('error', reject);
      req.setTimeout(CHUNKED_TIMEOUT_MS, () => {
        req.destroy();
        reject(new Error(`no response to a ${1100} KiB chunked body within ${CHUNKED_TIMEOUT_MS} ms: the server stalled`));
      });
      req.write(`{"slug":"${uniqueSlug()}","name":"`);
      const chunk = 'y'.repeat(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 1100 * 1024)
          {
            sent += chunk.length;
            if (!req.write(chunk))
              return req.once('drain', pump);
          }
        req.end('"}');
      };
      pump();
    });
    assert.equal(res.status, 413, res.text);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const p = JSON.parse(res.text);
    assert.equal(p.code, 'payload_too_large');
    assert.equal(p.request_id, res.headers['x-request-id']);
  });

  s.test('racing creates of one slug: exactly one 201, the rest 409 /slug', async () => {
    const slug = uniqueSlug('race');
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => create({ slug, name: `Racer ${i}` })));
    const statuses = rs.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409, 409, 409], rs.map((r) => r.text).join('\n'));
    for (const r of rs.filter((x) => x.status === 409))
      assert.deepEqual(pointers(r), ['/slug']);
  });

  s.test('racing PATCHes with one If-Match: exactly one wins, the rest 412', async () => {
    const o = await newOrg('ifmatch');
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      s.api('PATCH', `/api/v1/orgs/${o.id}`, { token: s.token, body: { name: `Writer ${i}` }, headers: { 'if-match': '"1"' } })));
    assert.deepEqual(rs.map((r) => r.status).sort(), [200, 412, 412, 412, 412, 412], rs.map((r) => r.text).join('\n'));
    const winner = rs.find((r) => r.status === 200);
    const g = await s.api('GET', `/api/v1/orgs/${o.id}`, { token: s.token });
    assert.equal(g.json.name, winner.json.name);
    assert.equal(g.headers.get('etag'), '"2"');
  });

  s.test('a body just under 1 MiB is parsed (and refused for its content, not its size)', async () => {
    const body = JSON.stringify({ slug: uniqueSlug(), name: 'x'.repeat(1000 * 1024) });
    assert.ok(body.length < 1048576);
    const r = await create(undefined, { rawBody: body });
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(pointers(r), ['/name']);
  });

  s.test('problem documents: type, title, status, detail, code, request_id = X-Request-ID', async () => {
    const r = await s.api('GET', '/api/v1/orgs/no-such-org', { token: s.token });
    assertProblem(r, 404, 'not_found');
    const p = r.json;
    assert.equal(p.type, '/docs/errors#not_found');
    assert.equal(p.title, 'Not found');
    assert.equal(p.status, 404);
    assert.equal(typeof p.detail, 'string');
    assert.ok(p.detail.length > 0, 'detail says something');
    assert.equal(p.request_id, r.headers.get('x-request-id'));
    assert.ok(!/\.c:|SQL|postgres|PQ|json_/i.test(p.detail), `detail leaks internals: ${p.detail}`);
  });

  s.test('unknown route → 404 problem; wrong method → 405 with Allow', async () => {
    for (const path of ['/api/v1/nope', '/nope', '/api/v1/orgs/x/y/z/w', '/api/v2/orgs'])
      {
        const r = await s.api('GET', path, { token: s.token });
        assertProblem(r, 404, 'not_found');
      }
    const o = await newOrg();
    const cases = [
      ['PUT', '/api/v1/orgs', ['GET', 'POST']],
      ['DELETE', '/api/v1/orgs', ['GET', 'POST']],
      ['POST', `/api/v1/orgs/${o.id}`, ['DELETE', 'GET', 'PATCH']],
      ['PUT', `/api/v1/orgs/${o.slug}/tokens`, ['GET', 'POST']],
      ['POST', `/api/v1/orgs/${o.id}/audit`, ['GET']],
      ['DELETE', '/healthz', ['GET']],
      ['POST', '/metrics', ['GET']],
    ];
    for (const [method, path, allow] of cases)
      {
        const r = await s.api(method, path, { token: s.token });
        assertProblem(r, 405, 'method_not_allowed');
        const got = r.headers.get('allow').split(',').map((m) => m.trim()).sort();
        assert.deepEqual(got, allow, `${method} ${path}: Allow ${r.headers.get('allow')}`);
      }
  });

  s.test('X-Request-ID: a sane client value is echoed, otherwise one is generated', async () => {
    const mine = 'client-req-42_abc';
    const r = await s.api('GET', '/healthz', { headers: { 'x-request-id': mine } });
    assert.equal(r.headers.get('x-request-id'), mine);
    const p = await s.api('GET', '/api/v1/orgs/no-such-org', { token: s.token, headers: { 'x-request-id': mine } });
    assert.equal(p.json.request_id, mine, 'problems carry the echoed id');
    const ids = new Set();
    for (let i = 0; i < 5; i++)
      ids.add((await s.api('GET', '/healthz')).headers.get('x-request-id'));
    assert.equal(ids.size, 5, 'generated ids are unique');
    for (const insane of ['x'.repeat(65), 'quote"d', '<script>alert(1)</script>'])
      {
        const x = await s.api('GET', '/healthz', { headers: { 'x-request-id': insane } });
        const got = x.headers.get('x-request-id');
        assert.ok(got && got !== insane, `insane X-Request-ID ${JSON.stringify(insane)} echoed`);
      }
  });

  s.test('authentication: none, malformed or unknown → 401 + WWW-Authenticate: Bearer, all alike', async () => {
    const unknown = [];
    for (const headers of [{}, { authorization: 'Bearer' }, { authorization: 'Basic dXNlcjpwYXNz' },
                           { authorization: `bearer-ish ${s.token}` },
                           { authorization: `Bearer ${s.token}x` }, { authorization: 'Bearer bwk_' + 'A'.repeat(43) },
                           { authorization: 'Bearer not-even-close' }])
      {
        const r = await s.api('GET', '/api/v1/orgs', { headers });
        assertProblem(r, 401, 'authentication_required');
        assert.match(r.headers.get('www-authenticate'), /^Bearer\b/);
        if (/^Bearer ./.test(headers.authorization ?? ''))
          unknown.push({ ...r.json, request_id: undefined });
      }
    assert.equal(unknown.length, 3);
    for (const a of unknown)
      assert.deepEqual(a, unknown[0], 'every unknown token gets the same body');
    const ok = await s.api('GET', '/api/v1/orgs', { headers: { authorization: `bearer ${s.token}` } });
    assert.equal(ok.status, 200, 'the auth scheme is case-insensitive (RFC 9110 §11.1)');
    assert.ok(ok.json.items.length > 0, 'the platform admin sees the orgs');
    const slug = uniqueSlug();
    const noAuthCreate = await s.api('POST', '/api/v1/orgs', { body: { slug, name: 'x' } });
    assertProblem(noAuthCreate, 401, 'authentication_required');
    assert.match(noAuthCreate.headers.get('www-authenticate'), /^Bearer\b/);
    assertProblem(await s.api('GET', `/api/v1/orgs/${slug}`, { token: s.token }), 404, 'not_found');
  });
});
