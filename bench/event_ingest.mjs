// bench/event_ingest.mjs EVENTS AGENTS ROUNDS: decision-event ingest over HTTP (POST
// /api/v1/agent/events, batches of 1000, acknowledged = committed) against raw
// COPY FROM STDIN of the same number of rows of the same shape into the same
// table, in the same run (PERF.md target: HTTP >= 0.5x COPY).  Run through
// bench/event-ingest.sh, which provides BULWARKD and a PostgreSQL cluster.
//
// Both sides use AGENTS concurrent connections and batches of 1000 rows, each
// batch its own transaction with synchronous commit: HTTP with one keep-alive
// connection per agent posting its batches one after the other, COPY with one
// psql session per agent running one `\copy` per batch.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Bulwarkd, createDatabase, dropDatabase, psql, sha256hex } from '../tests/api/harness.mjs';

const EVENTS = Number(process.argv[2] ?? 200000);
const AGENTS = Number(process.argv[3] ?? 4);
const ROUNDS = Number(process.argv[4] ?? 3);
const BATCH = 1000;
const COLUMNS = 'org_id, agent_id, event_id, seq, time, user_id, session, surface, action, resource, '
  + 'decision, mode, rule, reason, bundle_version';

function uuidv7 (ms)
{
  const b = crypto.randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** One event of about 450 bytes of JSON, like an agent's. */
function event (seq, ms)
{
  return {
    event_id: uuidv7(ms), seq, time: new Date(ms).toISOString(), user: 'alice.nguyen@example.com',
    session: { id: crypto.randomBytes(12).toString('hex'), agent: 'claude-code/1.0.71', client: 'vscode/1.95.3' },
    surface: 'network', action: 'connect',
    resource: { host: `registry-${seq % 50}.npmjs.example.org`, port: 443 },
    decision: 'allow', mode: 'enforce',
    rule: { policy_id: '0b4c2f7e-5c4e-4a57-9b59-3f2f5d1c9a10', revision: 12, rule_id: 'package-registries' },
    reason: 'rule', bundle_version: 1764417600123,
  };
}

/** The COPY text row the server would write for @e. */
function copyRow (orgId, agentId, e)
{
  const j = (v) => JSON.stringify(v).replaceAll('\\', '\\\\');
  return [orgId, agentId, e.event_id, e.seq, e.time, e.user, j(e.session), e.surface, e.action,
          j(e.resource), e.decision, e.mode, j(e.rule), e.reason, e.bundle_version].join('\t') + '\n';
}

function run (cmd, args)
{
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

const perAgent = Math.ceil(EVENTS / AGENTS / BATCH);
const total = perAgent * BATCH * AGENTS;
const db = await createDatabase('bench_events');
const srv = new Bulwarkd(db, { env: { BULWARK_MASTER_KEY: crypto.randomBytes(32).toString('hex') } });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-events-'));
try
  {
    await srv.start();
    const o = await fetch(`${srv.base}/api/v1/orgs`, {
      method: 'POST', headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'bench', name: 'Bench' }) });
    if (o.status !== 201)
      throw new Error(`org: ${o.status} ${await o.text()}`);
    const org = await o.json();
    const agents = [];
    for (let i = 0; i < AGENTS; i++)
      {
        const cred = 'bwa_' + crypto.randomBytes(32).toString('base64url');
        const id = await psql(db.url, `INSERT INTO agents (org_id, credential_sha256, hostname, platform, agent_version)
          VALUES ('${org.id}', decode('${sha256hex(cred)}', 'hex'), 'bench-${i}', 'linux', '0.1.0') RETURNING id`);
        agents.push({ id, cred, seq: 0 });
      }

    const now = Date.now();
    const batchOf = (a) => Array.from({ length: BATCH }, () => event(++a.seq, now - 60000 + (a.seq % 1000)));
    const post = async (a, body) => {
      const r = await fetch(`${srv.base}/api/v1/agent/events`, {
        method: 'POST', headers: { authorization: `Bearer ${a.cred}`, 'content-type': 'application/json' }, body });
      const text = await r.text();
      if (r.status !== 202 || JSON.parse(text).accepted !== BATCH)
        throw new Error(`POST events: ${r.status} ${text.slice(0, 300)}`);
    };
    await Promise.all(agents.map((a) => post(a, JSON.stringify({ events: batchOf(a) })))); // warm-up

    // Rounds alternate the two sides, each on an emptied table, so that a load spike
    // on this shared machine hits one round, not one side; medians are compared.
    const http = [];
    const copy = [];
    let bytes = 0;
    for (let round = 0; round < ROUNDS; round++)
      {
        // HTTP: bodies built first, so that building them is not timed.
        for (const a of agents)
          a.bodies = Array.from({ length: perAgent }, () => JSON.stringify({ events: batchOf(a) }));
        bytes = agents[0].bodies[0].length / BATCH;
        await psql(db.url, 'TRUNCATE events');
        let t0 = process.hrtime.bigint();
        await Promise.all(agents.map(async (a) => {
          for (const body of a.bodies)
            await post(a, body);
        }));
        http.push(total / (Number(process.hrtime.bigint() - t0) / 1e9));
        const stored = Number(await psql(db.url, 'SELECT count(*) FROM events'));
        if (stored !== total)
          throw new Error(`stored ${stored} rows, expected ${total}`);

        // Reference: the same number of rows of the same shape, COPY'd by psql.
        const scripts = agents.map((a, i) => {
          const lines = [];
          for (let b = 0; b < perAgent; b++)
            {
              const file = path.join(tmp, `a${i}-b${b}.tsv`);
              fs.writeFileSync(file, batchOf(a).map((e) => copyRow(org.id, a.id, e)).join(''));
              lines.push(`\\copy events (${COLUMNS}) FROM '${file}'`);
            }
          const script = path.join(tmp, `a${i}.sql`);
          fs.writeFileSync(script, lines.join('\n') + '\n');
          return script;
        });
        await psql(db.url, 'TRUNCATE events');
        t0 = process.hrtime.bigint();
        await Promise.all(scripts.map((f) => run('psql', [db.url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', f])));
        copy.push(total / (Number(process.hrtime.bigint() - t0) / 1e9));
        const copied = Number(await psql(db.url, 'SELECT count(*) FROM events'));
        if (copied !== total)
          throw new Error(`COPY stored ${copied} rows, expected ${total}`);
        console.log(`round ${round + 1}: HTTP ${Math.round(http[round])} events/s, COPY ${Math.round(copy[round])} rows/s, `
                    + `ratio ${(http[round] / copy[round]).toFixed(2)}`);
      }
    await srv.stop();

    const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
    console.log(`events: ${total} per round in batches of ${BATCH}, ${AGENTS} connections, ~${Math.round(bytes)} B JSON each`);
    console.log(`HTTP POST /api/v1/agent/events (202 = committed): median ${Math.round(median(http))} events/s`);
    console.log(`reference: psql \\copy, one COPY per batch:       median ${Math.round(median(copy))} rows/s`);
    console.log(`ratio of medians HTTP / COPY: ${(median(http) / median(copy)).toFixed(2)} (target >= 0.5)`);
  }
finally
  {
    if (srv.proc)
      await srv.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
    await dropDatabase(db);
  }
