// Preloaded (node -r) before @stripe/sync-engine: its StripeSync builds its own `new Stripe(key,
// {...})` with no API-host option, so the `stripe` package it requires is replaced in Node's
// module cache by a constructor that adds {host, port, protocol: 'http'} from STRIPE_API_BASE
// (the sandbox). Everything else about the client (retries, API version, app info) is the peer's.
'use strict';
const path = require('path');
const dir = process.env.PEER_NODE_MODULES;
const base = new URL(process.env.STRIPE_API_BASE);
const resolved = require.resolve('stripe', { paths: [dir] });
const Original = require(resolved);
const Real = Original.default || Original;
function SandboxStripe(key, config) {
  return new Real(key, { ...(config || {}), host: base.hostname, port: Number(base.port),
                         protocol: base.protocol.replace(':', '') });
}
Object.setPrototypeOf(SandboxStripe, Real);
SandboxStripe.prototype = Real.prototype;
SandboxStripe.default = SandboxStripe;
SandboxStripe.Stripe = SandboxStripe;
require.cache[resolved].exports = SandboxStripe;
