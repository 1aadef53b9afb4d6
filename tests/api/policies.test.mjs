// Policies: create/get/list, PUT with If-Match (428/412/200), revisions,
// diff (an exact RFC 6902 patch that applies back), rollback, delete,
// limits (101st policy, 251 rules, > 400 KB), validation pointers,
// cross-org isolation, roles, an audit record and exactly one policy
// version bump per change (and none for refused changes).

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, digest, errorPointers as pointers, isUuid, useServer, walkPages } from './harness.mjs';

/** A valid org-wide policy document named @name, with @extra merged in. */
function policyDoc (name = 'Baseline', extra = {})
{
  return {
    schema: 'bulwark.policy/v1',
    name,
    mode: 'enforce',
    scope: { org_wide: true },
    network: [
      { id: 'npm', decision: 'allow', hosts: ['registry.npmjs.org'], ports: [443] },
      { id: 'metadata', decision: 'deny', cidrs: ['169.254.0.0/16'] },
    ],
    ...extra,
  };
}

/** Apply an RFC 6902 patch of add/remove/replace to a copy of @doc (for checking diffs). */
function applyPatch (doc, patch)
{
  let out = structuredClone(doc);
  const unescape = (t) => t.replace(/~1/g, '/').replace(/~0/g, '~');
  for (const op of patch)
    {
      if (op.path === '')
        {
          assert.equal(op.op, 'replace');
          out = structuredClone(op.value);
          continue;
        }
      const tokens = op.path.split('/').slice(1).map(unescape);
      const last = tokens.pop();
      let parent = out;
      for (const t of tokens)
        parent = parent[Array.isArray(parent) ? Number(t) : t];
      if (Array.isArray(parent))
        {
          const i = last === '-' ? parent.length : Number(last);
          if (op.op === 'add')
            parent.splice(i, 0, structuredClone(op.value));
          else if (op.op === 'remove')
            parent.splice(i, 1);
          else
            parent[i] = structuredClone(op.value);
        }
      else if (op.op === 'remove')
        delete parent[last];
      else
        parent[last] = structuredClone(op.value);
    }
  return out;
}

