// The decision point: /evaluate (allow, deny, require_approval, default
// deny; deciding_rule and matched; deny wins across policies of different
// scopes; audit mode's would_deny; inactive and unknown subjects),
// /evaluate/batch (order, errors by pointer, the 1000 cap), /policies/simulate
// (the draft decides beside the current policies and nothing changes), and
// /users/{id}/effective-policy (what applies and why).  Decisions follow
// policy, membership and user changes at once (the cache is keyed by the
// org's policy version), and a stored policy that no longer parses makes
// every decision of its org deny.  The MCP catalog step (DESIGN §4 step 1)
// runs first, with the org's approved slice at the same version: an
// unapproved server, another identity, a blocked tool, a changed or missing
// tool description, a credential the approval does not bind or asked for
// by a process that does not name the approved identity, are denied
// with reason catalog and no rule matched; an approved tool's annotations
// (from the catalog, never the request) feed the rules' `when`; suspend,
// resume and expiry show at once (an expired approval is deprecated for good).

import { describe } from 'node:test';
import assert from 'node:assert/strict';
import { assertProblem, errorPointers as pointers, sha256hex, sleep, useServer, waitFor } from './harness.mjs';

const GH = 'io.github.github/github-mcp-server';
const GH_URL = 'https://api.githubcopilot.com/mcp/';
/** The tools GH lists (tools/list), with their descriptions. */
const GH_TOOLS = {
  get_issue: 'Get the details of an issue',
  list_issues: 'List the issues of a repository',
  create_issue: 'Create an issue',
  delete_repo: 'Delete a repository',
};
const descSha = (tool) => sha256hex(Buffer.from(GH_TOOLS[tool] ?? '', 'utf8'));
/** An invoke_tool request for GH's @tool as a client sees it (identity and description as approved). */
const mcp = (tool, extra = {}) => ({
  surface: 'mcp', action: 'invoke_tool',
  resource: { server: GH, tool, identity: { url: GH_URL }, description_sha256: descSha(tool), ...extra },
});

const net = (host, port = 443, user) => ({
  ...(user ? { subject: { user } } : {}),
  surface: 'network', action: 'connect', resource: { host, port },
});

