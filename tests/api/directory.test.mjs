// The directory: users and groups with their members (DESIGN §3), shaped like
// SCIM (RFC 7643) with snake_case fields.  CRUD, case-insensitive uniqueness,
// validation with JSON pointers, If-Match, pagination, idempotent membership,
// tenancy (another org's ids are 404), permissions, audit records, the
// cascade of a user's deletion, the per-org limits and the policy version
// bumps (read with psql: no API shows the version yet).

import { spawn } from 'node:child_process';
import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, digest, isUuid, useServer, walkPages } from './harness.mjs';

const ETAG_RE = /^"\d+"$/;
const NIL = '00000000-0000-4000-8000-000000000000';

/**
 * LISTEN on @channel with psql (notifications are printed only for commands
 * read from stdin) for @seconds: {ready (resolves once listening), done
 * (resolves to psql's output)}.
 */
function listen (url, channel, seconds)
{
  const p = spawn('psql', [url, '-X', '-q', '-A', '-t'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let onReady;
  const ready = new Promise((resolve) => { onReady = resolve; });
  p.stdout.setEncoding('utf8');
  p.stderr.setEncoding('utf8');
  p.stdout.on('data', (d) => { out += d; if (out.includes('listening')) onReady(); });
  p.stderr.on('data', (d) => { out += d; });
  const done = new Promise((resolve) => p.on('close', () => { onReady(); resolve(out); }));
  p.stdin.end(`LISTEN ${channel};\nSELECT 'listening';\nSELECT pg_sleep(${seconds});\n`);
  return { ready, done };
}

/** A 400 validation_failed whose errors name exactly @pointers (any order). */
function assertInvalid (r, pointers)
{
  assertProblem(r, 400, 'validation_failed');
  assert.deepEqual(r.json.errors.map((e) => e.pointer ?? `?${e.parameter}`).sort(), [...pointers].sort(), r.text);
}

describe('directory', () => {
  const s = useServer('directory');
  const P = () => s.token;
  let A, B, ownerA, viewerA, adminA, ownerB;
  const users = (org = A) => `/api/v1/orgs/${org.id}/users`;
  const groups = (org = A) => `/api/v1/orgs/${org.id}/groups`;
  const owner = () => ownerA.secret;

  const { newOrg, mint } = s;
  const mkUser = async (body, org = A, token = owner()) => {
    const r = await s.api('POST', users(org), { token: org === A ? token : ownerB.secret, body });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  const mkGroup = async (display_name, org = A) => {
    const r = await s.api('POST', groups(org), { token: org === A ? owner() : ownerB.secret, body: { display_name } });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  const put = (g, u, token = owner(), org = A) => s.api('PUT', `${groups(org)}/${g.id}/members/${u.id}`, { token });
  const policyVersion = (org = A) => s.policyVersion(org);
  const auditActions = async (org = A) => {
    const r = await s.api('GET', `/api/v1/orgs/${org.id}/audit?limit=200`, { token: P() });
    assert.equal(r.status, 200);
    return r.json.items;
  };

  s.test('setup: orgs A and B, tokens of several roles', async () => {
    A = await newOrg('dira');
    B = await newOrg('dirb');
    ownerA = await mint(A, 'owner');
    viewerA = await mint(A, 'viewer');
    adminA = await mint(A, 'policy_admin');
    ownerB = await mint(B, 'owner');
  });

  /* ------------------------------------------------------------- users */

  s.test('create a user: 201, defaults, ETag "1", Location that GET answers alike', async () => {
    const before = Date.now();
    const r = await s.api('POST', users(), { token: owner(), body: { user_name: 'alice@example.com' } });
    assert.equal(r.status, 201, r.text);
    const u = r.json;
    assert.ok(isUuid(u.id));
    assert.deepEqual({ ...u, id: 0, created_at: 0, updated_at: 0 },
                     { id: 0, user_name: 'alice@example.com', display_name: null, external_id: null, active: true,
                       emails: [], created_at: 0, updated_at: 0 });
    assert.ok(Math.abs(Date.parse(u.created_at) - before) < 60000);
    assert.equal(r.headers.get('etag'), '"1"');
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${A.id}/users/${u.id}`);
    const g = await s.api('GET', r.headers.get('location'), { token: viewerA.secret });
    assert.equal(g.status, 200);
    assert.deepEqual(g.json, u);
    assert.equal(g.headers.get('etag'), '"1"');
    const bySlug = await s.api('GET', `/api/v1/orgs/${A.slug}/users/${u.id}`, { token: owner() });
    assert.deepEqual(bySlug.json, u, 'the org by slug');
  });

  s.test('create with every field; emails are normalized (primary defaults to false)', async () => {
    const u = await mkUser({ user_name: 'Bob', display_name: 'Bob Builder', external_id: 'okta|00u1', active: false,
                             emails: [{ value: 'bob@example.com', type: 'work', primary: true },
                                      { value: 'bob@home.example.org' }] });
    assert.equal(u.user_name, 'Bob');
    assert.equal(u.display_name, 'Bob Builder');
    assert.equal(u.external_id, 'okta|00u1');
    assert.equal(u.active, false);
    assert.deepEqual(u.emails, [{ value: 'bob@example.com', type: 'work', primary: true },
                                { value: 'bob@home.example.org', primary: false }]);
    const again = await s.api('GET', `${users()}/${u.id}`, { token: owner() });
    assert.deepEqual(again.json, u);
  });

  s.test('user_name is unique per org without regard to case: 409 naming /user_name', async () => {
    for (const name of ['ALICE@example.com', 'Alice@Example.Com', 'bob'])
      {
        const r = await s.api('POST', users(), { token: owner(), body: { user_name: name } });
        assertProblem(r, 409, 'conflict');
        assert.deepEqual(r.json.errors.map((e) => e.pointer), ['/user_name']);
      }
    // Another org may use the same name.
    const other = await mkUser({ user_name: 'alice@example.com' }, B);
    assert.notEqual(other.id, undefined);
    assert.equal(other.user_name, 'alice@example.com');
    assert.ok(!(await walkPages(s.api, users(), { token: owner(), limit: 200 })).items.some((u) => u.id === other.id),
              'B\'s user is not in A\'s list');
    // Renaming into a taken name is a conflict too; to itself in another case is fine.
    const carol = await mkUser({ user_name: 'carol' });
    const r = await s.api('PATCH', `${users()}/${carol.id}`, { token: owner(), body: { user_name: 'BOB' } });
    assertProblem(r, 409, 'conflict');
    assert.equal(r.json.errors[0].pointer, '/user_name');
    const self = await s.api('PATCH', `${users()}/${carol.id}`, { token: owner(), body: { user_name: 'Carol' } });
    assert.equal(self.status, 200, self.text);
    assert.equal(self.json.user_name, 'Carol');
  });

  s.test('validation: every bad field by JSON pointer, in one answer', async () => {
    const post = (body) => s.api('POST', users(), { token: owner(), body });
    assertInvalid(await post({}), ['/user_name']);
    assertInvalid(await post({ user_name: '', display_name: 5, external_id: '', active: 'yes', emails: {}, role: 'x' }),
                  ['/user_name', '/display_name', '/external_id', '/active', '/emails', '/role']);
    assertInvalid(await post({ user_name: ' padded' }), ['/user_name']);
    assertInvalid(await post({ user_name: 'padded\u00a0' }), ['/user_name']);
    assertInvalid(await post({ user_name: 'tab\there' }), ['/user_name']);
    assertInvalid(await post({ user_name: '\ufeffbom' }), ['/user_name']);
    const inner = await post({ user_name: 'inner\u2028separator' });
    assert.equal(inner.status, 201, 'inner white space is fine');
    assert.equal(inner.json.user_name, 'inner\u2028separator', 'stored as sent');
    assertInvalid(await post({ user_name: '   ' }), ['/user_name']);
    assertInvalid(await post({ user_name: 'x'.repeat(257) }), ['/user_name']);
    assertProblem(await post({ user_name: 'nul\u0000' }), 400, 'malformed_json'); // jansson refuses \u0000
    assertInvalid(await post({ user_name: 'ok', display_name: 'bell\u0007' }), ['/display_name']);
    const wide = await post({ user_name: 'é'.repeat(128) });
    assert.equal(wide.status, 201, '256 bytes of UTF-8 fit');
    assert.equal(wide.json.user_name, 'é'.repeat(128), 'UTF-8 round trip');
    assertInvalid(await post({ user_name: 'é'.repeat(129) }), ['/user_name']);
    assertInvalid(await post([]), ['']);

    // emails, item by item
    const e = (emails) => post({ user_name: `e-${Math.random()}`, emails });
    assertInvalid(await e([{ value: 'not-an-address' }]), ['/emails/0/value']);
    assertInvalid(await e(['a@example.com']), ['/emails/0']);
    assertInvalid(await e([{}]), ['/emails/0/value']);
    assertInvalid(await e([{ value: 'a@example.com', display: 'A' }]), ['/emails/0/display']);
    assertInvalid(await e([{ value: 'a@example.com', 'x/y~z': 1 }]), ['/emails/0/x~1y~0z']);
    assertInvalid(await e([{ value: 'a@example.com', type: 7, primary: 'yes' }]), ['/emails/0/type', '/emails/0/primary']);
    assertInvalid(await e([{ value: 'a@example.com', type: ' work' }]), ['/emails/0/type']);
    assertInvalid(await e([{ value: 'a@example.com', type: 'w'.repeat(65) }]), ['/emails/0/type']);
    assertInvalid(await e([{ value: 'a@example.com', primary: true }, { value: 'b@example.com', primary: true }]),
                  ['/emails/1/primary']);
    assertInvalid(await e([{ value: 'a@example.com' }, { value: 'A@EXAMPLE.COM' }]), ['/emails/1/value']);
    assertInvalid(await e(Array.from({ length: 11 }, (_, i) => ({ value: `u${i}@example.com` }))), ['/emails']);
    assertInvalid(await e([{ value: 5 }, { value: 'ok@example.com' }, { value: 'x@y' }]), ['/emails/0/value', '/emails/2/value']);
    const ten = await e(Array.from({ length: 10 }, (_, i) => ({ value: `u${i}@example.com` })));
    assert.equal(ten.status, 201);
    assert.deepEqual(ten.json.emails, Array.from({ length: 10 }, (_, i) => ({ value: `u${i}@example.com`, primary: false })));

    const bad = ['plain', '@example.com', 'a@', 'a@@example.com', 'a@b@example.com', '.a@example.com', 'a.@example.com',
                 'a..b@example.com', 'a b@example.com', '"a b"@example.com', 'ä@example.com', 'a@exämple.com',
                 'a@localhost', 'a@-example.com', 'a@example-.com', 'a@example..com', 'a@example.com.', 'a@.example.com',
                 'a@1.2.3.4', 'a@[127.0.0.1]', 'a@example.123', 'a@ex_ample.com', `${'x'.repeat(65)}@example.com`,
                 `a@${'l'.repeat(64)}.com`, `${'x'.repeat(64)}@${'d'.repeat(60)}.${'d'.repeat(60)}.${'d'.repeat(60)}.${'d'.repeat(61)}.com`,
                 'a@example.com\n', 'a@example.com ', 'a@exa mple.com'];
    for (const value of bad)
      assertInvalid(await e([{ value }]), ['/emails/0/value']);
    const good = ['a@example.com', 'first.last+tag@sub.example.co.uk', "o'brien@example.ie", 'x@xn--bcher-kva.example',
                  'A_B-c!#$%&*=?^`{|}~@EXAMPLE.COM', 'a@123.example', `${'x'.repeat(64)}@example.com`,
                  `a@${'l'.repeat(63)}.com`];
    for (const value of good)
      assert.equal((await e([{ value }])).status, 201, value);
  });

  s.test('GET: malformed, unknown and other-org ids are 404', async () => {
    for (const id of ['nope', NIL, '0B4C2F7E-5C4E-4A57-9B59-3F2F5D1C9A10'])
      {
        assertProblem(await s.api('GET', `${users()}/${id}`, { token: owner() }), 404, 'not_found');
        assertProblem(await s.api('PATCH', `${users()}/${id}`, { token: owner(), body: { active: false } }), 404, 'not_found');
        assertProblem(await s.api('DELETE', `${users()}/${id}`, { token: owner() }), 404, 'not_found');
        assertProblem(await s.api('GET', `${users()}/${id}/groups`, { token: owner() }), 404, 'not_found');
      }
  });

  s.test('PATCH: partial changes, null clears, version and ETag go up', async () => {
    const u = await mkUser({ user_name: 'dave', display_name: 'Dave', external_id: 'ext-dave',
                             emails: [{ value: 'dave@example.com', primary: true }] });
    let r = await s.api('PATCH', `${users()}/${u.id}`, { token: owner(), body: { display_name: 'David' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('etag'), '"2"');
    assert.deepEqual({ ...r.json, updated_at: 0 }, { ...u, display_name: 'David', updated_at: 0 });
    assert.ok(r.json.updated_at >= u.updated_at);
    r = await s.api('PATCH', `${users()}/${u.id}`, { token: owner(), body: { display_name: null, external_id: null, emails: [] } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.display_name, null);
    assert.equal(r.json.external_id, null);
    assert.deepEqual(r.json.emails, []);
    assert.equal(r.json.user_name, 'dave');
    assert.equal(r.headers.get('etag'), '"3"');
    assertInvalid(await s.api('PATCH', `${users()}/${u.id}`, { token: owner(), body: {} }), ['']);
    assertInvalid(await s.api('PATCH', `${users()}/${u.id}`, { token: owner(), body: { user_name: null } }), ['/user_name']);
    assertInvalid(await s.api('PATCH', `${users()}/${u.id}`, { token: owner(), body: { id: NIL, created_at: 'x' } }),
                  ['/id', '/created_at']);
    assertInvalid(await s.api('PATCH', `${users()}/${u.id}`, { token: owner(), body: { emails: [{ value: 'x' }] } }),
                  ['/emails/0/value']);
    const g = await s.api('GET', `${users()}/${u.id}`, { token: owner() });
    assert.equal(g.headers.get('etag'), '"3"', 'refused changes change nothing');
  });

  s.test('PATCH with If-Match: a stale or weak ETag is 412, the current one or * passes', async () => {
    const u = await mkUser({ user_name: 'erin' });
    const path = `${users()}/${u.id}`;
    let r = await s.api('PATCH', path, { token: owner(), body: { display_name: 'Erin' }, headers: { 'if-match': '"1"' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('etag'), '"2"');
    for (const stale of ['"1"', 'W/"2"', '"3"', 'garbage', '"1", "3"'])
      {
        r = await s.api('PATCH', path, { token: owner(), body: { display_name: 'Lost update' }, headers: { 'if-match': stale } });
        assertProblem(r, 412, 'precondition_failed');
      }
    r = await s.api('PATCH', path, { token: owner(), body: { display_name: 'Erin B' }, headers: { 'if-match': '"9", "2"' } });
    assert.equal(r.status, 200, r.text);
    r = await s.api('PATCH', path, { token: owner(), body: { display_name: 'Erin C' }, headers: { 'if-match': '*' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.display_name, 'Erin C');
    assert.equal(r.headers.get('etag'), '"4"');
  });

  s.test('list: oldest first; filters user_name (any case) and active; a walk of small pages sees each once', async () => {
    const org = await newOrg('dirlist');
    const tok = (await mint(org, 'owner')).secret;
    const made = [];
    for (let i = 0; i < 7; i++)
      {
        const r = await s.api('POST', users(org), { token: tok, body: { user_name: `user${i}`, active: i % 3 !== 0 } });
        assert.equal(r.status, 201, r.text);
        made.push(r.json);
      }
    const all = await s.api('GET', users(org), { token: tok });
    assert.deepEqual(all.json.items, made);
    assert.equal(all.json.next_cursor, null);
    for (const limit of [1, 2, 3, 7])
      {
        const w = await walkPages(s.api, users(org), { token: tok, limit });
        assert.deepEqual(w.items.map((u) => u.id), made.map((u) => u.id), `limit ${limit}`);
        assert.equal(w.pages, Math.ceil(7 / limit), `limit ${limit}: pages`);
      }
    const one = await s.api('GET', `${users(org)}?user_name=USER3`, { token: tok });
    assert.deepEqual(one.json.items.map((u) => u.id), [made[3].id]);
    const none = await s.api('GET', `${users(org)}?user_name=user3&active=true`, { token: tok });
    assert.deepEqual(none.json.items, [], 'user3 is inactive');
    const active = await walkPages(s.api, `${users(org)}?active=true`, { token: tok, limit: 2 });
    assert.deepEqual(active.items.map((u) => u.user_name), ['user1', 'user2', 'user4', 'user5']);
    const inactive = await s.api('GET', `${users(org)}?active=false`, { token: tok });
    assert.deepEqual(inactive.json.items.map((u) => u.user_name), ['user0', 'user3', 'user6']);
    assertInvalid(await s.api('GET', `${users(org)}?active=yes`, { token: tok }), ['?active']);
    assertInvalid(await s.api('GET', `${users(org)}?user_name=%20x`, { token: tok }), ['?user_name']);
    assertInvalid(await s.api('GET', `${users(org)}?user_name=%ff%fe`, { token: tok }), ['?user_name']);
    assertInvalid(await s.api('GET', `${users(org)}?user_name=${'x'.repeat(257)}`, { token: tok }), ['?user_name']);
    assertInvalid(await s.api('GET', `${users(org)}?cursor=bm9wZQ`, { token: tok }), ['?cursor']);
    assertInvalid(await s.api('GET', `${users(org)}?limit=0`, { token: tok }), ['?limit']);
    // Users created while walking appear at the end; none is seen twice.
    const p1 = await s.api('GET', `${users(org)}?limit=3`, { token: tok });
    const late = await s.api('POST', users(org), { token: tok, body: { user_name: 'late' } });
    let seen = [...p1.json.items];
    let cursor = p1.json.next_cursor;
    while (cursor)
      {
        const p = await s.api('GET', `${users(org)}?limit=3&cursor=${cursor}`, { token: tok });
        seen = seen.concat(p.json.items);
        cursor = p.json.next_cursor;
      }
    assert.deepEqual(seen.map((u) => u.id), [...made.map((u) => u.id), late.json.id]);
  });

  /* ------------------------------------------------------------ groups */

  s.test('groups: create, unique display_name (any case), get with member_count, list, filter', async () => {
    const before = Date.now();
    const r = await s.api('POST', groups(), { token: owner(), body: { display_name: 'Engineering', external_id: 'grp-1' } });
    assert.equal(r.status, 201, r.text);
    const g = r.json;
    assert.ok(isUuid(g.id));
    assert.deepEqual({ ...g, id: 0, created_at: 0, updated_at: 0 },
                     { id: 0, display_name: 'Engineering', external_id: 'grp-1', member_count: 0, created_at: 0, updated_at: 0 });
    assert.ok(Math.abs(Date.parse(g.created_at) - before) < 60000);
    assert.equal(r.headers.get('etag'), '"1"');
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${A.id}/groups/${g.id}`);
    const got = await s.api('GET', r.headers.get('location'), { token: viewerA.secret });
    assert.deepEqual(got.json, g);
    const dup = await s.api('POST', groups(), { token: owner(), body: { display_name: 'ENGINEERING' } });
    assertProblem(dup, 409, 'conflict');
    assert.deepEqual(dup.json.errors.map((e) => e.pointer), ['/display_name']);
    assert.equal((await s.api('POST', groups(B), { token: ownerB.secret, body: { display_name: 'Engineering' } })).status, 201,
                 'another org may use the name');
    assertInvalid(await s.api('POST', groups(), { token: owner(), body: { display_name: ' x', external_id: 3, members: [] } }),
                  ['/display_name', '/external_id', '/members']);
    assertInvalid(await s.api('POST', groups(), { token: owner(), body: {} }), ['/display_name']);
    const sales = await mkGroup('Sales');
    const list = await walkPages(s.api, groups(), { token: owner(), limit: 1 });
    assert.deepEqual(list.items.map((x) => x.id), [g.id, sales.id]);
    const f = await s.api('GET', `${groups()}?display_name=sAlEs`, { token: owner() });
    assert.deepEqual(f.json.items, [sales]);
    assertInvalid(await s.api('GET', `${groups()}?display_name=%09`, { token: owner() }), ['?display_name']);
  });

  s.test('groups: PATCH with If-Match, null clears external_id, DELETE', async () => {
    const g = await mkGroup('Ops');
    const path = `${groups()}/${g.id}`;
    let r = await s.api('PATCH', path, { token: owner(), body: { display_name: 'Operations', external_id: 'ops' },
                                         headers: { 'if-match': '"1"' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.display_name, 'Operations');
    assert.equal(r.json.external_id, 'ops');
    assert.equal(r.headers.get('etag'), '"2"');
    assertProblem(await s.api('PATCH', path, { token: owner(), body: { display_name: 'X' }, headers: { 'if-match': '"1"' } }),
                  412, 'precondition_failed');
    r = await s.api('PATCH', path, { token: owner(), body: { external_id: null } });
    assert.equal(r.status, 200);
    assert.equal(r.json.external_id, null);
    assert.equal(r.json.display_name, 'Operations');
    assertInvalid(await s.api('PATCH', path, { token: owner(), body: {} }), ['']);
    assertInvalid(await s.api('PATCH', path, { token: owner(), body: { display_name: null } }), ['/display_name']);
    const clash = await s.api('PATCH', path, { token: owner(), body: { display_name: 'engineering' } });
    assertProblem(clash, 409, 'conflict');
    assert.equal(clash.json.errors[0].pointer, '/display_name');
    assert.equal((await s.api('DELETE', path, { token: owner() })).status, 204);
    assertProblem(await s.api('GET', path, { token: owner() }), 404, 'not_found');
    assertProblem(await s.api('DELETE', path, { token: owner() }), 404, 'not_found');
    for (const id of ['nope', NIL])
      {
        assertProblem(await s.api('GET', `${groups()}/${id}`, { token: owner() }), 404, 'not_found');
        assertProblem(await s.api('GET', `${groups()}/${id}/members`, { token: owner() }), 404, 'not_found');
      }
  });

  /* -------------------------------------------------------- membership */

  s.test('membership: PUT is idempotent (204 twice), counts, lists both ways, DELETE, then 404', async () => {
    const g = await mkGroup('Platform');
    const u1 = await mkUser({ user_name: 'm1' });
    const u2 = await mkUser({ user_name: 'm2' });
    const r1 = await put(g, u1);
    assert.equal(r1.status, 204, r1.text);
    assert.equal(r1.text, '');
    assert.equal((await put(g, u1)).status, 204, 'again: still 204');
    assert.equal((await put(g, u2)).status, 204);
    const got = await s.api('GET', `${groups()}/${g.id}`, { token: owner() });
    assert.equal(got.json.member_count, 2);
    assert.equal(got.headers.get('etag'), '"3"', 'two additions, the repeated one changed nothing');
    assert.ok(got.json.updated_at >= g.updated_at);
    const members = await walkPages(s.api, `${groups()}/${g.id}/members`, { token: viewerA.secret, limit: 1 });
    assert.deepEqual(members.items.map((u) => u.id), [u1.id, u2.id].sort(), 'members, ordered by user id');
    assert.deepEqual(members.items.find((u) => u.id === u1.id), u1, 'members are users');
    const g2 = await mkGroup('Platform 2');
    assert.equal((await put(g2, u1)).status, 204);
    const mine = await walkPages(s.api, `${users()}/${u1.id}/groups`, { token: viewerA.secret, limit: 1 });
    assert.deepEqual(mine.items.map((x) => x.id), [g.id, g2.id].sort());
    assert.equal(mine.items.find((x) => x.id === g2.id).member_count, 1);
    const d = await s.api('DELETE', `${groups()}/${g.id}/members/${u1.id}`, { token: owner() });
    assert.equal(d.status, 204, d.text);
    assertProblem(await s.api('DELETE', `${groups()}/${g.id}/members/${u1.id}`, { token: owner() }), 404, 'not_found');
    const after = await s.api('GET', `${groups()}/${g.id}/members`, { token: owner() });
    assert.deepEqual(after.json.items.map((u) => u.id), [u2.id]);
    assert.equal((await s.api('GET', `${groups()}/${g.id}`, { token: owner() })).json.member_count, 1);
    assertProblem(await s.api('PUT', `${groups()}/${NIL}/members/${u1.id}`, { token: owner() }), 404, 'not_found');
    const nouser = await s.api('PUT', `${groups()}/${g.id}/members/${NIL}`, { token: owner() });
    assertProblem(nouser, 404, 'not_found');
    assert.match(nouser.json.detail, /user/);
    assertProblem(await s.api('PUT', `${groups()}/${g.id}/members/nope`, { token: owner() }), 404, 'not_found');
    assertInvalid(await s.api('GET', `${groups()}/${g.id}/members?cursor=bm9wZQ`, { token: owner() }), ['?cursor']);
    assertInvalid(await s.api('GET', `${users()}/${u1.id}/groups?cursor=bm9wZQ`, { token: owner() }), ['?cursor']);
  });

  s.test('deleting a user removes its memberships (and updates the groups)', async () => {
    const u = await mkUser({ user_name: 'leaver' });
    const stay = await mkUser({ user_name: 'stayer' });
    const ga = await mkGroup('Leavers A');
    const gb = await mkGroup('Leavers B');
    for (const g of [ga, gb])
      {
        assert.equal((await put(g, u)).status, 204);
        assert.equal((await put(g, stay)).status, 204);
      }
    assert.equal(await s.psql(`SELECT count(*) FROM group_members WHERE user_id = '${u.id}'`), '2');
    assert.equal((await s.api('DELETE', `${users()}/${u.id}`, { token: owner() })).status, 204);
    assertProblem(await s.api('GET', `${users()}/${u.id}`, { token: owner() }), 404, 'not_found');
    assert.equal(await s.psql(`SELECT count(*) FROM group_members WHERE user_id = '${u.id}'`), '0');
    for (const g of [ga, gb])
      {
        const r = await s.api('GET', `${groups()}/${g.id}`, { token: owner() });
        assert.equal(r.json.member_count, 1);
        const m = await s.api('GET', `${groups()}/${g.id}/members`, { token: owner() });
        assert.deepEqual(m.json.items.map((x) => x.id), [stay.id]);
      }
    assertProblem(await s.api('DELETE', `${users()}/${u.id}`, { token: owner() }), 404, 'not_found');
    // Deleting a group removes its memberships; its members stay.
    assert.equal((await s.api('DELETE', `${groups()}/${ga.id}`, { token: owner() })).status, 204);
    assert.equal(await s.psql(`SELECT count(*) FROM group_members WHERE group_id = '${ga.id}'`), '0');
    const left = await s.api('GET', `${users()}/${stay.id}/groups`, { token: owner() });
    assert.deepEqual(left.json.items.map((x) => x.id), [gb.id]);
  });

  s.test('concurrency: racing creates of one name in several cases, racing adds of one member', async () => {
    const org = await newOrg('dirrace');
    const t = (await mint(org, 'owner')).secret;
    const names = ['Race', 'RACE', 'race', 'rAce', 'raCE', 'RaCe', 'racE', 'rACE'];
    const rs = await Promise.all(names.map((user_name) => s.api('POST', users(org), { token: t, body: { user_name } })));
    assert.deepEqual(rs.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409, 409, 409], rs.map((r) => r.text).join('\n'));
    for (const r of rs.filter((x) => x.status !== 201))
      {
        assertProblem(r, 409, 'conflict');
        assert.deepEqual(r.json.errors.map((e) => e.pointer), ['/user_name']);
      }
    const u = rs.find((r) => r.status === 201).json;
    const g = (await s.api('POST', groups(org), { token: t, body: { display_name: 'Racers' } })).json;
    const pv = await policyVersion(org);
    const adds = await Promise.all(Array.from({ length: 8 }, () => s.api('PUT', `${groups(org)}/${g.id}/members/${u.id}`, { token: t })));
    assert.deepEqual(adds.map((r) => r.status), Array(8).fill(204));
    assert.equal((await s.api('GET', `${groups(org)}/${g.id}`, { token: t })).json.member_count, 1);
    assert.equal(await policyVersion(org), pv + 1);
    const log = (await auditActions(org)).filter((x) => x.action === 'group.member_add');
    assert.equal(log.length, 1, 'one addition, one record');
    const v = await s.api('GET', `/api/v1/orgs/${org.id}/audit/verify`, { token: t });
    assert.equal(v.json.ok, true, v.text);
  });

  /* ------------------------------------------------------------ tenancy */

  s.test('tenancy: another org\'s users and groups are 404, and cannot become members', async () => {
    const ua = await mkUser({ user_name: 'tenant-a' });
    const ga = await mkGroup('Tenant A');
    const ub = await mkUser({ user_name: 'tenant-b' }, B);
    const gb = await mkGroup('Tenant B', B);
    const b = ownerB.secret;
    // B's token, A's ids under B's own path.
    for (const [m, p, body] of [['GET', `${users(B)}/${ua.id}`], ['PATCH', `${users(B)}/${ua.id}`, { active: false }],
                                ['DELETE', `${users(B)}/${ua.id}`], ['GET', `${users(B)}/${ua.id}/groups`],
                                ['GET', `${groups(B)}/${ga.id}`], ['PATCH', `${groups(B)}/${ga.id}`, { display_name: 'x' }],
                                ['DELETE', `${groups(B)}/${ga.id}`], ['GET', `${groups(B)}/${ga.id}/members`],
                                ['PUT', `${groups(B)}/${ga.id}/members/${ub.id}`],
                                ['DELETE', `${groups(B)}/${ga.id}/members/${ua.id}`]])
      assertProblem(await s.api(m, p, { token: b, body }), 404, 'not_found');
    // B's token on A's paths: the org itself is invisible.
    assertProblem(await s.api('GET', users(A), { token: b }), 404, 'not_found');
    assertProblem(await s.api('POST', users(A), { token: b, body: { user_name: 'intruder' } }), 404, 'not_found');
    assertProblem(await s.api('GET', `${users(A)}/${ua.id}`, { token: b }), 404, 'not_found');
    assertProblem(await s.api('GET', groups(A), { token: b }), 404, 'not_found');
    // A's group, B's user: 404 naming the user, even for the platform admin.
    for (const who of [owner(), P()])
      {
        const r = await s.api('PUT', `${groups()}/${ga.id}/members/${ub.id}`, { token: who });
        assertProblem(r, 404, 'not_found');
        assert.match(r.json.detail, /user/);
        const r2 = await s.api('PUT', `${groups()}/${gb.id}/members/${ua.id}`, { token: who });
        assertProblem(r2, 404, 'not_found');
        assert.match(r2.json.detail, /group/);
      }
    assert.equal(await s.psql(`SELECT count(*) FROM group_members WHERE user_id = '${ub.id}' OR group_id = '${gb.id}'`), '0');
    // Nothing of A shows in B's lists.
    const bu = await walkPages(s.api, users(B), { token: b, limit: 50 });
    assert.ok(!bu.items.some((u) => u.id === ua.id));
    const bg = await walkPages(s.api, groups(B), { token: b, limit: 50 });
    assert.ok(!bg.items.some((g) => g.id === ga.id));
    // The schema itself refuses a cross-org membership.
    await assert.rejects(s.psql(`INSERT INTO group_members (org_id, group_id, user_id) VALUES ('${A.id}', '${ga.id}', '${ub.id}')`),
                         /foreign key/);
  });

  /* -------------------------------------------------------- permissions */

  s.test('viewer reads but cannot change anything (403); policy_admin may', async () => {
    const u = await mkUser({ user_name: 'perm-user' });
    const g = await mkGroup('Perm group');
    const v = viewerA.secret;
    for (const [m, p, body] of [['POST', users(), { user_name: 'viewer-made' }], ['PATCH', `${users()}/${u.id}`, { active: false }],
                                ['DELETE', `${users()}/${u.id}`], ['POST', groups(), { display_name: 'viewer group' }],
                                ['PATCH', `${groups()}/${g.id}`, { display_name: 'x' }], ['DELETE', `${groups()}/${g.id}`],
                                ['PUT', `${groups()}/${g.id}/members/${u.id}`],
                                ['DELETE', `${groups()}/${g.id}/members/${u.id}`]])
      assertProblem(await s.api(m, p, { token: v, body }), 403, 'permission_denied');
    for (const p of [users(), `${users()}/${u.id}`, `${users()}/${u.id}/groups`, groups(), `${groups()}/${g.id}`,
                     `${groups()}/${g.id}/members`])
      assert.equal((await s.api('GET', p, { token: v })).status, 200, p);
    assert.equal((await s.api('GET', `${groups()}/${g.id}`, { token: v })).json.member_count, 0, 'nothing changed');
    const a = adminA.secret;
    assert.equal((await s.api('PUT', `${groups()}/${g.id}/members/${u.id}`, { token: a })).status, 204);
    assert.equal((await s.api('PATCH', `${users()}/${u.id}`, { token: a, body: { display_name: 'P' } })).status, 200);
    for (const role of ['auditor', 'catalog_reviewer'])
      {
        const t = (await mint(A, role)).secret;
        assert.equal((await s.api('GET', users(), { token: t })).status, 200);
        assertProblem(await s.api('POST', groups(), { token: t, body: { display_name: role } }), 403, 'permission_denied');
      }
  });

  /* -------------------------------------------------------------- audit */

  s.test('every mutation is audited with its action, target and digests; the chain verifies', async () => {
    const org = await newOrg('diraudit');
    const tok = await mint(org, 'owner');
    const t = tok.secret;
    let r = await s.api('POST', users(org), { token: t, body: { user_name: 'audited', emails: [{ value: 'au@example.com' }] } });
    const u = r.json;
    r = await s.api('PATCH', `${users(org)}/${u.id}`, { token: t, body: { active: false } });
    const u2 = r.json;
    r = await s.api('POST', groups(org), { token: t, body: { display_name: 'Audited' } });
    const g = r.json;
    r = await s.api('PATCH', `${groups(org)}/${g.id}`, { token: t, body: { display_name: 'Audited 2' } });
    const g2 = r.json;
    assert.equal((await s.api('PUT', `${groups(org)}/${g.id}/members/${u.id}`, { token: t })).status, 204);
    assert.equal((await s.api('PUT', `${groups(org)}/${g.id}/members/${u.id}`, { token: t })).status, 204);
    assert.equal((await s.api('DELETE', `${groups(org)}/${g.id}/members/${u.id}`, { token: t })).status, 204);
    assertProblem(await s.api('DELETE', `${groups(org)}/${g.id}/members/${u.id}`, { token: t }), 404, 'not_found');
    const g3 = (await s.api('GET', `${groups(org)}/${g.id}`, { token: t })).json;
    assert.equal((await s.api('DELETE', `${groups(org)}/${g.id}`, { token: t })).status, 204);
    assert.equal((await s.api('DELETE', `${users(org)}/${u.id}`, { token: t })).status, 204);
    // Refused requests leave no record.
    assertProblem(await s.api('POST', users(org), { token: t, body: { user_name: '' } }), 400, 'validation_failed');

    const items = (await auditActions(org)).reverse().filter((x) => x.action.startsWith('user.') || x.action.startsWith('group.'));
    const d = digest;
    const member = { group_id: g.id, user_id: u.id };
    const expect = [
      ['user.create', 'user', u.id, null, d(u)],
      ['user.update', 'user', u.id, d(u), d(u2)],
      ['group.create', 'group', g.id, null, d(g)],
      ['group.update', 'group', g.id, d(g), d(g2)],
      ['group.member_add', 'group_member', `${g.id}/${u.id}`, null, d(member)],
      ['group.member_remove', 'group_member', `${g.id}/${u.id}`, d(member), null],
      ['group.delete', 'group', g.id, d(g3), null],
      ['user.delete', 'user', u.id, d(u2), null],
    ];
    assert.deepEqual(items.map((x) => [x.action, x.target.type, x.target.id, x.before_sha256, x.after_sha256]), expect);
    for (const x of items)
      assert.equal(x.actor, `token:${tok.id}`);
    const v = await s.api('GET', `/api/v1/orgs/${org.id}/audit/verify`, { token: t });
    assert.equal(v.json.ok, true, v.text);
  });

  /* ----------------------------------------------------- policy version */

  s.test('the policy version goes up exactly with changes of membership, active, and deletions', async () => {
    const org = await newOrg('dirpv');
    const t = (await mint(org, 'owner')).secret;
    const pv = () => policyVersion(org);
    /** Run @fn, which must answer @status, and check the version went up by @delta. */
    const step = async (what, fn, delta, status) => {
      const before = await pv();
      const r = await fn();
      assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.status, status, `${what}: ${r.text}`);
      if (status === 204)
        assert.equal(r.text, '', what);
      assert.equal(await pv(), before + delta, what);
      return r.json;
    };
    assert.equal(await pv(), 0);
    const u = await step('create a user', () => s.api('POST', users(org), { token: t, body: { user_name: 'pv' } }), 0, 201);
    const u2 = await step('create another', () => s.api('POST', users(org), { token: t, body: { user_name: 'pv2' } }), 0, 201);
    const g = await step('create a group', () => s.api('POST', groups(org), { token: t, body: { display_name: 'PV' } }), 0, 201);
    const gEmpty = await step('create an empty group', () => s.api('POST', groups(org), { token: t, body: { display_name: 'E' } }), 0, 201);
    await step('add a member', () => s.api('PUT', `${groups(org)}/${g.id}/members/${u.id}`, { token: t }), 1, 204);
    await step('add it again', () => s.api('PUT', `${groups(org)}/${g.id}/members/${u.id}`, { token: t }), 0, 204);
    await step('rename the group', () => s.api('PATCH', `${groups(org)}/${g.id}`, { token: t, body: { display_name: 'PV2' } }), 0, 200);
    await step('rename the user', () => s.api('PATCH', `${users(org)}/${u.id}`, { token: t, body: { display_name: 'x' } }), 0, 200);
    await step('set active to what it is', () => s.api('PATCH', `${users(org)}/${u.id}`, { token: t, body: { active: true } }), 0, 200);
    await step('deactivate', () => s.api('PATCH', `${users(org)}/${u.id}`, { token: t, body: { active: false } }), 1, 200);
    await step('reactivate', () => s.api('PATCH', `${users(org)}/${u.id}`, { token: t, body: { active: true } }), 1, 200);
    await step('remove the member', () => s.api('DELETE', `${groups(org)}/${g.id}/members/${u.id}`, { token: t }), 1, 204);
    await step('add a member', () => s.api('PUT', `${groups(org)}/${g.id}/members/${u2.id}`, { token: t }), 1, 204);
    await step('delete a group with members', () => s.api('DELETE', `${groups(org)}/${g.id}`, { token: t }), 1, 204);
    await step('delete an empty group', () => s.api('DELETE', `${groups(org)}/${gEmpty.id}`, { token: t }), 0, 204);
    await step('delete a user', () => s.api('DELETE', `${users(org)}/${u.id}`, { token: t }), 1, 204);
    // Refused changes bump nothing.
    const before = await pv();
    assertProblem(await s.api('PUT', `${groups(org)}/${NIL}/members/${u2.id}`, { token: t }), 404, 'not_found');
    assertProblem(await s.api('PATCH', `${users(org)}/${u2.id}`, { token: t, body: { active: false }, headers: { 'if-match': '"9"' } }),
                  412, 'precondition_failed');
    assert.equal(await pv(), before);
  });

  s.test('a bump NOTIFYs bulwark_policy with "<org id>:<version>" when its transaction commits', async () => {
    const org = await newOrg('dirnotify');
    const t = (await mint(org, 'owner')).secret;
    const u = (await s.api('POST', users(org), { token: t, body: { user_name: 'n' } })).json;
    const g = (await s.api('POST', groups(org), { token: t, body: { display_name: 'N' } })).json;
    const l = listen(s.db.url, 'bulwark_policy', 2);
    await l.ready;
    assertProblem(await s.api('PUT', `${groups(org)}/${g.id}/members/${NIL}`, { token: t }), 404, 'not_found');
    assert.equal((await s.api('PUT', `${groups(org)}/${g.id}/members/${u.id}`, { token: t })).status, 204);
    const out = await l.done;
    const payloads = [...out.matchAll(/notification "bulwark_policy" with payload "([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(payloads, [`${org.id}:${await policyVersion(org)}`], out);
  });

  /* ------------------------------------------------------------- limits */

  s.test('limits: users and groups per org, members per group (409 limit_exceeded)', async () => {
    const org = await newOrg('dirlim');
    const t = (await mint(org, 'owner')).secret;
    const u = await s.api('POST', users(org), { token: t, body: { user_name: 'lim' } });
    const g = await s.api('POST', groups(org), { token: t, body: { display_name: 'Lim' } });
    assert.equal(await s.psql(`SELECT user_count || ' ' || group_count FROM orgs WHERE id = '${org.id}'`), '1 1',
                 'the triggers keep the sizes');
    // Pretend the org and the group are full: the counters are what the limits read.
    await s.psql(`UPDATE orgs SET user_count = 100000, group_count = 10000 WHERE id = '${org.id}'`);
    await s.psql(`UPDATE groups SET member_count = 100000 WHERE id = '${g.json.id}'`);
    assertProblem(await s.api('POST', users(org), { token: t, body: { user_name: 'one-too-many' } }), 409, 'limit_exceeded');
    assertProblem(await s.api('POST', groups(org), { token: t, body: { display_name: 'one too many' } }), 409, 'limit_exceeded');
    assertProblem(await s.api('PUT', `${groups(org)}/${g.json.id}/members/${u.json.id}`, { token: t }), 409, 'limit_exceeded');
    assert.equal(await s.psql(`SELECT count(*) FROM group_members WHERE group_id = '${g.json.id}'`), '0', 'rolled back');
    await s.psql(`UPDATE orgs SET user_count = 99999, group_count = 9999 WHERE id = '${org.id}'`);
    await s.psql(`UPDATE groups SET member_count = 99999 WHERE id = '${g.json.id}'`);
    assert.equal((await s.api('POST', users(org), { token: t, body: { user_name: 'the-last' } })).status, 201);
    assert.equal((await s.api('PUT', `${groups(org)}/${g.json.id}/members/${u.json.id}`, { token: t })).status, 204);
    assert.equal((await s.api('GET', `${groups(org)}/${g.json.id}`, { token: t })).json.member_count, 100000);
    assert.equal((await s.api('PUT', `${groups(org)}/${g.json.id}/members/${u.json.id}`, { token: t })).status, 204,
                 'a member already: idempotent even when full');
    assertProblem(await s.api('POST', users(org), { token: t, body: { user_name: 'over' } }), 409, 'limit_exceeded');
  });

  s.test('the size counters stay true through creates, cascades and deletes', async () => {
    const check = await s.psql(`SELECT count(*) FROM orgs o WHERE o.id IN ('${A.id}', '${B.id}')`
                               + ` AND (o.user_count <> (SELECT count(*) FROM users u WHERE u.org_id = o.id)`
                               + ` OR o.group_count <> (SELECT count(*) FROM groups g WHERE g.org_id = o.id))`);
    assert.equal(check, '0');
    const groupsOff = await s.psql('SELECT count(*) FROM groups g'
                                   + ' WHERE g.member_count <> (SELECT count(*) FROM group_members m WHERE m.group_id = g.id)'
                                   + ` AND g.org_id IN ('${A.id}', '${B.id}')`);
    assert.equal(groupsOff, '0');
  });
});
