// The audit log: one record per mutation (actor, action, target, digests,
// request id, source address), recomputed here from the contract's hash
// chain definition; filters, pagination, verification and tamper detection,
// and who may read it.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, canonicalJson, digest, sha256hex, uniqueSlug, useServer, walkPages } from './harness.mjs';

const ZERO_HASH = '0'.repeat(64);

/** hash = SHA-256(prev_hash + "\n" + canonical JSON of the record without "hash"). */
function recordHash (rec)
{
  const { hash: _h, ...rest } = rec;
  return sha256hex(rec.prev_hash + '\n' + canonicalJson(rest));
}

describe('audit', () => {
  const s = useServer('audit');
  const P = () => s.token;

  let A, owner, auditor, viewer;
  const expected = [];   // [{action, actor, target, request_id, before, after}] oldest first
  const expect = (r, e) => expected.push({ ...e, request_id: r.headers.get('x-request-id') });

  const audit = (org, query = '', token = P()) => s.api('GET', `/api/v1/orgs/${org.id}/audit${query}`, { token });

  s.test('setup: a series of mutations in org A (and noise in org B)', async () => {
    let r = await s.api('POST', '/api/v1/orgs', { token: P(), body: { slug: uniqueSlug('audited'), name: 'Audited' },
                                                  headers: { 'x-request-id': 'audit-create-1' } });
    assert.equal(r.status, 201, r.text);
    A = r.json;
    assert.equal(r.headers.get('x-request-id'), 'audit-create-1');
    expect(r, { action: 'org.create', actor: 'platform-admin', target: { type: 'org', id: A.id }, before: null, after: A });

    r = await s.api('PATCH', `/api/v1/orgs/${A.id}`, { token: P(), body: { name: 'Audited, renamed' } });
    assert.equal(r.status, 200, r.text);
    expect(r, { action: 'org.update', actor: 'platform-admin', target: { type: 'org', id: A.id }, before: A, after: r.json });
    A = r.json;

    r = await s.api('POST', `/api/v1/orgs/${A.id}/tokens`, { token: P(), body: { name: 'owner', role: 'owner' } });
    assert.equal(r.status, 201, r.text);
    owner = r.json;
    const { secret: _o, ...ownerObj } = owner;
    expect(r, { action: 'token.create', actor: 'platform-admin', target: { type: 'token', id: owner.id },
                before: null, after: ownerObj });

    r = await s.api('POST', `/api/v1/orgs/${A.id}/tokens`, { token: owner.secret, body: { name: 'temp', role: 'auditor' } });
    assert.equal(r.status, 201, r.text);
    const temp = r.json;
    const { secret: _t, ...tempObj } = temp;
    expect(r, { action: 'token.create', actor: `token:${owner.id}`, target: { type: 'token', id: temp.id },
                before: null, after: tempObj });

    r = await s.api('DELETE', `/api/v1/orgs/${A.id}/tokens/${temp.id}`, { token: owner.secret });
    assert.equal(r.status, 204);
    expect(r, { action: 'token.revoke', actor: `token:${owner.id}`, target: { type: 'token', id: temp.id },
                before: tempObj, after: undefined });

    for (const role of ['auditor', 'viewer'])
      {
        r = await s.api('POST', `/api/v1/orgs/${A.id}/tokens`, { token: P(), body: { name: role, role } });
        assert.equal(r.status, 201, r.text);
        const { secret: _x, ...obj } = r.json;
        expect(r, { action: 'token.create', actor: 'platform-admin', target: { type: 'token', id: r.json.id },
                    before: null, after: obj });
        if (role === 'auditor')
          auditor = r.json;
        else
          viewer = r.json;
      }

    // Failed mutations leave no record.
    const B = await s.newOrg('noise');
    assertProblem(await s.api('PATCH', `/api/v1/orgs/${A.id}`, { token: P(), body: { slug: B.slug } }), 409, 'conflict');
    assertProblem(await s.api('PATCH', `/api/v1/orgs/${A.id}`, { token: P(), body: { name: 'x' }, headers: { 'if-match': '"99"' } }),
                  412, 'precondition_failed');
    assertProblem(await s.api('POST', `/api/v1/orgs/${A.id}/tokens`, { token: P(), body: { name: 'x', role: 'root' } }),
                  400, 'validation_failed');
    assertProblem(await s.api('PATCH', `/api/v1/orgs/${A.id}`, { token: viewer.secret, body: { name: 'x' } }), 403, 'permission_denied');
    const noise = await s.api('PATCH', `/api/v1/orgs/${B.id}`, { token: P(), body: { name: 'Noise 2' } });
    assert.equal(noise.status, 200);
    assert.equal(noise.json.name, 'Noise 2');
    const bLog = await audit(B);
    assert.deepEqual(bLog.json.items.map((x) => [x.seq, x.action]), [[2, 'org.update'], [1, 'org.create']],
                     'each org has its own chain from seq 1');
  });

  s.test('every mutation has one record: actor, action, target, request_id, digests, newest first', async () => {
    const r = await audit(A);
    assert.equal(r.status, 200);
    assert.equal(r.json.next_cursor, null);
    const items = r.json.items;
    assert.deepEqual(items.map((x) => x.seq), expected.map((_, i) => expected.length - i), 'seq 1.. newest first');
    const oldestFirst = [...items].reverse();
    oldestFirst.forEach((rec, i) => {
      const e = expected[i];
      const where = `seq ${rec.seq} (${e.action})`;
      assert.equal(rec.action, e.action, where);
      assert.equal(rec.actor, e.actor, where);
      assert.deepEqual(rec.target, e.target, where);
      assert.equal(rec.request_id, e.request_id, `${where}: request_id = the response's X-Request-ID`);
      assert.equal(rec.source_addr, '127.0.0.1', where);
      assert.ok(Math.abs(Date.parse(rec.time) - Date.now()) < 120000, `${where}: time ${rec.time}`);
      if (e.before === null)
        assert.equal(rec.before_sha256, null, `${where}: before_sha256 null on create`);
      else
        assert.equal(rec.before_sha256, digest(e.before), `${where}: before_sha256 = digest of the object before`);
      if (e.after !== undefined)
        assert.equal(rec.after_sha256, digest(e.after), `${where}: after_sha256 = digest of the answered object`);
    });
    assert.equal(oldestFirst[0].request_id, 'audit-create-1');
    assert.equal(oldestFirst[1].before_sha256, oldestFirst[0].after_sha256, 'update: before = previous after');
    assert.notEqual(oldestFirst[4].after_sha256, null, 'a revoke changes the token: it has an after state');
    for (let i = 1; i < oldestFirst.length; i++)
      assert.ok(oldestFirst[i].time >= oldestFirst[i - 1].time, 'time follows seq');
    assert.equal(new Set(items.map((x) => x.id)).size, items.length, 'record ids are unique');
  });

  s.test('the hash chain is what the contract says (recomputed here)', async () => {
    const items = [...(await audit(A)).json.items].reverse();
    let prev = ZERO_HASH;
    for (const rec of items)
      {
        assert.equal(rec.prev_hash, prev, `seq ${rec.seq}: prev_hash`);
        assert.equal(rec.hash, recordHash(rec), `seq ${rec.seq}: hash = SHA-256(prev_hash "\\n" canonical record)`);
        prev = rec.hash;
      }
  });

  s.test('verify: ok, record count and head', async () => {
    const items = (await audit(A)).json.items;
    const v = await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: P() });
    assert.equal(v.status, 200);
    assert.deepEqual(v.json, { ok: true, records: items.length, head: items[0].hash });
    const bySlug = await s.api('GET', `/api/v1/orgs/${A.slug}/audit/verify`, { token: P() });
    assert.deepEqual(bySlug.json, v.json);
  });

  s.test('filters: actor, action, since (inclusive), until (exclusive)', async () => {
    const all = (await audit(A)).json.items;
    const seqs = (r) => r.json.items.map((x) => x.seq);
    const want = (pred) => all.filter(pred).map((x) => x.seq);
    const q = (params) => audit(A, '?' + new URLSearchParams(params));

    assert.deepEqual(seqs(await q({ actor: 'platform-admin' })), want((x) => x.actor === 'platform-admin'));
    assert.deepEqual(seqs(await q({ actor: `token:${owner.id}` })), want((x) => x.actor === `token:${owner.id}`));
    assert.equal(want((x) => x.actor === `token:${owner.id}`).length, 2);
    assert.deepEqual(seqs(await q({ action: 'token.create' })), want((x) => x.action === 'token.create'));
    assert.deepEqual(seqs(await q({ action: 'org.update' })), want((x) => x.action === 'org.update'));
    assert.deepEqual(seqs(await q({ action: 'token.create', actor: 'platform-admin' })),
                     want((x) => x.action === 'token.create' && x.actor === 'platform-admin'));
    assert.deepEqual(seqs(await q({ action: 'no.such' })), []);
    assert.deepEqual(seqs(await q({ actor: 'token:00000000-0000-4000-8000-000000000000' })), []);

    const pivot = all.find((x) => x.seq === 3);
    assert.deepEqual(seqs(await q({ since: pivot.time })), want((x) => x.seq >= 3), 'since is inclusive');
    assert.deepEqual(seqs(await q({ until: pivot.time })), want((x) => x.seq < 3), 'until is exclusive');
    assert.deepEqual(seqs(await q({ since: all.at(-1).time, until: pivot.time })), want((x) => x.seq < 3));
    assert.deepEqual(seqs(await q({ since: pivot.time, until: pivot.time })), []);
    const offset = pivot.time.replace('Z', '+00:00');
    assert.deepEqual(seqs(await q({ since: offset })), want((x) => x.seq >= 3), 'RFC 3339 numeric offsets work');
    assert.deepEqual(seqs(await q({ since: '2000-01-01T00:00:00Z', until: '2100-01-01T00:00:00Z' })), want(() => true));

    for (const [params, name] of [[{ since: 'yesterday' }, 'since'], [{ until: '2026-13-01T00:00:00Z' }, 'until'],
                                  [{ since: '2026-01-01' }, 'since'], [{ limit: '0' }, 'limit'],
                                  [{ cursor: '!!' }, 'cursor']])
      {
        const r = await q(params);
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(r.json.errors.map((e) => e.parameter), [name], `${JSON.stringify(params)}: ${r.text}`);
      }
  });

  s.test('pagination: limit=1 walks every record once, newest first; filters hold across pages', async () => {
    const all = (await audit(A)).json.items;
    const { items } = await walkPages(s.api, `/api/v1/orgs/${A.id}/audit`, { token: P(), limit: 1 });
    assert.deepEqual(items.map((x) => x.seq), all.map((x) => x.seq));
    assert.deepEqual(items, all);
    const two = await walkPages(s.api, `/api/v1/orgs/${A.id}/audit?action=token.create`, { token: P(), limit: 2 });
    assert.deepEqual(two.items.map((x) => x.seq), all.filter((x) => x.action === 'token.create').map((x) => x.seq));
  });

  s.test('who may read: owner, auditor and platform yes; viewer 403; another org\'s token 404', async () => {
    const all = (await audit(A)).json.items;
    for (const t of [P(), owner.secret, auditor.secret])
      {
        const r = await audit(A, '', t);
        assert.equal(r.status, 200);
        assert.deepEqual(r.json.items.map((x) => x.seq), all.map((x) => x.seq), 'every reader sees the whole log');
        assert.equal((await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: t })).json.ok, true);
      }
    assertProblem(await audit(A, '', viewer.secret), 403, 'permission_denied');
    assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: viewer.secret }), 403, 'permission_denied');
    const B = await s.newOrg('other');
    const bAuditor = await s.mint(B, 'auditor', { name: 'a' });
    assertProblem(await audit(A, '', bAuditor.secret), 404, 'not_found');
    assertProblem(await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: bAuditor.secret }), 404, 'not_found');
  });

  s.test('deleting an org appends org.delete to its chain', async () => {
    const D = await s.newOrg('doomed');
    const d = await s.api('DELETE', `/api/v1/orgs/${D.id}`, { token: P() });
    assert.equal(d.status, 204);
    assert.equal(d.text, '');
    const rows = (await s.psql(`SELECT seq, action, actor, target_type, target_id, before_sha256, coalesce(after_sha256, 'NULL'), request_id
                                FROM audit_log WHERE org_id = '${D.id}' ORDER BY seq`)).split('\n').map((l) => l.split('|'));
    assert.equal(rows.length, 2, rows.join('\n'));
    assert.deepEqual(rows[1].slice(0, 5), ['2', 'org.delete', 'platform-admin', 'org', D.id]);
    assert.equal(rows[1][5], digest(D), 'before_sha256 of a delete = digest of the org');
    assert.equal(rows[1][6], 'NULL', 'after_sha256 null on delete');
    assert.equal(rows[1][7], d.headers.get('x-request-id'));
  });

  s.test('concurrent mutations of one org keep one gapless chain', async () => {
    const C = await s.newOrg('busy');
    const rs = await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => s.api('PATCH', `/api/v1/orgs/${C.id}`, { token: P(), body: { name: `Busy ${i}` } })),
      ...Array.from({ length: 6 }, (_, i) => s.api('POST', `/api/v1/orgs/${C.id}/tokens`, { token: P(), body: { name: `t${i}`, role: 'viewer' } })),
    ]);
    assert.deepEqual(rs.map((r) => r.status), [...Array(6).fill(200), ...Array(6).fill(201)]);
    const items = (await audit(C)).json.items;
    assert.deepEqual(items.map((x) => x.seq), Array.from({ length: 13 }, (_, i) => 13 - i));
    assert.deepEqual(new Set(items.map((x) => x.request_id)),
                     new Set([...rs.map((r) => r.headers.get('x-request-id')), items.at(-1).request_id]));
    const v = await s.api('GET', `/api/v1/orgs/${C.id}/audit/verify`, { token: P() });
    assert.deepEqual(v.json, { ok: true, records: 13, head: items[0].hash });
    const etag = (await s.api('GET', `/api/v1/orgs/${C.id}`, { token: P() })).headers.get('etag');
    assert.equal(etag, '"7"', 'six updates: version 7');
  });

  s.test('tamper detection: a changed row breaks verify at its seq', async () => {
    let r = await s.api('POST', '/api/v1/orgs', { token: P(), body: { slug: uniqueSlug('tamper'), name: 'T0' } });
    const T = r.json;
    assert.equal(r.status, 201, r.text);
    for (const name of ['T1', 'T2', 'T3'])
      assert.equal((await s.api('PATCH', `/api/v1/orgs/${T.id}`, { token: P(), body: { name } })).status, 200);
    r = await s.api('GET', `/api/v1/orgs/${T.id}/audit/verify`, { token: P() });
    assert.equal(r.json.ok, true);
    assert.equal(r.json.records, 4);
    assert.equal(r.json.head, (await audit(T, '?limit=1')).json.items[0].hash, 'head = the newest record\'s hash');

    await s.psql(`UPDATE audit_log SET action = 'org.create' WHERE org_id = '${T.id}' AND seq = 3`);
    r = await s.api('GET', `/api/v1/orgs/${T.id}/audit/verify`, { token: P() });
    assert.equal(r.status, 200);
    assert.equal(r.json.ok, false, r.text);
    assert.equal(r.json.first_bad_seq, 3, r.text);
    assert.equal(r.json.reason, 'hash mismatch', r.text);
    assert.equal(r.json.head, undefined);
    assert.deepEqual(Object.keys(r.json).sort(), ['first_bad_seq', 'ok', 'reason', 'records'], r.text);

    const listed = (await audit(T)).json.items.find((x) => x.seq === 3);
    assert.equal(listed.action, 'org.create', 'the list shows what is stored');
    assert.notEqual(recordHash(listed), listed.hash, 'and the recomputed hash disagrees');

    const a = await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: P() });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.ok, true, 'other orgs\' chains are unaffected');
  });

  s.test('tamper detection: a deleted row is a sequence gap; a rewritten chain link a prev_hash mismatch', async () => {
    const mk = async (prefix) => {
      const o = (await s.api('POST', '/api/v1/orgs', { token: P(), body: { slug: uniqueSlug(prefix), name: 'G0' } })).json;
      for (const name of ['G1', 'G2'])
        assert.equal((await s.api('PATCH', `/api/v1/orgs/${o.id}`, { token: P(), body: { name } })).status, 200);
      return o;
    };
    const G = await mk('gap');
    await s.psql(`DELETE FROM audit_log WHERE org_id = '${G.id}' AND seq = 2`);
    let r = await s.api('GET', `/api/v1/orgs/${G.id}/audit/verify`, { token: P() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, false, r.text);
    assert.equal(r.json.reason, 'sequence gap', r.text);
    assert.ok([2, 3].includes(r.json.first_bad_seq), r.text);

    // Replace record 2 by a self-consistent record whose prev_hash is wrong:
    // its own hash verifies, the link to record 1 does not.
    const H = await mk('link');
    const rec = (await audit(H)).json.items.find((x) => x.seq === 2);
    const forged = { ...rec, prev_hash: 'f'.repeat(64) };
    forged.hash = recordHash(forged);
    await s.psql(`UPDATE audit_log SET prev_hash = '${forged.prev_hash}', hash = '${forged.hash}'
                  WHERE org_id = '${H.id}' AND seq = 2`);
    r = await s.api('GET', `/api/v1/orgs/${H.id}/audit/verify`, { token: P() });
    assert.equal(r.json.ok, false, r.text);
    assert.equal(r.json.first_bad_seq, 2, r.text);
    assert.equal(r.json.reason, 'prev_hash mismatch', r.text);
  });
});
