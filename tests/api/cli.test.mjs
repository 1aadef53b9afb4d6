// The bulwarkd command line: version, --help, bad flags, the platform admin
// token shown once at first start, `admin-token` rotation, `migrate`, flags
// instead of environment variables, and refusing a schema newer than the
// binary.

import { describe, after, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Bulwarkd, ROOT, SpecValidator, createDatabase, dropDatabase, freePort, latestMigration, psql,
         runBulwarkd, sanitizerReports, sha256hex, sleep, waitFor, withOutput, assertProblem } from './harness.mjs';

const ENV_VARS = ['BULWARK_LISTEN', 'BULWARK_DATABASE_URL', 'BULWARK_DATA_DIR', 'BULWARK_BOOTSTRAP_TOKEN',
                  'BULWARK_POOL_SIZE', 'BULWARK_BODY_LIMIT', 'BULWARK_LOG_LEVEL', 'BULWARK_CONNECTION_TIMEOUT',
                  'BULWARK_PER_IP_CONNECTIONS', 'BULWARK_SHUTDOWN_TIMEOUT'];
const TOKEN_LINE_RE = /^platform admin token: (\S+)$/m;
/** How long a rotated platform token may keep working (the server's credential cache). */
const TOKEN_CACHE_MS = 5000;

const version = /AC_INIT\(\[bulwark\],\s*\[([^\]]+)\]/.exec(fs.readFileSync(path.join(ROOT, 'configure.ac'), 'utf8'))[1];

function assertClean (r, what)
{
  const san = sanitizerReports(r.stderr);
  assert.deepEqual(san, [], `${what}: sanitizer report\n${r.stderr}`);
}

