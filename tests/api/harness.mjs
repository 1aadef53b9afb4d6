// Harness of the API tests (node --test tests/api/): a throwaway database
// per test file, bulwarkd as a child process on a free loopback port, an
// HTTP helper whose every response is checked against api/openapi.yaml,
// and a graceful, sanitizer-clean shutdown at the end.
//
// Environment (set by ./dev test):
//   BULWARKD                   path to the bulwarkd binary
//   BULWARK_TEST_DATABASE_URL  superuser libpq URL of a throwaway PostgreSQL 15 cluster
//   BULWARK_TEST_PGCLUSTER     command prefix; `<prefix> stop` / `<prefix> start` stop/start it
//   BULWARK_TEST_KEEP_DB=1     keep the per-file databases (for debugging)

import { spawn, execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after, it } from 'node:test';
import YAML from 'yaml';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SPEC_PATH = path.join(ROOT, 'api', 'openapi.yaml');

/** Milliseconds bulwarkd may take to answer /readyz 200 after start. */
const READY_TIMEOUT_MS = 15000;
/** Graceful shutdown must end the process within this (contract: exit 0). */
const STOP_TIMEOUT_MS = 10000;
/** Per-request timeout of the HTTP helper. */
const REQUEST_TIMEOUT_MS = 15000;
/** Most server output attached to a failing test. */
const LOG_TAIL_BYTES = 16384;
/**
 * BULWARK_MASTER_KEY of every bulwarkd the harness starts (opts.env may
 * override it): one fixed key, so that restarts and replicas on one
 * database open the signing keys sealed by each other.
 */
export const TEST_MASTER_KEY = crypto.createHash('sha256').update('bulwark API test master key').digest('hex');
/** What a sanitizer report looks like on stderr. */
export const SANITIZER_PATTERNS = [/ERROR: AddressSanitizer/, /runtime error:/, /LeakSanitizer/];

/* ---------------------------------------------------------------- utilities */

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll @fn until it returns a truthy value or @timeoutMs passes; returns the last value. */
export async function waitFor (fn, timeoutMs, intervalMs = 200)
{
  const end = Date.now() + timeoutMs;
  let v;
  for (;;)
    {
      v = await fn();
      if (v || Date.now() >= end)
        return v;
      await sleep(intervalMs);
    }
}

export const sha256hex = (s) => crypto.createHash('sha256').update(s).digest('hex');

/** Canonical JSON as lib/canonical_json.h: sorted keys, no whitespace, UTF-8 (keys are ASCII here, so UTF-16 order = byte order). */
export function canonicalJson (v)
{
  if (Array.isArray(v))
    return '[' + v.map(canonicalJson).join(',') + ']';
  if (v !== null && typeof v === 'object')
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonicalJson(v[k])).join(',') + '}';
  return JSON.stringify(v);
}

/** A unique, valid org slug starting with @prefix. */
export function uniqueSlug (prefix = 'org')
{
  return `${prefix}-${crypto.randomBytes(5).toString('hex')}`;
}

/** A random token in the shape of an org API token (bwk_ + 43 base64url chars). */
export const randomToken = () => 'bwk_' + crypto.randomBytes(32).toString('base64url');

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (s) => typeof s === 'string' && UUID_RE.test(s);

/** SHA-256 (hex) of the canonical JSON of @v: the before/after digests of audit records. */
export const digest = (v) => sha256hex(canonicalJson(v));

/* ------------------------------------------------------------ assertions */

/** @r is a problem document with @status and @code (application/problem+json). */
export function assertProblem (r, status, code)
{
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.equal(mediaBase(r.headers.get('content-type')), 'application/problem+json',
               `a ${status} is a problem document: ${r.headers.get('content-type')}`);
  assert.equal(r.json?.code, code, r.text);
}

/** What the errors of a validation problem name (pointer, else parameter), sorted; @r must have errors. */
export function errorPointers (r)
{
  assert.ok(Array.isArray(r.json?.errors), `expected a problem with errors, got ${r.status}: ${r.text}`);
  return r.json.errors.map((e) => e.pointer ?? e.parameter).sort();
}

