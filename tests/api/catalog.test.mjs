// The MCP catalog and its approval workflow (DESIGN §5, issue 5), through
// the admin API and the agent API: the state machine (every valid and
// every invalid transition over all seven states), import of each registry
// sample with its values, the invalid samples and other malformed bodies
// (400 naming /server/..., /tools/..., /entry/...), the pin check (409
// catalog_entry_exists), tool lists attached in place or as a superseding
// entry (new and changed tools blocked, unchanged ones keep their state),
// per-tool approval, credential binding of secret inputs (only a reviewer
// approves tools or binds credentials: a request that tries is 400; a new
// entry carries the tool states and bindings of the live entry it
// supersedes, nothing else), approval expiry (the server deprecates the
// entry for good, audited as `system`, the policy version moved), approving
// a successor deprecates its predecessor, the review queue,
// If-Match (412/428), permissions per role, tenancy (another org's entry
// is 404), the audit trail of every transition, and
// POST /api/v1/agent/catalog/requests with an agent credential.

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, assertProblem, digest, errorPointers, isUuid, sha256hex, useServer, waitFor, walkPages } from './harness.mjs';

const SAMPLES = path.join(ROOT, 'tests', 'testdata', 'mcp-registry');
const sample = (name) => JSON.parse(fs.readFileSync(path.join(SAMPLES, name), 'utf8'));

const STATES = ['requested', 'in_review', 'approved', 'rejected', 'suspended', 'revoked', 'deprecated'];
const TRANSITIONS = ['review', 'approve', 'reject', 'suspend', 'resume', 'revoke', 'deprecate'];
/** The state machine of DESIGN §5: transition → {from: to}. */
const VALID = {
  review: { requested: 'in_review' },
  approve: { in_review: 'approved' },
  reject: { in_review: 'rejected' },
  suspend: { approved: 'suspended' },
  resume: { suspended: 'approved' },
  revoke: { approved: 'revoked', suspended: 'revoked' },
  deprecate: { approved: 'deprecated', suspended: 'deprecated' },
};
/** How to reach each state from a new entry. */
const PATH_TO = {
  requested: [],
  in_review: ['review'],
  approved: ['review', 'approve'],
  rejected: ['review', 'reject'],
  suspended: ['review', 'approve', 'suspend'],
  revoked: ['review', 'approve', 'revoke'],
  deprecated: ['review', 'approve', 'deprecate'],
};
const NIL = '00000000-0000-4000-8000-000000000000';
/** How long the 1 s expiry job may take to mark an approval that passed. */
const EXPIRY_WAIT_MS = 8000;

const ISSUE_TRACKER = {
  name: 'io.example.tools/issue-tracker',
  version: '1.4.2',
  digest: 'sha256:5b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f80',
};