describe('policies', () => {
  const s = useServer('policies');
  const P = () => s.token;
  const newOrg = s.newOrg;
  const mint = async (org, role) => (await s.mint(org, role)).secret;
  const version = s.policyVersion;
  const auditCount = s.auditCount;
  const lastAudit = async (org) => {
    const r = await s.api('GET', `/api/v1/orgs/${org.id}/audit?limit=1`, { token: P() });
    assert.equal(r.status, 200, r.text);
    return r.json.items[0];
  };
  /** Run @fn (a change) and check it bumped the policy version exactly once and wrote one audit record. */
  const oneChange = async (org, fn) => {
    const v0 = await version(org);
    const a0 = await auditCount(org);
    const r = await fn();
    assert.equal(await version(org), v0 + 1, 'a change bumps the policy version exactly once');
    assert.equal(await auditCount(org), a0 + 1, 'a change writes one audit record');
    return r;
  };
  /** Run @fn (a refused change) and check it changed neither the version nor the audit log. */
  const noChange = async (org, fn) => {
    const v0 = await version(org);
    const a0 = await auditCount(org);
    const r = await fn();
    assert.equal(await version(org), v0, 'a refused change leaves the policy version');
    assert.equal(await auditCount(org), a0, 'a refused change writes no audit record');
    return r;
  };
  const base = (org) => `/api/v1/orgs/${org.id}/policies`;

  let A, B, ownerA, adminA, viewerA, ownerB;
  let pol;          // the policy the revision tests work on, as last answered
  let rev1, rev2;   // its documents at revisions 1 and 2

  s.test('setup: orgs A and B with tokens', async () => {
    A = await newOrg('pola');
    B = await newOrg('polb');
    ownerA = await mint(A, 'owner');
    adminA = await mint(A, 'policy_admin');
    viewerA = await mint(A, 'viewer');
    ownerB = await mint(B, 'owner');
    assert.equal(await version(A), 0, 'a new org starts at policy version 0');
  });

  s.test('create: 201 with ETag "1", Location, the document, author and comment; audited', async () => {
    rev1 = policyDoc('Baseline');
    const r = await oneChange(A, () => s.api('POST', base(A), { token: adminA, body: { document: rev1, comment: 'first cut' } }));
    assert.equal(r.status, 201, r.text);
    pol = r.json;
    assert.ok(isUuid(pol.id));
    assert.equal(pol.name, 'Baseline');
    assert.equal(pol.revision, 1);
    assert.equal(pol.mode, 'enforce');
    assert.equal(pol.rule_count, 2);
    assert.equal(pol.comment, 'first cut');
    assert.match(pol.author, /^token:/);
    assert.deepEqual(pol.document, rev1);
    assert.equal(pol.created_at, pol.updated_at);
    assert.equal(r.headers.get('etag'), '"1"');
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${A.id}/policies/${pol.id}`);
    const g = await s.api('GET', r.headers.get('location'), { token: viewerA });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.headers.get('etag'), '"1"');
    assert.deepEqual(g.json, pol);
    const a = await lastAudit(A);
    assert.equal(a.action, 'policy.create');
    assert.deepEqual(a.target, { type: 'policy', id: pol.id });
    assert.equal(a.before_sha256, null);
    assert.equal(a.after_sha256, digest(pol.document));
    // a comment may be absent (null)
    const r2 = await s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('Second') } });
    assert.equal(r2.status, 201, r2.text);
    assert.equal(r2.json.comment, null);
  });

  s.test('list: oldest first, summaries without documents, paginated', async () => {
    const r = await s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('Third', { mode: 'audit' }) } });
    assert.equal(r.status, 201, r.text);
    const { items, pages } = await walkPages(s.api, base(A), { token: viewerA, limit: 1 });
    assert.equal(pages, 3);
    assert.deepEqual(items.map((p) => p.name), ['Baseline', 'Second', 'Third']);
    assert.equal(items[2].mode, 'audit');
    const { document: _d, ...summary } = pol;
    assert.deepEqual(items[0], summary);
    const bad = await s.api('GET', `${base(A)}?cursor=zz`, { token: viewerA });
    assertProblem(bad, 400, 'validation_failed');
    assert.deepEqual(pointers(bad), ['cursor']);
  });

  s.test('PUT needs If-Match: 428 without, 412 when stale, 200 with the current ETag', async () => {
    rev2 = policyDoc('Baseline v2', {
      mode: 'audit',
      network: [{ id: 'npm', decision: 'allow', hosts: ['**.npmjs.org'], ports: [443] }],
      filesystem: [{ id: 'ssh', decision: 'deny', access: ['read', 'write'], paths: ['~/.ssh/**'] }],
    });
    const url = `${base(A)}/${pol.id}`;
    const body = { document: rev2, comment: 'tighten' };
    assertProblem(await noChange(A, () => s.api('PUT', url, { token: adminA, body })), 428, 'precondition_required');
    // "*" matches any revision, so it would defeat the precondition: refused like a missing header.
    assertProblem(await noChange(A, () => s.api('PUT', url, { token: adminA, body, headers: { 'If-Match': '*' } })),
                  428, 'precondition_required');
    for (const stale of ['"2"', 'W/"1"', '"1', 'garbage'])
      assertProblem(await noChange(A, () => s.api('PUT', url, { token: adminA, body, headers: { 'If-Match': stale } })),
                    412, 'precondition_failed');
    const before = (await s.api('GET', url, { token: adminA })).json;
    const r = await oneChange(A, () => s.api('PUT', url, { token: adminA, body, headers: { 'If-Match': '"1"' } }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('etag'), '"2"');
    assert.equal(r.json.revision, 2);
    assert.equal(r.json.name, 'Baseline v2');
    assert.equal(r.json.mode, 'audit');
    assert.equal(r.json.rule_count, 2);
    assert.equal(r.json.comment, 'tighten');
    assert.equal(r.json.created_at, pol.created_at);
    assert.ok(r.json.updated_at > pol.updated_at);
    assert.deepEqual(r.json.document, rev2);
    const a = await lastAudit(A);
    assert.equal(a.action, 'policy.update');
    assert.equal(a.before_sha256, digest(before.document));
    assert.equal(a.after_sha256, digest(r.json.document));
    // the old ETag is stale now
    assertProblem(await s.api('PUT', url, { token: adminA, body, headers: { 'If-Match': '"1"' } }), 412, 'precondition_failed');
    pol = r.json;
  });

  s.test('revisions: newest first with author and comment; each revision keeps its document', async () => {
    const url = `${base(A)}/${pol.id}/revisions`;
    const r = await s.api('GET', url, { token: viewerA });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.items.map((x) => [x.revision, x.comment]), [[2, 'tighten'], [1, 'first cut']]);
    assert.ok(r.json.items.every((x) => x.author.startsWith('token:') && !('document' in x)));
    const { items } = await walkPages(s.api, url, { token: viewerA, limit: 1 });
    assert.deepEqual(items.map((x) => x.revision), [2, 1]);
    const one = await s.api('GET', `${url}/1`, { token: viewerA });
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.policy_id, pol.id);
    assert.equal(one.json.revision, 1);
    assert.equal(one.json.comment, 'first cut');
    assert.deepEqual(one.json.document, rev1);
    for (const bad of ['3', '0', '-1', 'abc', '01', '99999999999'])
      assertProblem(await s.api('GET', `${url}/${bad}`, { token: viewerA }), 404, 'not_found');
  });

  s.test('diff: the exact JSON Patch between two revisions, which applies back', async () => {
    const url = `${base(A)}/${pol.id}/diff`;
    const r = await s.api('GET', `${url}?from=1&to=2`, { token: viewerA });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, [
      { op: 'replace', path: '/mode', value: 'audit' },
      { op: 'replace', path: '/name', value: 'Baseline v2' },
      { op: 'replace', path: '/network/0/hosts/0', value: '**.npmjs.org' },
      { op: 'remove', path: '/network/1' },
      { op: 'add', path: '/filesystem', value: rev2.filesystem },
    ]);
    assert.deepEqual(applyPatch(rev1, r.json), rev2);
    const back = await s.api('GET', `${url}?from=2&to=1`, { token: viewerA });
    assert.equal(back.status, 200, back.text);
    assert.deepEqual(applyPatch(rev2, back.json), rev1);
    const same = await s.api('GET', `${url}?from=2&to=2`, { token: viewerA });
    assert.deepEqual(same.json, []);
    const missing = await s.api('GET', url, { token: viewerA });
    assertProblem(missing, 400, 'validation_failed');
    assert.deepEqual(pointers(missing), ['from', 'to']);
    const junk = await s.api('GET', `${url}?from=x&to=0`, { token: viewerA });
    assertProblem(junk, 400, 'validation_failed');
    assert.deepEqual(pointers(junk), ['from', 'to']);
    const unknown = await s.api('GET', `${url}?from=1&to=9`, { token: viewerA });
    assertProblem(unknown, 400, 'validation_failed');
    assert.deepEqual(pointers(unknown), ['to']);
    assertProblem(await s.api('GET', `${base(A)}/${B.id}/diff?from=1&to=2`, { token: viewerA }), 404, 'not_found');
  });

  s.test('rollback: If-Match required; publishes the old content as a new revision', async () => {
    const url = `${base(A)}/${pol.id}/rollback`;
    assertProblem(await noChange(A, () => s.api('POST', url, { token: adminA, body: { revision: 1 } })), 428, 'precondition_required');
    assertProblem(await noChange(A, () => s.api('POST', url, { token: adminA, body: { revision: 1 }, headers: { 'If-Match': '"1"' } })),
                  412, 'precondition_failed');
    const nope = await noChange(A, () => s.api('POST', url, { token: adminA, body: { revision: 7 }, headers: { 'If-Match': '"2"' } }));
    assertProblem(nope, 400, 'validation_failed');
    assert.deepEqual(pointers(nope), ['/revision']);
    const bad = await s.api('POST', url, { token: adminA, body: { revision: 0, extra: 1 }, headers: { 'If-Match': '"2"' } });
    assertProblem(bad, 400, 'validation_failed');
    assert.deepEqual(pointers(bad), ['/extra']);
    const r = await oneChange(A, () => s.api('POST', url, { token: adminA, body: { revision: 1 }, headers: { 'If-Match': '"2"' } }));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('etag'), '"3"');
    assert.equal(r.json.revision, 3);
    assert.equal(r.json.name, 'Baseline');
    assert.equal(r.json.mode, 'enforce');
    assert.equal(r.json.comment, 'rollback to revision 1');
    assert.deepEqual(r.json.document, rev1);
    const a = await lastAudit(A);
    assert.equal(a.action, 'policy.rollback');
    assert.equal(a.before_sha256, digest(pol.document));
    assert.equal(a.after_sha256, digest(r.json.document));
    const revs = await s.api('GET', `${base(A)}/${pol.id}/revisions`, { token: viewerA });
    assert.deepEqual(revs.json.items.map((x) => x.revision), [3, 2, 1]);
    const d = await s.api('GET', `${base(A)}/${pol.id}/diff?from=1&to=3`, { token: viewerA });
    assert.deepEqual(d.json, []);
    // with a comment of one's own, rolling forward again
    const fwd = await oneChange(A, () => s.api('POST', url, { token: ownerA, body: { revision: 2, comment: 'again' }, headers: { 'If-Match': '"3"' } }));
    assert.equal(fwd.status, 200, fwd.text);
    assert.equal(fwd.json.revision, 4);
    assert.equal(fwd.json.comment, 'again');
    assert.deepEqual(fwd.json.document, rev2);
    pol = fwd.json;
  });

  s.test('revisions are immutable in the database', async () => {
    await assert.rejects(s.psql(`UPDATE policy_revisions SET comment = 'x' WHERE policy_id = '${pol.id}'`), /immutable/);
    await assert.rejects(s.psql(`DELETE FROM policy_revisions WHERE policy_id = '${pol.id}'`), /immutable/);
  });

  s.test('validation: every error named by its pointer under /document', async () => {
    const doc = policyDoc('x', { bogus: 1, network: [{ id: 'n', decision: 'maybe', hosts: ['user@evil.com'] }] });
    delete doc.mode;
    const r = await noChange(A, () => s.api('POST', base(A), { token: ownerA, body: { document: doc, comment: 7, extra: true } }));
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(pointers(r), ['/comment', '/extra']);
    const r2 = await noChange(A, () => s.api('POST', base(A), { token: ownerA, body: { document: doc } }));
    assertProblem(r2, 400, 'validation_failed');
    const p = pointers(r2);
    for (const want of ['/document/bogus', '/document/mode', '/document/network/0/decision', '/document/network/0/hosts/0'])
      assert.ok(p.includes(want), `${want} missing from ${JSON.stringify(p)}`);
    assert.ok(p.every((x) => x.startsWith('/document/')), JSON.stringify(p));
    for (const body of [{}, { document: [] }, { document: 'x' }, { document: null }])
      {
        const x = await s.api('POST', base(A), { token: ownerA, body });
        assertProblem(x, 400, 'validation_failed');
        assert.deepEqual(pointers(x), ['/document']);
      }
    const long = await noChange(A, () => s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('y'), comment: 'c'.repeat(1001) } }));
    assertProblem(long, 400, 'validation_failed');
    assert.deepEqual(pointers(long), ['/comment']);
    // text the database could not store (a NUL) never gets as far as a 500
    const nul = await noChange(A, () => s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('bad\u0000name') } }));
    assert.equal(nul.status, 400, nul.text);
    assertProblem(nul, 400, 'malformed_json'); // jansson refuses \u0000, as for the directory
    // PUT validates the same way (and finds the policy only after that)
    const u = await s.api('PUT', `${base(A)}/${pol.id}`, { token: ownerA, body: { document: doc }, headers: { 'If-Match': '"4"' } });
    assertProblem(u, 400, 'validation_failed');
    assert.ok(pointers(u).includes('/document/mode'));
  });

  s.test('limits: 251 rules and more than 400 KB are refused', async () => {
    const rules = Array.from({ length: 251 }, (_, i) => ({ id: `r${i}`, decision: 'allow', hosts: [`h${i}.example.com`] }));
    const many = await noChange(A, () => s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('many', { network: rules }) } }));
    assertProblem(many, 400, 'validation_failed');
    assert.deepEqual(pointers(many), ['/document']);
    assert.match(many.json.errors[0].message, /250/);
    const ok = await s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('250 rules', { network: rules.slice(0, 250) }) } });
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json.rule_count, 250);
    const big = policyDoc('big', { description: 'd', network: [{ id: 'n', decision: 'allow', hosts: Array.from({ length: 256 }, (_, i) => `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.h${i}.example.com`) }] });
    // one rule of 256 long hosts is about 50 KB; eight of them pass 400 KB
    big.network = Array.from({ length: 8 }, (_, k) => ({ ...big.network[0], id: `n${k}` }));
    assert.ok(JSON.stringify(big).length > 400 * 1024 && JSON.stringify(big).length < 1024 * 1024);
    const huge = await noChange(A, () => s.api('POST', base(A), { token: ownerA, body: { document: big } }));
    assertProblem(huge, 400, 'validation_failed');
    assert.deepEqual(pointers(huge), ['/document']);
    assert.match(huge.json.errors[0].message, /409600 bytes/);
  });

  s.test('limits: the 101st policy of an org is 409 limit_exceeded; deleting one makes room', async () => {
    const C = await newOrg('polc');
    const ids = [];
    for (let i = 0; i < 100; i++)
      {
        const r = await s.api('POST', base(C), { token: P(), body: { document: policyDoc(`p${i}`) } });
        assert.equal(r.status, 201, r.text);
        ids.push(r.json.id);
      }
    const over = await noChange(C, () => s.api('POST', base(C), { token: P(), body: { document: policyDoc('p100') } }));
    assertProblem(over, 409, 'limit_exceeded');
    assert.match(over.json.detail, /100/);
    assert.equal((await s.api('DELETE', `${base(C)}/${ids[0]}`, { token: P() })).status, 204);
    const again = await s.api('POST', base(C), { token: P(), body: { document: policyDoc('p100') } });
    assert.equal(again.status, 201, again.text);
  });

  s.test('scope: groups and users must belong to this org', async () => {
    const g = await s.api('POST', `/api/v1/orgs/${B.id}/groups`, { token: ownerB, body: { display_name: 'B team' } });
    assert.equal(g.status, 201, g.text);
    const u = await s.api('POST', `/api/v1/orgs/${B.id}/users`, { token: ownerB, body: { user_name: 'bob@b.example' } });
    assert.equal(u.status, 201, u.text);
    const mine = await s.api('POST', `/api/v1/orgs/${A.id}/groups`, { token: ownerA, body: { display_name: 'A team' } });
    assert.equal(mine.status, 201, mine.text);
    const scope = { org_wide: false, groups: [mine.json.id, g.json.id, '00000000-0000-4000-8000-000000000000'], users: [u.json.id] };
    const r = await noChange(A, () => s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('scoped', { scope }) } }));
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(pointers(r), ['/document/scope/groups/1', '/document/scope/groups/2', '/document/scope/users/0']);
    const ok = await s.api('POST', base(A), { token: ownerA, body: { document: policyDoc('scoped', { scope: { org_wide: false, groups: [mine.json.id] } }) } });
    assert.equal(ok.status, 201, ok.text);
    // and on update
    const up = await s.api('PUT', `${base(A)}/${ok.json.id}`, { token: ownerA, headers: { 'If-Match': '"1"' },
                                                                  body: { document: policyDoc('scoped', { scope: { org_wide: false, users: [u.json.id] } }) } });
    assertProblem(up, 400, 'validation_failed');
    assert.deepEqual(pointers(up), ['/document/scope/users/0']);
    // and on rollback: a revision whose group was deleted since is not republished
    const wide = await s.api('PUT', `${base(A)}/${ok.json.id}`, { token: ownerA, headers: { 'If-Match': '"1"' },
                                                                    body: { document: policyDoc('scoped', { scope: { org_wide: true } }) } });
    assert.equal(wide.status, 200, wide.text);
    const gone = await s.api('DELETE', `/api/v1/orgs/${A.id}/groups/${mine.json.id}`, { token: ownerA });
    assert.equal(gone.status, 204, gone.text);
    const back = await noChange(A, () => s.api('POST', `${base(A)}/${ok.json.id}/rollback`,
                                                { token: ownerA, headers: { 'If-Match': '"2"' }, body: { revision: 1 } }));
    assertProblem(back, 400, 'validation_failed');
    assert.deepEqual(pointers(back), ['/document/scope/groups/0']);
  });

  s.test('cross-org: another org\'s policy is 404 through every route', async () => {
    const id = pol.id;
    const h = { 'If-Match': '"4"' };
    const body = { document: policyDoc('hijack') };
    for (const [token, org] of [[ownerB, B], [P(), B]])
      {
        const b = base(org);
        for (const [m, url, opts] of [
          ['GET', `${b}/${id}`, {}],
          ['PUT', `${b}/${id}`, { body, headers: h }],
          ['DELETE', `${b}/${id}`, {}],
          ['GET', `${b}/${id}/revisions`, {}],
          ['GET', `${b}/${id}/revisions/1`, {}],
          ['GET', `${b}/${id}/diff?from=1&to=2`, {}],
          ['POST', `${b}/${id}/rollback`, { body: { revision: 1 }, headers: h }],
        ])
          assertProblem(await s.api(m, url, { token, ...opts }), 404, 'not_found');
      }
    // B's token does not see org A at all
    assertProblem(await s.api('GET', `${base(A)}/${id}`, { token: ownerB }), 404, 'not_found');
    assertProblem(await s.api('GET', base(A), { token: ownerB }), 404, 'not_found');
    const list = await s.api('GET', base(B), { token: ownerB });
    assert.deepEqual(list.json.items, []);
    assertProblem(await s.api('GET', `${base(A)}/not-a-uuid`, { token: ownerA }), 404, 'not_found');
    assert.equal((await s.api('GET', `${base(A)}/${id}`, { token: ownerA })).json.revision, 4, 'untouched');
  });

  s.test('concurrent updates with the same ETag: exactly one wins, the others get 412', async () => {
    const url = `${base(A)}/${pol.id}`;
    const v0 = await version(A);
    const h = { 'If-Match': `"${pol.revision}"` };
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      s.api('PUT', url, { token: adminA, headers: h, body: { document: policyDoc(`racer ${i}`), comment: `racer ${i}` } })));
    const won = rs.filter((r) => r.status === 200);
    assert.equal(won.length, 1, rs.map((r) => r.status).join(','));
    assert.ok(rs.every((r) => r.status === 200 || r.json.code === 'precondition_failed'));
    for (const r of rs.filter((x) => x.status !== 200))
      assertProblem(r, 412, 'precondition_failed');
    assert.equal(won[0].json.revision, pol.revision + 1);
    assert.equal(await version(A), v0 + 1);
    const revs = await s.api('GET', `${url}/revisions?limit=1`, { token: adminA });
    assert.equal(revs.json.items[0].comment, won[0].json.comment);
    pol = won[0].json;
  });

  s.test('roles: a viewer reads but cannot change; policy_admin and owner can', async () => {
    const url = `${base(A)}/${pol.id}`;
    const h = { 'If-Match': `"${pol.revision}"` };
    for (const [m, u, opts] of [
      ['POST', base(A), { body: { document: policyDoc('v') } }],
      ['PUT', url, { body: { document: policyDoc('v') }, headers: h }],
      ['DELETE', url, {}],
      ['POST', `${url}/rollback`, { body: { revision: 1 }, headers: h }],
    ])
      assertProblem(await noChange(A, () => s.api(m, u, { token: viewerA, ...opts })), 403, 'permission_denied');
    for (const u of [url, base(A), `${url}/revisions`, `${url}/revisions/1`, `${url}/diff?from=1&to=2`])
      assert.equal((await s.api('GET', u, { token: viewerA })).status, 200, u);
  });

  s.test('delete: 204, then 404 everywhere; revisions stay in the database; audited', async () => {
    const url = `${base(A)}/${pol.id}`;
    assertProblem(await noChange(A, () => s.api('DELETE', url, { token: adminA, headers: { 'If-Match': '"1"' } })),
                  412, 'precondition_failed');
    const before = (await s.api('GET', url, { token: adminA })).json;
    const r = await oneChange(A, () => s.api('DELETE', url, { token: adminA, headers: { 'If-Match': `"${pol.revision}"` } }));
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const a = await lastAudit(A);
    assert.equal(a.action, 'policy.delete');
    assert.deepEqual(a.target, { type: 'policy', id: pol.id });
    assert.equal(a.before_sha256, digest(before.document));
    assert.equal(a.after_sha256, null);
    for (const u of [url, `${url}/revisions`, `${url}/revisions/1`, `${url}/diff?from=1&to=2`])
      assertProblem(await s.api('GET', u, { token: adminA }), 404, 'not_found');
    assertProblem(await noChange(A, () => s.api('DELETE', url, { token: adminA })), 404, 'not_found');
    assertProblem(await s.api('PUT', url, { token: adminA, body: { document: policyDoc('x') }, headers: { 'If-Match': '"4"' } }),
                  404, 'not_found');
    const list = await walkPages(s.api, base(A), { token: adminA, limit: 200 });
    assert.ok(!list.items.some((p) => p.id === pol.id));
    assert.equal(await s.psql(`SELECT count(*) FROM policy_revisions WHERE policy_id = '${pol.id}'`), String(pol.revision));
    assert.equal(await s.psql(`SELECT deleted_at IS NOT NULL FROM policies WHERE id = '${pol.id}'`), 't');
    // without If-Match, delete works too
    const other = await s.api('POST', base(A), { token: adminA, body: { document: policyDoc('temp') } });
    assert.equal((await oneChange(A, () => s.api('DELETE', `${base(A)}/${other.json.id}`, { token: adminA }))).status, 204);
  });

  s.test('the audit chain still verifies', async () => {
    const r = await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: P() });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.ok, true);
    assert.equal(r.json.records, await auditCount(A), 'verify read every record of the org');
    assert.equal(r.json.head, (await lastAudit(A)).hash, 'head = the newest record\'s hash');
  });
});
