// api/openapi.yaml: a valid OpenAPI 3.1 document that describes exactly the
// routes of server/routes.c, with their permissions and bodies, the error
// registry of api/errors.def, and schemas that actually constrain.  Runs
// without a server.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import YAML from 'yaml';
import SwaggerParser from '@apidevtools/swagger-parser';
import { SPEC_PATH, HTTP_METHODS, SpecValidator, loadSpec, parseErrorsDef, parseRoutes } from './harness.mjs';

/** routes.c permission constant → the spec's x-permission. */
const PERM_NAMES = {
  BW_PERM_NONE: 'none',
  BW_PERM_PLATFORM: 'platform',
  BW_PERM_ORG_READ: 'org.read',
  BW_PERM_ORG_WRITE: 'org.write',
  BW_PERM_TOKEN_READ: 'token.read',
  BW_PERM_TOKEN_WRITE: 'token.write',
  BW_PERM_AUDIT_READ: 'audit.read',
  BW_PERM_DIRECTORY_READ: 'directory.read',
  BW_PERM_DIRECTORY_WRITE: 'directory.write',
  BW_PERM_POLICY_READ: 'policy.read',
  BW_PERM_POLICY_WRITE: 'policy.write',
  BW_PERM_POLICY_EVALUATE: 'policy.evaluate',
  BW_PERM_AGENT_READ: 'agent.read',
  BW_PERM_AGENT_WRITE: 'agent.write',
  BW_PERM_KEY_WRITE: 'key.write',
  BW_PERM_CATALOG_READ: 'catalog.read',
  BW_PERM_CATALOG_REQUEST: 'catalog.request',
  BW_PERM_CATALOG_REVIEW: 'catalog.review',
  BW_PERM_AGENT: 'agent',
};

function operations (spec)
{
  const ops = [];
  for (const [p, item] of Object.entries(spec.paths))
    for (const m of HTTP_METHODS)
      if (item[m])
        ops.push({ key: `${m.toUpperCase()} ${p}`, method: m.toUpperCase(), path: p, item, op: item[m] });
  return ops;
}