/** The tools of tools-issue-tracker.json as an entry holds them, all blocked, sorted by name. */
function trackerTools (list = sample('tools-issue-tracker.json'))
{
  return list.tools.map((t) => ({ name: t.name, ...(t.description !== undefined ? { description: t.description } : {}),
                                  description_sha256: sha256hex(t.description ?? ''),
                                  annotations: t.annotations ?? {}, state: 'blocked' }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** An entry document of kind remote named io.example.<ns>/<n>. */
const remoteDoc = (ns, n, extra = {}) => ({
  name: `io.example.${ns}/${n}`, version: '1.0.0', kind: 'remote',
  identity: { url: `https://mcp.${ns}.example.com/${n}`, transport: 'streamable-http' }, ...extra,
});

/** The representation without `source`: what audit records digest. */
const withoutSource = ({ source, ...rest }) => rest;

describe('catalog', () => {
  const s = useServer('catalog');
  const P = () => s.token;
  let A, B, owner, reviewer, viewer, admin, auditor, ownerB, alice;
  const cat = (org = A) => `/api/v1/orgs/${org.id}/catalog`;
  const entryPath = (e, rest = '', org = A) => `${cat(org)}/entries/${e.id ?? e}${rest}`;

  /** POST …/catalog/import; the raw response. */
  const importRaw = (body, token = owner.secret, org = A) => s.api('POST', `${cat(org)}/import`, { token, body });
  /** Import successfully; the entry. */
  const imported = async (body, token, org) => {
    const r = await importRaw({ reason: 'needed for the test', ...body }, token, org);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${(org ?? A).id}/catalog/entries/${r.json.id}`);
    assert.equal(r.headers.get('etag'), '"1"');
    return r.json;
  };
  /** POST …/catalog/entries with @doc; the entry. */
  const created = async (doc, { token = owner.secret, org = A, reason = 'needed for the test' } = {}) => {
    const r = await s.api('POST', `${cat(org)}/entries`, { token, body: { entry: doc, reason } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${org.id}/catalog/entries/${r.json.id}`);
    return r.json;
  };
  /** POST …/entries/{id}/<name>; the raw response (no body unless given). */
  const transitionRaw = (e, name, { body, rawBody, token = reviewer.secret, headers, org = A } = {}) =>
    s.api('POST', entryPath(e, `/${name}`, org), { token, body, rawBody, headers });
  /** A transition that must succeed; the entry after it. */
  const transition = async (e, name, opts = {}) => {
    const r = await transitionRaw(e, name, opts);
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.equal(r.headers.get('etag'), `"${r.json.revision}"`);
    return r.json;
  };
  const get = async (e, token = viewer.secret, org = A) => {
    const r = await s.api('GET', entryPath(e, '', org), { token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('etag'), `"${r.json.revision}"`);
    return r.json;
  };
  /** The actions of the audit records about @target in @org, oldest first (GET …/audit). */
  const auditTrail = async (target, org = A) => {
    const r = await s.api('GET', `/api/v1/orgs/${org.id}/audit?limit=200`, { token: P() });
    assert.equal(r.status, 200, r.text);
    return r.json.items.filter((i) => i.target.id === target).reverse();
  };
  const toolStates = (e) => e.tools.map((t) => [t.name, t.state]);

  s.test('setup: orgs A and B, a token of every role, user alice', async () => {
    A = await s.newOrg('cata');
    B = await s.newOrg('catb');
    owner = await s.mint(A, 'owner');
    reviewer = await s.mint(A, 'catalog_reviewer');
    viewer = await s.mint(A, 'viewer');
    admin = await s.mint(A, 'policy_admin');
    auditor = await s.mint(A, 'auditor');
    ownerB = await s.mint(B, 'owner');
    const u = await s.api('POST', `/api/v1/orgs/${A.id}/users`, { token: owner.secret, body: { user_name: 'alice' } });
    assert.equal(u.status, 201, u.text);
    alice = u.json;
  });

  /* ------------------------------------------------------------- import */

  s.test('import oci-stdio.json with its tool list: every value mapped, tools blocked, source kept, audited', async () => {
    const server = sample('oci-stdio.json');
    const before = Date.now();
    const e = await imported({ server, tools: sample('tools-issue-tracker.json'), reason: 'triage from the IDE' },
                             viewer.secret);
    assert.ok(isUuid(e.id));
    assert.deepEqual(e, {
      id: e.id, name: ISSUE_TRACKER.name, version: '1.4.2', title: 'Issue tracker',
      description: 'Read and file issues in the Example issue tracker', kind: 'image',
      identity: { image: 'ghcr.io/example-tools/issue-tracker-mcp', image_digest: ISSUE_TRACKER.digest },
      inputs: [
        { name: 'TRACKER_TOKEN', kind: 'env', secret: true, required: true, description: 'API token for the tracker' },
        { name: 'TRACKER_URL', kind: 'env', secret: false, required: false, description: 'Base URL of the tracker' },
      ],
      tools: trackerTools(),
      state: 'requested', active: false, reason: 'triage from the IDE', requested_by: `token:${viewer.id}`,
      requested_by_user: null, review_note: null, reviewed_by: null, reviewed_at: null, expires_at: null,
      expired_at: null, supersedes: null, revision: 1, created_at: e.created_at, updated_at: e.created_at, source: server,
    });
    assert.ok(Math.abs(Date.parse(e.created_at) - before) < 60000);
    assert.deepEqual(await get(e), e, 'GET answers the same representation');
    const trail = await auditTrail(e.id);
    assert.deepEqual(trail.map((r) => [r.action, r.actor, r.target.type, r.before_sha256, r.after_sha256]),
                     [['catalog.entry.create', `token:${viewer.id}`, 'catalog_entry', null, digest(withoutSource(e))]]);
    // The row: pin_sha256 is the digest of what pins the server (bw_catalog_pin_sha256):
    // name, version, kind, identity and the tools without their states and description texts.
    const pinDef = { name: e.name, version: e.version, kind: e.kind, identity: e.identity,
                     tools: e.tools.map(({ state: _state, description: _text, ...t }) => t) };
    assert.equal(await s.psql(`SELECT pin_sha256 || ' ' || name || ' ' || version || ' ' || kind FROM catalog_entries WHERE id = '${e.id}'`),
                 `${digest(pinDef)} ${ISSUE_TRACKER.name} 1.4.2 image`);
    // rejected: the way is free for another import of it
    await transition(e, 'review');
    await transition(e, 'reject', { body: { note: 'test entry' } });
  });

  s.test('import npm-package.json, mcpb-file.json and remote-http.json: kind, identity and inputs', async () => {
    const npm = await imported({ server: sample('npm-package.json') });
    assert.deepEqual([npm.name, npm.version, npm.kind, npm.title, npm.description],
                     ['io.github.example-user/sql-helper', '0.9.1', 'package', undefined,
                      'Run read-only SQL against a configured database']);
    assert.deepEqual(npm.identity, { registry_type: 'npm', package: '@example-user/sql-helper-mcp', version: '0.9.1' });
    assert.deepEqual(npm.inputs, [
      { name: '--read-only', kind: 'argument', secret: false, required: false, description: 'Refuse writes' },
      { name: 'DATABASE_URL', kind: 'env', secret: true, required: true, description: 'Connection string' },
    ]);
    assert.deepEqual(npm.tools, []);
    assert.deepEqual(npm.source, sample('npm-package.json'));

    const mcpb = await imported({ server: sample('mcpb-file.json') });
    assert.deepEqual([mcpb.name, mcpb.version, mcpb.kind], ['io.example.local/file-indexer', '3.1.0', 'package']);
    assert.deepEqual(mcpb.identity, {
      registry_type: 'mcpb', package: 'https://downloads.example.com/file-indexer-3.1.0.mcpb', version: '3.1.0',
      sha256: '0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
    });
    assert.deepEqual([mcpb.inputs, mcpb.tools], [[], []]);

    const remote = await imported({ server: sample('remote-http.json'), select: '/remotes/0' });
    assert.deepEqual([remote.name, remote.version, remote.kind, remote.title],
                     ['com.example.docs/search', '2.0.0', 'remote', 'Docs search']);
    assert.deepEqual(remote.identity, { url: 'https://mcp.docs.example.com/mcp', transport: 'streamable-http' });
    assert.deepEqual(remote.inputs, [
      { name: 'Authorization', kind: 'header', secret: true, required: true, description: 'Bearer token' },
    ]);
    for (const e of [npm, mcpb, remote])
      {
        assert.deepEqual([e.state, e.revision, e.supersedes], ['requested', 1, null]);
        await transition(e, 'review');
        await transition(e, 'reject', { body: { note: 'only for the import test' } });
      }
  });

  s.test('the invalid samples and malformed bodies: 400 naming each field, nothing stored', async () => {
    const count = async () => Number(await s.psql(`SELECT count(*) FROM catalog_entries WHERE org_id = '${A.id}'`));
    const n0 = await count();
    const bad = async (body, { want, all } = {}) => {
      const r = await importRaw(body);
      assertProblem(r, 400, 'validation_failed');
      const ptrs = errorPointers(r);
      for (const p of want ?? [])
        assert.ok(ptrs.includes(p), `expected ${p} among ${JSON.stringify(ptrs)}`);
      if (all)
        assert.ok(ptrs.every((p) => p.startsWith(all)), `every pointer under ${all}: ${JSON.stringify(ptrs)}`);
      return ptrs;
    };
    await bad({ server: sample('invalid-name.json'), reason: 'r' }, { want: ['/server/name'], all: '/server/' });
    await bad({ server: sample('invalid-no-version.json'), reason: 'r' },
              { want: ['/server/version', '/server/packages/0/identifier'], all: '/server/' });
    // the request's own fields
    assert.deepEqual(await bad({ server: sample('oci-stdio.json') }), ['/reason']);
    assert.deepEqual(await bad({ server: 'oci', reason: 'r' }), ['/server']);
    assert.deepEqual(await bad({ server: sample('oci-stdio.json'), reason: '' }), ['/reason']);
    assert.deepEqual(await bad({ server: sample('oci-stdio.json'), reason: ' \n ' }), ['/reason']);
    assert.deepEqual(await bad({ server: sample('oci-stdio.json'), reason: 'x'.repeat(2001) }), ['/reason']);
    assert.deepEqual(await bad({ server: sample('oci-stdio.json'), reason: 'r', color: 'red' }), ['/color']);
    assert.deepEqual(await bad({ server: sample('oci-stdio.json'), reason: 'r', tools: [] }), ['/tools']);
    // the server description, pointed into
    await bad({ server: { ...sample('oci-stdio.json'), version: '^1.4' }, reason: 'r' }, { want: ['/server/version'], all: '/server/' });
    const tagged = sample('oci-stdio.json');
    tagged.packages[0].identifier = 'ghcr.io/example-tools/issue-tracker-mcp:1.4.2';
    await bad({ server: tagged, reason: 'r' }, { want: ['/server/packages/0/identifier'], all: '/server/' });
    const noSha = sample('mcpb-file.json');
    delete noSha.packages[0].fileSha256;
    await bad({ server: noSha, reason: 'r' }, { all: '/server/packages/0' });
    await bad({ server: sample('oci-stdio.json'), select: '/remotes/0', reason: 'r' });
    // the tool list, pointed into under /tools
    const tools = sample('tools-issue-tracker.json');
    await bad({ server: sample('oci-stdio.json'), reason: 'r', tools: { ...tools, version: '9.9.9' } }, { all: '/tools' });
    await bad({ server: sample('oci-stdio.json'), reason: 'r', tools: { tools: [{ description: 'no name' }] } },
              { want: ['/tools/tools/0/name'], all: '/tools/' });
    // the entry document of POST …/entries, pointed into under /entry
    const r = await s.api('POST', `${cat()}/entries`, { token: owner.secret, body: { entry: { name: 'bad name', kind: 'image' }, reason: 'r' } });
    assertProblem(r, 400, 'validation_failed');
    assert.ok(errorPointers(r).every((p) => p.startsWith('/entry/')), r.text);
    assert.ok(errorPointers(r).includes('/entry/name'), r.text);
    const r2 = await s.api('POST', `${cat()}/entries`, { token: owner.secret, body: { reason: 'r' } });
    assertProblem(r2, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r2), ['/entry']);
    assertProblem(await s.api('POST', `${cat()}/import`, { token: owner.secret, rawBody: '{"server": {}, "server": {}}' }),
                  400, 'malformed_json');
    assert.equal(await count(), n0, 'nothing stored');
  });

  s.test('a bad import select is 400 at /select; one naming nothing says what the server has', async () => {
    const count = async () => Number(await s.psql(`SELECT count(*) FROM catalog_entries WHERE org_id = '${A.id}'`));
    const n0 = await count();
    const server = sample('remote-http.json');
    for (const select of ['/remotes/-1', '/remotes/00', '/remotes/+1', '/remotes/1x', '/remotes/', '/remotes/0/url',
                          '/foo', '', 'remotes/0', `/remotes/${'9'.repeat(40)}`])
      {
        const r = await importRaw({ server, select, reason: 'r' });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(errorPointers(r), ['/select'], `${JSON.stringify(select)}: ${r.text}`);
      }
    // well formed, but there is no such package or remote: /select too, saying what exists
    for (const [doc, select, has] of [[server, '/remotes/1', /no packages and 1 remote \(\/remotes\/0\)/],
                                      [server, '/remotes/99999999', /no packages and 1 remote \(\/remotes\/0\)/],
                                      [server, '/packages/0', /no packages and 1 remote \(\/remotes\/0\)/],
                                      [sample('oci-stdio.json'), '/remotes/0', /1 package \(\/packages\/0\) and no remotes/]])
      {
        const r = await importRaw({ server: doc, select, reason: 'r' });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(errorPointers(r), ['/select'], r.text);
        assert.match(r.json.errors[0].message, has, r.text);
      }
    assert.equal(await count(), n0, 'nothing stored');
  });

  /* ------------------------------------------- only a reviewer approves */

  s.test('a request cannot approve tools or bind credentials: 400 naming each; "blocked" is accepted; imports block every tool', async () => {
    const count = async () => Number(await s.psql(`SELECT count(*) FROM catalog_entries WHERE org_id = '${A.id}'`));
    const n0 = await count();
    const inputs = [{ name: 'TOKEN', kind: 'env', secret: true, required: true, credential: 'prod-token' },
                    { name: 'A_URL', kind: 'env', secret: false, required: false }];
    const tools = [{ name: 'zeta', description: 'z', state: 'blocked' }, { name: 'alpha', description: 'a', state: 'approved' }];
    // not even a reviewer's own request: the review is where states and bindings are set
    for (const token of [viewer.secret, reviewer.secret, owner.secret])
      {
        const r = await s.api('POST', `${cat()}/entries`, { token, body: { entry: remoteDoc('failopen', 'one', { inputs, tools }), reason: 'r' } });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(errorPointers(r), ['/entry/inputs/0/credential', '/entry/tools/1/state'], r.text);
        const msg = Object.fromEntries(r.json.errors.map((e) => [e.pointer, e.message]));
        assert.match(msg['/entry/tools/1/state'], /set by the review/);
        assert.match(msg['/entry/inputs/0/credential'], /review/);
      }
    // reported beside the document's other errors
    const r2 = await s.api('POST', `${cat()}/entries`, { token: viewer.secret,
      body: { entry: { ...remoteDoc('failopen', 'one', { tools }), version: '^1' }, reason: 'r' } });
    assertProblem(r2, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r2), ['/entry/tools/1/state', '/entry/version'], r2.text);
    assert.equal(await count(), n0, 'nothing stored');
    // "blocked" (the default anyway) and unbound inputs are accepted
    const { credential: _credential, ...token } = inputs[0];
    const ok = await created(remoteDoc('failopen', 'one', { inputs: [token, inputs[1]], tools: [tools[0]] }), { token: viewer.secret });
    assert.deepEqual(toolStates(ok), [['zeta', 'blocked']]);
    assert.ok(ok.inputs.every((i) => !('credential' in i)), JSON.stringify(ok.inputs));
    // an import: a "state" in the tools/list output is no state, every tool starts blocked
    const list = sample('tools-issue-tracker.json');
    list.tools = list.tools.map((t) => ({ ...t, state: 'approved' }));
    const imp = await imported({ server: { ...sample('oci-stdio.json'), version: '0.0.1' }, tools: { ...list, version: '0.0.1' } },
                               viewer.secret);
    assert.deepEqual(toolStates(imp), trackerTools(list).map((t) => [t.name, 'blocked']));
    for (const e of [ok, imp])
      {
        await transition(e, 'review');
        await transition(e, 'reject', { body: { note: 'only for the test' } });
      }
  });

  s.test('a new entry carries from the live entry of its name its tool states and the bindings of inputs of the same name and kind', async () => {
    const inputs = [{ name: 'TOKEN', kind: 'env', secret: true, required: true },
                    { name: 'X-Key', kind: 'header', secret: true, required: false },
                    { name: 'ARG', kind: 'argument', secret: true, required: false }];
    const tools = [{ name: 'read', description: 'read' }, { name: 'write', description: 'write' }, { name: 'wipe', description: 'wipe' }];
    let live = await created(remoteDoc('carry', 'one', { inputs, tools }));
    await transition(live, 'review');
    live = await transition(live, 'approve', { body: {
      tools: { read: 'approved', write: 'approved' },
      inputs: { TOKEN: { credential: 'tok' }, 'X-Key': { credential: 'key' }, ARG: { credential: 'arg' } } } });
    // version 2: TOKEN as it was, X-Key now an env variable, ARG no longer secret, NEW new;
    // write's description changed, admin new
    const next = await created({ ...remoteDoc('carry', 'one', {
      inputs: [inputs[0], { ...inputs[1], kind: 'env' }, { ...inputs[2], secret: false },
               { name: 'NEW', kind: 'env', secret: true, required: false }],
      tools: [tools[0], { name: 'write', description: 'write anywhere' }, tools[2], { name: 'admin', description: 'admin' }] }),
                                 version: '2.0.0' }, { token: viewer.secret });
    assert.equal(next.supersedes, live.id);
    assert.deepEqual(toolStates(next), [['admin', 'blocked'], ['read', 'approved'], ['wipe', 'blocked'], ['write', 'blocked']]);
    assert.deepEqual(Object.fromEntries(next.inputs.map((i) => [i.name, i.credential ?? null])),
                     { ARG: null, NEW: null, TOKEN: 'tok', 'X-Key': null });
    // the review starts from there: approving without maps keeps exactly that
    await transition(next, 'review');
    const approved = await transition(next, 'approve');
    assert.deepEqual([toolStates(approved), approved.inputs], [toolStates(next), next.inputs]);
    assert.equal((await get(live)).state, 'deprecated');
  });

  /* ------------------------------------------------------------ pin check */

  s.test('the same pin in requested, in_review, approved or suspended is 409 catalog_entry_exists naming it', async () => {
    const server = sample('remote-http.json');
    const first = await imported({ server });
    for (const step of [null, 'review', 'approve', 'suspend'])
      {
        if (step)
          await transition(first, step);
        const r = await importRaw({ server, reason: 'again' });
        assertProblem(r, 409, 'catalog_entry_exists');
        assert.equal(r.json.entry_id, first.id, r.text);
        // the same server by its entry document, with another title and reason: the same pin
        const doc = { name: first.name, version: first.version, kind: first.kind, identity: first.identity, title: 'Another' };
        const r2 = await s.api('POST', `${cat()}/entries`, { token: viewer.secret, body: { entry: doc, reason: 'again' } });
        assertProblem(r2, 409, 'catalog_entry_exists');
        assert.equal(r2.json.entry_id, first.id);
      }
    // another version is another pin: it supersedes the live (suspended) one
    const next = await imported({ server: { ...server, version: '2.0.1' } });
    assert.deepEqual([next.state, next.supersedes, next.version], ['requested', first.id, '2.0.1']);
    // once revoked, the pin is free again; it supersedes nothing (nothing live)
    await transition(first, 'revoke', { body: { note: 'done' } });
    const third = await imported({ server });
    assert.deepEqual([third.state, third.supersedes], ['requested', null]);
    for (const e of [next, third])
      {
        await transition(e, 'review');
        await transition(e, 'reject', { body: { note: 'cleanup' } });
      }
  });

  /* ------------------------------------------- the state machine, in full */

  let counter = 0;
  /** A new entry (unique name) brought to @state. */
  const entryIn = async (state) => {
    let e = await created(remoteDoc('table', `s${++counter}`));
    for (const step of PATH_TO[state])
      e = await transition(e, step, { body: step === 'reject' ? { note: 'no' } : undefined });
    assert.equal(e.state, state);
    return e;
  };

  s.test('every transition from every state: the valid ones move, the others are 409 and change nothing', async () => {
    const table = [];
    for (const from of STATES)
      for (const t of TRANSITIONS)
        {
          const e = await entryIn(from);
          const v0 = await s.policyVersion(A);
          const r = await transitionRaw(e, t, { body: { note: `table ${from} ${t}` } });
          const to = VALID[t][from];
          if (to)
            {
              assert.equal(r.status, 200, `${t} from ${from}: ${r.text}`);
              assert.deepEqual([r.json.state, r.json.revision, r.json.review_note, r.json.reviewed_by],
                               [to, e.revision + 1, `table ${from} ${t}`, `token:${reviewer.id}`]);
              assert.equal(r.json.active, to === 'approved');
              assert.ok(Date.parse(r.json.reviewed_at) >= Date.parse(e.created_at));
              const moved = from === 'approved' || to === 'approved';
              assert.equal(await s.policyVersion(A), v0 + (moved ? 1 : 0),
                           `${t} from ${from}: the policy version moves iff the approved slice can change`);
              const trail = await auditTrail(e.id);
              const last = trail[trail.length - 1];
              assert.deepEqual([last.action, last.actor, last.before_sha256, last.after_sha256],
                               [`catalog.entry.${t}`, `token:${reviewer.id}`, digest(withoutSource(e)), digest(withoutSource(r.json))]);
              table.push(`${from} -${t}-> ${to}`);
            }
          else
            {
              assertProblem(r, 409, 'invalid_transition');
              assert.deepEqual([r.json.state, r.json.transition], [from, t], r.text);
              assert.deepEqual(await get(e), e, `${t} from ${from} changed nothing`);
              assert.equal(await s.policyVersion(A), v0);
            }
        }
    assert.deepEqual(table.sort(), [
      'approved -deprecate-> deprecated', 'approved -revoke-> revoked', 'approved -suspend-> suspended',
      'in_review -approve-> approved', 'in_review -reject-> rejected', 'requested -review-> in_review',
      'suspended -deprecate-> deprecated', 'suspended -resume-> approved', 'suspended -revoke-> revoked',
    ]);
  });

  s.test('PATCH and PUT …/tools by state: PATCH in in_review, approved, suspended; tools in place only in requested, never under review nor in a final state', async () => {
    for (const from of STATES)
      {
        const e = await entryIn(from);
        const r = await s.api('PATCH', entryPath(e), { token: reviewer.secret, headers: { 'if-match': `"${e.revision}"` },
                                                       body: { note: 'patched' } });
        if (['in_review', 'approved', 'suspended'].includes(from))
          {
            assert.equal(r.status, 200, `${from}: ${r.text}`);
            assert.deepEqual([r.json.state, r.json.review_note, r.json.revision], [from, 'patched', e.revision + 1]);
          }
        else
          {
            assertProblem(r, 409, 'invalid_transition');
            assert.deepEqual([r.json.state, r.json.transition], [from, 'update']);
          }
        const list = { tools: [{ name: 'ping', description: `ping ${from}` }] };
        const t = await s.api('PUT', entryPath(e, '/tools'), { token: viewer.secret, body: list });
        if (['in_review', 'rejected', 'revoked', 'deprecated'].includes(from))
          {
            // under review the tool list is frozen: what the reviewer reads is what an approve approves
            assertProblem(t, 409, 'invalid_transition');
            assert.deepEqual([t.json.state, t.json.transition], [from, 'tools']);
            const now = await get(e);
            assert.deepEqual([now.tools, now.revision], [[], from === 'in_review' ? e.revision + 1 : e.revision]);
          }
        else
          assert.equal(t.status, ['approved', 'suspended'].includes(from) ? 201 : 200, `${from}: ${t.text}`);
      }
  });

  s.test('PATCH with nothing to change is 400 validation_failed: no new revision, no audit record, no bump', async () => {
    for (const state of ['in_review', 'approved'])
      {
        const e = await entryIn(state);
        const n = (await auditTrail(e.id)).length;
        const v0 = await s.policyVersion(A);
        const r = await s.api('PATCH', entryPath(e), { token: reviewer.secret, headers: { 'if-match': `"${e.revision}"` }, body: {} });
        assertProblem(r, 400, 'validation_failed');
        assert.match(r.json.detail, /nothing to change/, r.text);
        assert.deepEqual(errorPointers(r), [''], r.text);
        assert.deepEqual(await get(e), e, 'unchanged');
        assert.equal((await auditTrail(e.id)).length, n, 'not audited');
        assert.equal(await s.policyVersion(A), v0);
      }
  });

  s.test('bodies of transitions: optional, reject needs a note, only approve takes tools/inputs/expires_at', async () => {
    const e = await created(remoteDoc('bodies', 'one'));
    assertProblem(await transitionRaw(e, 'review', { body: { tools: {} } }), 400, 'validation_failed');
    assertProblem(await transitionRaw(e, 'review', { body: { note: '' } }), 400, 'validation_failed');
    assertProblem(await transitionRaw(e, 'review', { rawBody: '[]' }), 400, 'validation_failed');
    const reviewed = await transition(e, 'review');
    assert.equal(reviewed.review_note, null);
    for (const body of [undefined, {}, { note: null }, { note: 'x'.repeat(2001) }])
      {
        const r = await transitionRaw(e, 'reject', { body });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(errorPointers(r), ['/note']);
      }
    assert.equal((await get(e)).state, 'in_review');
    const rej = await transition(e, 'reject', { body: { note: 'not needed\nafter all' } });
    assert.deepEqual([rej.state, rej.review_note], ['rejected', 'not needed\nafter all']);
  });

  /* ---------------------------------- tools, per-tool approval, successors */

  let tracker;
  s.test('tool list attached in place to a requested entry: 200, blocked, audited as catalog.entry.tools', async () => {
    tracker = await imported({ server: sample('oci-stdio.json') }, viewer.secret);
    assert.deepEqual(tracker.tools, []);
    // a tools/list of another server or version is refused, pointing into the body
    const other = { ...sample('tools-issue-tracker.json'), server: 'io.example.tools/other' };
    const bad = await s.api('PUT', entryPath(tracker, '/tools'), { token: viewer.secret, body: other });
    assertProblem(bad, 400, 'validation_failed');
    assert.ok(errorPointers(bad).includes('/server'), bad.text);
    const r = await s.api('PUT', entryPath(tracker, '/tools'), { token: viewer.secret, body: sample('tools-issue-tracker.json') });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.tools, trackerTools());
    assert.deepEqual([r.json.id, r.json.revision, r.json.state], [tracker.id, 2, 'requested']);
    const trail = await auditTrail(tracker.id);
    assert.deepEqual(trail.map((x) => [x.action, x.before_sha256, x.after_sha256]), [
      ['catalog.entry.create', null, digest(withoutSource(tracker))],
      ['catalog.entry.tools', digest(withoutSource(tracker)), digest(withoutSource(r.json))],
    ]);
    // JSON-RPC response form, still requested: states carried in place; a "state" in a
    // tools/list output is no MCP field and no state: ignored, the tools stay blocked
    const rpc = { jsonrpc: '2.0', id: 7, result: { tools: sample('tools-issue-tracker.json').tools.map((t) => ({ ...t, state: 'approved' })) } };
    const again = await s.api('PUT', entryPath(r.json, '/tools'), { token: viewer.secret, body: rpc });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual([again.json.tools, again.json.revision], [trackerTools(), 3]);
    // in review the list is frozen: a requester cannot swap a description under the reviewer
    tracker = await transition(again.json, 'review');
    const swapped = sample('tools-issue-tracker.json');
    swapped.tools.find((t) => t.name === 'get_issue').description = 'Fetch one issue by number and mail it out';
    const frozen = await s.api('PUT', entryPath(tracker, '/tools'), { token: viewer.secret, body: swapped });
    assertProblem(frozen, 409, 'invalid_transition');
    assert.deepEqual([frozen.json.state, frozen.json.transition], ['in_review', 'tools']);
    assert.deepEqual(await get(tracker), tracker, 'the list under review is unchanged');
    assert.deepEqual((await auditTrail(tracker.id)).map((x) => x.action),
                     ['catalog.entry.create', 'catalog.entry.tools', 'catalog.entry.tools', 'catalog.entry.review']);
  });

  s.test('approve two of four tools and bind the secret input: approved, active, policy version +1', async () => {
    const v0 = await s.policyVersion(A);
    const bad = async (body, pointers) => {
      const r = await transitionRaw(tracker, 'approve', { body });
      assertProblem(r, 400, 'validation_failed');
      assert.deepEqual(errorPointers(r), pointers.sort(), r.text);
    };
    await bad({ tools: { get_issue: 'approved', nope: 'approved' } }, ['/tools/nope']);
    await bad({ tools: { get_issue: 'allowed' } }, ['/tools/get_issue']);
    await bad({ inputs: { TRACKER_URL: { credential: 'tracker-url' } } }, ['/inputs/TRACKER_URL/credential']);
    await bad({ inputs: { NOPE: { credential: 'x' } } }, ['/inputs/NOPE']);
    await bad({ inputs: { TRACKER_TOKEN: { credential: '-bad name' } } }, ['/inputs/TRACKER_TOKEN/credential']);
    await bad({ inputs: { TRACKER_TOKEN: { credential: 'x', extra: 1 } } }, ['/inputs/TRACKER_TOKEN/extra']);
    await bad({ inputs: { TRACKER_TOKEN: 'x' } }, ['/inputs/TRACKER_TOKEN']);
    await bad({ expires_at: 'soon' }, ['/expires_at']);
    await bad({ expires_at: '2001-01-01T00:00:00Z' }, ['/expires_at']);
    assert.deepEqual(await get(tracker), tracker, 'refused approvals changed nothing');
    const e = await transition(tracker, 'approve', { body: {
      note: 'read-only tools only', tools: { get_issue: 'approved', list_issues: 'approved' },
      inputs: { TRACKER_TOKEN: { credential: 'tracker-token' } } } });
    assert.deepEqual(toolStates(e), [['create_issue', 'blocked'], ['delete_issue', 'blocked'],
                                     ['get_issue', 'approved'], ['list_issues', 'approved']]);
    assert.deepEqual(e.inputs[0], { name: 'TRACKER_TOKEN', kind: 'env', secret: true, required: true,
                                    description: 'API token for the tracker', credential: 'tracker-token' });
    assert.deepEqual([e.state, e.active, e.review_note, e.expires_at], ['approved', true, 'read-only tools only', null]);
    assert.equal(await s.policyVersion(A), v0 + 1);
    // the approved slice a bundle carries (db_catalog_slice)
    const slice = JSON.parse(await s.psql(`SELECT definition::text FROM catalog_entries WHERE id = '${e.id}'`));
    assert.deepEqual(slice.tools.filter((t) => t.state === 'approved').map((t) => t.name), ['get_issue', 'list_issues']);
    tracker = e;
  });

  s.test('If-Match: 412 on a stale revision for transitions and PATCH, 428 without it on PATCH', async () => {
    const stale = `"${tracker.revision - 1}"`;
    const r = await transitionRaw(tracker, 'suspend', { headers: { 'if-match': stale } });
    assertProblem(r, 412, 'precondition_failed');
    for (const h of [undefined, '*'])
      assertProblem(await s.api('PATCH', entryPath(tracker), { token: reviewer.secret, body: { note: 'x' },
                                                                headers: h ? { 'if-match': h } : {} }), 428, 'precondition_required');
    assertProblem(await s.api('PATCH', entryPath(tracker), { token: reviewer.secret, body: { note: 'x' },
                                                              headers: { 'if-match': stale } }), 412, 'precondition_failed');
    assertProblem(await s.api('PUT', entryPath(tracker, '/tools'), { token: viewer.secret, body: sample('tools-issue-tracker.json'),
                                                                      headers: { 'if-match': stale } }), 412, 'precondition_failed');
    assert.deepEqual(await get(tracker), tracker, 'nothing changed');
    // PATCH per-tool approval and credential unbinding on the approved entry: the slice changes
    const v0 = await s.policyVersion(A);
    const p = await s.api('PATCH', entryPath(tracker), { token: reviewer.secret, headers: { 'if-match': `"${tracker.revision}"` },
                                                         body: { tools: { create_issue: 'approved', get_issue: 'blocked' },
                                                                 inputs: { TRACKER_TOKEN: { credential: null } } } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(toolStates(p.json), [['create_issue', 'approved'], ['delete_issue', 'blocked'],
                                          ['get_issue', 'blocked'], ['list_issues', 'approved']]);
    assert.equal(p.json.inputs[0].credential, undefined, 'unbound');
    assert.equal(await s.policyVersion(A), v0 + 1);
    const back = await s.api('PATCH', entryPath(tracker), { token: reviewer.secret, headers: { 'if-match': `"${p.json.revision}"` },
                                                            body: { tools: { create_issue: 'blocked', get_issue: 'approved' },
                                                                    inputs: { TRACKER_TOKEN: { credential: 'tracker-token' } } } });
    assert.equal(back.status, 200, back.text);
    assert.deepEqual(toolStates(back.json), toolStates(tracker));
    assert.deepEqual(back.json.inputs, tracker.inputs);
    const trail = await auditTrail(tracker.id);
    assert.deepEqual(trail.slice(-2).map((x) => x.action), ['catalog.entry.update', 'catalog.entry.update']);
    tracker = back.json;
  });

  let successor;
  s.test('a new tool list of an approved entry is a new entry superseding it: new and changed tools blocked', async () => {
    const list = sample('tools-issue-tracker.json');
    list.tools.find((t) => t.name === 'list_issues').description = 'List issues matching a query (now with writes)';
    list.tools.push({ name: 'close_issue', description: 'Close an issue', annotations: { destructiveHint: false }, state: 'approved' });
    const r = await s.api('PUT', entryPath(tracker, '/tools'), { token: viewer.secret, body: list });
    assert.equal(r.status, 201, r.text);
    successor = r.json;
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${A.id}/catalog/entries/${successor.id}`);
    assert.notEqual(successor.id, tracker.id);
    assert.deepEqual([successor.state, successor.supersedes, successor.requested_by, successor.revision, successor.source],
                     ['requested', tracker.id, `token:${viewer.id}`, 1, tracker.source]);
    assert.equal(successor.reason, `new tool list of catalog entry ${tracker.id}`);
    const want = trackerTools(list);
    for (const t of want)
      t.state = t.name === 'get_issue' ? 'approved' : 'blocked';
    assert.deepEqual(successor.tools, want, 'get_issue unchanged keeps approved; list_issues changed and close_issue new: blocked');
    assert.deepEqual(successor.inputs, tracker.inputs, 'the credential binding is carried');
    assert.deepEqual(await get(tracker), tracker, 'the live entry is untouched');
    // the same list again is the same pin
    const dup = await s.api('PUT', entryPath(tracker, '/tools'), { token: viewer.secret, body: list });
    assertProblem(dup, 409, 'catalog_entry_exists');
    assert.equal(dup.json.entry_id, successor.id);
    // and the live entry's own list is its own pin
    const own = await s.api('PUT', entryPath(tracker, '/tools'), { token: viewer.secret, body: sample('tools-issue-tracker.json') });
    assertProblem(own, 409, 'catalog_entry_exists');
    assert.equal(own.json.entry_id, tracker.id);
    // an import of a new version supersedes it too, carrying the states of unchanged tools
    const v2 = await imported({ server: { ...sample('oci-stdio.json'), version: '1.5.0' },
                                tools: { ...sample('tools-issue-tracker.json'), version: '1.5.0' } });
    assert.deepEqual([v2.supersedes, toolStates(v2)], [tracker.id, toolStates(tracker)]);
    assert.deepEqual(v2.inputs, tracker.inputs, 'and the credential binding of its secret input');
    await transition(v2, 'review');
    await transition(v2, 'reject', { body: { note: 'one successor is enough' } });
  });

  s.test('a tool list attached in place to an entry superseding a live one carries the live states (its own first); frozen in review', async () => {
    // as `request-mcp` without --tools, then the tools: the same states as an import with them
    let v3 = await imported({ server: { ...sample('oci-stdio.json'), version: '1.6.0' } }, viewer.secret);
    assert.deepEqual([v3.supersedes, v3.tools, v3.inputs], [tracker.id, [], tracker.inputs]);
    const list = { ...sample('tools-issue-tracker.json'), version: '1.6.0' };
    const r = await s.api('PUT', entryPath(v3, '/tools'), { token: viewer.secret, body: list });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(toolStates(r.json), toolStates(tracker));
    assert.deepEqual(toolStates(tracker), [['create_issue', 'blocked'], ['delete_issue', 'blocked'],
                                           ['get_issue', 'approved'], ['list_issues', 'approved']]);
    // a second list while still requested: its own states of unchanged tools first, a changed one blocked
    list.tools = list.tools.map((t) => (t.name === 'list_issues' ? { ...t, description: 'List issues, and more' } : t));
    const again = await s.api('PUT', entryPath(v3, '/tools'), { token: viewer.secret, body: list });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(toolStates(again.json), [['create_issue', 'blocked'], ['delete_issue', 'blocked'],
                                              ['get_issue', 'approved'], ['list_issues', 'blocked']]);
    // in review the reviewer decides; the list cannot change under the review
    v3 = await transition(again.json, 'review');
    const p = await s.api('PATCH', entryPath(v3), { token: reviewer.secret, headers: { 'if-match': `"${v3.revision}"` },
                                                    body: { tools: { create_issue: 'approved', get_issue: 'blocked' } } });
    assert.equal(p.status, 200, p.text);
    const frozen = await s.api('PUT', entryPath(v3, '/tools'), { token: viewer.secret, body: { ...list, tools: list.tools.slice(1) } });
    assertProblem(frozen, 409, 'invalid_transition');
    assert.deepEqual([frozen.json.state, frozen.json.transition], ['in_review', 'tools']);
    assert.deepEqual(await get(v3), p.json, 'nothing changed');
    await transition(p.json, 'reject', { body: { note: 'only for the test' } });
  });

  s.test('the review queue: requested and in_review, oldest first, paged', async () => {
    const r = await s.api('GET', `${cat()}/review-queue`, { token: auditor.secret });
    assert.equal(r.status, 200, r.text);
    const expected = JSON.parse(await s.psql(
      `SELECT coalesce(json_agg(id ORDER BY created_at, id), '[]') FROM catalog_entries WHERE org_id = '${A.id}'`
      + " AND state IN ('requested', 'in_review')"));
    assert.ok(expected.length >= 3, 'entries wait');
    assert.deepEqual(r.json.items.map((e) => e.id), expected);
    assert.ok(r.json.items.every((e) => ['requested', 'in_review'].includes(e.state)));
    assert.ok(r.json.items.some((e) => e.id === successor.id));
    const paged = await walkPages(s.api, `${cat()}/review-queue`, { token: viewer.secret, limit: 2 });
    assert.deepEqual(paged.items.map((e) => e.id), expected);
    // lists with filters
    const approved = await walkPages(s.api, `${cat()}/entries?state=approved&name=${encodeURIComponent(ISSUE_TRACKER.name)}`,
                                     { token: viewer.secret, limit: 1 });
    assert.deepEqual(approved.items.map((e) => e.id), [tracker.id]);
    const all = await walkPages(s.api, `${cat()}/entries?name=${encodeURIComponent(ISSUE_TRACKER.name)}`, { token: viewer.secret, limit: 3 });
    assert.ok(all.items.length >= 4);
    assert.ok(all.items.every((e) => e.name === ISSUE_TRACKER.name));
    const times = all.items.map((e) => e.created_at);
    assert.deepEqual([...times].sort(), times, 'oldest first');
    const bad = await s.api('GET', `${cat()}/entries?state=live`, { token: viewer.secret });
    assertProblem(bad, 400, 'validation_failed');
    assert.deepEqual(errorPointers(bad), ['state']);
    assertProblem(await s.api('GET', `${cat()}/entries?name=${'x'.repeat(201)}`, { token: viewer.secret }), 400, 'validation_failed');
    assertProblem(await s.api('GET', `${cat()}/review-queue?cursor=nope`, { token: viewer.secret }), 400, 'validation_failed');
  });

  s.test('approving the successor deprecates the predecessor in the same transaction, audited', async () => {
    const v0 = await s.policyVersion(A);
    successor = await transition(successor, 'review');
    successor = await transition(successor, 'approve', { body: { note: 'v2 tools' } });
    assert.deepEqual([successor.state, successor.active, successor.supersedes], ['approved', true, tracker.id]);
    const old = await get(tracker);
    assert.deepEqual([old.state, old.active, old.revision, old.reviewed_by], ['deprecated', false, tracker.revision + 1, `token:${reviewer.id}`]);
    assert.equal(await s.policyVersion(A), v0 + 1, 'one bump for the one transaction');
    const trail = await auditTrail(tracker.id);
    const last = trail[trail.length - 1];
    assert.deepEqual([last.action, last.before_sha256, last.after_sha256],
                     ['catalog.entry.deprecate', digest(withoutSource(tracker)), digest(withoutSource(old))]);
    const sTrail = await auditTrail(successor.id);
    assert.equal(sTrail[sTrail.length - 1].action, 'catalog.entry.approve');
    assert.equal(sTrail[sTrail.length - 1].request_id, last.request_id, 'one request did both');
    assert.equal(sTrail[sTrail.length - 1].seq, last.seq + 1);
    // one live entry per name
    assert.equal(await s.psql(`SELECT count(*) FROM catalog_entries WHERE org_id = '${A.id}' AND name = '${ISSUE_TRACKER.name}'`
                              + " AND state IN ('approved', 'suspended')"), '1');
  });

  s.test('approving a request that supersedes nothing still deprecates the live entry of its name', async () => {
    const one = await entryIn('in_review');
    const two = await created({ ...remoteDoc('table', `s${counter}`), version: '2.0.0' });
    assert.equal(two.supersedes, null);
    await transition(two, 'review');
    await transition(one, 'approve');
    const approved = await transition(two, 'approve');
    assert.deepEqual([approved.state, approved.supersedes], ['approved', one.id]);
    assert.equal((await get(one)).state, 'deprecated');
  });

  s.test('revoking an entry strips its pending successors of what they carried: tools blocked, bindings dropped, audited', async () => {
    const inputs = [{ name: 'TOKEN', kind: 'env', secret: true, required: true }];
    const tools = [{ name: 'read', description: 'read' }, { name: 'write', description: 'write' }, { name: 'wipe', description: 'wipe' }];
    let live = await created(remoteDoc('revoked', 'one', { inputs, tools }));
    await transition(live, 'review');
    live = await transition(live, 'approve', { body: { tools: { read: 'approved', write: 'approved' },
                                                       inputs: { TOKEN: { credential: 'tok' } } } });
    // three successors: one requested (a new tool list), one in review, one rejected (final)
    const put = await s.api('PUT', entryPath(live, '/tools'), { token: viewer.secret,
                                                                body: { tools: [...tools, { name: 'admin', description: 'admin' }] } });
    assert.equal(put.status, 201, put.text);
    const s1 = put.json;
    let s2 = await created({ ...remoteDoc('revoked', 'one', { inputs, tools }), version: '2.0.0' }, { token: viewer.secret });
    s2 = await transition(s2, 'review');
    let s3 = await created({ ...remoteDoc('revoked', 'one', { inputs, tools }), version: '3.0.0' }, { token: viewer.secret });
    await transition(s3, 'review');
    s3 = await transition(s3, 'reject', { body: { note: 'not this one' } });
    const other = await created(remoteDoc('revoked', 'two', { inputs, tools }));
    for (const e of [s1, s2, s3])
      {
        assert.equal(e.supersedes, live.id);
        assert.deepEqual(Object.fromEntries(toolStates(e)).read, 'approved', 'carried');
        assert.equal(e.inputs[0].credential, 'tok', 'carried');
      }
    const v0 = await s.policyVersion(A);
    const revoked = await transition(live, 'revoke', { body: { note: 'vendor compromised' } });
    assert.equal(revoked.state, 'revoked');
    assert.equal(await s.policyVersion(A), v0 + 1, 'the pending successors are not in the slice: one bump');
    const rTrail = await auditTrail(live.id);
    const rec = rTrail[rTrail.length - 1];
    assert.equal(rec.action, 'catalog.entry.revoke');
    for (const [before, state] of [[s1, 'requested'], [s2, 'in_review']])
      {
        const after = await get(before);
        assert.deepEqual([after.state, after.revision, after.supersedes], [state, before.revision + 1, live.id]);
        assert.ok(after.tools.length > 0 && after.tools.every((t) => t.state === 'blocked'), JSON.stringify(after.tools));
        assert.deepEqual(after.tools.map((t) => t.name), before.tools.map((t) => t.name));
        assert.deepEqual(after.inputs, [{ name: 'TOKEN', kind: 'env', secret: true, required: true }], 'no binding left');
        assert.deepEqual({ ...after, tools: before.tools, inputs: before.inputs, revision: before.revision, updated_at: before.updated_at },
                         before, 'nothing else changed');
        const trail = await auditTrail(before.id);
        const last = trail[trail.length - 1];
        assert.deepEqual([last.action, last.actor, last.request_id, last.before_sha256, last.after_sha256],
                         ['catalog.entry.update', `token:${reviewer.id}`, rec.request_id,
                          digest(withoutSource(before)), digest(withoutSource(after))]);
      }
    assert.deepEqual(await get(s3), s3, 'a final successor is left alone');
    assert.deepEqual(toolStates(await get(other)), toolStates(other), 'another name is left alone');
    // a reviewer must approve each tool again: an approve naming none approves none, binds nothing
    await transition(s1, 'review');
    const a1 = await transition(s1, 'approve');
    assert.deepEqual([a1.state, a1.tools.filter((t) => t.state !== 'blocked'), a1.inputs[0].credential], ['approved', [], undefined]);
    await transition(a1, 'revoke', { body: { note: 'done' } });
    const a2 = await transition(s2, 'approve');
    assert.deepEqual([a2.state, a2.tools.filter((t) => t.state !== 'blocked'), a2.inputs[0].credential], ['approved', [], undefined]);
    const slice = JSON.parse(await s.psql(`SELECT definition::text FROM catalog_entries WHERE id = '${a2.id}'`));
    assert.deepEqual(slice.tools.filter((t) => t.state === 'approved'), []);
  });

  /* ---------------------------------------------------------------- expiry */

  s.test('an approval with a short expiry: active until then, then deprecated by the server for good, audited, pushed', async () => {
    const e0 = await imported({ server: sample('mcpb-file.json') });
    assert.equal(e0.expired_at, null);
    await transition(e0, 'review');
    const effective = async () => {
      const r = await s.api('GET', `/api/v1/orgs/${A.id}/users/${alice.id}/effective-policy`, { token: viewer.secret });
      assert.equal(r.status, 200, r.text);
      return r.json.policy_version;
    };
    const v0 = await effective();
    const expires = new Date(Date.now() + 2500).toISOString();
    const e = await transition(e0, 'approve', { body: { expires_at: expires, tools: {} } });
    assert.deepEqual([e.state, e.active, e.expired_at], ['approved', true, null]);
    assert.equal(Date.parse(e.expires_at), Date.parse(expires));
    assert.equal(await effective(), v0 + 1);
    const after = await waitFor(async () => {
      const g = await get(e);
      return g.revision > e.revision ? g : null;
    }, EXPIRY_WAIT_MS);
    assert.ok(after, 'the approval expired');
    // a final state: no lingering "approved, inactive" that a PATCH could bring back
    assert.deepEqual([after.state, after.active, after.revision, after.expires_at, after.reviewed_by],
                     ['deprecated', false, e.revision + 1, e.expires_at, e.reviewed_by]);
    assert.ok(Date.parse(after.expired_at) >= Date.parse(expires), `${after.expired_at} after ${expires}`);
    assert.ok(Date.now() >= Date.parse(expires));
    assert.equal(await effective(), v0 + 2, 'the expiry moved the policy version');
    const trail = await auditTrail(e.id);
    const last = trail[trail.length - 1];
    assert.deepEqual([last.action, last.actor, last.source_addr, last.before_sha256, last.after_sha256],
                     ['catalog.entry.expire', 'system', 'internal', digest({ ...withoutSource(e), active: false }),
                      digest(withoutSource(after))]);
    assert.match(last.request_id, /^catalog-expiry-[0-9a-f]{32}$/);
    // once: a later round finds nothing
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((await auditTrail(e.id)).filter((x) => x.action === 'catalog.entry.expire').length, 1);
    assert.deepEqual(await get(e), after);
    // nothing brings it back: no PATCH, no transition
    for (const body of [{ expires_at: null }, { expires_at: new Date(Date.now() + 3600e3).toISOString() }, { note: 'x' }])
      {
        const p = await s.api('PATCH', entryPath(e), { token: reviewer.secret, headers: { 'if-match': `"${after.revision}"` }, body });
        assertProblem(p, 409, 'invalid_transition');
        assert.deepEqual([p.json.state, p.json.transition], ['deprecated', 'update']);
      }
    assertProblem(await transitionRaw(e, 'resume'), 409, 'invalid_transition');
    assert.deepEqual(await get(e), after);
    assert.equal(await effective(), v0 + 2);
    // the pin and the name are free: the same server is requested again, superseding nothing
    const again = await imported({ server: sample('mcpb-file.json') });
    assert.deepEqual([again.state, again.supersedes, again.expired_at], ['requested', null, null]);
    await transition(again, 'review');
    await transition(again, 'reject', { body: { note: 'only for the test' } });
    const verify = await s.api('GET', `/api/v1/orgs/${A.id}/audit/verify`, { token: P() });
    assert.equal(verify.json.ok, true, verify.text);
  });

  s.test('a suspended approval expires too; an approval whose expiry passed is not approved, nor changed', async () => {
    // suspended: deprecated when its expires_at passes (the slice does not change: no bump)
    const s0 = await entryIn('in_review');
    const soon = new Date(Date.now() + 2000).toISOString();
    const sus = await transition(await transition(s0, 'approve', { body: { expires_at: soon } }), 'suspend');
    const v0 = await s.policyVersion(A);
    const gone = await waitFor(async () => { const g = await get(sus); return g.state !== 'suspended' ? g : null; }, EXPIRY_WAIT_MS);
    assert.ok(gone, 'the suspended approval expired');
    assert.deepEqual([gone.state, gone.active, gone.revision], ['deprecated', false, sus.revision + 1]);
    assert.ok(Date.parse(gone.expired_at) >= Date.parse(soon));
    assert.deepEqual((await auditTrail(sus.id)).slice(-1).map((x) => [x.action, x.actor]), [['catalog.entry.expire', 'system']]);
    assert.equal(await s.policyVersion(A), v0);

    // in review, an expires_at that passed before the approval: approve needs a new one
    let e = await entryIn('in_review');
    const p = await s.api('PATCH', entryPath(e), { token: reviewer.secret, headers: { 'if-match': `"${e.revision}"` },
                                                   body: { expires_at: new Date(Date.now() + 1000).toISOString() } });
    assert.equal(p.status, 200, p.text);
    e = p.json;
    await new Promise((res) => setTimeout(res, 1500));
    const r = await transitionRaw(e, 'approve');
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(errorPointers(r), ['/expires_at']);
    assert.deepEqual(await get(e), e, "refused, unchanged");
    const later = new Date(Date.now() + 3600e3).toISOString();
    e = await transition(e, 'approve', { body: { expires_at: later } });
    assert.deepEqual([e.state, e.active, Date.parse(e.expires_at)], ['approved', true, Date.parse(later)]);

    // approved, its expiry just passed (set behind the API's back), the job not yet there:
    // a PATCH cannot revive it, whoever gets there first
    await s.psql(`UPDATE catalog_entries SET expires_at = now () - interval '1 second' WHERE id = '${e.id}'`);
    const late = await s.api('PATCH', entryPath(e), { token: reviewer.secret, headers: { 'if-match': `"${e.revision}"` },
                                                      body: { expires_at: later } });
    assertProblem(late, 409, 'invalid_transition');
    assert.equal(late.json.transition, 'update');
    const dead = await waitFor(async () => { const g = await get(e); return g.state === 'deprecated' ? g : null; }, EXPIRY_WAIT_MS);
    assert.ok(dead, 'the job deprecates it');
    assert.equal(dead.active, false);
  });

  /* ---------------------------------------------- roles, tenancy, agents */

  s.test('permissions per role: everyone reads and requests; owner and catalog_reviewer review', async () => {
    const roles = { owner, policy_admin: admin, catalog_reviewer: reviewer, auditor, viewer };
    for (const [role, t] of Object.entries(roles))
      {
        const e = await created(remoteDoc('roles', role), { token: t.secret });
        assert.deepEqual([e.requested_by, e.requested_by_user], [`token:${t.id}`, null]);
        assert.equal((await s.api('GET', `${cat()}/entries?name=${encodeURIComponent(e.name)}`, { token: t.secret })).json.items[0].id, e.id);
        assert.equal((await s.api('GET', `${cat()}/review-queue`, { token: t.secret })).status, 200);
        const r = await transitionRaw(e, 'review', { token: t.secret });
        const p = await s.api('PATCH', entryPath(e), { token: t.secret, headers: { 'if-match': '"2"' }, body: { note: 'n' } });
        if (role === 'owner' || role === 'catalog_reviewer')
          {
            assert.equal(r.status, 200, `${role}: ${r.text}`);
            assert.equal(r.json.reviewed_by, `token:${t.id}`);
            assert.equal(p.status, 200, `${role}: ${p.text}`);
          }
        else
          {
            assertProblem(r, 403, 'permission_denied');
            assertProblem(p, 403, 'permission_denied');
            assert.equal((await get(e)).state, 'requested');
          }
      }
    // a developer's own token: the request names its user
    const own = await s.mint(A, 'viewer', { name: 'alice laptop', user_id: alice.id });
    const e = await created(remoteDoc('roles', 'own'), { token: own.secret });
    assert.deepEqual([e.requested_by, e.requested_by_user], [`token:${own.id}`, alice.id]);
  });

  s.test('another org\'s entry is 404 everywhere; malformed and unknown ids are 404', async () => {
    const b = await created(remoteDoc('tenancy', 'b'), { token: ownerB.secret, org: B });
    for (const [token, org] of [[owner.secret, A], [owner.secret, B]])
      {
        const res = [
          await s.api('GET', entryPath(b, '', org), { token }),
          await transitionRaw(b, 'review', { token, org }),
          await s.api('PATCH', entryPath(b, '', org), { token, headers: { 'if-match': '"1"' }, body: {} }),
          await s.api('PUT', entryPath(b, '/tools', org), { token, body: { tools: [] } }),
        ];
        for (const r of res)
          assertProblem(r, 404, 'not_found');
      }
    const listA = await walkPages(s.api, `${cat()}/entries`, { token: owner.secret, limit: 200 });
    assert.ok(!listA.items.some((e) => e.id === b.id));
    for (const id of [NIL, 'not-a-uuid'])
      {
        assertProblem(await s.api('GET', entryPath(id), { token: owner.secret }), 404, 'not_found');
        assertProblem(await transitionRaw(id, 'approve', { token: owner.secret }), 404, 'not_found');
      }
    assert.equal((await get(b, ownerB.secret, B)).state, 'requested', 'B sees its own');
    assert.equal((await s.api('GET', entryPath(b, '', B), { token: P() })).status, 200, 'the platform admin too');
  });

  s.test('every transition is audited: the trail of one entry from request to revoke', async () => {
    let e = await created(remoteDoc('trail', 'one'), { token: viewer.secret });
    const states = [e];
    for (const [t, body] of [['review'], ['approve', { note: 'ok' }], ['suspend'], ['resume'], ['revoke', { note: 'gone' }]])
      {
        e = await transition(e, t, { body });
        states.push(e);
      }
    const trail = await auditTrail(e.id);
    assert.deepEqual(trail.map((x) => [x.action, x.actor, x.target.type]), [
      ['catalog.entry.create', `token:${viewer.id}`, 'catalog_entry'],
      ['catalog.entry.review', `token:${reviewer.id}`, 'catalog_entry'],
      ['catalog.entry.approve', `token:${reviewer.id}`, 'catalog_entry'],
      ['catalog.entry.suspend', `token:${reviewer.id}`, 'catalog_entry'],
      ['catalog.entry.resume', `token:${reviewer.id}`, 'catalog_entry'],
      ['catalog.entry.revoke', `token:${reviewer.id}`, 'catalog_entry'],
    ]);
    for (let i = 1; i < trail.length; i++)
      assert.deepEqual([trail[i].before_sha256, trail[i].after_sha256],
                       [digest(withoutSource(states[i - 1])), digest(withoutSource(states[i]))]);
    const f = await s.api('GET', `/api/v1/orgs/${A.id}/audit?action=catalog.entry.revoke`, { token: auditor.secret });
    assert.equal(f.status, 200, f.text);
    assert.ok(f.json.items.some((x) => x.target.id === e.id));
  });

  s.test('POST /api/v1/agent/catalog/requests: an agent asks; requested_by is the agent, requested_by_user its user', async () => {
    const enroll = async (user_id) => {
      const sec = await s.api('POST', `/api/v1/orgs/${A.id}/enroll-secrets`, { token: owner.secret, body: { name: 'laptops', user_id } });
      assert.equal(sec.status, 201, sec.text);
      const r = await s.api('POST', '/api/v1/agent/enroll', { body: { enroll_secret: sec.json.secret, hostname: 'laptop-1',
                                                                       platform: 'linux-x86_64', agent_version: '0.5.0' } });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    const withUser = await enroll(alice.id);
    const noUser = await enroll(null);
    const server = sample('npm-package.json');
    const r = await s.api('POST', '/api/v1/agent/catalog/requests', { token: withUser.credential,
                                                                       body: { server, reason: 'SQL from the IDE' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.headers.get('location'), `/api/v1/orgs/${A.id}/catalog/entries/${r.json.id}`);
    assert.deepEqual([r.json.state, r.json.requested_by, r.json.requested_by_user, r.json.reason, r.json.source],
                     ['requested', `agent:${withUser.agent_id}`, alice.id, 'SQL from the IDE', server]);
    const g = await get(r.json, reviewer.secret);
    assert.deepEqual(g, r.json);
    assert.deepEqual((await auditTrail(r.json.id)).map((x) => [x.action, x.actor]),
                     [['catalog.entry.create', `agent:${withUser.agent_id}`]]);
    // the same pin from another agent: 409; another version from the userless agent: no user
    const dup = await s.api('POST', '/api/v1/agent/catalog/requests', { token: noUser.credential, body: { server, reason: 'me too' } });
    assertProblem(dup, 409, 'catalog_entry_exists');
    assert.equal(dup.json.entry_id, r.json.id);
    const r2 = await s.api('POST', '/api/v1/agent/catalog/requests', { token: noUser.credential,
                                                                        body: { server: { ...server, version: '0.9.2' }, reason: 'newer' } });
    assert.equal(r2.status, 201, r2.text);
    assert.deepEqual([r2.json.requested_by, r2.json.requested_by_user], [`agent:${noUser.agent_id}`, null]);
    // invalid: the same 400s as the import
    const bad = await s.api('POST', '/api/v1/agent/catalog/requests', { token: noUser.credential,
                                                                         body: { server: sample('invalid-name.json'), reason: 'x' } });
    assertProblem(bad, 400, 'validation_failed');
    assert.ok(errorPointers(bad).every((p) => p.startsWith('/server/')), bad.text);
    // tokens never work on the agent API
    const tok = await s.api('POST', '/api/v1/agent/catalog/requests', { token: owner.secret, body: { server, reason: 'x' } });
    assert.equal(tok.status, 401, tok.text);
    assert.equal(tok.json.node_invalid, true);
  });
});