/** A free TCP port on 127.0.0.1 (listen on 0, read it, close). */
export function freePort ()
{
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function requireEnv (name)
{
  const v = process.env[name];
  if (!v)
    throw new Error(`${name} is not set: run the API tests through ./dev test `
                    + '(or set BULWARKD, BULWARK_TEST_DATABASE_URL and BULWARK_TEST_PGCLUSTER yourself)');
  return v;
}

function run (cmd, args, { timeoutMs = 30000, env } = {})
{
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, env: env ?? process.env, maxBuffer: 64 << 20 },
             (err, stdout, stderr) => {
               resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
                         signal: err?.signal ?? null, stdout, stderr, error: err });
             });
  });
}

/* ------------------------------------------------------------------ database */

/** The libpq URL @url with its database replaced by @dbname. */
export function databaseUrl (url, dbname)
{
  if (/^postgres(ql)?:\/\//.test(url))
    {
      const u = new URL(url);
      u.pathname = '/' + encodeURIComponent(dbname);
      u.searchParams.delete('dbname');
      return u.toString();
    }
  // key=value conninfo
  const rest = url.replace(/(^|\s)dbname\s*=\s*('([^'\\]|\\.)*'|\S+)/, '').trim();
  return `${rest} dbname=${dbname}`;
}

/** Run @sql with psql on @url; resolves to its unaligned, tuples-only output. */
export async function psql (url, sql)
{
  const r = await run('psql', [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
  if (r.code !== 0)
    throw new Error(`psql failed (${r.code}): ${sql}\n${r.stderr}`);
  return r.stdout.trim();
}

/** Create a fresh database; resolves to {name, url}. */
export async function createDatabase (tag = 'api')
{
  const admin = requireEnv('BULWARK_TEST_DATABASE_URL');
  const name = `bw_${tag.replace(/[^a-z0-9_]/g, '_')}_${crypto.randomBytes(4).toString('hex')}`;
  await psql(admin, `CREATE DATABASE "${name}"`);
  return { name, url: databaseUrl(admin, name) };
}

export async function dropDatabase (db)
{
  if (!db || process.env.BULWARK_TEST_KEEP_DB === '1')
    return;
  await psql(requireEnv('BULWARK_TEST_DATABASE_URL'), `DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`);
}

/** `$BULWARK_TEST_PGCLUSTER stop|start` (the prefix is split on spaces). */
export async function pgCluster (action)
{
  const [cmd, ...args] = requireEnv('BULWARK_TEST_PGCLUSTER').trim().split(/\s+/);
  const r = await run(cmd, [...args, action], { timeoutMs: 60000 });
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} ${action} failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

/* ---------------------------------------------------- sources of truth (C) */

/** Rows of server/routes.c: [{method, pattern, handler, perm, jsonBody, bodyOptional}]. */
export function parseRoutes ()
{
  const src = fs.readFileSync(path.join(ROOT, 'server', 'routes.c'), 'utf8');
  const re = /\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(true|false|BW_BODY_OPTIONAL)\s*\}/g;
  return [...src.matchAll(re)].map((m) => ({ method: m[1], pattern: m[2], handler: m[3],
                                            perm: m[4], jsonBody: m[5] !== 'false',
                                            bodyOptional: m[5] === 'BW_BODY_OPTIONAL' }));
}

/** Rows of api/errors.def: [{name, code, status, title}] in registry order. */
export function parseErrorsDef ()
{
  const src = fs.readFileSync(path.join(ROOT, 'api', 'errors.def'), 'utf8');
  const re = /^BW_ERROR\s*\(\s*(\w+)\s*,\s*"([^"]+)"\s*,\s*(\d+)\s*,\s*"((?:[^"\\]|\\.)*)"/gm;
  return [...src.matchAll(re)].map((m) => ({ name: m[1], code: m[2], status: Number(m[3]), title: m[4] }));
}

/** Highest NNNN of migrations/NNNN_*.sql: the schema version the binary expects. */
export function latestMigration ()
{
  return Math.max(...fs.readdirSync(path.join(ROOT, 'migrations'))
                  .map((f) => /^(\d{4})_.*\.sql$/.exec(f)).filter(Boolean).map((m) => Number(m[1])));
}

/* ---------------------------------------------------------- spec validation */

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let specPromise;

/** api/openapi.yaml: {raw (as parsed), deref (all $refs resolved)}. */
export function loadSpec ()
{
  specPromise ??= (async () => {
    const raw = YAML.parse(fs.readFileSync(SPEC_PATH, 'utf8'));
    const deref = await SwaggerParser.dereference(structuredClone(raw));
    return { raw, deref };
  })();
  return specPromise;
}

/** A path template as a regular expression ({name} = one non-empty segment). */
function templateRegex (template)
{
  const src = template.split(/(\{[^}]+\})/).map((part) =>
    part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('');
  return new RegExp(`^${src}$`);
}

const mediaBase = (ct) => (ct ?? '').split(';')[0].trim().toLowerCase();
const isJsonMedia = (m) => m === 'application/json' || m.endsWith('+json');

/**
 * Checks responses against api/openapi.yaml: the status is declared for the
 * operation, the content type is one it declares, the body is valid against
 * its schema, declared required headers are present and valid; plus the
 * contract's global rules (X-Request-ID everywhere; problem documents agree
 * with their status, X-Request-ID and the error registry).
 */
export class SpecValidator
{
  constructor (deref)
  {
    this.spec = deref;
    this.ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(this.ajv);
    this.compiled = new WeakMap();
    this.errors = new Map(parseErrorsDef().map((e) => [e.code, e]));
    // Literal paths before templated ones, so /audit/verify never reads as /audit/{x}.
    this.paths = Object.keys(deref.paths).map((t) => ({ template: t, re: templateRegex(t),
                                                         params: (t.match(/\{/g) ?? []).length }))
      .sort((a, b) => a.params - b.params);
  }

  static async create ()
  {
    return new SpecValidator((await loadSpec()).deref);
  }

  schemaValidator (schema)
  {
    let v = this.compiled.get(schema);
    if (!v)
      {
        v = this.ajv.compile(schema);
        this.compiled.set(schema, v);
      }
    return v;
  }

  /** {template, item, op} for @method and @pathname; op null when only the path exists; null when neither. */
  findOperation (method, pathname)
  {
    for (const p of this.paths)
      if (p.re.test(pathname))
        {
          const item = this.spec.paths[p.template];
          return { template: p.template, item, op: item[method.toLowerCase()] ?? null };
        }
    return null;
  }

  /** The declared response for a request, or a problem string. */
  responseSpec (method, pathname, status)
  {
    const found = this.findOperation(method, pathname);
    const comp = this.spec.components.responses;
    if (!found)
      return status === 404 ? { where: `unknown route ${pathname}`, resp: comp.UnknownRoute }
        : { problem: `no path of the spec matches ${pathname}, so the answer must be 404 (unknown route), not ${status}` };
    if (!found.op)
      return status === 405 ? { where: `${method} ${found.template} (method not allowed)`, resp: comp.MethodNotAllowed }
        : { problem: `${method} ${found.template} is not an operation of the spec, so the answer must be 405, not ${status}` };
    const r = found.op.responses;
    const resp = r[String(status)] ?? r[`${String(status)[0]}XX`] ?? r.default;
    if (!resp)
      return { problem: `status ${status} is not declared for ${method} ${found.template} `
               + `(declared: ${Object.keys(r).join(', ')})` };
    return { where: `${method} ${found.template} → ${status}`, resp };
  }

  /** Every way @res (status, headers: Headers, text) departs from the spec, as strings. */
  check (method, pathname, res)
  {
    const problems = [];
    const rid = res.headers.get('x-request-id');
    if (!rid)
      problems.push('X-Request-ID header missing (every response must carry it)');

    const rs = this.responseSpec(method, pathname, res.status);
    if (rs.problem)
      {
        problems.push(rs.problem);
        return problems;
      }
    const { resp, where } = rs;

    for (const [name, h] of Object.entries(resp.headers ?? {}))
      {
        const value = res.headers.get(name);
        if (value === null)
          {
            if (h.required)
              problems.push(`${where}: required header ${name} missing`);
            continue;
          }
        if (h.schema)
          {
            const v = this.schemaValidator(h.schema);
            if (!v(value))
              problems.push(`${where}: header ${name}: ${JSON.stringify(value)} ${this.ajv.errorsText(v.errors)}`);
          }
      }

    const ctype = res.headers.get('content-type');
    if (!resp.content)
      {
        if (res.text !== '')
          problems.push(`${where}: no body declared, but got ${res.text.length} bytes (${ctype})`);
        return problems;
      }
    const base = mediaBase(ctype);
    const key = Object.keys(resp.content).find((k) => mediaBase(k) === base);
    if (!key)
      {
        problems.push(`${where}: Content-Type ${JSON.stringify(ctype)} is not one of ${Object.keys(resp.content).join(', ')}`);
        return problems;
      }
    const schema = resp.content[key].schema;
    let body = res.text;
    if (isJsonMedia(base))
      {
        try
          {
            body = JSON.parse(res.text);
          }
        catch (e)
          {
            problems.push(`${where}: body is not JSON: ${e.message}`);
            return problems;
          }
      }
    if (schema)
      {
        const v = this.schemaValidator(schema);
        if (!v(body))
          problems.push(`${where}: body does not match the schema: `
                        + v.errors.map((e) => `${e.instancePath || '(root)'} ${e.message}`
                                       + (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '')).join('; '));
      }
    if (base === 'application/problem+json' && body && typeof body === 'object')
      {
        if (body.status !== res.status)
          problems.push(`problem status ${body.status} != HTTP status ${res.status}`);
        if (rid && body.request_id !== rid)
          problems.push(`problem request_id ${JSON.stringify(body.request_id)} != X-Request-ID ${JSON.stringify(rid)}`);
        if (body.type !== `/docs/errors#${body.code}`)
          problems.push(`problem type ${JSON.stringify(body.type)} != "/docs/errors#${body.code}"`);
        const reg = this.errors.get(body.code);
        if (!reg)
          problems.push(`problem code ${JSON.stringify(body.code)} is not in api/errors.def`);
        else
          {
            if (reg.status !== res.status)
              problems.push(`code ${body.code} has status ${reg.status} in api/errors.def, answered ${res.status}`);
            if (reg.title !== body.title)
              problems.push(`code ${body.code}: title ${JSON.stringify(body.title)} != registry title ${JSON.stringify(reg.title)}`);
          }
      }
    return problems;
  }
}

/* -------------------------------------------------------------- HTTP client */

function describeResponse (method, url, res)
{
  const hdrs = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n  ');
  const body = res.text.length > 2048 ? res.text.slice(0, 2048) + '…' : res.text;
  return `${method} ${url} → ${res.status}\n  ${hdrs}\n  ${body}`;
}

/**
 * One HTTP request to @base.  Options: token (Bearer), body (JSON-encoded,
 * Content-Type application/json), rawBody (string or Buffer sent as is,
 * Content-Type application/json unless headers say otherwise; a header
 * value null removes it), headers, validate (default true: check against
 * the spec and throw on mismatch).
 * @returns {status, headers (Headers), text, json (parsed when JSON, else undefined)}
 */
export async function request (base, validator, method, urlPath, opts = {})
{
  const { token, body, rawBody, validate = true } = opts;
  const headers = {};
  if (token !== undefined && token !== null)
    headers.authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined)
    payload = Buffer.from(JSON.stringify(body));
  else if (rawBody !== undefined)
    payload = Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody);
  if (payload !== undefined)
    headers['content-type'] = 'application/json';
  for (const [k, v] of Object.entries(opts.headers ?? {}))
    {
      if (v === null)
        delete headers[k.toLowerCase()];
      else
        headers[k.toLowerCase()] = v;
    }
  let r;
  try
    {
      r = await fetch(base + urlPath, { method, headers, body: payload, redirect: 'manual',
                                        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    }
  catch (e)
    {
      const c = e.cause;
      throw new Error(`${method} ${urlPath}: no HTTP response (${e.name}: ${e.message}`
                      + (c ? `; ${c.code ?? c.name}: ${c.message}` : '') + ')');
    }
  const text = await r.text();
  const res = { status: r.status, headers: r.headers, text, json: undefined };
  if (isJsonMedia(mediaBase(r.headers.get('content-type'))) && text !== '')
    {
      try
        {
          res.json = JSON.parse(text);
        }
      catch
        {
          /* left undefined; the validator reports it */
        }
    }
  if (validate && validator)
    {
      const pathname = new URL(base + urlPath).pathname;
      const problems = validator.check(method, pathname, res);
      if (problems.length)
        {
          const err = new Error(`response departs from api/openapi.yaml or the contract:\n- `
                                + problems.join('\n- ') + '\n' + describeResponse(method, urlPath, res));
          err.response = res;
          throw err;
        }
    }
  return res;
}

/* ------------------------------------------------------------------ bulwarkd */

/** Environment for a bulwarkd child: ours minus any BULWARK_* variable, plus @extra. */
export function childEnv (extra = {})
{
  const env = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('BULWARK_'))
      env[k] = v;
  env.UBSAN_OPTIONS ??= 'print_stacktrace=1';
  return { ...env, ...extra };
}

/** Sanitizer reports in @text, as an array of matching lines. */
export function sanitizerReports (text)
{
  return text.split('\n').filter((l) => SANITIZER_PATTERNS.some((re) => re.test(l)));
}

/** Lines of @text that are not one JSON object each (the log format). */
export function nonJsonLines (text)
{
  return text.split('\n').filter((l) => {
    if (l.trim() === '')
      return false;
    try
      {
        const v = JSON.parse(l);
        return !(v && typeof v === 'object' && !Array.isArray(v));
      }
    catch
      {
        return true;
      }
  });
}

/** Run `bulwarkd @args` to completion: {code, signal, stdout, stderr}. */
export async function runBulwarkd (args, { env = {}, timeoutMs = 30000 } = {})
{
  return run(requireEnv('BULWARKD'), args, { env: childEnv(env), timeoutMs });
}

/** One bulwarkd process (restartable) against one database. */
export class Bulwarkd
{
  /**
   * @param db        {name, url} from createDatabase
   * @param opts.token     BULWARK_BOOTSTRAP_TOKEN (default: random; null: unset)
   * @param opts.env       extra environment
   * @param opts.args      command-line arguments (default none: serve)
   * @param opts.flagsOnly  set neither BULWARK_LISTEN nor BULWARK_DATABASE_URL (args carry them)
   */
  constructor (db, opts = {})
  {
    this.db = db;
    this.token = opts.token === undefined ? randomToken() : opts.token;
    this.extraEnv = opts.env ?? {};
    this.args = opts.args ?? [];
    this.flagsOnly = opts.flagsOnly ?? false;
    this.validator = opts.validator ?? null;
    this.stdout = '';
    this.stderr = '';
    this.log = '';        // both streams, interleaved, across restarts
    this.proc = null;
    this.exit = null;     // {code, signal} once exited
  }

  get base ()
  {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Start and (by default) wait for /readyz 200. */
  async start ({ waitReady = true } = {})
  {
    for (let attempt = 0; ; attempt++)
      {
        this.port = await freePort();
        this.spawn();
        if (!waitReady)
          return;
        try
          {
            await this.waitReady();
            return;
          }
        catch (e)
          {
            // Someone took the port between our probe and bulwarkd's bind: try another.
            if (attempt < 2 && this.exit && /in use|EADDRINUSE/i.test(this.stderr))
              continue;
            throw e;
          }
      }
  }

  spawn ()
  {
    const env = childEnv({
      ...(this.flagsOnly ? {} : { BULWARK_LISTEN: `127.0.0.1:${this.port}`, BULWARK_DATABASE_URL: this.db.url }),
      BULWARK_LOG_LEVEL: 'warn',
      BULWARK_MASTER_KEY: TEST_MASTER_KEY,
      ...(this.token !== null ? { BULWARK_BOOTSTRAP_TOKEN: this.token } : {}),
      ...this.extraEnv,
    });
    this.stdout = '';
    this.stderr = '';
    this.exit = null;
    this.log += `\n[harness] starting ${requireEnv('BULWARKD')} ${this.args.join(' ')} on port ${this.port}\n`;
    const p = spawn(requireEnv('BULWARKD'), this.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stdout.on('data', (d) => { this.stdout += d; this.log += d; });
    p.stderr.on('data', (d) => { this.stderr += d; this.log += d; });
    this.exited = new Promise((resolve) => {
      p.on('exit', (code, signal) => {
        this.exit = { code, signal };
        this.log += `\n[harness] bulwarkd exited: code ${code} signal ${signal}\n`;
        resolve(this.exit);
      });
    });
    // Streams may still hold data after 'exit'; 'close' fires after they drain.
    this.closed = new Promise((resolve) => p.on('close', resolve));
  }

  async waitReady (timeoutMs = READY_TIMEOUT_MS)
  {
    const end = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < end)
      {
        if (this.exit)
          throw new Error(`bulwarkd exited before it was ready (code ${this.exit.code}, signal ${this.exit.signal})\n`
                          + this.tail());
        try
          {
            const r = await fetch(`${this.base}/readyz`, { signal: AbortSignal.timeout(2000) });
            last = `${r.status} ${await r.text()}`;
            if (r.status === 200)
              return;
          }
        catch (e)
          {
            last = e.cause?.code ?? e.message;
          }
        await sleep(100);
      }
    throw new Error(`bulwarkd not ready within ${timeoutMs} ms (last /readyz: ${last})\n${this.tail()}`);
  }

  /** HTTP request, validated against the spec (see request()). */
  api (method, urlPath, opts = {})
  {
    return request(this.base, this.validator, method, urlPath, opts);
  }

  /** Send @signal and wait for the exit: {code, signal, timedOut}. Kills after @timeoutMs. */
  async kill (signal = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS)
  {
    if (!this.proc)
      return { code: null, signal: null, timedOut: false };
    if (!this.exit)
      this.proc.kill(signal);
    let timer;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise((resolve) => { timer = setTimeout(() => resolve(true), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut)
      {
        this.proc.kill('SIGKILL');
        await this.exited;
      }
    await this.closed;
    this.proc = null;
    return { ...this.exit, timedOut };
  }

  /**
   * Graceful stop: SIGTERM, then require exit code 0 within 10 s and no
   * sanitizer report.  Throws with the server output otherwise.
   */
  async stop (signal = 'SIGTERM')
  {
    const wasRunning = this.proc && !this.exit;
    const r = await this.kill(signal);
    const faults = [];
    if (!wasRunning)
      faults.push(`bulwarkd had already exited (code ${r.code}, signal ${r.signal}) before the ${signal}`);
    else if (r.timedOut)
      faults.push(`bulwarkd did not exit within ${STOP_TIMEOUT_MS} ms of ${signal} (killed)`);
    else if (r.code !== 0)
      faults.push(`bulwarkd exited with code ${r.code} signal ${r.signal} after ${signal}, expected 0`);
    const san = sanitizerReports(this.stderr);
    if (san.length)
      faults.push(`sanitizer report in stderr: ${san.slice(0, 5).join(' | ')}`);
    else
      {
        const notJson = nonJsonLines(this.stderr);
        if (notJson.length)
          faults.push(`stderr must be JSON log lines (contract "Logs"), got: ${notJson.slice(0, 3).map((l) => JSON.stringify(l)).join(' | ')}`);
      }
    if (faults.length)
      throw new Error(faults.join('\n') + '\n' + this.tail());
  }

  /** Graceful stop, then start again on the same database (and token). */
  async restart ()
  {
    await this.stop();
    await this.start();
  }

  /** Position in the log, for tail(). */
  mark ()
  {
    return this.log.length;
  }

  /** Server output since @from (capped), for failure messages. */
  tail (from = 0)
  {
    let s = this.log.slice(from);
    if (s.trim() === '')
      return '--- bulwarkd printed nothing meanwhile ---';
    if (s.length > LOG_TAIL_BYTES)
      s = '…' + s.slice(-LOG_TAIL_BYTES);
    return `--- bulwarkd output ---\n${s}\n--- end of bulwarkd output ---`;
  }
}

/* ------------------------------------------------------------ test plumbing */

/**
 * @e with @out appended to its message.  A new Error, because the test
 * reporter prints an AssertionError's generated message, not its message.
 */
export function withOutput (e, out)
{
  const w = new Error(`${e?.message ?? e}\n${out}`);
  if (e?.stack)
    w.stack = `${w.message}\n${e.stack.split('\n').filter((l) => /^\s+at /.test(l)).join('\n')}`;
  return w;
}

/**
 * Register before/after hooks in the current describe(): a fresh database
 * and a running bulwarkd before the tests, a graceful, sanitizer-clean stop
 * after them.  Returns a handle: h.srv (Bulwarkd), h.api(...), h.token
 * (platform admin), h.psql(sql) on the test database, h.test(name, fn) — an
 * it() that appends the server output to the error when the test fails —
 * and the setup shared by the test files: h.newOrg(prefix), h.mint(org,
 * role, {by, name, ...}), h.policyVersion(org), h.auditCount(org).
 */
export function useServer (tag, opts = {})
{
  const h = {
    srv: null,
    db: null,
    get token () { return this.srv.token; },
    api: (...a) => h.srv.api(...a),
    psql: (sql) => psql(h.db.url, sql),
    /** Create an org (as the platform admin) with a unique slug starting with @prefix; its body. */
    newOrg: async (prefix = 'org') => {
      const slug = uniqueSlug(prefix);
      const name = `${prefix} org`;
      const r = await h.api('POST', '/api/v1/orgs', { token: h.token, body: { slug, name } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.headers.get('location'), `/api/v1/orgs/${r.json.id}`);
      assert.deepEqual([r.json.slug, r.json.name], [slug, name], r.text);
      return r.json;
    },
    /** Mint an API token of @role in @org (by the platform admin unless opts.by); its body, secret included. */
    mint: async (org, role, { by = h.token, name = role, ...extra } = {}) => {
      const r = await h.api('POST', `/api/v1/orgs/${org.id}/tokens`, { token: by, body: { name, role, ...extra } });
      assert.equal(r.status, 201, r.text);
      assert.deepEqual([r.json.name, r.json.role], [name, role], r.text);
      assert.match(r.json.secret, /^bwk_[A-Za-z0-9_-]{43}$/);
      return r.json;
    },
    /** The org's policy version (no API shows it: read from the database). */
    policyVersion: async (org) => Number(await psql(h.db.url, `SELECT policy_version FROM orgs WHERE id = '${org.id}'`)),
    /** Records in the org's audit log. */
    auditCount: async (org) => Number(await psql(h.db.url, `SELECT count(*) FROM audit_log WHERE org_id = '${org.id}'`)),
    test: (name, fn, itOpts = {}) => it(name, itOpts, async (t) => {
      const from = h.srv ? h.srv.mark() : 0;
      try
        {
          await fn(t);
        }
      catch (e)
        {
          throw h.srv ? withOutput(e, h.srv.tail(from)) : e;
        }
    }),
  };
  before(async () => {
    h.db = await createDatabase(tag);
    h.srv = new Bulwarkd(h.db, { ...opts, validator: await SpecValidator.create() });
    await h.srv.start();
  });
  after(async () => {
    try
      {
        if (h.srv)
          await h.srv.stop();
      }
    finally
      {
        await dropDatabase(h.db);
      }
  });
  return h;
}

/** Walk every page of a list with @limit; returns {items, pages}. */
export async function walkPages (api, listPath, { token, limit = 1, maxPages = 1000 } = {})
{
  const items = [];
  let pages = 0;
  let cursor = null;
  const sep = listPath.includes('?') ? '&' : '?';
  for (;;)
    {
      const url = `${listPath}${sep}limit=${limit}` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : '');
      const r = await api('GET', url, { token });
      if (r.status !== 200)
        throw new Error(`GET ${url} → ${r.status} ${r.text}`);
      if (r.json.items.length > limit)
        throw new Error(`GET ${url} returned ${r.json.items.length} items, more than limit ${limit}`);
      items.push(...r.json.items);
      pages++;
      cursor = r.json.next_cursor;
      if (cursor === null)
        return { items, pages };
      if (pages >= maxPages)
        throw new Error(`more than ${maxPages} pages: cursor never ends`);
    }
}

