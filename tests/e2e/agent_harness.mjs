// What the end-to-end tests (tests/e2e/*.test.mjs) share for driving the
// real bulwark-agent ($BULWARK_AGENT); bulwarkd comes from tests/api/harness.mjs.
//
// - EVENTUALLY_MS, LONGPOLL_BOUND_MS: the time bounds the tests wait for.
// - agentDirs(prefix): a temporary directory (removed after the file's tests)
//   and newAgentDirs(name), a state and a home directory for one agent in it.
// - agent(a, args, {env, timeoutMs}): `bulwark-agent @args` to completion,
//   asserting no sanitizer report; show(r) formats its result for a message.
// - status(a), once(a, extra), check(a, ...args): `status --json`,
//   `run --once`, `check ...`, parsed.
// - startRun(a, args, {stopWithinMs}): a long-running `bulwark-agent run`.
// - claimsOf, headerOf (compact JWS, not verified) and readHead(a).

import { after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { childEnv, requireEnv, sanitizerReports, sleep } from '../api/harness.mjs';

export const AGENT = requireEnv('BULWARK_AGENT');
/** Generous bound for anything asynchronous that is not the protocol's one second. */
export const EVENTUALLY_MS = 15000;
/** The protocol's promise (DESIGN §6): a change reaches a waiting agent within this. */
export const LONGPOLL_BOUND_MS = 1000;

/**
 * A fresh directory under the system's tmp named @prefix…, removed after
 * the test file ran: {TMP, newAgentDirs(name)}, the latter a state
 * directory and a home directory for one agent, below TMP/name.
 */
export function agentDirs (prefix)
{
  const TMP = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  after(() => fs.rmSync(TMP, { recursive: true, force: true }));
  const newAgentDirs = (name) => {
    const dir = path.join(TMP, name, 'state');
    const home = path.join(TMP, name, 'home');
    fs.mkdirSync(home, { recursive: true });
    return { name, dir, home };
  };
  return { TMP, newAgentDirs };
}

/** The environment of a bulwark-agent for @a: none of the test's BULWARK_* variables, then @extra. */
export function agentEnv (a, extra = {})
{
  return childEnv({ BULWARK_AGENT_STATE_DIR: a.dir, HOME: a.home, ...extra });
}

export function assertClean (what, stderr)
{
  const san = sanitizerReports(stderr);
  assert.equal(san.length, 0, `${what}: sanitizer report:\n${stderr}`);
}

/** Run `bulwark-agent @args` to completion (@env added to its environment): {code, stdout, stderr}. */
export function agent (a, args, { env = {}, timeoutMs = 90000 } = {})
{
  return new Promise((resolve) => {
    execFile(AGENT, args, { env: agentEnv(a, env), timeout: timeoutMs, cwd: a.home },
             (err, stdout, stderr) => {
               const r = { code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr };
               assertClean(`bulwark-agent ${args.join(' ')}`, stderr);
               resolve(r);
             });
  });
}

export const show = (r) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** `status --json` as an object. */
export async function status (a)
{
  const r = await agent(a, ['status', '--json']);
  assert.equal(r.code, 0, show(r));
  return JSON.parse(r.stdout);
}

/** `run --once`: {code, summary (parsed), r}. */
export async function once (a, extra = [])
{
  const r = await agent(a, ['run', '--once', ...extra]);
  let summary = null;
  try
    {
      summary = JSON.parse(r.stdout.trim().split('\n').pop());
    }
  catch
    {
      /* left null; the caller's asserts show the output */
    }
  return { code: r.code, summary, r };
}

/** `check ...`: {code, line (stdout, trimmed), r}. */
export async function check (a, ...args)
{
  const r = await agent(a, ['check', ...args]);
  return { code: r.code, line: r.stdout.trim(), r };
}

/**
 * A long-running `bulwark-agent run ...` (debug log level), its output in
 * h.out; h.stop() sends SIGTERM and asserts exit 0 within 10 s — and within
 * @stopWithinMs when given (a long-poll is cut short by SIGTERM).
 */
export function startRun (a, args, { stopWithinMs } = {})
{
  const p = spawn(AGENT, ['run', ...args], { env: agentEnv(a, { BULWARK_AGENT_LOG_LEVEL: 'debug' }),
                                             stdio: ['ignore', 'pipe', 'pipe'] });
  const h = { p, out: '', exit: null };
  p.stdout.on('data', (d) => { h.out += d; });
  p.stderr.on('data', (d) => { h.out += d; });
  h.exited = new Promise((resolve) => p.on('exit', (code, signal) => { h.exit = { code, signal }; resolve(h.exit); }));
  h.stop = async () => {
    if (!h.exit)
      p.kill('SIGTERM');
    const t0 = Date.now();
    const e = await Promise.race([h.exited, sleep(10000).then(() => null)]);
    if (!e)
      {
        p.kill('SIGKILL');
        assert.fail(`bulwark-agent run did not stop within 10 s of SIGTERM\n${h.out}`);
      }
    assert.deepEqual(e, { code: 0, signal: null }, `bulwark-agent run exit after SIGTERM\n${h.out}`);
    if (stopWithinMs !== undefined)
      assert.ok(Date.now() - t0 < stopWithinMs, 'a long-poll is cut short by SIGTERM');
    assertClean('bulwark-agent run', h.out);
  };
  return h;
}

/** Claims of a compact JWS (not verified). */
export const claimsOf = (jws) => JSON.parse(Buffer.from(jws.split('.')[1], 'base64url'));
/** Header of a compact JWS (not verified). */
export const headerOf = (jws) => JSON.parse(Buffer.from(jws.split('.')[0], 'base64url'));
/** @a's active head (head.jws in its state directory). */
export const readHead = (a) => fs.readFileSync(path.join(a.dir, 'head.jws'), 'utf8');
