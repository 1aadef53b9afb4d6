// End to end with the real binaries: bulwarkd (tests/api/harness.mjs) and
// bulwark-agent ($BULWARK_AGENT).  An admin publishes a policy; an agent
// enrolls, checks in, verifies and applies its signed bundle, and decides
// locally; a policy change reaches a long-polling agent within a second (on
// the same replica and across two) and its decision flips; the fleet view
// shows it on the new version; decision events reach the events table.
//
// Every tamper of DESIGN §6 goes through a proxy in front of bulwarkd that
// rewrites answers: altered bundle bytes, heads of another org or subject,
// lower versions and serials, another hash for the same version, an
// expired head, an unknown key, `none` and `HS256` headers.  Forged heads
// are signed with the org's real key, which the test opens the way
// bulwarkd does (server/master_key.h: AES-256-GCM, nonce12 || ct || tag16,
// AAD = org id) with the BULWARK_MASTER_KEY it gave the server — so each
// forgery is refused for exactly the reason under test.  For each, the
// agent keeps its last good bundle (its decisions do not change) and
// reports the reason as last_error.  Key rotation across two keyset
// versions is followed; a tampered keyset is refused.
//
// The state directory is verified again on every load: an edited bundle, a
// forged or foreign head, a broken keyset chain are damage (deny,
// policy_error; `run` reports state:damaged and fetches afresh), never a
// policy.  A revoked agent (401 node_invalid) stops enforcing its bundle; a
// disabled one (403) keeps it.
//
// Damage is repaired where the server can repair it: a later keyset file is
// fetched again, a damaged event spool is moved aside and a fresh one starts,
// each reported at the next check-in; a damaged enrollment keyset is
// reported once.  A state directory others can write is refused
// (StrictModes), and enroll refuses while a `run` holds run.lock.

import { describe, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { Bulwarkd, canonicalJson, sha256hex, sleep, useServer, waitFor } from '../api/harness.mjs';
import {
  EVENTUALLY_MS, LONGPOLL_BOUND_MS, agent, agentDirs, check, claimsOf, headerOf, once, readHead, show,
  startRun as startAgentRun, status,
} from './agent_harness.mjs';

const MASTER_KEY = crypto.randomBytes(32).toString('hex');

const b64u = (v) => Buffer.from(v).toString('base64url');
const { newAgentDirs } = agentDirs('bw-agent-e2e-');

/** A long-running `bulwark-agent run ...`; stop() asserts that SIGTERM cuts its long-poll short. */
const startRun = (a, args) => startAgentRun(a, args, { stopWithinMs: 5000 });

/* ----------------------------------------------------- tampering proxy */

/**
 * An HTTP proxy in front of bulwarkd.  intercept(ctx) may answer without
 * asking the server; rewrite(ctx, upstream) may change the server's answer.
 * Every real answer is checked against api/openapi.yaml first.
 */
class TamperProxy
{
  constructor (target, validator)
  {
    this.target = new URL(target);
    this.validator = validator;
    this.intercept = null;
    this.rewrite = null;
    this.problems = [];
    this.seen = [];
  }

  async start ()
  {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(e?.stack ?? e));
      });
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
  }

  async close ()
  {
    if (!this.server?.listening)
      return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  async handle (req, res)
  {
    const chunks = [];
    for await (const c of req)
      chunks.push(c);
    const ctx = { method: req.method, path: req.url, headers: req.headers, body: Buffer.concat(chunks) };
    this.seen.push(`${req.method} ${req.url}`);
    let out = this.intercept ? await this.intercept(ctx) : null;
    if (!out)
      {
        const up = await this.forward(ctx);
        this.check(ctx, up);
        out = (this.rewrite ? await this.rewrite(ctx, up) : null) ?? up;
      }
    const headers = { ...out.headers };
    for (const h of ['content-length', 'transfer-encoding', 'connection', 'keep-alive'])
      delete headers[h];
    headers['content-length'] = String(out.body.length);
    res.writeHead(out.status, headers);
    res.end(out.body);
  }

  forward (ctx)
  {
    return new Promise((resolve, reject) => {
      const headers = { ...ctx.headers, host: this.target.host, 'content-length': String(ctx.body.length) };
      delete headers['transfer-encoding'];
      delete headers.connection;
      const r = http.request({ host: this.target.hostname, port: this.target.port, method: ctx.method,
                               path: ctx.path, headers, agent: false }, (up) => {
        const parts = [];
        up.on('data', (d) => parts.push(d));
        up.on('end', () => resolve({ status: up.statusCode, headers: up.headers, body: Buffer.concat(parts) }));
        up.on('error', reject);
      });
      r.on('error', reject);
      r.end(ctx.body);
    });
  }

  check (ctx, up)
  {
    const headers = new Headers();
    for (const [k, v] of Object.entries(up.headers))
      headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    const text = up.body.toString('utf8');
    let json;
    try
      {
        json = JSON.parse(text);
      }
    catch
      {
        json = undefined;
      }
    const pathname = new URL(ctx.path, 'http://x').pathname;
    const p = this.validator.check(ctx.method, pathname, { status: up.status, headers, text, json });
    if (p.length)
      this.problems.push(`${ctx.method} ${ctx.path} → ${up.status}: ${p.join('; ')}`);
  }
}

/** The events of a (possibly gzipped) upload body. */
function uploadedEvents (ctx)
{
  const raw = ctx.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(ctx.body) : ctx.body;
  return JSON.parse(raw).events;
}

const problem = (status, code, title) => ({
  status,
  headers: { 'content-type': 'application/problem+json' },
  body: Buffer.from(JSON.stringify({ type: 'about:blank', title, status, code, detail: title })),
});

/* --------------------------------------------------------------- tests */