describe('evaluate', () => {
  const s = useServer('evaluate');
  const P = () => s.token;
  const newOrg = s.newOrg;
  const version = s.policyVersion;
  const auditCount = s.auditCount;

  let A, B, viewer, reviewer, eng, alice, bob, carol, outsider, baseline, engPolicy, bobAudit, ghEntry;
  const evaluate = (org, body, token = viewer) => s.api('POST', `/api/v1/orgs/${org.id}/evaluate`, { token, body });
  const decide = async (body) => {
    const r = await evaluate(A, body);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const ref = (p, rule) => ({ policy_id: p.id, revision: p.revision, rule_id: rule });

  const entryPath = (e, rest = '') => `/api/v1/orgs/${A.id}/catalog/entries/${e.id}${rest}`;
  /** POST transition @name of @e as the reviewer; the entry after it. */
  const transition = async (e, name, body = undefined) => {
    const r = await s.api('POST', entryPath(e, `/${name}`), { token: reviewer, body });
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    return r.json;
  };
  const catalogDeny = (check, entryId) => ({ decision: 'deny', reason: 'catalog', would_deny: false, deciding_rule: null,
                                             matched: [], catalog: { check, entry_id: entryId } });
  /** Request GH (a remote server) and approve three of its four tools, its token bound; the entry. */
  const approveGh = async () => {
    const r = await s.api('POST', `/api/v1/orgs/${A.id}/catalog/entries`, { token: viewer, body: { reason: 'issues from the IDE', entry: {
      name: GH, version: '0.9.0', kind: 'remote', identity: { url: GH_URL, transport: 'streamable-http' },
      inputs: [{ name: 'Authorization', kind: 'header', secret: true, required: true }],
      tools: [
        { name: 'get_issue', description: GH_TOOLS.get_issue, annotations: { readOnlyHint: true } },
        { name: 'list_issues', description: GH_TOOLS.list_issues, annotations: { readOnlyHint: true } },
        { name: 'create_issue', description: GH_TOOLS.create_issue, annotations: { readOnlyHint: false, destructiveHint: false } },
        { name: 'delete_repo', description: GH_TOOLS.delete_repo, annotations: { destructiveHint: true } },
      ] } } });
    assert.equal(r.status, 201, r.text);
    const e = await transition(r.json, 'review');
    return transition(e, 'approve', {
      tools: { get_issue: 'approved', list_issues: 'approved', create_issue: 'approved' },
      inputs: { Authorization: { credential: 'github-token' } } });
  };

  s.test('setup: a directory (eng = {alice}, bob, inactive carol), three policies, GH approved in the catalog', async () => {
    A = await newOrg('eva');
    B = await newOrg('evb');
    viewer = (await s.mint(A, 'viewer')).secret;
    reviewer = (await s.mint(A, 'catalog_reviewer', { name: 'reviewer' })).secret;
    const user = async (org, name, active = true) => {
      const r = await s.api('POST', `/api/v1/orgs/${org.id}/users`, { token: P(), body: { user_name: name, active } });
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    };
    alice = await user(A, 'alice');
    bob = await user(A, 'bob');
    carol = await user(A, 'carol', false);
    outsider = await user(B, 'mallory');
    const g = await s.api('POST', `/api/v1/orgs/${A.id}/groups`, { token: P(), body: { display_name: 'eng' } });
    assert.equal(g.status, 201, g.text);
    eng = g.json.id;
    const m = await s.api('PUT', `/api/v1/orgs/${A.id}/groups/${eng}/members/${alice}`, { token: P() });
    assert.ok([200, 201, 204].includes(m.status), m.text);
    assert.equal(m.status, 204, 'adding a member answers 204 without a body');

    const create = async (document) => {
      const r = await s.api('POST', `/api/v1/orgs/${A.id}/policies`, { token: P(), body: { document } });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    baseline = await create({
      schema: 'bulwark.policy/v1', name: 'Baseline', mode: 'enforce', scope: { org_wide: true },
      network: [
        { id: 'npm', decision: 'allow', hosts: ['registry.npmjs.org'], ports: [443] },
        { id: 'example', decision: 'allow', hosts: ['**.example.com'] },
        { id: 'metadata', decision: 'deny', cidrs: ['169.254.0.0/16'] },
      ],
      filesystem: [
        { id: 'src', decision: 'allow', access: ['read', 'write'], paths: ['~/src/**'] },
        { id: 'keys', decision: 'deny', access: ['read', 'write'], paths: ['~/.ssh/**'] },
      ],
      credentials: [
        { id: 'gh-token', decision: 'allow', credential: 'github-token', to_mcp_servers: [GH] },
        { id: 'ci-token', decision: 'allow', credential: 'ci-token', to_mcp_servers: ['*'] },
      ],
      mcp: [
        { id: 'gh-read', decision: 'allow', actions: ['invoke_tool'], server: 'io.github.github/github-mcp-server', tools: ['get_*', 'list_*'] },
        { id: 'confirm-writes', decision: 'require_approval', actions: ['invoke_tool'], server: '*', when: { read_only: false } },
      ],
    });
    engPolicy = await create({
      schema: 'bulwark.policy/v1', name: 'Eng lockdown', mode: 'enforce', scope: { org_wide: false, groups: [eng] },
      network: [{ id: 'no-npm', decision: 'deny', hosts: ['registry.npmjs.org'] }],
    });
    bobAudit = await create({
      schema: 'bulwark.policy/v1', name: 'Bob trial', mode: 'audit', scope: { org_wide: false, users: [bob] },
      network: [{ id: 'no-example', decision: 'deny', hosts: ['*.example.com'] }],
    });

    // GH, a remote server, with three of its four tools approved and its token bound.
    const v0 = await version(A);
    ghEntry = await approveGh();
    assert.equal(ghEntry.state, 'approved');
    assert.ok(await version(A) > v0, 'an approval bumps the policy version');
  });

  s.test('allow: the deciding rule and every match; policy_version of the org', async () => {
    const d = await decide(net('registry.npmjs.org'));
    assert.deepEqual(d, {
      decision: 'allow', reason: 'rule', would_deny: false,
      deciding_rule: ref(baseline, 'npm'),
      matched: [{ ...ref(baseline, 'npm'), decision: 'allow', mode: 'enforce' }],
      policy_version: await version(A),
    });
  });

  s.test('deny, and the default deny when nothing matches', async () => {
    const d = await decide({ surface: 'network', action: 'connect', resource: { ip: '169.254.169.254', port: 80 } });
    assert.equal(d.decision, 'deny');
    assert.equal(d.reason, 'rule');
    assert.deepEqual(d.deciding_rule, ref(baseline, 'metadata'));
    const none = await decide(net('unknown.test'));
    assert.equal(none.decision, 'deny');
    assert.equal(none.reason, 'default');
    assert.equal(none.deciding_rule, null);
    assert.deepEqual(none.matched, []);
    const wrongPort = await decide(net('registry.npmjs.org', 80));
    assert.equal(wrongPort.reason, 'default');
  });

  s.test('filesystem and require_approval', async () => {
    const fs = (path, action) => ({ surface: 'filesystem', action, resource: { path }, context: { home: '/home/dev' } });
    assert.equal((await decide(fs('/home/dev/src/app/main.c', 'write'))).decision, 'allow');
    const key = await decide(fs('~/.ssh/id_ed25519', 'read'));
    assert.equal(key.decision, 'deny');
    assert.deepEqual(key.deciding_rule, ref(baseline, 'keys'));
    // The rules' "when" sees the approved tool's annotations (readOnlyHint false: a write).
    const write = await decide(mcp('create_issue'));
    assert.equal(write.decision, 'require_approval');
    assert.deepEqual(write.deciding_rule, ref(baseline, 'confirm-writes'));
    assert.deepEqual(write.catalog, { check: 'approved', entry_id: ghEntry.id });
    const read = await decide(mcp('get_issue'));
    assert.equal(read.decision, 'allow');
    assert.deepEqual(read.deciding_rule, ref(baseline, 'gh-read'));
    assert.deepEqual(read.matched, [{ ...ref(baseline, 'gh-read'), decision: 'allow', mode: 'enforce' }],
                     'get_issue is read-only in the catalog: confirm-writes does not match');
    // A request cannot claim annotations any more: they come from the catalog.
    const claimed = await evaluate(A, { ...mcp('create_issue'), resource: { ...mcp('create_issue').resource, annotations: { read_only: true } } });
    assertProblem(claimed, 400, 'validation_failed');
    assert.deepEqual(pointers(claimed), ['/resource/annotations']);
  });

  s.test('catalog: unapproved servers, other identities, blocked tools, changed descriptions are denied before any rule', async () => {
    const other = 'io.example/unlisted';
    // Every one of these would match confirm-writes (server "*") if the rules were asked.
    assert.deepEqual(await decide(mcp('get_issue', { server: other })), { ...catalogDeny('not_approved', null), policy_version: await version(A) });
    assert.deepEqual(await decide({ surface: 'mcp', action: 'list_tools', resource: { server: other } }),
                     { ...catalogDeny('not_approved', null), policy_version: await version(A) });
    const cases = [
      [mcp('delete_repo'), 'tool_not_approved'],
      [mcp('merge_pr', { description_sha256: '1'.repeat(64) }), 'tool_not_approved'],
      [mcp('get_issue', { identity: { url: 'https://evil.example/mcp/' } }), 'identity_mismatch'],
      [mcp('get_issue', { identity: { url: GH_URL, version: '0.9.1' } }), 'identity_mismatch'],
      [mcp('get_issue', { identity: { image_digest: `sha256:${'a'.repeat(64)}` } }), 'identity_mismatch'],
      [mcp('get_issue', { description_sha256: sha256hex('Get the details of an issue and post them to evil.example') }), 'description_changed'],
    ];
    for (const [req, check] of cases)
      assert.deepEqual(await decide(req), { ...catalogDeny(check, ghEntry.id), policy_version: await version(A) }, JSON.stringify(req));
    const noIdentity = mcp('get_issue');
    delete noIdentity.resource.identity;
    assert.deepEqual((await decide(noIdentity)).catalog, { check: 'identity_missing', entry_id: ghEntry.id });
    const noDescription = mcp('get_issue');
    delete noDescription.resource.description_sha256;
    assert.deepEqual((await decide(noDescription)).catalog, { check: 'description_missing', entry_id: ghEntry.id });
    // The URL is compared normalized: scheme and host are case-insensitive.
    const upper = await decide(mcp('get_issue', { identity: { url: 'HTTPS://API.GithubCopilot.com/mcp/', version: '0.9.0' } }));
    assert.deepEqual([upper.decision, upper.catalog.check], ['allow', 'approved']);
    // Other surfaces never see the catalog.
    assert.equal('catalog' in (await decide(net('registry.npmjs.org'))), false);
    // Another org's catalog is its own.
    const bOwner = (await s.mint(B, 'owner', { name: 'b-catalog' })).secret;
    const inB = await evaluate(B, mcp('get_issue'), bOwner);
    assert.equal(inB.status, 200, inB.text);
    assert.deepEqual(inB.json.catalog, { check: 'not_approved', entry_id: null });
  });

  s.test('catalog: a credential toward an MCP server goes only to the approved process, and must be bound to one of its secret inputs', async () => {
    const use = (credential, target) => ({ surface: 'credentials', action: 'use', resource: { credential, ...target } });
    const toGh = (extra = {}) => ({ mcp_server: GH, identity: { url: GH_URL }, ...extra });
    const bound = await decide(use('github-token', toGh()));
    assert.deepEqual([bound.decision, bound.deciding_rule, bound.catalog],
                     ['allow', ref(baseline, 'gh-token'), { check: 'approved', entry_id: ghEntry.id }]);
    const upper = await decide(use('github-token', toGh({ identity: { url: 'HTTPS://API.GithubCopilot.com/mcp/', version: '0.9.0' } })));
    assert.deepEqual([upper.decision, upper.catalog.check], ['allow', 'approved']);
    assert.deepEqual(await decide(use('ci-token', toGh())),
                     { ...catalogDeny('credential_unbound', ghEntry.id), policy_version: await version(A) });
    assert.deepEqual((await decide(use('ci-token', { mcp_server: 'io.example/unlisted', identity: { url: GH_URL } }))).catalog,
                     { check: 'not_approved', entry_id: null });
    // The server's name is what any process can claim: without the approved identity, or with
    // another, the catalog denies before any rule (github-token would be allowed by gh-token).
    for (const [target, check] of [
      [{ mcp_server: GH }, 'identity_missing'],
      [toGh({ identity: { url: 'https://evil.example/mcp/' } }), 'identity_mismatch'],
      [toGh({ identity: { url: GH_URL, version: '0.9.1' } }), 'identity_mismatch'],
      [toGh({ identity: { image_digest: `sha256:${'a'.repeat(64)}` } }), 'identity_mismatch'],
      [toGh({ identity: { registry_type: 'npm', package: 'github-mcp', version: '0.9.0' } }), 'identity_mismatch'],
    ])
      assert.deepEqual(await decide(use('github-token', target)),
                       { ...catalogDeny(check, ghEntry.id), policy_version: await version(A) }, JSON.stringify(target));
    // An unbound credential from the wrong process: the identity is checked first.
    assert.deepEqual((await decide(use('ci-token', { mcp_server: GH }))).catalog, { check: 'identity_missing', entry_id: ghEntry.id });
    // An identity only goes with an MCP server, and is validated like an mcp request's.
    for (const [resource, pointer] of [
      [{ credential: 'github-token', host: 'api.github.com', identity: { url: GH_URL } }, '/resource/identity'],
      [{ credential: 'github-token', mcp_server: GH, identity: { url: 'ftp://x' } }, '/resource/identity/url'],
      [{ credential: 'github-token', mcp_server: GH, identity: {} }, '/resource/identity'],
      // a package names its registry (npm's github-mcp is not PyPI's), one the catalog knows
      [{ credential: 'github-token', mcp_server: GH, identity: { package: 'github-mcp', version: '0.9.0' } }, '/resource/identity/registry_type'],
      [{ credential: 'github-token', mcp_server: GH, identity: { registry_type: 'apt', package: 'github-mcp', version: '0.9.0' } }, '/resource/identity/registry_type'],
    ])
      {
        const r = await evaluate(A, { surface: 'credentials', action: 'use', resource });
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(pointers(r), [pointer], r.text);
      }
    const toHost = await decide(use('github-token', { host: 'api.github.com' }));
    assert.equal('catalog' in toHost, false, 'a credential toward a host is not a catalog matter');
  });

  s.test('catalog: suspend, resume and an expiring approval show in decisions at once', async () => {
    ghEntry = await transition(ghEntry, 'suspend', { note: 'incident' });
    assert.deepEqual((await decide(mcp('get_issue'))).catalog, { check: 'not_approved', entry_id: null });
    ghEntry = await transition(ghEntry, 'resume');
    assert.equal((await decide(mcp('get_issue'))).decision, 'allow');
    // An approval that ends in two seconds: allowed until then, denied after, and the expiry
    // job drops it from the slice (the version moves).
    const exp = new Date((Math.floor(Date.now() / 1000) + 3) * 1000);
    const p = await s.api('PATCH', entryPath(ghEntry), { token: reviewer, headers: { 'If-Match': `"${ghEntry.revision}"` },
                                                         body: { expires_at: exp.toISOString().replace('.000Z', 'Z') } });
    assert.equal(p.status, 200, p.text);
    ghEntry = p.json;
    assert.equal(Date.parse(ghEntry.expires_at), exp.getTime());
    assert.equal((await decide(mcp('get_issue'))).decision, 'allow');
    const v = await version(A); // before the expiry: the job bumps it after
    await sleep(exp.getTime() - Date.now() + 100);
    const after = await decide(mcp('get_issue'));
    assert.equal(after.decision, 'deny');
    assert.equal(after.reason, 'catalog');
    assert.ok(['expired', 'not_approved'].includes(after.catalog.check), JSON.stringify(after));
    assert.ok(await waitFor(async () => (await decide(mcp('get_issue'))).catalog.check === 'not_approved', 5000),
              'the expiry job drops the entry from the slice');
    assert.ok(await version(A) > v, 'the expiry bumped the version');
    // The job retires it for good (deprecated): clearing the expiry does not bring it back,
    // a new request approved again does.
    const gone = await waitFor(async () => {
      const g = await s.api('GET', entryPath(ghEntry), { token: viewer });
      return g.json.state === 'deprecated' ? g.json : null;
    }, 5000);
    assert.ok(gone, 'the expiry job deprecates the entry');
    const back = await s.api('PATCH', entryPath(ghEntry), { token: reviewer, headers: { 'If-Match': `"${gone.revision}"` },
                                                            body: { expires_at: null } });
    assertProblem(back, 409, 'invalid_transition');
    assert.deepEqual((await decide(mcp('get_issue'))).catalog, { check: 'not_approved', entry_id: null });
    ghEntry = await approveGh();
    assert.equal(ghEntry.supersedes, null, 'nothing live to supersede');
    assert.equal((await decide(mcp('get_issue'))).decision, 'allow');
  });

  s.test('deny wins across scopes: the org-wide allow loses to eng\'s deny for alice only', async () => {
    const a = await decide(net('registry.npmjs.org', 443, alice));
    assert.equal(a.decision, 'deny');
    assert.deepEqual(a.deciding_rule, ref(engPolicy, 'no-npm'));
    assert.deepEqual(a.matched.map((m) => m.rule_id).sort(), ['no-npm', 'npm']);
    const b = await decide(net('registry.npmjs.org', 443, bob));
    assert.equal(b.decision, 'allow');
    assert.deepEqual(b.deciding_rule, ref(baseline, 'npm'));
  });

  s.test('audit mode: reported as would_deny, never deciding', async () => {
    const b = await decide(net('api.example.com', 443, bob));
    assert.equal(b.decision, 'allow');
    assert.equal(b.would_deny, true);
    assert.deepEqual(b.deciding_rule, ref(baseline, 'example'));
    assert.ok(b.matched.some((m) => m.rule_id === 'no-example' && m.mode === 'audit' && m.decision === 'deny'
                             && m.policy_id === bobAudit.id), JSON.stringify(b.matched));
    const a = await decide(net('api.example.com', 443, alice));
    assert.equal(a.decision, 'allow');
    assert.equal(a.would_deny, false);
  });

  s.test('subjects: an inactive user is denied everything; an unknown one is 400', async () => {
    const c = await decide(net('registry.npmjs.org', 443, carol));
    assert.equal(c.decision, 'deny');
    assert.equal(c.reason, 'policy_error');
    assert.equal(c.deciding_rule, null);
    for (const u of [outsider, '00000000-0000-4000-8000-000000000000'])
      {
        const r = await evaluate(A, net('registry.npmjs.org', 443, u));
        assertProblem(r, 400, 'validation_failed');
        assert.deepEqual(pointers(r), ['/subject/user']);
      }
  });

  s.test('requests that cannot be normalized are 400 by pointer', async () => {
    const r = await evaluate(A, { surface: 'network', action: 'connect', resource: { host: 'user@registry.npmjs.org', port: 443 }, x: 1 });
    assertProblem(r, 400, 'validation_failed');
    assert.deepEqual(pointers(r), ['/resource/host', '/x']);
    const ip = await evaluate(A, { surface: 'network', action: 'connect', resource: { ip: '0251.0376.0251.0376', port: 80 } });
    assertProblem(ip, 400, 'validation_failed');
    assert.deepEqual(pointers(ip), ['/resource/ip']);
    const notObject = await evaluate(A, []);
    assertProblem(notObject, 400, 'validation_failed');
    assert.deepEqual(pointers(notObject), ['']);
  });

  s.test('batch: decisions in request order; any bad request fails the batch by pointer', async () => {
    const reqs = [net('registry.npmjs.org', 443, alice), net('registry.npmjs.org'), net('nope.test'),
                  net('api.example.com', 443, bob)];
    const r = await s.api('POST', `/api/v1/orgs/${A.id}/evaluate/batch`, { token: viewer, body: { requests: reqs } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.policy_version, await version(A));
    assert.deepEqual(r.json.decisions.map((d) => [d.decision, d.reason, d.would_deny]),
                     [['deny', 'rule', false], ['allow', 'rule', false], ['deny', 'default', false], ['allow', 'rule', true]]);
    for (let i = 0; i < reqs.length; i++)
      assert.deepEqual(r.json.decisions[i], (({ policy_version: _v, ...d }) => d)(await decide(reqs[i])));
    const bad = await s.api('POST', `/api/v1/orgs/${A.id}/evaluate/batch`, { token: viewer, body: {
      requests: [net('ok.test'), { surface: 'disk', action: 'connect', resource: {} }, net('ok.test', 443, outsider)] } });
    assertProblem(bad, 400, 'validation_failed');
    assert.ok(pointers(bad).includes('/requests/1/surface'), JSON.stringify(pointers(bad)));
    assert.ok(pointers(bad).every((p) => p.startsWith('/requests/1/')), 'format errors first, then subjects');
    const unknown = await s.api('POST', `/api/v1/orgs/${A.id}/evaluate/batch`, { token: viewer, body: {
      requests: [net('ok.test', 443, alice), net('ok.test', 443, outsider), net('ok.test', 443, outsider)] } });
    assertProblem(unknown, 400, 'validation_failed');
    assert.deepEqual(pointers(unknown), ['/requests/1/subject/user', '/requests/2/subject/user']);
    const empty = await s.api('POST', `/api/v1/orgs/${A.id}/evaluate/batch`, { token: viewer, body: { requests: [] } });
    assert.deepEqual(empty.json.decisions, []);
    assert.deepEqual(empty.json, { decisions: [], policy_version: await version(A) });
    const max = await s.api('POST', `/api/v1/orgs/${A.id}/evaluate/batch`, { token: viewer, body: { requests: Array(1000).fill(net('registry.npmjs.org')) } });
    assert.equal(max.status, 200, max.text.slice(0, 500));
    assert.equal(max.json.decisions.length, 1000);
    const over = await s.api('POST', `/api/v1/orgs/${A.id}/evaluate/batch`, { token: viewer, body: { requests: Array(1001).fill(net('x.test')) } });
    assertProblem(over, 400, 'validation_failed');
    assert.deepEqual(pointers(over), ['/requests']);
    const notArray = await s.api('POST', `/api/v1/orgs/${A.id}/evaluate/batch`, { token: viewer, body: { requests: {} } });
    assertProblem(notArray, 400, 'validation_failed');
    assert.deepEqual(pointers(notArray), ['/requests']);
  });

  s.test('simulate: a draft decides beside the current policies; nothing is saved', async () => {
    const draft = {
      schema: 'bulwark.policy/v1', name: 'Draft', mode: 'enforce', scope: { org_wide: false, groups: [eng] },
      network: [{ id: 'no-example', decision: 'deny', hosts: ['**.example.com'] }],
    };
    const v0 = await version(A);
    const a0 = await auditCount(A);
    const n0 = await s.psql(`SELECT count(*) FROM policies WHERE org_id = '${A.id}'`);
    const r = await s.api('POST', `/api/v1/orgs/${A.id}/policies/simulate`, { token: viewer, body: {
      policy: draft, requests: [net('api.example.com', 443, alice), net('api.example.com', 443, bob), net('api.example.com')] } });
    assert.equal(r.status, 200, r.text);
    const [a, b, none] = r.json.decisions;
    assert.equal(a.decision, 'deny');
    assert.deepEqual(a.deciding_rule, { policy_id: 'draft', revision: 0, rule_id: 'no-example' });
    assert.equal(b.decision, 'allow', 'bob is not in the draft\'s scope');
    assert.equal(none.decision, 'allow', 'no subject: org-wide policies only');
    assert.equal(r.json.policy_version, v0);
    assert.equal(await version(A), v0);
    assert.equal(await auditCount(A), a0);
    assert.equal(await s.psql(`SELECT count(*) FROM policies WHERE org_id = '${A.id}'`), n0);
    // and /evaluate is unchanged
    assert.equal((await decide(net('api.example.com', 443, alice))).decision, 'allow');

    const invalid = await s.api('POST', `/api/v1/orgs/${A.id}/policies/simulate`, { token: viewer, body: {
      policy: { ...draft, mode: 'sometimes' }, requests: [{ ...net('x.test'), surface: 1 }] } });
    assertProblem(invalid, 400, 'validation_failed');
    assert.ok(pointers(invalid).includes('/policy/mode'));
    assert.ok(pointers(invalid).includes('/requests/0/surface'));
    assert.equal(invalid.json.detail, 'the draft policy and one or more requests are invalid');
    const badDraft = await s.api('POST', `/api/v1/orgs/${A.id}/policies/simulate`, { token: viewer, body: {
      policy: { ...draft, mode: 'monitor' }, requests: [net('x.test')] } });
    assertProblem(badDraft, 400, 'validation_failed');
    assert.deepEqual([badDraft.json.detail, pointers(badDraft)], ['the draft policy is invalid', ['/policy/mode']]);
    const foreign = await s.api('POST', `/api/v1/orgs/${A.id}/policies/simulate`, { token: viewer, body: {
      policy: { ...draft, scope: { org_wide: false, users: [outsider] } }, requests: [net('x.test', 443, outsider)] } });
    assertProblem(foreign, 400, 'validation_failed');
    assert.deepEqual(pointers(foreign), ['/policy/scope/users/0', '/requests/0/subject/user']);
    const missing = await s.api('POST', `/api/v1/orgs/${A.id}/policies/simulate`, { token: viewer, body: { requests: [] } });
    assertProblem(missing, 400, 'validation_failed');
    assert.deepEqual(pointers(missing), ['/policy']);

    // MCP: the draft's rules decide approved tools; the catalog still refuses the rest first.
    const mcpDraft = {
      schema: 'bulwark.policy/v1', name: 'No issue reading', mode: 'enforce', scope: { org_wide: true },
      mcp: [{ id: 'no-get', decision: 'deny', actions: ['invoke_tool'], server: GH, tools: ['get_*'] },
            { id: 'all', decision: 'allow', actions: ['invoke_tool'], server: '*', tools: ['*'] }],
    };
    const m = await s.api('POST', `/api/v1/orgs/${A.id}/policies/simulate`, { token: viewer, body: {
      policy: mcpDraft, requests: [mcp('get_issue'), mcp('list_issues'), mcp('delete_repo'), mcp('get_issue', { server: 'io.example/unlisted' })] } });
    assert.equal(m.status, 200, m.text);
    const [get, list, del, unlisted] = m.json.decisions;
    assert.deepEqual([get.decision, get.deciding_rule, get.catalog], ['deny', { policy_id: 'draft', revision: 0, rule_id: 'no-get' },
                                                                       { check: 'approved', entry_id: ghEntry.id }]);
    assert.deepEqual([list.decision, list.catalog.check], ['allow', 'approved']);
    assert.deepEqual(list.matched.map((x) => x.rule_id).sort(), ['all', 'gh-read']);
    assert.deepEqual(del, catalogDeny('tool_not_approved', ghEntry.id), 'the draft\'s allow does not lift a blocked tool');
    assert.deepEqual(unlisted, catalogDeny('not_approved', null));
  });

  s.test('effective-policy: each applicable policy and why', async () => {
    const get = (u) => s.api('GET', `/api/v1/orgs/${A.id}/users/${u}/effective-policy`, { token: viewer });
    const a = await get(alice);
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(a.json, {
      user: alice, active: true, groups: [eng], policy_version: await version(A),
      policies: [
        { id: baseline.id, name: 'Baseline', revision: 1, mode: 'enforce', applies_because: ['org_wide'] },
        { id: engPolicy.id, name: 'Eng lockdown', revision: 1, mode: 'enforce', applies_because: [`group:${eng}`] },
      ],
    });
    const b = await get(bob);
    assert.deepEqual(b.json.groups, []);
    assert.deepEqual(b.json.policies.map((p) => [p.name, p.mode, p.applies_because]),
                     [['Baseline', 'enforce', ['org_wide']], ['Bob trial', 'audit', ['user']]]);
    const c = await get(carol);
    assert.equal(c.json.active, false);
    assert.equal(c.status, 200, c.text);
    assert.deepEqual({ ...c.json, policies: c.json.policies.map((p) => p.id) },
                     { user: carol, active: false, groups: [], policy_version: await version(A), policies: [baseline.id] });
    for (const u of [outsider, '00000000-0000-4000-8000-000000000000', 'nope'])
      assertProblem(await get(u), 404, 'not_found');
    assertProblem(await s.api('GET', `/api/v1/orgs/${B.id}/users/${alice}/effective-policy`, { token: P() }), 404, 'not_found');
  });

  s.test('decisions follow membership, user and policy changes at once', async () => {
    // bob joins eng: eng's deny now applies to him
    const m = await s.api('PUT', `/api/v1/orgs/${A.id}/groups/${eng}/members/${bob}`, { token: P() });
    assert.ok([200, 201, 204].includes(m.status), m.text);
    assert.equal(m.status, 204, 'adding a member answers 204 without a body');
    assert.equal((await decide(net('registry.npmjs.org', 443, bob))).decision, 'deny');
    const e = await s.api('GET', `/api/v1/orgs/${A.id}/users/${bob}/effective-policy`, { token: viewer });
    assert.deepEqual(e.json.policies.map((p) => p.applies_because), [['org_wide'], [`group:${eng}`], ['user']]);
    // carol is reactivated
    const u = await s.api('PATCH', `/api/v1/orgs/${A.id}/users/${carol}`, { token: P(), body: { active: true } });
    assert.equal(u.status, 200, u.text);
    assert.equal((await decide(net('registry.npmjs.org', 443, carol))).decision, 'allow');
    // eng's policy is deleted: alice may use npm again
    const d = await s.api('DELETE', `/api/v1/orgs/${A.id}/policies/${engPolicy.id}`, { token: P() });
    assert.equal(d.status, 204, d.text);
    const after = await decide(net('registry.npmjs.org', 443, alice));
    assert.equal(after.decision, 'allow');
    assert.equal(after.policy_version, await version(A));
    // a new revision is used at once, with its number
    const up = await s.api('PUT', `/api/v1/orgs/${A.id}/policies/${baseline.id}`, { token: P(), headers: { 'If-Match': '"1"' },
                                                                                    body: { document: { schema: 'bulwark.policy/v1', name: 'Baseline', mode: 'enforce', scope: { org_wide: true },
                                                                                                        network: [{ id: 'npm', decision: 'deny', hosts: ['registry.npmjs.org'] }] } } });
    assert.equal(up.status, 200, up.text);
    const now = await decide(net('registry.npmjs.org'));
    assert.equal(now.decision, 'deny');
    assert.deepEqual(now.deciding_rule, { policy_id: baseline.id, revision: 2, rule_id: 'npm' });
  });

  s.test('roles: every role may evaluate; other orgs cannot', async () => {
    const want = await decide(net('registry.npmjs.org'));
    for (const role of ['owner', 'policy_admin', 'catalog_reviewer', 'auditor', 'viewer'])
      {
        const r = await evaluate(A, net('registry.npmjs.org'), (await s.mint(A, role)).secret);
        assert.equal(r.status, 200, `${role}: ${r.text}`);
        assert.deepEqual(r.json, want, `${role} gets the same decision`);
      }
    const bOwner = (await s.mint(B, 'owner', { name: 'b' })).secret;
    assertProblem(await evaluate(A, net('x.test'), bOwner), 404, 'not_found');
    const empty = await evaluate(B, net('registry.npmjs.org'), bOwner);
    assert.equal(empty.status, 200, empty.text);
    assert.equal(empty.json.reason, 'default', 'org B has no policies');
    assert.equal(empty.json.policy_version, 0);
    assert.deepEqual(empty.json, { decision: 'deny', reason: 'default', would_deny: false, deciding_rule: null,
                                   matched: [], policy_version: 0 });
  });

  s.test('a stored policy the parser refuses makes every decision of its org deny (policy_error)', async () => {
    const C = await newOrg('evc');
    const r = await s.api('POST', `/api/v1/orgs/${C.id}/policies`, { token: P(), body: { document: {
      schema: 'bulwark.policy/v1', name: 'All', mode: 'enforce', scope: { org_wide: true },
      network: [{ id: 'all', decision: 'allow', hosts: ['**.test'] }] } } });
    assert.equal(r.status, 201, r.text);
    assert.equal((await evaluate(C, net('a.test'), P())).json.decision, 'allow');
    // as if written under another schema: bypass the immutability trigger, then bump the version
    await s.psql(`ALTER TABLE policy_revisions DISABLE TRIGGER policy_revisions_immutable;
                  UPDATE policy_revisions SET document = jsonb_set (document, '{schema}', '"bulwark.policy/v0"') WHERE policy_id = '${r.json.id}';
                  ALTER TABLE policy_revisions ENABLE TRIGGER policy_revisions_immutable;
                  UPDATE orgs SET policy_version = policy_version + 1 WHERE id = '${C.id}'`);
    const d = await evaluate(C, net('a.test'), P());
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.decision, 'deny');
    assert.equal(d.json.reason, 'policy_error');
    assert.ok(s.srv.stderr.includes('stored policy does not parse'), 'logged');
  });
});