describe('bulwarkd CLI', () => {
  const dbs = [];
  const servers = [];
  const freshDb = async () => {
    const db = await createDatabase('cli');
    dbs.push(db);
    return db;
  };
  const server = async (db, opts = {}) => {
    const srv = new Bulwarkd(db, { validator: await SpecValidator.create(), ...opts });
    servers.push(srv);
    return srv;
  };
  after(async () => {
    for (const srv of servers)
      if (srv.proc)
        await srv.kill('SIGKILL', 1000);
    for (const db of dbs)
      await dropDatabase(db);
  });

  /** it() that shows every server's output when it fails. */
  const test = (name, fn) => it(name, async (t) => {
    const from = servers.length;
    try
      {
        await fn(t);
      }
    catch (e)
      {
        const out = servers.slice(from).map((srv) => srv.tail()).join('\n');
        throw out ? withOutput(e, out) : e;
      }
  });

  test('`bulwarkd version` prints the version', async () => {
    const r = await runBulwarkd(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/);
    assert.ok(r.stdout.includes(version), `version ${version} (configure.ac) in ${JSON.stringify(r.stdout)}`);
    assertClean(r, 'version');
  });

  test('`bulwarkd --help` names every command and BULWARK_* variable', async () => {
    const r = await runBulwarkd(['--help']);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout + r.stderr;
    for (const v of ENV_VARS)
      assert.ok(text.includes(v), `--help does not mention ${v}`);
    for (const c of ['serve', 'migrate', 'version', 'admin-token'])
      assert.ok(text.includes(c), `--help does not mention ${c}`);
    for (const f of ['--listen', '--database-url', '--data-dir', '--pool-size', '--body-limit', '--log-level'])
      assert.ok(text.includes(f), `--help does not mention ${f}`);
    assert.ok(r.stdout.length > 0, 'help goes to stdout');
    assertClean(r, '--help');
  });

  test('an unknown flag or command exits non-zero with a message naming it', async () => {
    for (const args of [['--no-such-flag'], ['serve', '--no-such-flag'], ['frobnicate']])
      {
        const r = await runBulwarkd(args, { env: { BULWARK_DATABASE_URL: 'postgresql:///nowhere?host=/nonexistent' } });
        assert.notEqual(r.code, 0, `${args.join(' ')} exited 0`);
        assert.ok(r.signal === null, `${args.join(' ')} died of ${r.signal}`);
        assert.ok((r.stderr).includes(args.at(-1)), `${args.join(' ')}: the message should name it: ${r.stderr}`);
        assertClean(r, args.join(' '));
      }
    const bad = await runBulwarkd(['--pool-size', 'lots'], { env: { BULWARK_DATABASE_URL: 'postgresql:///nowhere?host=/nonexistent' } });
    assert.notEqual(bad.code, 0, '--pool-size lots exited 0');
    assert.match(bad.stderr, /pool/i);
  });

  test('first start prints the platform admin token once; later starts do not', async () => {
    const db = await freshDb();
    const srv = await server(db, { token: null });
    await srv.start();
    const line = await waitFor(() => TOKEN_LINE_RE.exec(srv.stdout), 3000, 100);
    assert.ok(line, `no "platform admin token: <token>" line on stdout while running (flushed?):\n${srv.stdout}`);
    assert.equal(srv.stdout.match(/platform admin token:/g).length, 1, 'printed once');
    const token = line[1];
    assert.ok(!srv.stderr.includes(token), 'the token must not reach the logs (stderr)');
    const ok = await srv.api('GET', '/api/v1/orgs', { token });
    assert.equal(ok.status, 200, 'the printed token works');
    const created = await srv.api('POST', '/api/v1/orgs', { token, body: { slug: 'first-start', name: 'First' } });
    assert.equal(created.status, 201, 'it is the platform admin (may create orgs)');
    assert.equal(created.json.slug, 'first-start');
    const hash = await psql(db.url, 'SELECT token_sha256 FROM platform_admin');
    assert.notEqual(hash, '');
    assert.ok(!hash.includes(token), 'stored hashed');
    assert.equal(hash, sha256hex(token), 'stored as its SHA-256 only');
    await srv.stop();

    const again = await server(db, { token: null });
    await again.start();
    await sleep(300);
    assert.doesNotMatch(again.stdout, TOKEN_LINE_RE, 'second start must not print a token');
    assert.ok(!again.stdout.includes(token));
    assert.match(again.stdout, /admin-token/, 'second start says how to mint a new token');
    assert.equal((await again.api('GET', '/api/v1/orgs', { token })).status, 200, 'the first token still works');
    await again.stop();
  });

  test('`bulwarkd admin-token` mints a new token; the old one stops working', async () => {
    const db = await freshDb();
    const srv = await server(db, { token: null });
    await srv.start();
    const old = (await waitFor(() => TOKEN_LINE_RE.exec(srv.stdout), 3000, 100))?.[1];
    assert.ok(old, `no token printed at first start:\n${srv.stdout}`);
    assert.equal((await srv.api('GET', '/api/v1/orgs', { token: old })).status, 200);

    const r = await runBulwarkd(['admin-token'], { env: { BULWARK_DATABASE_URL: db.url, BULWARK_LOG_LEVEL: 'warn' } });
    assert.equal(r.code, 0, r.stderr);
    assertClean(r, 'admin-token');
    const m = TOKEN_LINE_RE.exec(r.stdout) ?? /^\s*(\S+)\s*$/.exec(r.stdout);
    assert.ok(m, `admin-token should print the token on stdout: ${JSON.stringify(r.stdout)}`);
    const fresh = m[1];
    assert.notEqual(fresh, old);
    assert.ok(!r.stderr.includes(fresh), 'the token must not reach the logs (stderr)');

    const works = await waitFor(async () => (await srv.api('GET', '/api/v1/orgs', { token: fresh })).status === 200,
                                TOKEN_CACHE_MS + 2000, 250);
    assert.ok(works, 'the new token works on the running server');
    const revoked = await waitFor(async () => (await srv.api('GET', '/api/v1/orgs', { token: old })).status === 401,
                                  TOKEN_CACHE_MS + 2000, 250);
    assert.ok(revoked, `the old token still works ${TOKEN_CACHE_MS + 2000} ms after rotation`);
    await srv.stop();
  });

  test('BULWARK_BOOTSTRAP_TOKEN is the platform admin token; nothing is printed', async () => {
    const db = await freshDb();
    const srv = await server(db);
    await srv.start();
    await sleep(300);
    assert.doesNotMatch(srv.stdout, TOKEN_LINE_RE);
    assert.equal((await srv.api('GET', '/api/v1/orgs', { token: srv.token })).status, 200);
    const wrong = await srv.api('GET', '/api/v1/orgs', { token: srv.token + 'x' });
    assert.equal(wrong.status, 401);
    assertProblem(wrong, 401, 'authentication_required');
    assert.match(wrong.headers.get('www-authenticate'), /^Bearer\b/);
    await srv.stop();
  });

  test('`bulwarkd migrate` applies the migrations; serve then starts on them; flags work like env', async () => {
    const db = await freshDb();
    const r = await runBulwarkd(['migrate'], { env: { BULWARK_DATABASE_URL: db.url, BULWARK_LOG_LEVEL: 'warn' } });
    assert.equal(r.code, 0, r.stderr);
    assertClean(r, 'migrate');
    const v = await psql(db.url, 'SELECT max(version) FROM schema_migrations');
    assert.equal(Number(v), latestMigration());
    const again = await runBulwarkd(['migrate'], { env: { BULWARK_DATABASE_URL: db.url, BULWARK_LOG_LEVEL: 'warn' } });
    assert.equal(again.code, 0, `migrate twice: ${again.stderr}`);
    assert.equal(await psql(db.url, 'SELECT count(*) = count(DISTINCT version) FROM schema_migrations'), 't');

    // Flags instead of environment: --listen, --database-url, --log-level.
    const port = await freePort();
    const srv = await server(db, {
      args: ['serve', '--listen', `127.0.0.1:${port}`, '--database-url', db.url, '--log-level', 'warn'],
      flagsOnly: true,
    });
    srv.port = port;
    srv.spawn();
    await srv.waitReady();
    assert.equal((await srv.api('GET', '/readyz')).json.schema_version, latestMigration());
    assert.equal((await srv.api('GET', '/api/v1/orgs', { token: srv.token })).status, 200);
    await srv.stop('SIGINT');
  });

  test('two replicas starting at once on an empty database apply each migration once', async () => {
    const db = await freshDb();
    const [a, b] = [await server(db), await server(db)];
    b.token = a.token;
    await Promise.all([a.start(), b.start()]);
    const rows = await psql(db.url, 'SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version');
    assert.deepEqual(rows.split('\n'), Array.from({ length: latestMigration() }, (_, i) => `${i + 1}|1`));
    for (const srv of [a, b])
      assert.equal((await srv.api('GET', '/api/v1/orgs', { token: a.token })).status, 200);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('a database schema newer than the binary: serve exits 1 with a message', async () => {
    const db = await freshDb();
    const r = await runBulwarkd(['migrate'], { env: { BULWARK_DATABASE_URL: db.url, BULWARK_LOG_LEVEL: 'warn' } });
    assert.equal(r.code, 0, r.stderr);
    const future = latestMigration() + 100;
    // Copy the newest row with a higher version, whatever the other columns are.
    await psql(db.url, `INSERT INTO schema_migrations
                        SELECT (jsonb_populate_record(NULL::schema_migrations, to_jsonb(m) || '{"version": ${future}}')).*
                        FROM schema_migrations m ORDER BY version DESC LIMIT 1`);
    const srv = await server(db);
    await srv.start({ waitReady: false });
    const exited = await Promise.race([srv.exited, sleep(15000).then(() => null)]);
    assert.ok(exited, 'bulwarkd kept running on a newer schema');
    await srv.closed;
    assert.equal(exited.code, 1, `exit code ${exited.code}`);
    assert.match(srv.stderr + srv.stdout, /schema|migration/i, 'the message explains why');
    assert.match(srv.stderr + srv.stdout, new RegExp(String(future)), 'the message names the database\'s version');
    assert.deepEqual(sanitizerReports(srv.stderr), []);
    srv.proc = null;
  });

  test('BULWARK_BODY_LIMIT and BULWARK_POOL_SIZE are honoured', async () => {
    const db = await freshDb();
    const srv = await server(db, { env: { BULWARK_BODY_LIMIT: '2048', BULWARK_POOL_SIZE: '1' } });
    await srv.start();
    const small = await srv.api('POST', '/api/v1/orgs', { token: srv.token, body: { slug: 'small-body', name: 'x'.repeat(150) } });
    assert.equal(small.status, 201, small.text);
    const big = await srv.api('POST', '/api/v1/orgs', { token: srv.token, rawBody: JSON.stringify({ slug: 'big-body', name: 'x'.repeat(3000) }) });
    assert.equal(big.status, 413, big.text);
    assert.equal(big.json.code, 'payload_too_large');
    assertProblem(big, 413, 'payload_too_large');
    assertProblem(await srv.api('GET', '/api/v1/orgs/big-body', { token: srv.token }), 404, 'not_found');
    const m = await srv.api('GET', '/metrics');
    const open = /^bulwark_db_connections_open (\d+)/m.exec(m.text);
    // One worker's connection, plus the one the main thread migrated with (kept while serving),
    // plus at most one per background thread: bundle compiler/re-signer (holds the advisory
    // lock), event partition upkeep, agent status flush, token last-used flush.
    const background = 4;
    assert.ok(open && Number(open[1]) <= 2 + background, `pool size 1: ${open?.[0]}`);
    // One worker still serves concurrent requests (they queue).
    const rs = await Promise.all(Array.from({ length: 6 }, () => srv.api('GET', '/api/v1/orgs/small-body', { token: srv.token })));
    assert.deepEqual(rs.map((r) => r.status), Array(6).fill(200));
    assert.ok(rs.every((r) => r.json.id === small.json.id), 'each answered the org asked for');
    await srv.stop();
  });

  test('SIGINT shuts down gracefully too', async () => {
    const db = await freshDb();
    const srv = await server(db);
    await srv.start();
    assert.equal((await srv.api('GET', '/healthz')).status, 200);
    await srv.stop('SIGINT');
  });
});