describe('bulwark-agent end to end', () => {
  const s = useServer('agent_e2e', { env: { BULWARK_MASTER_KEY: MASTER_KEY } });
  after(() => proxy?.close());   // also when a test failed before the last one closed it
  const P = () => s.token;
  let proxy, A, B, owner, policy, secretA, secretB, user, userPolicy;
  let a1, a2, aB, aU;      // agent dirs: A (through the proxy), A again, org B, A bound to a user
  let aT;                  // an agent of A whose stored state gets damaged
  let id1;                 // a1's status after enrollment
  let firstHead;           // a1's head after its first check-in (replayed later)
  let baseline;            // a1's decision on api.github.com:443 with its current bundle
  let seqBase;             // a1's last event seq before the decisions of the check test
  let agentVersion;        // what `bulwark-agent --version` says

  const api = (...args) => s.api(...args);
  const orgPath = (org, rest) => `/api/v1/orgs/${org.id}${rest}`;

  const baseDoc = (githubDecision) => ({
    schema: 'bulwark.policy/v1', name: 'Laptop baseline', mode: 'enforce', scope: { org_wide: true },
    network: [
      { id: 'gh', decision: githubDecision, hosts: ['api.github.com'], ports: [443] },
      { id: 'no-private', decision: 'deny', cidrs: ['10.0.0.0/8'] },
    ],
    filesystem: [
      { id: 'src', decision: 'allow', access: ['read', 'write'], paths: ['~/src/**'] },
      { id: 'keys', decision: 'deny', access: ['read', 'write'], paths: ['~/.ssh/**'] },
    ],
    credentials: [
      { id: 'gh-token', decision: 'allow', credential: 'github-token', to_hosts: ['api.github.com'] },
    ],
    mcp: [
      { id: 'gh-read', decision: 'allow', actions: ['invoke_tool'], server: 'io.github.github/github-mcp-server', tools: ['get_*'] },
    ],
  });

  /** Publish a new revision of the baseline policy (bumps the bundle version). */
  async function setGithub (decision)
  {
    const r = await api('PUT', orgPath(A, `/policies/${policy.id}`), {
      token: P(), headers: { 'if-match': `"${policy.revision}"` }, body: { document: baseDoc(decision) },
    });
    assert.equal(r.status, 200, r.text);
    policy = r.json;
    return policy;
  }

  /**
   * Wait until the server hands @a's subject a head that satisfies @pred
   * (default: anything but "current" for what @a holds) — the server
   * compiles after the policy commit, asynchronously.  Asks the way the
   * agent would (its credential, its own report, a long-poll), so it
   * changes nothing the agent would not.
   */
  async function newHeadFor (a, pred = (b) => b.state !== 'current')
  {
    const st = await status(a);
    const cred = fs.readFileSync(path.join(a.dir, 'credential'), 'utf8').trim();
    const body = {
      agent_version: agentVersion, keyset_version: st.keyset_version,
      bundle: st.bundle && { version: st.bundle.version, sha256: st.bundle.sha256, head_serial: st.bundle.head_serial },
      last_error: st.last_error, stale: st.stale, events: st.events,
    };
    const end = Date.now() + EVENTUALLY_MS;
    while (Date.now() < end)
      {
        const r = await api('POST', '/api/v1/agent/checkin', { token: cred, body, headers: { prefer: 'wait=5' } });
        assert.equal(r.status, 200, r.text);
        if (pred(r.json.bundle))
          return r.json.bundle;
      }
    assert.fail(`the server never handed ${a.name} the head it waited for`);
  }

  async function newSecret (org, extra = {})
  {
    const r = await api('POST', orgPath(org, '/enroll-secrets'), { token: P(), body: { name: 'laptops', ...extra } });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.secret, /^bwe_/);
    return r.json.secret;
  }

  async function enroll (a, server, secret, extra = [])
  {
    const r = await agent(a, ['enroll', '--server', server, '--secret', secret, '--hostname', a.name, ...extra]);
    assert.equal(r.code, 0, show(r));
    return status(a);
  }

  /** The admin API's view of an agent. */
  async function fleetAgent (org, id)
  {
    const r = await api('GET', orgPath(org, `/agents/${id}`), { token: P() });
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  /** The org's signing key that signed @jws, opened like server/master_key.c does. */
  async function signerOf (org, jws)
  {
    const { kid } = headerOf(jws);
    const hex = await s.psql(`SELECT encode(private_sealed, 'hex') FROM signing_keys
                              WHERE org_id = '${org.id}' AND kid = '${kid}'`);
    assert.ok(hex, `signing key ${kid} of org ${org.id}`);
    const sealed = Buffer.from(hex, 'hex');
    const d = crypto.createDecipheriv('aes-256-gcm', Buffer.from(MASTER_KEY, 'hex'), sealed.subarray(0, 12));
    d.setAAD(Buffer.from(org.id));
    d.setAuthTag(sealed.subarray(sealed.length - 16));
    const der = Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]);
    return { kid, key: crypto.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
  }

  function signHead (signer, claims, header = { alg: 'ES256', kid: signer.kid, typ: 'bulwark-head+jwt' })
  {
    const input = `${b64u(JSON.stringify(header))}.${b64u(canonicalJson(claims))}`;
    const sig = crypto.sign('sha256', Buffer.from(input), { key: signer.key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  }

  /** A proxy rewrite that makes the check-in answer hand out @jws (state @state). */
  const handOut = (jws, state = 'update') => async (ctx, up) => {
    if (!ctx.path.startsWith('/api/v1/agent/checkin') || up.status !== 200)
      return null;
    const reply = JSON.parse(up.body);
    const c = claimsOf(jws);
    reply.bundle = { state, version: c.bundle_version, sha256: c.sha256, length: c.length,
                     head_serial: c.head_serial, head: jws,
                     ...(state === 'update' ? { url: `/api/v1/agent/bundles/${c.sha256}` } : {}) };
    return { ...up, body: Buffer.from(JSON.stringify(reply)) };
  };

  /**
   * Run a1 once through @rewrite: it must fail with @lastError, keep its
   * bundle (version, sha, serial) and decide as before; the next clean
   * check-in reports the error to the server.
   */
  async function refused (rewrite, lastError, { report = false } = {})
  {
    const before = await status(a1);
    proxy.rewrite = rewrite;
    let o;
    try
      {
        o = await once(a1);
      }
    finally
      {
        proxy.rewrite = null;
      }
    assert.equal(o.code, 1, `a refused head or bundle fails run --once\n${show(o.r)}`);
    assert.equal(o.summary?.last_error, lastError, show(o.r));
    assert.equal(o.summary.state, 'error');
    const after = await status(a1);
    assert.deepEqual(after.bundle, before.bundle, 'the last good bundle is kept');
    assert.equal(after.last_error, lastError);
    const c = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(c.line, baseline.line, 'decisions still come from the last good bundle');
    assert.equal(c.code, baseline.code);
    if (report)
      {
        // The next check-in carries the error to the server (flushed in bulk, every 2 s).
        const clean = await once(a1);
        assert.ok(clean.code === 0, show(clean.r));
        const seen = await waitFor(async () => (await fleetAgent(A, id1.agent_id)).last_error === lastError,
                                   EVENTUALLY_MS);
        assert.ok(seen, `the fleet view shows last_error ${lastError}`);
      }
  }

  /** Record the bodies of the check-ins that go through the proxy (until proxy.rewrite is reset). */
  function recordCheckins ()
  {
    const bodies = [];
    proxy.rewrite = (ctx) => {
      if (ctx.path === '/api/v1/agent/checkin')
        bodies.push(JSON.parse(ctx.body));
      return null;
    };
    return bodies;
  }

  /** Every deny of a bundle turned into allow: what someone who can write the state directory wants. */
  const allowAll = (bytes) => Buffer.from(bytes.toString().replaceAll('"decision":"deny"', '"decision":"allow"'));

  s.test('setup: orgs A and B, a baseline policy, enroll secrets, the tampering proxy', async () => {
    const v = await agent(newAgentDirs('v'), ['--version']);
    agentVersion = v.stdout.trim().split(' ')[1];
    assert.match(agentVersion, /^\d+\.\d+\.\d+/);
    proxy = new TamperProxy(s.srv.base, s.srv.validator);
    await proxy.start();
    A = await s.newOrg('agt');
    B = await s.newOrg('agb');
    owner = (await s.mint(A, 'owner')).secret;
    const r = await api('POST', orgPath(A, '/policies'), { token: P(), body: { document: baseDoc('allow') } });
    assert.equal(r.status, 201, r.text);
    policy = r.json;
    const rb = await api('POST', orgPath(B, '/policies'), { token: P(), body: { document: baseDoc('deny') } });
    assert.equal(rb.status, 201, rb.text);
    secretA = await newSecret(A);
    secretB = await newSecret(B);
    a1 = newAgentDirs('a1');
    a2 = newAgentDirs('a2');
    aB = newAgentDirs('ab');
    aU = newAgentDirs('au');
  });

  s.test('command line: a bad flag value is named with its range before the usage; --help explains the mcp options', async () => {
    const v = newAgentDirs('cli');
    for (const [args, want] of [
      [['run', '--wait', '999'], /^bulwark-agent run: --wait takes whole seconds from 0 to 60, not "999"\n/],
      [['run', '--wait', 'x'], /^bulwark-agent run: --wait takes whole seconds from 0 to 60, not "x"\n/],
      [['run', '--bogus'], /^bulwark-agent run: unknown option "--bogus"\n/],
      [['run', 'extra'], /^bulwark-agent run: unexpected argument "extra"\n/],
      [['enroll', '--server', 'http://127.0.0.1:1'], /^bulwark-agent enroll: --secret \(or BULWARK_AGENT_ENROLL_SECRET\) is required\n/],
      [['--bogus', 'status'], /^bulwark-agent: unknown option "--bogus"\n/],
    ])
      {
        const r = await agent(v, args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${show(r)}`);
        assert.match(r.stderr, want, args.join(' '));
        assert.match(r.stderr, /^usage: bulwark-agent/m, `${args.join(' ')}: the usage follows`);
      }
    const help = await agent(v, ['--help']);
    assert.equal(help.code, 0, show(help));
    assert.match(help.stdout, /mcp <server> \[<tool>\] \[--action A\]\n.*--image-digest sha256:HEX \| --url URL \|\n/);
    assert.match(help.stdout, /Without a <tool>\n\s+the action is list_tools/);
    // Annotations come from the approved catalog entry now, never from the command line.
    const ro = await agent(v, ['check', '--read-only', 'mcp', 'io.github.github/github-mcp-server', 'get_issue']);
    assert.equal(ro.code, 2, show(ro));
    assert.match(ro.stderr, /^bulwark-agent check: unknown option "--read-only"\n/);
    const digest = await agent(v, ['check', '--image-digest', `sha256:${'a'.repeat(64)}`, 'network', 'api.github.com', '443']);
    assert.equal(digest.code, 2, show(digest));
    assert.match(digest.stderr, /go with mcp only/);
  });

  s.test('enroll: a wrong secret is refused; the right one stores credential, identity and keyset', async () => {
    const bad = await agent(a1, ['enroll', '--server', proxy.url, '--secret', 'bwe_' + 'x'.repeat(43)]);
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /enrollment refused \(401\)/);
    assert.ok(!fs.existsSync(path.join(a1.dir, 'identity.json')));
    const usage = await agent(a1, ['enroll', '--server', proxy.url]);
    assert.equal(usage.code, 2, show(usage));

    id1 = await enroll(a1, proxy.url, secretA);
    assert.equal(id1.enrolled, true);
    assert.deepEqual(id1.org, { id: A.id, slug: A.slug });
    assert.deepEqual(id1.subject, { kind: 'agent', id: id1.agent_id }, 'a userless agent is its own subject');
    assert.equal(id1.keyset_version, 1);
    assert.equal(id1.bundle, null);
    assert.equal(id1.server, proxy.url);
    assert.equal(fs.statSync(a1.dir).mode & 0o777, 0o700);
    for (const f of ['credential', 'identity.json', 'keyset.json'])
      assert.equal(fs.statSync(path.join(a1.dir, f)).mode & 0o777, 0o600, f);
    assert.match(fs.readFileSync(path.join(a1.dir, 'credential'), 'utf8'), /^bwa_/);

    // Enrolling again over it needs --force.
    const again = await agent(a1, ['enroll', '--server', proxy.url, '--secret', secretA]);
    assert.equal(again.code, 1, show(again));
    assert.match(again.stderr, /--force/);

    // Before the first check-in there is no bundle: deny, policy_error.
    const c = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(c.code, 1);
    assert.equal(c.line, 'deny reason=policy_error rule=none bundle_version=none');

    const fa = await fleetAgent(A, id1.agent_id);
    assert.equal(fa.hostname, 'a1');
    assert.equal(fa.active, null);
  });

  s.test('run --once: verified bundle applied, persisted exactly, head verifies independently', async () => {
    const o = await once(a1);
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.state, 'update');
    assert.equal(o.summary.last_error, null);
    const st = await status(a1);
    assert.equal(st.bundle.version, o.summary.bundle_version);
    assert.equal(st.bundle.head_serial, o.summary.head_serial);
    assert.equal(st.state, 'ok');
    assert.equal(st.stale, false);
    assert.ok(st.bundle.exp > Date.now() / 1000);
    const text = await agent(a1, ['status']);
    assert.equal(text.code, 0, show(text));
    assert.match(text.stdout, new RegExp(`^enrolled: +agent ${id1.agent_id}, org ${A.slug} \\(${A.id}\\), subject agent ${id1.agent_id}$`, 'm'));
    assert.match(text.stdout, new RegExp(`^bundle: +version ${st.bundle.version}, sha256 ${st.bundle.sha256}, head serial ${st.bundle.head_serial}$`, 'm'));
    assert.match(text.stdout, /^last error: +none$/m);

    // The stored bytes are the signed bytes.
    firstHead = readHead(a1);
    const c = claimsOf(firstHead);
    const bytes = fs.readFileSync(path.join(a1.dir, `bundle-${c.sha256}.json`));
    assert.equal(sha256hex(bytes), c.sha256);
    assert.equal(bytes.length, c.length);
    const bundle = JSON.parse(bytes);
    assert.equal(bundle.org, A.id);
    assert.equal(bundle.version, c.bundle_version);
    assert.deepEqual(bundle.policies.map((p) => [p.id, p.revision]), [[policy.id, policy.revision]]);
    assert.deepEqual([c.sub, c.aud, c.keyset_version], [A.id, id1.agent_id, 1]);

    // An independent check of the signature: node's crypto with the keyset's JWK.
    const ks = JSON.parse(fs.readFileSync(path.join(a1.dir, 'keyset.json'), 'utf8'));
    const ksPayload = JSON.parse(Buffer.from(ks.payload, 'base64url'));
    const { kid, alg, typ } = headerOf(firstHead);
    assert.deepEqual([alg, typ], ['ES256', 'bulwark-head+jwt']);
    const key = crypto.createPublicKey({ key: ksPayload.keys[kid].jwk, format: 'jwk' });
    const [h, p, sig] = firstHead.split('.');
    assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' },
                            Buffer.from(sig, 'base64url')), 'the head verifies with node:crypto');

    // A second check-in has nothing to do.
    const o2 = await once(a1);
    assert.equal(o2.code, 0, show(o2.r));
    assert.equal(o2.summary.state, 'current');
    assert.equal(o2.summary.bundle_version, o.summary.bundle_version);
  });

  s.test('check decides per the policy: exit status, decision, reason and deciding rule', async () => {
    const rule = (id) => `policy_id=${policy.id} revision=${policy.revision} rule_id=${id}`;
    const v = (await status(a1)).bundle.version;
    seqBase = (await status(a1)).events.last_seq;   // the decision made before enrollment's first check-in
    const cases = [
      [['network', 'api.github.com', '443'], 0, `allow reason=rule ${rule('gh')}`],
      [['network', 'api.github.com', '22'], 1, 'deny reason=default rule=none'],
      [['network', '10.0.0.1', '22'], 1, `deny reason=rule ${rule('no-private')}`],
      [['filesystem', path.join(a1.home, 'src/x'), 'read'], 0, `allow reason=rule ${rule('src')}`],
      [['filesystem', '~/src/x', 'write'], 0, `allow reason=rule ${rule('src')}`],
      [['filesystem', 'src/y', 'write'], 0, `allow reason=rule ${rule('src')}`],   // relative to the cwd (home)
      [['filesystem', '~/.ssh/id_ed25519', 'read'], 1, `deny reason=rule ${rule('keys')}`],
      [['credentials', 'github-token', 'api.github.com'], 0, `allow reason=rule ${rule('gh-token')}`],
      [['credentials', 'github-token', 'evil.example'], 1, 'deny reason=default rule=none'],
      // The org's catalog approves no server: the rule never gets a say (tests/e2e/catalog.test.mjs).
      [['mcp', 'io.github.github/github-mcp-server', 'get_issue'], 1, 'deny reason=catalog catalog=not_approved rule=none'],
      [['mcp', 'io.github.github/github-mcp-server', 'delete_repo'], 1, 'deny reason=catalog catalog=not_approved rule=none'],
    ];
    for (const [args, code, line] of cases)
      {
        const c = await check(a1, ...args);
        assert.equal(c.line, `${line} bundle_version=${v}`, args.join(' '));
        assert.equal(c.code, code, args.join(' '));
      }
    const j = await agent(a1, ['check', '--json', 'network', 'api.github.com', '443']);
    assert.equal(j.code, 0, show(j));
    const res = JSON.parse(j.stdout);
    assert.equal(res.decision, 'allow');
    assert.deepEqual(res.deciding_rule, { policy_id: policy.id, revision: policy.revision, rule_id: 'gh' });
    assert.equal(res.bundle_version, v);
    assert.equal(res.event.spool, 'spooled');
    assert.equal(res.event.seq, seqBase + cases.length + 1);

    for (const args of [['network', 'api.github.com', '99999'], ['network', '010.0.0.1', '22'],
                        ['filesystem', '/x', 'exec'], ['dns', 'x'], []])
      {
        const c = await check(a1, ...args);
        assert.equal(c.code, 2, `usage error: ${args.join(' ')}\n${show(c.r)}`);
      }
    baseline = await check(a1, 'network', 'api.github.com', '443');
    const st = await status(a1);
    // (the decision made before the first bundle was uploaded by that first check-in)
    assert.deepEqual(st.events, { spooled: cases.length + 2, dropped: 0, last_seq: seqBase + cases.length + 2 });
  });

  s.test('spooled events are uploaded by run and land in the events table', async () => {
    const before = await status(a1);
    const o = await once(a1);
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.events_uploaded, before.events.spooled);
    const st = await status(a1);
    assert.deepEqual(st.events, { spooled: 0, dropped: 0, last_seq: before.events.last_seq });
    const rows = (await s.psql(`SELECT seq || '|' || surface || '|' || decision || '|' || coalesce(rule->>'rule_id', '-')
                                 || '|' || bundle_version || '|' || reason
                                FROM events WHERE org_id = '${A.id}' AND agent_id = '${id1.agent_id}' ORDER BY seq`))
      .split('\n');
    assert.equal(rows.length, before.events.last_seq);
    const v = st.bundle.version;
    const b = seqBase;
    assert.equal(rows[0], '1|network|deny|-|0|policy_error', 'decided before the first bundle');
    assert.equal(rows[b], `${b + 1}|network|allow|gh|${v}|rule`);
    assert.equal(rows[b + 1], `${b + 2}|network|deny|-|${v}|default`);
    assert.equal(rows[b + 2], `${b + 3}|network|deny|no-private|${v}|rule`);
    assert.equal(rows[b + 9], `${b + 10}|mcp|deny|-|${v}|catalog`);
    const res = await s.psql(`SELECT resource::text FROM events WHERE agent_id = '${id1.agent_id}' AND seq = ${b + 4}`);
    assert.deepEqual(JSON.parse(res), { path: path.join(a1.home, 'src/x'), access: 'read' });
  });

  s.test('a policy change reaches a long-polling agent within one second; the decision flips; the fleet shows it', async (t) => {
    const v0 = (await status(a1)).bundle.version;
    const checkins = () => proxy.seen.filter((l) => l.startsWith('POST /api/v1/agent/checkin')).length;
    const n0 = checkins();
    const run = startRun(a1, ['--wait', '30']);
    try
      {
        // Parked: the agent has checked in and nothing changes for a while.
        assert.ok(await waitFor(() => checkins() > n0, EVENTUALLY_MS), run.out);
        await sleep(1500);
        assert.equal(run.exit, null, run.out);
        await setGithub('deny');
        const t0 = Date.now();
        const got = await waitFor(async () => (await status(a1)).bundle.version > v0, LONGPOLL_BOUND_MS + 4000, 25);
        const took = Date.now() - t0;
        t.diagnostic(`policy change to agent: ${took} ms`);
        assert.ok(got, `the new bundle reached the agent\n${run.out}`);
        assert.ok(took <= LONGPOLL_BOUND_MS, `the change took ${took} ms to reach the waiting agent (bound ${LONGPOLL_BOUND_MS} ms); `
                  + `change committed at ${new Date(t0).toISOString()}\n${run.out}`);
        const c = await check(a1, 'network', 'api.github.com', '443');
        assert.equal(c.code, 1, c.line);
        assert.match(c.line, new RegExp(`^deny reason=rule policy_id=${policy.id} revision=${policy.revision} rule_id=gh `));
        // One loop per state directory.
        const second = await agent(a1, ['run', '--once']);
        assert.equal(second.code, 1, show(second));
        assert.match(second.stderr, /another `run` holds .*run\.lock/);

        // The fleet view: this agent on the newest version, no drift.
        const v1 = (await status(a1)).bundle;
        const fleetOk = await waitFor(async () => {
          const fa = await fleetAgent(A, id1.agent_id);
          return fa.active?.bundle_version === v1.version && fa.desired?.bundle_version === v1.version
            && fa.active.sha256 === v1.sha256 && fa.drift === false && fa.online === true ? fa : null;
        }, EVENTUALLY_MS);
        assert.ok(fleetOk, `fleet view: ${JSON.stringify(await fleetAgent(A, id1.agent_id))}`);
        const sum = await api('GET', orgPath(A, '/fleet/summary'), { token: P() });
        assert.equal(sum.status, 200, sum.text);
        assert.equal(sum.json.agents, 1);
        assert.equal(sum.json.on_latest, 1);
        assert.equal(sum.json.on_latest_share, 1);
        assert.equal(sum.json.latest_bundle_version, v1.version);
      }
    finally
      {
        await run.stop();
      }
    baseline = await check(a1, 'network', 'api.github.com', '443');
  });

  s.test('two replicas: a change made through one reaches an agent long-polling on the other within one second', async (t) => {
    const other = new Bulwarkd(s.db, { token: s.srv.token, env: { BULWARK_MASTER_KEY: MASTER_KEY } });
    await other.start();
    const a3 = newAgentDirs('a3');
    let run;
    try
      {
        await enroll(a3, other.base, await newSecret(A));
        const o = await once(a3);
        assert.equal(o.code, 0, show(o.r));
        run = startRun(a3, ['--wait', '30']);
        await sleep(1500);
        const v0 = (await status(a3)).bundle.version;
        await setGithub('allow');       // through the first replica
        const t0 = Date.now();
        const got = await waitFor(async () => (await status(a3)).bundle.version > v0, LONGPOLL_BOUND_MS + 4000, 25);
        const took = Date.now() - t0;
        t.diagnostic(`policy change to agent on the other replica: ${took} ms`);
        assert.ok(got, run.out);
        assert.ok(took <= LONGPOLL_BOUND_MS, `across replicas the change took ${took} ms (bound ${LONGPOLL_BOUND_MS} ms); `
                  + `change committed at ${new Date(t0).toISOString()}\n${run.out}`);
        assert.equal((await check(a3, 'network', 'api.github.com', '443')).code, 0);
      }
    finally
      {
        if (run)
          await run.stop();
        await other.stop();
      }
    // a1 follows with its next check-in.
    await newHeadFor(a1);
    const o = await once(a1);
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.state, 'update');
    baseline = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(baseline.code, 0, baseline.line);
  });

  s.test('tamper: altered bundle bytes (same length, longer) are refused; the last good bundle stays', async () => {
    await setGithub('deny');
    await newHeadFor(a1);
    const flip = (ctx, up) => {
      if (!ctx.path.startsWith('/api/v1/agent/bundles/') || up.status !== 200)
        return null;
      const body = Buffer.from(up.body);
      const i = body.indexOf('"deny"');
      assert.ok(i > 0);
      body.write('"allo"', i);    // same length, other bytes
      return { ...up, body };
    };
    await refused(flip, 'bundle:sha256', { report: true });
    // report: the clean run applied the real bundle; make another change to tamper with.
    baseline = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(baseline.code, 1, 'the clean run applied the real bundle (github denied)');
    await setGithub('allow');
    await newHeadFor(a1);
    await refused((ctx, up) => (ctx.path.startsWith('/api/v1/agent/bundles/') && up.status === 200
      ? { ...up, body: Buffer.concat([up.body, Buffer.from(' ')]) } : null), 'bundle:too_large');
    const o = await once(a1);
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.state, 'update');
    baseline = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(baseline.code, 0);
  });

  s.test('tamper: a head of another org, of another subject, and an old head replayed are refused', async () => {
    // Org B's real head, signed by B's key: A's keyset does not know that key.
    await enroll(aB, s.srv.base, secretB);
    assert.equal((await once(aB)).code, 0);
    await refused(handOut(readHead(aB)), 'head:unknown_key');
    // Signed with A's own key but naming org B: wrong org.
    const mine = readHead(a1);
    const signer = await signerOf(A, mine);
    const c = claimsOf(mine);
    await refused(handOut(signHead(signer, { ...c, sub: B.id, head_serial: c.head_serial + 1 })), 'head:wrong_org');
    // Another agent of the same org: a real head, signed by A's key, for another subject.
    const a2id = await enroll(a2, s.srv.base, await newSecret(A));
    assert.equal((await once(a2)).code, 0);
    assert.equal(claimsOf(readHead(a2)).aud, a2id.agent_id);
    await refused(handOut(readHead(a2)), 'head:wrong_subject', { report: true });
    // Our own first head, replayed: lower serial (and version).
    assert.ok(claimsOf(firstHead).bundle_version < c.bundle_version);
    await refused(handOut(firstHead), 'head:lower_serial');
  });

  s.test('tamper: forged heads — lower version, lower serial, same version other hash, expired', async () => {
    const mine = readHead(a1);
    const signer = await signerOf(A, mine);
    const c = claimsOf(mine);
    const now = Math.floor(Date.now() / 1000);
    await refused(handOut(signHead(signer, { ...c, bundle_version: c.bundle_version - 1, head_serial: c.head_serial + 1 })),
                  'head:lower_version');
    await refused(handOut(signHead(signer, { ...c, head_serial: c.head_serial - 1 }), 'refresh'), 'head:lower_serial');
    await refused(handOut(signHead(signer, { ...c, head_serial: c.head_serial + 1, sha256: sha256hex('other bytes') })),
                  'head:version_conflict', { report: true });
    await refused(handOut(signHead(signer, { ...c, head_serial: c.head_serial + 1, iat: now - 100, exp: now - 10 }), 'refresh'),
                  'head:expired');
    // A faithful forgery (same content, higher serial) is accepted: the refusals above are about
    // exactly the field changed, not about forging as such.
    const ok = signHead(signer, { ...c, head_serial: c.head_serial + 1 });
    proxy.rewrite = handOut(ok, 'refresh');
    const o = await once(a1);
    proxy.rewrite = null;
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.state, 'refresh');
    assert.equal(o.summary.head_serial, c.head_serial + 1);
    assert.equal(readHead(a1), ok);
    // The server's own head now has a lower serial than the forgery; a real change moves past it
    // (versions and serials are drawn from the clock, DESIGN §6).
    await setGithub('allow');
    await newHeadFor(a1, (b) => b.head_serial > c.head_serial + 1);
    const o2 = await once(a1);
    assert.equal(o2.code, 0, show(o2.r));
    assert.equal(o2.summary.state, 'update');
    baseline = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(baseline.code, 0);
  });

  s.test('tamper: an unknown key, and headers claiming none or HS256, are refused', async () => {
    const mine = readHead(a1);
    const c = { ...claimsOf(mine) };
    c.head_serial += 1;
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = sha256hex(publicKey.export({ type: 'spki', format: 'der' }));
    await refused(handOut(signHead({ kid, key: privateKey }, c)), 'head:unknown_key');

    const realKid = headerOf(mine).kid;
    const input = (alg) => `${b64u(JSON.stringify({ alg, kid: realKid, typ: 'bulwark-head+jwt' }))}.${b64u(canonicalJson(c))}`;
    await refused(handOut(`${input('none')}.${b64u('x')}`), 'head:bad_alg');
    // The classic confusion: HMAC keyed with the public key the verifier holds.
    const ks = JSON.parse(fs.readFileSync(path.join(a1.dir, 'keyset.json'), 'utf8'));
    const jwk = JSON.parse(Buffer.from(ks.payload, 'base64url')).keys[realKid].jwk;
    const pem = crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
    const hs = input('HS256');
    await refused(handOut(`${hs}.${crypto.createHmac('sha256', pem).update(hs).digest('base64url')}`),
                  'head:bad_alg', { report: true });
  });

  s.test('key rotation: the agent walks keysets 2 and 3 and accepts heads signed by the new key; a bad keyset is refused', async () => {
    const st0 = await status(a1);
    for (const n of [2, 3])
      {
        const r = await api('POST', orgPath(A, '/keys/rotate'), { token: owner });
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json.keyset_version, n);
      }
    const o = await once(a1);
    assert.equal(o.code, 0, show(o.r));
    const st = await status(a1);
    assert.equal(st.keyset_version, 3);
    assert.equal(st.last_error, null);
    const seen = proxy.seen.filter((l) => l.startsWith('GET /api/v1/agent/keysets/'));
    assert.deepEqual(seen.slice(-2), ['GET /api/v1/agent/keysets/2', 'GET /api/v1/agent/keysets/3']);
    // A policy change is now signed by the newest key, which the agent learned through the chain.
    await setGithub('deny');
    await newHeadFor(a1);
    const o2 = await once(a1);
    assert.equal(o2.code, 0, show(o2.r));
    assert.equal(o2.summary.state, 'update');
    const h = readHead(a1);
    assert.equal(claimsOf(h).keyset_version, 3);
    // keyset.json stays the one of enrollment; each later version is kept beside it.
    const ksOf = (f) => JSON.parse(Buffer.from(JSON.parse(fs.readFileSync(path.join(a1.dir, f), 'utf8')).payload, 'base64url'));
    assert.equal(ksOf('keyset.json').version, 1);
    assert.equal(ksOf('keyset-2.json').version, 2);
    const payload = ksOf('keyset-3.json');
    assert.equal(payload.version, 3);
    assert.ok(payload.keys[headerOf(h).kid], 'the head is signed by a key of keyset 3');
    assert.ok(st0.bundle.version < o2.summary.bundle_version);
    baseline = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(baseline.code, 1);

    // Keyset 4 with a broken signature: refused, keyset 3 kept, bundle kept.
    const r4 = await api('POST', orgPath(A, '/keys/rotate'), { token: owner });
    assert.equal(r4.status, 201, r4.text);
    await refused((ctx, up) => {
      if (ctx.path !== '/api/v1/agent/keysets/4' || up.status !== 200)
        return null;
      const doc = JSON.parse(up.body);
      const sig = Buffer.from(doc.signatures[0].signature, 'base64url');
      sig[5] ^= 1;
      doc.signatures[0].signature = sig.toString('base64url');
      return { ...up, body: Buffer.from(JSON.stringify(doc)) };
    }, 'keyset:bad_signature');
    assert.equal((await status(a1)).keyset_version, 3);
    const o3 = await once(a1);
    assert.equal(o3.code, 0, show(o3.r));
    assert.equal((await status(a1)).keyset_version, 4);
    baseline = await check(a1, 'network', 'api.github.com', '443');

    // Keyset 5 is walked, but the head re-signed under it is refused: the agent now holds
    // keyset 5 and a head of keyset 4.  That head still verifies (against keyset 4 of the
    // chain) every time the state is loaded: decisions do not change.
    const r5 = await api('POST', orgPath(A, '/keys/rotate'), { token: owner });
    assert.equal(r5.status, 201, r5.text);
    await refused((ctx, up) => {
      if (ctx.path !== '/api/v1/agent/checkin' || up.status !== 200)
        return null;
      const reply = JSON.parse(up.body);
      const [hh, pp, ss] = reply.bundle.head.split('.');
      const sig = Buffer.from(ss, 'base64url');
      sig[3] ^= 1;
      reply.bundle.head = `${hh}.${pp}.${sig.toString('base64url')}`;
      return { ...up, body: Buffer.from(JSON.stringify(reply)) };
    }, 'head:bad_signature');
    assert.equal((await status(a1)).keyset_version, 5);
    assert.equal(claimsOf(readHead(a1)).keyset_version, 4);
    const o5 = await once(a1);
    assert.equal(o5.code, 0, show(o5.r));
    assert.equal(claimsOf(readHead(a1)).keyset_version, 5);
  });

  s.test('stale mode: an expired head is reported stale; past settings.stale_limit_s decisions are deny/policy_error', async () => {
    // A bundle of our own making (stale_limit_s 3), under a head that expires in 3 s, both signed
    // with the org's key and served through the proxy: the agent accepts it like any other.
    const mine = readHead(a1);
    const c = claimsOf(mine);
    const real = JSON.parse(fs.readFileSync(path.join(a1.dir, `bundle-${c.sha256}.json`)));
    const forged = { ...real, version: c.bundle_version + 1, settings: { ...real.settings, stale_limit_s: 3 } };
    const bytes = Buffer.from(canonicalJson(forged));
    const now = Math.floor(Date.now() / 1000);
    const head = signHead(await signerOf(A, mine), {
      ...c, bundle_version: forged.version, head_serial: c.head_serial + 1, sha256: sha256hex(bytes),
      length: bytes.length, iat: now, exp: now + 3,
    });
    proxy.rewrite = async (ctx, up) => (ctx.path === `/api/v1/agent/bundles/${sha256hex(bytes)}`
      ? { status: 200, headers: { 'content-type': 'application/json' }, body: bytes }
      : handOut(head)(ctx, up));
    const o = await once(a1);
    proxy.rewrite = null;
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.bundle_version, forged.version);
    const fresh = await check(a1, 'network', 'api.github.com', '443');
    if (Date.now() / 1000 < now + 2.5)
      assert.doesNotMatch(fresh.line, / stale$/);

    await waitFor(async () => (await status(a1)).stale, 8000);
    const st = await status(a1);
    assert.equal(st.stale, true);
    const within = await check(a1, 'network', 'api.github.com', '443');
    if (Date.now() / 1000 < now + 5.5)
      assert.equal(within.line, `${baseline.line.replace(/bundle_version=\d+/, `bundle_version=${forged.version}`)} stale`,
                   'stale but within the limit: still decides by the bundle');
    await sleep(Math.max(0, (now + 7) * 1000 - Date.now()));
    const past = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(past.code, 1);
    assert.equal(past.line, `deny reason=policy_error rule=none bundle_version=${forged.version} stale`);

    // The next check-in reports stale = true; the server's own head is below our forgery, so it
    // is refused (lower version) until a real change moves past it.
    const report = await once(a1);
    assert.match(report.summary?.last_error ?? '', /^head:lower_(serial|version)$/, show(report.r));
    const staleSeen = await waitFor(async () => (await fleetAgent(A, id1.agent_id)).stale === true, EVENTUALLY_MS);
    assert.ok(staleSeen, 'the fleet view shows the agent stale');
    await setGithub('deny');
    await newHeadFor(a1, (b) => b.version > forged.version);
    const back = await once(a1);
    assert.equal(back.code, 0, show(back.r));
    assert.equal(back.summary.state, 'update');
    assert.equal((await status(a1)).stale, false);
    baseline = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(baseline.code, 1, baseline.line);
    assert.doesNotMatch(baseline.line, /stale/);
  });

  s.test('the stored state is verified on every load: an edited bundle, a forged head or keyset is damage, never a policy', async () => {
    aT = newAgentDirs('at');
    await enroll(aT, proxy.url, await newSecret(A));
    assert.equal((await once(aT)).code, 0);
    const good = await check(aT, 'network', '10.0.0.1', '22');
    assert.equal(good.code, 1);
    assert.match(good.line, /^deny reason=rule .*rule_id=no-private /);
    const head0 = readHead(aT);
    const c0 = claimsOf(head0);
    const bundleFile = (sha) => path.join(aT.dir, `bundle-${sha}.json`);
    const bytes0 = fs.readFileSync(bundleFile(c0.sha256));
    const evil = allowAll(bytes0);
    assert.notEqual(sha256hex(evil), c0.sha256);
    const evilClaims = { ...c0, sha256: sha256hex(evil), length: evil.length };
    const unsigned = (claims) => `${b64u(JSON.stringify({ alg: 'none', typ: 'bulwark-head+jwt' }))}.${b64u(canonicalJson(claims))}.`;
    const plant = (jws, bytes, sha = claimsOf(jws).sha256) => {
      fs.writeFileSync(path.join(aT.dir, 'head.jws'), jws);
      fs.writeFileSync(bundleFile(sha), bytes);
    };
    /** Nothing stored is enforced, and status says why; then @restore brings the decision back. */
    async function damaged (a, what, restore, before = good)
    {
      const c = await check(a, 'network', '10.0.0.1', '22');
      assert.equal(c.code, 1, `${what}: ${show(c.r)}`);
      assert.equal(c.line, 'deny reason=policy_error rule=none bundle_version=none', what);
      assert.match(c.r.stderr, /the stored state is damaged/, what);
      const st = await status(a);
      assert.equal(st.bundle, null, what);
      assert.equal(st.last_error, 'state:damaged', what);
      restore();
      assert.equal((await check(a, 'network', '10.0.0.1', '22')).line, before.line, `${what}: restored`);
    }

    plant(unsigned(evilClaims), evil);
    await damaged(aT, 'edited bundle under a head rewritten with alg none', () => plant(head0, bytes0));
    const [h0, , sig0] = head0.split('.');
    plant(`${h0}.${b64u(canonicalJson(evilClaims))}.${sig0}`, evil);
    await damaged(aT, 'edited bundle under head claims rewritten beneath the real signature', () => plant(head0, bytes0));
    plant(head0, evil, c0.sha256);
    await damaged(aT, 'edited bundle under the real head', () => plant(head0, bytes0));
    // A real head and bundle, signed by the org's key, but of another agent (aud).
    const other = newAgentDirs('at2');
    await enroll(other, proxy.url, await newSecret(A));
    assert.equal((await once(other)).code, 0);
    const otherHead = readHead(other);
    plant(otherHead, fs.readFileSync(path.join(other.dir, `bundle-${claimsOf(otherHead).sha256}.json`)));
    await damaged(aT, 'the head of another agent', () => plant(head0, bytes0));

    // Keysets: the enrollment keyset must verify, and each later one against the one before it.
    const flipSignature = (file) => {
      const orig = fs.readFileSync(file);
      const doc = JSON.parse(orig);
      const sig = Buffer.from(doc.signatures[0].signature, 'base64url');
      sig[7] ^= 1;
      doc.signatures[0].signature = sig.toString('base64url');
      fs.writeFileSync(file, JSON.stringify(doc));
      return () => fs.writeFileSync(file, orig);
    };
    let restoreKs = flipSignature(path.join(aT.dir, 'keyset.json'));
    const noKs = await once(aT);
    assert.equal(noKs.code, 1, show(noKs.r));
    assert.match(noKs.r.stderr, /the keysets in .* do not verify: enroll again/);
    await damaged(aT, 'the enrollment keyset', restoreKs);
    const a1good = await check(a1, 'network', '10.0.0.1', '22');
    restoreKs = flipSignature(path.join(a1.dir, 'keyset-3.json'));
    await damaged(a1, 'a link of the keyset chain', restoreKs, a1good);

    // A head claiming the highest versions and serial and no expiry, unsigned: were it trusted,
    // every real head would be refused as lower.  It is ignored entirely; run reports the damage
    // and fetches the server's head and bundle again.
    plant(unsigned({ ...c0, bundle_version: 2 ** 53 - 1, head_serial: 2 ** 53 - 1, exp: 2 ** 53 - 1 }), bytes0);
    const bodies = recordCheckins();
    let o;
    try
      {
        o = await once(aT);
      }
    finally
      {
        proxy.rewrite = null;
      }
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.state, 'update');
    assert.equal(bodies.length, 1);
    assert.equal(bodies[0].last_error, 'state:damaged', 'the check-in reports the damage');
    assert.equal(bodies[0].bundle, null, 'the forged head is not reported as held');
    assert.ok(claimsOf(readHead(aT)).head_serial < 2 ** 53 - 1);
    assert.equal((await check(aT, 'network', '10.0.0.1', '22')).line, good.line);
    assert.equal((await status(aT)).last_error, null);
  });

  s.test('a running `run` notices a bundle damaged on disk, reports state:damaged and fetches it again', async () => {
    const good = await check(aT, 'network', '10.0.0.1', '22');
    const bodies = recordCheckins();
    const run = startRun(aT, ['--wait', '2']);
    try
      {
        assert.ok(await waitFor(() => bodies.length >= 1, EVENTUALLY_MS), run.out);
        const f = path.join(aT.dir, `bundle-${claimsOf(readHead(aT)).sha256}.json`);
        const bytes = fs.readFileSync(f);
        fs.writeFileSync(f, allowAll(bytes));
        assert.ok(await waitFor(() => bodies.some((b) => b.last_error === 'state:damaged'), EVENTUALLY_MS),
                  `the damage is reported\n${run.out}`);
        assert.ok(await waitFor(() => fs.readFileSync(f).equals(bytes), EVENTUALLY_MS), `the bundle is fetched again\n${run.out}`);
        assert.equal((await check(aT, 'network', '10.0.0.1', '22')).line, good.line);
      }
    finally
      {
        proxy.rewrite = null;
        await run.stop();
      }
  });

  s.test('event upload: 413 splits the batch, 400 moves it aside as dropped, a full spool drops and leaves a gap', async () => {
    assert.equal((await once(a1)).code, 0);
    const base = await status(a1);
    for (let i = 0; i < 5; i++)
      await check(a1, 'network', 'api.github.com', '443');
    const sizes = [];
    proxy.intercept = (ctx) => {
      if (ctx.path !== '/api/v1/agent/events')
        return null;
      const n = uploadedEvents(ctx).length;
      sizes.push(n);
      return n > 2 ? problem(413, 'payload_too_large', 'Payload too large') : null;
    };
    let o;
    try
      {
        o = await once(a1);
      }
    finally
      {
        proxy.intercept = null;
      }
    assert.equal(o.code, 0, show(o.r));
    assert.equal(o.summary.events_uploaded, 5);
    assert.deepEqual(sizes, [5, 2, 2, 1], 'halved after 413, then batches of that size');
    const seqs = await s.psql(`SELECT string_agg(seq::text, ',' ORDER BY seq) FROM events
                               WHERE agent_id = '${id1.agent_id}' AND seq > ${base.events.last_seq}`);
    assert.equal(seqs, [1, 2, 3, 4, 5].map((i) => base.events.last_seq + i).join(','));

    // 400: the server will never take it; kept in events.rejected.jsonl and counted dropped.
    await check(a1, 'network', 'api.github.com', '443');
    proxy.intercept = (ctx) => (ctx.path === '/api/v1/agent/events'
      ? problem(400, 'validation_failed', 'Validation failed') : null);
    try
      {
        o = await once(a1);
      }
    finally
      {
        proxy.intercept = null;
      }
    assert.equal(o.code, 0, show(o.r));
    let st = await status(a1);
    assert.deepEqual(st.events, { spooled: 0, dropped: 1, last_seq: base.events.last_seq + 6 });
    const rejected = fs.readFileSync(path.join(a1.dir, 'events.rejected.jsonl'), 'utf8').trim().split('\n');
    assert.equal(rejected.length, 1);
    assert.equal(JSON.parse(rejected[0]).seq, base.events.last_seq + 6);

    // A full spool: the event is dropped, its seq skipped; the server records the gap.
    const small = { BULWARK_AGENT_SPOOL_MAX_BYTES: '1200' };
    const r1 = await agent(a1, ['check', '--json', 'network', 'api.github.com', '443'], { env: small });
    const r2 = await agent(a1, ['check', '--json', 'network', 'api.github.com', '443'], { env: small });
    const r3 = await agent(a1, ['check', '--json', 'network', 'api.github.com', '443'], { env: small });
    const evs = [r1, r2, r3].map((r) => JSON.parse(r.stdout).event);
    const spools = evs.map((e) => e.spool);
    const droppedSeqs = evs.filter((e) => e.spool === 'dropped').map((e) => e.seq);
    assert.ok(spools.includes('dropped'), `a 1200-byte spool takes fewer than three events: ${spools}`);
    assert.equal(spools[0], 'spooled');
    st = await status(a1);
    const nDropped = spools.filter((x) => x === 'dropped').length;
    assert.deepEqual(st.events, { spooled: 3 - nDropped, dropped: 1 + nDropped, last_seq: base.events.last_seq + 9 });
    await check(a1, 'network', 'api.github.com', '443');      // a later seq, so the gap shows
    o = await once(a1);
    assert.equal(o.code, 0, show(o.r));
    assert.equal((await status(a1)).events.spooled, 0);
    const gaps = (await s.psql(`SELECT from_seq || '-' || to_seq FROM event_seq_gaps
                                WHERE agent_id = '${id1.agent_id}' ORDER BY from_seq`)).split('\n')
      .map((g) => g.split('-').map(Number));
    const inGap = (q) => gaps.some(([f, t]) => f <= q && q <= t);
    // (The seq refused with 400 above is left to the next test: whether its gap is recorded
    // depends on when the server flushed the check-in that reported it.)
    for (const q of droppedSeqs)
      assert.ok(inGap(q), `seq ${q} (never uploaded) is inside a recorded gap: ${JSON.stringify(gaps)}`);

    // 400 naming events in errors[].pointer ("/events/<i>/..."): only those are moved aside, the
    // rest are sent again.  The real server refuses a time a year ahead.
    const before = await status(a1);
    const seq0 = before.events.last_seq;
    const nRejected = fs.readFileSync(path.join(a1.dir, 'events.rejected.jsonl'), 'utf8').trim().split('\n').length;
    for (let i = 0; i < 4; i++)
      await check(a1, 'network', 'api.github.com', '443');
    const spoolFile = path.join(a1.dir, 'spool.jsonl');
    const lines = fs.readFileSync(spoolFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((e) => e.seq), [1, 2, 3, 4].map((i) => seq0 + i));
    for (const i of [1, 3])
      lines[i].time = new Date(Date.now() + 365 * 86400e3).toISOString();
    fs.writeFileSync(spoolFile, lines.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const answers = [];
    proxy.rewrite = (ctx, up) => {
      if (ctx.path === '/api/v1/agent/events')
        answers.push(up.status);
      return null;
    };
    try
      {
        o = await once(a1);
      }
    finally
      {
        proxy.rewrite = null;
      }
    assert.equal(o.code, 0, show(o.r));
    assert.deepEqual(answers, [400, 202]);
    assert.equal(o.summary.events_uploaded, 2);
    const st2 = await status(a1);
    assert.deepEqual(st2.events, { spooled: 0, dropped: before.events.dropped + 2, last_seq: seq0 + 4 });
    const rejected2 = fs.readFileSync(path.join(a1.dir, 'events.rejected.jsonl'), 'utf8').trim().split('\n');
    assert.deepEqual(rejected2.slice(nRejected).map((l) => JSON.parse(l).seq), [seq0 + 2, seq0 + 4]);
    const sent = await s.psql(`SELECT string_agg(seq::text, ',' ORDER BY seq) FROM events
                               WHERE agent_id = '${id1.agent_id}' AND seq > ${seq0}`);
    assert.equal(sent, `${seq0 + 1},${seq0 + 3}`);
  });

  s.test('the server records the seq of an event refused with 400 as a gap, also after a status flush', async () => {
    const q = (await status(a1)).events.last_seq + 1;
    await check(a1, 'network', 'api.github.com', '443');
    proxy.intercept = (ctx) => (ctx.path === '/api/v1/agent/events'
      ? problem(400, 'validation_failed', 'Validation failed') : null);
    try
      {
        assert.equal((await once(a1)).code, 0);
      }
    finally
      {
        proxy.intercept = null;
      }
    await sleep(2500);      // the server writes check-in reports every 2 s (server/agent_status.h)
    await check(a1, 'network', 'api.github.com', '443');      // a later seq, so the gap shows
    assert.equal((await once(a1)).code, 0);
    const gaps = (await s.psql(`SELECT from_seq || '-' || to_seq FROM event_seq_gaps
                                WHERE agent_id = '${id1.agent_id}' ORDER BY from_seq`)).split('\n')
      .map((g) => g.split('-').map(Number));
    assert.ok(gaps.some(([f, t]) => f <= q && q <= t), `seq ${q} is inside a recorded gap: ${JSON.stringify(gaps)}`);
  });

  s.test('backoff: 5xx backs off exponentially, 503 + Retry-After is honoured, then the loop carries on', async () => {
    // Only lower bounds on the waits: the agent must not come back sooner than it was told.
    const times = [];
    const answers = [
      problem(500, 'internal_error', 'Internal error'),
      problem(500, 'internal_error', 'Internal error'),
      { ...problem(503, 'unavailable', 'Service unavailable'), headers: { 'content-type': 'application/problem+json', 'retry-after': '2' } },
      { ...problem(503, 'unavailable', 'Service unavailable'), headers: { 'content-type': 'application/problem+json', 'retry-after': '2' } },
    ];
    proxy.intercept = (ctx) => {
      if (ctx.path !== '/api/v1/agent/checkin')
        return null;
      times.push(Date.now());
      return answers.shift() ?? null;
    };
    const run = startRun(a1, ['--wait', '5']);
    try
      {
        assert.ok(await waitFor(() => times.length >= 5, 30000, 50), `five check-ins\n${run.out}`);
        assert.ok(await waitFor(async () => (await status(a1)).state === 'ok', EVENTUALLY_MS), run.out);
      }
    finally
      {
        proxy.intercept = null;
        await run.stop();
      }
    const gaps = times.slice(1, 5).map((t, i) => t - times[i]);
    assert.ok(gaps[0] >= 1000, `after the first 500: backoff of at least 1 s (${gaps})`);
    assert.ok(gaps[1] >= 2000, `after the second 500: at least 2 s (${gaps})`);
    assert.ok(gaps[2] >= 1900 && gaps[3] >= 1900, `Retry-After: 2 honoured (${gaps})`);
  });

  s.test('an agent bound to a user gets that user\'s policies', async () => {
    const u = await api('POST', orgPath(A, '/users'), { token: P(), body: { user_name: 'dana' } });
    assert.equal(u.status, 201, u.text);
    user = u.json;
    const r = await api('POST', orgPath(A, '/policies'), { token: P(), body: { document: {
      schema: 'bulwark.policy/v1', name: 'Dana', mode: 'enforce', scope: { org_wide: false, users: [user.id] },
      network: [{ id: 'dana-npm', decision: 'allow', hosts: ['registry.npmjs.org'], ports: [443] }],
    } } });
    assert.equal(r.status, 201, r.text);
    userPolicy = r.json;
    const st = await enroll(aU, s.srv.base, await newSecret(A, { user_id: user.id }));
    assert.deepEqual(st.subject, { kind: 'user', id: user.id });
    assert.equal((await once(aU)).code, 0);
    assert.equal(claimsOf(readHead(aU)).aud, user.id);
    const mine = await check(aU, 'network', 'registry.npmjs.org', '443');
    assert.equal(mine.code, 0, mine.line);
    assert.match(mine.line, new RegExp(`policy_id=${userPolicy.id} .*rule_id=dana-npm`));
    assert.equal((await check(a1, 'network', 'registry.npmjs.org', '443')).code, 1, 'not for the userless agent');
    // Its events name the user.
    assert.equal((await once(aU)).code, 0);
    const users = await s.psql(`SELECT DISTINCT user_id FROM events WHERE agent_id = '${st.agent_id}'`);
    assert.equal(users, user.id);
  });

  s.test('enroll refuses while a `run` holds the state directory (run.lock); after it stops, enroll --force works', async () => {
    const a = newAgentDirs('lk');
    const st0 = await enroll(a, proxy.url, await newSecret(A));
    const run = startRun(a, ['--wait', '2']);
    try
      {
        assert.ok(await waitFor(async () => (await status(a)).state === 'ok', EVENTUALLY_MS), run.out);
        const r = await agent(a, ['enroll', '--server', proxy.url, '--secret', await newSecret(A), '--hostname', 'lk', '--force']);
        assert.equal(r.code, 1, show(r));
        assert.match(r.stderr, /a `run` is using .*run\.lock.*: stop it first/);
        assert.equal((await status(a)).agent_id, st0.agent_id, 'the enrollment is unchanged');
      }
    finally
      {
        await run.stop();
      }
    const st1 = await enroll(a, proxy.url, await newSecret(A), ['--force']);
    assert.notEqual(st1.agent_id, st0.agent_id);
    assert.equal((await once(a)).code, 0);
    const c = await check(a, 'network', '10.0.0.1', '22');
    assert.match(c.line, /^deny reason=rule .*rule_id=no-private /, show(c.r));
    assert.equal((await status(a)).last_error, null);
  });

  s.test('a damaged event spool is moved aside, never deleted; a fresh one starts; the loss is counted and reported', async () => {
    const a = newAgentDirs('sp');
    await enroll(a, proxy.url, await newSecret(A));
    assert.equal((await once(a)).code, 0);
    const damagedFiles = () => fs.readdirSync(a.dir).filter((f) => f.startsWith('events.damaged-')).sort();

    // Garbage counters: moved aside, a fresh spool starts, nothing prints a stale errno.
    fs.writeFileSync(path.join(a.dir, 'events.json'), 'garbage');
    const c = await check(a, 'network', '10.0.0.1', '22');
    assert.equal(c.code, 1, show(c.r));
    assert.doesNotMatch(c.r.stderr, /cannot spool|Success/, show(c.r));
    assert.match(c.r.stderr, /event spool .* damaged/, show(c.r));
    let aside = damagedFiles();
    assert.equal(aside.length, 1, String(aside));
    assert.equal(fs.readFileSync(path.join(a.dir, aside[0]), 'utf8'), 'garbage');
    assert.equal((await status(a)).events.spooled, 1);
    let bodies = recordCheckins();
    let o;
    try
      {
        o = await once(a);
      }
    finally
      {
        proxy.rewrite = null;
      }
    assert.equal(o.code, 0, show(o.r));
    assert.equal(bodies[0]?.last_error, 'events:spool_damaged', 'the check-in reports the damage');
    assert.equal(o.summary.events_uploaded, 1, show(o.r));
    let st = await status(a);
    assert.equal(st.events.spooled, 0);
    assert.equal(st.last_error, null, 'reported once');

    // A spool larger than its cap: moved aside, its events counted dropped; `run` repairs it too.
    const env = { BULWARK_AGENT_SPOOL_MAX_BYTES: '4096' };
    const line = JSON.stringify({ pad: 'x'.repeat(1000) }) + '\n';
    fs.writeFileSync(path.join(a.dir, 'spool.jsonl'), line.repeat(100));
    const before = (await status(a)).events.dropped;
    bodies = recordCheckins();
    let r;
    try
      {
        r = await agent(a, ['run', '--once'], { env });
      }
    finally
      {
        proxy.rewrite = null;
      }
    assert.equal(r.code, 0, show(r));
    assert.equal(bodies[0]?.last_error, 'events:spool_damaged', show(r));
    assert.equal(bodies[0].events.dropped, before + 100, 'the lost events are counted dropped');
    aside = damagedFiles();
    assert.equal(aside.length, 2, String(aside));
    assert.equal(fs.readFileSync(path.join(a.dir, aside.find((f) => f.endsWith('.jsonl'))), 'utf8'), line.repeat(100));
    st = await status(a);
    assert.equal(st.events.spooled, 0);
    assert.equal(st.events.dropped, before + 100);
    const c2 = await check(a, 'network', '10.0.0.1', '22');
    assert.equal(c2.r.stderr, '', show(c2.r));
    assert.equal((await status(a)).events.spooled, 1);
  });

  s.test('a damaged later keyset file is dropped and fetched again by run, and reported; a damaged anchor is reported once', async () => {
    const a1good = await check(a1, 'network', '10.0.0.1', '22');
    const v = (await status(a1)).keyset_version;
    assert.ok(v >= 3, `a1 walked the rotations (${v})`);
    const ksFile = (n) => path.join(a1.dir, `keyset-${n}.json`);
    const orig = {};
    for (let n = 2; n <= v; n++)
      orig[n] = fs.readFileSync(ksFile(n));
    const flip = (buf) => {
      const doc = JSON.parse(buf);
      const sig = Buffer.from(doc.signatures[0].signature, 'base64url');
      sig[7] ^= 1;
      doc.signatures[0].signature = sig.toString('base64url');
      return JSON.stringify(doc);
    };
    for (const [what, damage] of [
      ['garbage keyset-2', () => fs.writeFileSync(ksFile(2), 'garbage')],
      [`a flipped signature in keyset-${v}`, () => fs.writeFileSync(ksFile(v), flip(orig[v]))],
      ['keyset-2 holding another version', () => fs.writeFileSync(ksFile(2), orig[v])],
      [`an extra keyset-${v + 1}`, () => fs.writeFileSync(ksFile(v + 1), orig[v])],
    ])
      {
        damage();
        const bodies = recordCheckins();
        let o;
        try
          {
            o = await once(a1);
          }
        finally
          {
            proxy.rewrite = null;
          }
        assert.equal(o.code, 0, `${what}: ${show(o.r)}`);
        assert.equal(bodies[0]?.last_error, 'state:damaged', `${what}: the check-in reports the damage`);
        for (let n = 2; n <= v; n++)
          assert.ok(fs.readFileSync(ksFile(n)).equals(orig[n]), `${what}: keyset-${n} fetched again`);
        assert.ok(!fs.existsSync(ksFile(v + 1)), `${what}: no keyset-${v + 1}`);
        assert.equal((await status(a1)).keyset_version, v, what);
        assert.equal((await check(a1, 'network', '10.0.0.1', '22')).line, a1good.line, what);
      }

    // The enrollment keyset: nothing to verify it against, so enroll again; the fleet view hears it.
    const a = newAgentDirs('ka');
    const st = await enroll(a, proxy.url, await newSecret(A));
    assert.equal((await once(a)).code, 0);
    const anchor = path.join(a.dir, 'keyset.json');
    const ksOrig = fs.readFileSync(anchor);
    fs.writeFileSync(anchor, flip(ksOrig));
    const bodies = recordCheckins();
    let o;
    try
      {
        o = await once(a);
      }
    finally
      {
        proxy.rewrite = null;
      }
    assert.equal(o.code, 1, show(o.r));
    assert.match(o.r.stderr, /the keysets in .* do not verify: enroll again/);
    assert.equal(bodies.length, 1, 'one check-in, to report');
    assert.equal(bodies[0].last_error, 'keyset:damaged');
    assert.equal(bodies[0].bundle, null);
    assert.ok(await waitFor(async () => (await fleetAgent(A, st.agent_id)).last_error === 'keyset:damaged', EVENTUALLY_MS),
              'the fleet view shows it');
    assert.ok(fs.readFileSync(anchor).equals(Buffer.from(flip(ksOrig))), 'the anchor is left as it is');
  });

  s.test('StrictModes: a state directory or file others can write, or that another user owns, is refused', async () => {
    const a = newAgentDirs('pm');
    await enroll(a, proxy.url, await newSecret(A));
    assert.equal((await once(a)).code, 0);
    const good = await check(a, 'network', '10.0.0.1', '22');
    const f = (n) => path.join(a.dir, n);
    const cases = [
      ['the directory 0777', () => fs.chmodSync(a.dir, 0o777), () => fs.chmodSync(a.dir, 0o700), /writable by group or others/],
      ['the directory 0770', () => fs.chmodSync(a.dir, 0o770), () => fs.chmodSync(a.dir, 0o700), /writable by group or others/],
      ['head.jws 0666', () => fs.chmodSync(f('head.jws'), 0o666), () => fs.chmodSync(f('head.jws'), 0o600), /head\.jws is writable by group or others/],
      ['identity.json 0620', () => fs.chmodSync(f('identity.json'), 0o620), () => fs.chmodSync(f('identity.json'), 0o600), /identity\.json is writable by group or others/],
    ];
    if (process.geteuid() === 0)
      cases.push(['keyset.json owned by nobody', () => fs.chownSync(f('keyset.json'), 65534, 65534),
                  () => fs.chownSync(f('keyset.json'), 0, 0), /keyset\.json is owned by uid 65534/]);
    for (const [what, damage, restore, why] of cases)
      {
        damage();
        try
          {
            const c = await check(a, 'network', '10.0.0.1', '22');
            assert.equal(c.code, 1, `${what}: ${show(c.r)}`);
            assert.equal(c.line, 'deny reason=policy_error rule=none bundle_version=none', what);
            assert.match(c.r.stderr, why, what);
            const st = await agent(a, ['status']);
            assert.equal(st.code, 1, `${what}: ${show(st)}`);
            assert.match(st.stderr, why, what);
            const o = await once(a);
            assert.equal(o.code, 1, `${what}: ${show(o.r)}`);
            assert.match(o.r.stderr, why, what);
          }
        finally
          {
            restore();
          }
        assert.equal((await check(a, 'network', '10.0.0.1', '22')).line, good.line, `${what}: restored`);
      }
  });

  s.test('status --json agrees with damage; a corrupted identity says why; --server with a path is refused', async () => {
    const a = newAgentDirs('m5');
    const r0 = await agent(a, ['enroll', '--server', `${proxy.url}/api/v1`, '--secret', await newSecret(A)]);
    assert.equal(r0.code, 2, show(r0));
    assert.match(r0.stderr, /--server .*no path/);
    assert.ok(!fs.existsSync(path.join(a.dir, 'identity.json')));
    await enroll(a, `${proxy.url}/`, await newSecret(A));
    assert.equal((await once(a)).code, 0);
    const head = readHead(a);
    fs.writeFileSync(path.join(a.dir, 'head.jws'), head.slice(0, -4) + (head.endsWith('AAAA') ? 'BBBB' : 'AAAA'));
    const st = await status(a);
    assert.equal(st.bundle, null);
    assert.equal(st.last_error, 'state:damaged');
    assert.equal(st.state, 'damaged', 'the state agrees with last_error and bundle');
    fs.writeFileSync(path.join(a.dir, 'head.jws'), head);
    assert.equal((await status(a)).state, 'ok');

    fs.writeFileSync(path.join(a.dir, 'identity.json'), '{"broken');
    const c = await check(a, 'network', '10.0.0.1', '22');
    assert.equal(c.code, 1);
    assert.equal(c.line, 'deny reason=policy_error rule=none bundle_version=none');
    assert.match(c.r.stderr, /enrollment in .* is unreadable.*enroll again/, show(c.r));
  });

  s.test('status codes: a disabled agent stops with exit 4; a deleted one with exit 3 and can enroll again', async () => {
    const r = await api('PATCH', orgPath(A, `/agents/${id1.agent_id}`), { token: P(), body: { disabled: true } });
    assert.equal(r.status, 200, r.text);
    const o = await once(a1);
    assert.equal(o.code, 4, show(o.r));
    assert.equal((await status(a1)).state, 'disabled');
    const run = await agent(a1, ['run', '--wait', '5'], { timeoutMs: 20000 });
    assert.equal(run.code, 4, `run (not once) stops too\n${show(run)}`);
    assert.equal((await check(a1, 'network', 'api.github.com', '443')).line, baseline.line.replace(/bundle_version=\d+/, `bundle_version=${(await status(a1)).bundle.version}`),
                 'a disabled agent still enforces its last bundle');
    const en = await api('PATCH', orgPath(A, `/agents/${id1.agent_id}`), { token: P(), body: { disabled: false } });
    assert.equal(en.status, 200, en.text);
    // Started again, the loop says where it stands at once, not after its first long-poll.
    const loop = startRun(a1, ['--wait', '30']);
    try
      {
        assert.ok(await waitFor(async () => (await status(a1)).state === 'ok', 3000), `status ok at once\n${loop.out}`);
      }
    finally
      {
        await loop.stop();
      }

    const d = await api('DELETE', orgPath(A, `/agents/${id1.agent_id}`), { token: P() });
    assert.equal(d.status, 204, d.text);
    const o2 = await once(a1);
    assert.equal(o2.code, 3, show(o2.r));
    // Revoked: the old allow rules are not enforced any more, until the agent enrolls again.
    const rv = await status(a1);
    assert.equal(rv.state, 'revoked');
    assert.equal(rv.bundle, null);
    const denied = await check(a1, 'network', 'api.github.com', '443');
    assert.equal(denied.code, 1, show(denied.r));
    assert.equal(denied.line, 'deny reason=policy_error rule=none bundle_version=none');
    assert.match(denied.r.stderr, /agent revoked: enroll again/);
    const o3 = await once(a1);
    assert.equal(o3.code, 3, show(o3.r));
    assert.match(o3.r.stderr, /revoked: enroll again/);

    const again = await agent(a1, ['enroll', '--server', proxy.url, '--secret', secretA, '--force']);
    assert.equal(again.code, 0, show(again));
    const st = await status(a1);
    assert.notEqual(st.agent_id, id1.agent_id);
    assert.equal(st.bundle, null);
    assert.deepEqual(st.events, { spooled: 0, dropped: 0, last_seq: 0 });
    assert.equal((await once(a1)).code, 0);
  });

  s.test('every real answer the agents got matched api/openapi.yaml', async () => {
    await proxy.close();
    assert.deepEqual(proxy.problems, []);
  });
});