describe('api/openapi.yaml', () => {
  it('is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
    const doc = YAML.parse(fs.readFileSync(SPEC_PATH, 'utf8'));
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    await SwaggerParser.validate(structuredClone(doc));
  });

  it('parses the route table of server/routes.c', () => {
    const routes = parseRoutes();
    assert.ok(routes.length >= 15, `only ${routes.length} routes parsed from server/routes.c`);
    const keys = routes.map((r) => `${r.method} ${r.pattern}`);
    assert.equal(new Set(keys).size, keys.length, 'duplicate method+pattern in routes.c');
    for (const r of routes)
      assert.ok(r.perm in PERM_NAMES, `unknown permission ${r.perm} in routes.c`);
  });

  it('has exactly the routes of server/routes.c', async () => {
    const { raw } = await loadSpec();
    const inSpec = new Set(operations(raw).map((o) => o.key));
    const inC = new Set(parseRoutes().map((r) => `${r.method} ${r.pattern}`));
    const missing = [...inC].filter((k) => !inSpec.has(k));
    const extra = [...inSpec].filter((k) => !inC.has(k));
    assert.deepEqual(missing, [], 'routes of server/routes.c missing from the spec');
    assert.deepEqual(extra, [], 'spec operations not in server/routes.c');
  });

  it('matches each route\'s permission, security and body flag', async () => {
    const { raw } = await loadSpec();
    const byKey = new Map(operations(raw).map((o) => [o.key, o]));
    for (const r of parseRoutes())
      {
        const o = byKey.get(`${r.method} ${r.pattern}`);
        assert.ok(o, `${r.method} ${r.pattern} not in the spec`);
        assert.equal(o.op['x-permission'], PERM_NAMES[r.perm], `x-permission of ${o.key}`);
        const security = o.op.security ?? raw.security;
        if (r.perm === 'BW_PERM_NONE')
          assert.deepEqual(security, [], `${o.key} is public: security must be []`);
        else
          assert.deepEqual(security, [{ bearer: [] }], `${o.key} needs the bearer scheme`);
        if (r.jsonBody)
          {
            assert.ok(o.op.requestBody, `${o.key} takes a JSON body: requestBody missing`);
            assert.equal(o.op.requestBody.required, !r.bodyOptional, `${o.key}: requestBody.required`);
            assert.deepEqual(Object.keys(o.op.requestBody.content), ['application/json'], `${o.key} body media types`);
            for (const s of ['413', '415', '400'])
              assert.ok(o.op.responses[s], `${o.key} takes a body: must declare ${s}`);
          }
        else
          assert.equal(o.op.requestBody, undefined, `${o.key} takes no body`);
        if (r.perm !== 'BW_PERM_NONE')
          assert.ok(o.op.responses['401'], `${o.key} is authenticated: must declare 401`);
        if (r.pattern.includes('{org}'))
          assert.ok(o.op.responses['404'], `${o.key} addresses an org: must declare 404`);
        assert.equal(new Set(operations(raw).map((x) => x.op.operationId)).size, operations(raw).length,
                     'operationIds must be unique');
      }
    assert.deepEqual(raw.components.securitySchemes.bearer, {
      ...raw.components.securitySchemes.bearer, type: 'http', scheme: 'bearer' });
  });

  it('lists exactly the error codes of api/errors.def', async () => {
    const { raw } = await loadSpec();
    const codes = parseErrorsDef().map((e) => e.code);
    assert.ok(codes.length >= 13, 'api/errors.def parsed');
    assert.deepEqual(raw.components.schemas.ErrorCode.enum, codes);
  });

  it('declares X-Request-ID on every response and problem+json for every error', async () => {
    const { deref } = await loadSpec();
    const all = operations(deref).flatMap((o) => Object.entries(o.op.responses).map(([s, r]) => [`${o.key} ${s}`, s, r]))
      .concat(Object.entries(deref.components.responses).map(([n, r]) => [`components.responses.${n}`, null, r]));
    for (const [where, status, r] of all)
      {
        assert.equal(r.headers?.['X-Request-ID']?.required, true, `${where}: X-Request-ID`);
        if (status === null || Number(status) >= 400)
          assert.deepEqual(Object.keys(r.content ?? {}), status === null && !r.content ? []
                           : ['application/problem+json'], `${where}: errors are problem+json`);
        if (status === '503')
          assert.equal(r.headers['Retry-After']?.required, true, `${where}: Retry-After`);
        if (status === '401')
          assert.equal(r.headers['WWW-Authenticate']?.required, true, `${where}: WWW-Authenticate`);
        if (status === '201')
          {
            assert.equal(r.headers.ETag?.required, true, `${where}: ETag`);
            assert.equal(r.headers.Location?.required, true, `${where}: Location`);
          }
      }
  });

  it('compiles every schema in Ajv strict mode, and none accepts anything', async () => {
    const { deref } = await loadSpec();
    const v = await SpecValidator.create();
    let n = 0;
    for (const o of operations(deref))
      {
        for (const [s, r] of Object.entries(o.op.responses))
          for (const [ct, media] of Object.entries(r.content ?? {}))
            {
              const check = v.schemaValidator(media.schema);
              n++;
              if (ct.endsWith('json'))
                {
                  assert.equal(check({}), false, `${o.key} ${s} ${ct}: schema accepts {}`);
                  assert.equal(check('x'), false, `${o.key} ${s} ${ct}: schema accepts a string`);
                }
            }
        if (o.op.requestBody)
          {
            const check = v.schemaValidator(o.op.requestBody.content['application/json'].schema);
            assert.equal(check([]), false, `${o.key} request body schema accepts an array`);
          }
      }
    assert.ok(n > 40, `only ${n} response schemas`);
  });

  it('schemas accept the contract\'s examples and refuse near misses', async () => {
    const { deref } = await loadSpec();
    const v = await SpecValidator.create();
    const s = deref.components.schemas;
    const ok = (name, value) => assert.equal(v.schemaValidator(s[name])(value), true,
                                             `${name} should accept ${JSON.stringify(value)}: `
                                             + v.ajv.errorsText(v.schemaValidator(s[name]).errors));
    const bad = (name, value) => assert.equal(v.schemaValidator(s[name])(value), false,
                                              `${name} should refuse ${JSON.stringify(value)}`);
    const org = { id: '0b4c2f7e-5c4e-4a57-9b59-3f2f5d1c9a10', slug: 'acme', name: 'Acme Corp',
                  created_at: '2026-11-29T12:00:00.123456Z', updated_at: '2026-11-29T12:00:00.123456Z' };
    ok('Org', org);
    bad('Org', { ...org, version: 1 });
    bad('Org', { ...org, created_at: '2026-11-29T12:00:00+01:00' });
    bad('Org', { ...org, slug: 'Acme' });
    for (const slug of ['acme', 'a1', 'acme-corp-2'])
      ok('Slug', slug);
    for (const slug of ['a', 'Acme', '1acme', 'ac--me', 'acme-', 'a'.repeat(64), 'ac_me',
                        'deadbeef-dead-4eef-8ead-beefdeadbeef'])
      bad('Slug', slug);
    const token = { id: org.id, name: 'ci', role: 'viewer', prefix: 'bwk_abcdEFGH',
                    created_at: org.created_at, created_by: 'platform-admin', expires_at: null,
                    last_used_at: null, revoked_at: null, user_id: null };
    ok('Token', token);
    ok('Token', { ...token, created_by: `token:${org.id}` });
    bad('Token', { ...token, secret: 'bwk_' + 'a'.repeat(43) });
    bad('Token', { ...token, role: 'admin' });
    ok('TokenCreated', { ...token, secret: 'bwk_' + 'a'.repeat(43) });
    bad('TokenCreated', token);
    const problem = { type: '/docs/errors#not_found', title: 'Not found', status: 404, detail: 'x',
                      code: 'not_found', request_id: 'r1' };
    ok('Problem', problem);
    ok('Problem', { ...problem, errors: [{ pointer: '/slug', message: 'taken' }] });
    ok('Problem', { ...problem, errors: [{ parameter: 'limit', message: 'too big' }] });
    bad('Problem', { ...problem, errors: [{ pointer: '/slug', parameter: 'limit', message: 'x' }] });
    bad('Problem', { ...problem, code: 'nope' });
    const h = '0'.repeat(64);
    ok('AuditVerification', { ok: true, records: 3, head: h });
    ok('AuditVerification', { ok: false, records: 3, first_bad_seq: 2, reason: 'hash mismatch' });
    bad('AuditVerification', { ok: false, records: 3, head: h });
    ok('AuditRecord', { seq: 1, id: org.id, time: org.created_at, actor: 'platform-admin', action: 'org.create',
                        target: { type: 'org', id: org.id }, before_sha256: null, after_sha256: h,
                        request_id: 'r1', source_addr: '127.0.0.1', prev_hash: h, hash: h });
  });

  it('the harness\'s response validator flags every kind of departure', async () => {
    const v = await SpecValidator.create();
    const org = { id: '0b4c2f7e-5c4e-4a57-9b59-3f2f5d1c9a10', slug: 'acme', name: 'Acme Corp',
                  created_at: '2026-11-29T12:00:00.123456Z', updated_at: '2026-11-29T12:00:00.123456Z' };
    const res = (status, headers, body) => ({ status, headers: new Headers(headers),
                                              text: typeof body === 'string' ? body : JSON.stringify(body) });
    const json = { 'content-type': 'application/json', 'x-request-id': 'r1' };
    const prob = (code, status, extra = {}) => ({ type: `/docs/errors#${code}`, title: 'Not found', status,
                                                  detail: 'd', code, request_id: 'r1', ...extra });
    const pj = { 'content-type': 'application/problem+json', 'x-request-id': 'r1' };
    const check = (m, p, r) => v.check(m, p, r);

    assert.deepEqual(check('GET', `/api/v1/orgs/${org.id}`, res(200, { ...json, etag: '"1"' }, org)), []);
    assert.deepEqual(check('GET', '/api/v1/orgs/acme', res(404, pj, prob('not_found', 404))), []);
    assert.deepEqual(check('GET', '/nope', res(404, pj, prob('not_found', 404))), []);
    assert.deepEqual(check('PUT', '/api/v1/orgs', res(405, { ...pj, allow: 'GET, POST' },
                                                      prob('method_not_allowed', 405, { title: 'Method not allowed' }))), []);
    assert.deepEqual(check('DELETE', '/api/v1/orgs/acme', res(204, { 'x-request-id': 'r1' }, '')), []);
    assert.deepEqual(check('GET', '/api/v1/orgs/acme/audit/verify',
                           res(200, json, { ok: true, records: 1, head: '0'.repeat(64) })), []);

    const flagged = (what, problems, re) => {
      assert.ok(problems.length > 0, `${what}: not flagged`);
      assert.match(problems.join('\n'), re, what);
    };
    flagged('extra field', check('GET', '/api/v1/orgs/acme', res(200, { ...json, etag: '"1"' }, { ...org, x: 1 })),
            /schema/);
    flagged('no ETag', check('GET', '/api/v1/orgs/acme', res(200, json, org)), /ETag missing/);
    flagged('no X-Request-ID', check('GET', '/healthz', res(200, { 'content-type': 'application/json' }, { status: 'ok' })),
            /X-Request-ID/);
    flagged('undeclared status', check('GET', '/api/v1/orgs/acme', res(418, pj, prob('not_found', 418))), /not declared/);
    flagged('wrong media type', check('GET', '/healthz', res(200, { ...json, 'content-type': 'text/html' }, '{}')),
            /Content-Type/);
    flagged('not JSON', check('GET', '/healthz', res(200, json, '{"status":')), /not JSON/);
    flagged('body on 204', check('DELETE', '/api/v1/orgs/acme', res(204, { 'x-request-id': 'r1' }, 'x')), /no body/);
    flagged('request_id mismatch', check('GET', '/api/v1/orgs/acme', res(404, pj, prob('not_found', 404, { request_id: 'r2' }))),
            /request_id/);
    flagged('status mismatch', check('GET', '/api/v1/orgs/acme', res(404, pj, prob('not_found', 400))), /status/);
    flagged('code for another status', check('GET', '/api/v1/orgs/acme', res(404, pj, prob('conflict', 404))), /conflict/);
    flagged('wrong title', check('GET', '/api/v1/orgs/acme', res(404, pj, prob('not_found', 404, { title: 'Nope' }))), /title/);
    flagged('type not /docs/errors#code', check('GET', '/api/v1/orgs/acme',
                                                res(404, pj, prob('not_found', 404, { type: 'about:blank' }))), /type/);
    flagged('401 without WWW-Authenticate', check('GET', '/api/v1/orgs',
                                                  res(401, pj, prob('authentication_required', 401, { title: 'Authentication required' }))),
            /WWW-Authenticate/);
    flagged('503 without Retry-After', check('GET', '/readyz',
                                             res(503, pj, prob('database_unavailable', 503, { title: 'Database unavailable' }))),
            /Retry-After/);
    flagged('405 without Allow', check('PUT', '/api/v1/orgs', res(405, pj, prob('method_not_allowed', 405, { title: 'Method not allowed' }))),
            /Allow/);
    flagged('unknown path answered 200', check('GET', '/nope', res(200, json, {})), /404/);
    flagged('unknown method answered 200', check('PUT', '/api/v1/orgs', res(200, json, {})), /405/);
    flagged('verify with head on failure', check('GET', '/api/v1/orgs/acme/audit/verify',
                                                 res(200, json, { ok: false, records: 1, first_bad_seq: 1, reason: 'hash mismatch',
                                                                  head: '0'.repeat(64) })), /schema/);
  });
});
