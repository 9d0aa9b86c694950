// Runs @stripe/sync-engine (or @supabase/stripe-sync-engine) for bench/peer/run.py, as its own
// documentation does, against the sandbox (STRIPE_API_BASE, via stripe_host.cjs preloaded).
//   node -r stripe_host.cjs sync_engine.cjs migrate  <json config>
//   node -r stripe_host.cjs sync_engine.cjs backfill <json config>   -> prints one JSON line
//   node -r stripe_host.cjs sync_engine.cjs serve    <json config>   -> prints "ready <port>"
//   node sync_engine.cjs post <json config>: the load generator for every system, ours too:
//     POSTs each body of `file` (one compact JSON event a line) once, in order, over
//     `connections` keep-alive connections, signed at send time as Stripe signs; `rate` (events/s)
//     paces it, else full speed; stops sending after `capSeconds`; a request unanswered after
//     `timeoutMs` is given up. `ackLog`: a file for [index, epoch ms] of each 200. Prints one
//     JSON line (cpuSeconds: this process's CPU from the first send, to tell whether it was the
//     bound).
//   node sync_engine.cjs sink <json config>: the generator ceiling, no peer: a bare http server on
//     `port` that reads each body and answers 200 at once; prints "ready <port>".
// config: {package, databaseUrl, specPath, key, account, secret, autoExpandLists, objects,
//          workers, rate, port, schema}
'use strict';
const http = require('http');
const path = require('path');

const [mode, raw] = process.argv.slice(2);
const cfg = JSON.parse(raw);
const lib = mode === 'post' || mode === 'sink' ? null : require(require.resolve(cfg.package, { paths: [process.env.PEER_NODE_MODULES] }));
const quiet = { info() {}, warn() {}, debug() {}, trace() {}, fatal() {},
                error(...a) { if (process.env.PEER_DEBUG) console.error(...a); } };
quiet.child = () => quiet;
// @supabase/stripe-sync-engine 0.48: `new StripeSync(config)`, SQL-file migrations (no OpenAPI),
// no account id, `syncBackfill({object})` one object after another with no rate option.
const supabase = cfg.package === '@supabase/stripe-sync-engine';

function syncConfig() {
  return {
    poolConfig: { connectionString: cfg.databaseUrl, max: cfg.poolMax || 10 },
    databaseUrl: cfg.databaseUrl,
    stripeSecretKey: cfg.key,
    stripeAccountId: cfg.account,        // else it calls GET /v1/account
    stripeWebhookSecret: cfg.secret,
    autoExpandLists: Boolean(cfg.autoExpandLists),
    backfillRelatedEntities: false,
    logger: quiet,
  };
}

async function create() {
  if (supabase) return new lib.StripeSync({ ...syncConfig(), schema: 'stripe' });
  return lib.StripeSync.create(syncConfig());
}

async function migrate() {
  if (supabase) {
    await lib.runMigrations({ databaseUrl: cfg.databaseUrl, schema: 'stripe', logger: quiet });
    console.log(JSON.stringify({ migrated: true }));
    return;
  }
  await lib.runMigrations({ databaseUrl: cfg.databaseUrl, openApiSpecPath: cfg.specPath,
                            logger: quiet });
  console.log(JSON.stringify({ migrated: true }));
}

async function backfill() {
  const sync = await create();
  const started = Date.now();
  let result;
  if (supabase) {
    result = { totals: {}, errors: [] };
    for (const object of cfg.objects) {
      const got = await sync.syncBackfill({ object });
      for (const [k, v] of Object.entries(got)) result.totals[k] = v && v.synced;
    }
  } else {
    result = await sync.fullSync(cfg.objects, true, cfg.workers, cfg.rate, false);
  }
  console.log(JSON.stringify({ seconds: (Date.now() - started) / 1000, totals: result.totals,
                               errors: result.errors }));
  // Its workers leave timers and sockets open after fullSync resolves: the process would
  // never exit by itself.
  process.exit(0);
}

async function serve() {
  const sync = await create();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        await (supabase ? sync : sync.webhook).processWebhook(Buffer.concat(chunks), req.headers['stripe-signature']);
        res.writeHead(200, { 'Content-Length': '0' });
      } catch (err) {
        quiet.error(err);
        res.writeHead(400, { 'Content-Length': '0' });
      }
      res.end();
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(cfg.port, '127.0.0.1', () => console.log(`ready ${cfg.port}`));
}

async function sink() {
  const server = http.createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      res.writeHead(200, { 'Content-Length': '0' });
      res.end();
    });
  });
  server.keepAliveTimeout = 60000;
  server.listen(cfg.port, '127.0.0.1', () => console.log(`ready ${cfg.port}`));
}

async function post() {
  const crypto = require('crypto');
  const fs = require('fs');
  const bodies = fs.readFileSync(cfg.file, 'utf8').split('\n').filter(Boolean);
  const url = new URL(cfg.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.connections });
  const latencies = [];
  const statuses = {};
  const acks = [];
  let next = 0;
  let timeouts = 0;
  let lastAck = 0;
  const cpuAtStart = process.cpuUsage();
  const started = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  function one(body, index) {
    return new Promise((resolve) => {
      const t = Math.floor(Date.now() / 1000);
      const v1 = crypto.createHmac('sha256', cfg.secret).update(`${t}.${body}`).digest('hex');
      const sent = process.hrtime.bigint();
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
        agent, timeout: cfg.timeoutMs, headers: { 'Content-Type': 'application/json; charset=utf-8',
          'Content-Length': Buffer.byteLength(body), 'Stripe-Signature': `t=${t},v1=${v1}` } }, (res) => {
        res.resume();
        res.on('end', () => {
          statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
          latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
          if (res.statusCode === 200) {
            lastAck = elapsed();
            if (cfg.ackLog) acks.push([index, Date.now()]);
          }
          resolve();
        });
      });
      req.on('timeout', () => { timeouts += 1; req.destroy(new Error('timeout')); });
      req.on('error', () => { statuses.error = (statuses.error || 0) + 1; resolve(); });
      req.end(body);
    });
  }
  async function worker() {
    while (next < bodies.length && elapsed() < cfg.capSeconds) {
      const i = next++;
      if (cfg.rate) {
        const due = i / cfg.rate - elapsed();
        if (due > 0) await new Promise((r) => setTimeout(r, due * 1000));
      }
      await one(bodies[i], i);
    }
  }
  await Promise.all(Array.from({ length: cfg.connections }, worker));
  const seconds = elapsed();
  latencies.sort((a, b) => a - b);
  const pct = (q) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : null;
  const cpu = process.cpuUsage(cpuAtStart);
  console.log(JSON.stringify({ sent: next, total: bodies.length, seconds, lastAck, statuses, timeouts,
                               p50: pct(0.5), p99: pct(0.99), max: pct(1),
                               cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
  if (cfg.ackLog) fs.writeFileSync(cfg.ackLog, JSON.stringify(acks));
  agent.destroy();
}

({ migrate, backfill, serve, post, sink })[mode]().catch((err) => {
  console.error(err && err.stack || String(err));
  process.exit(1);
});
