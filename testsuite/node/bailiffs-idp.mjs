// bailiffs-idp.mjs runs the bailiffs' chamber identity provider for the testsuite: a
// real, certified OpenID Provider (oidc-provider 9.x) with in-memory storage, the
// signing keys it is given at each start, static clients, PKCE required, RP-initiated logout,
// signed userinfo on request, and its own small login page that checks a users table
// (oidc-provider's development login accepts any name: see PEERS.md).
//
// Usage: BAILIFFS_IDP_CONFIG='{...}' node bailiffs-idp.mjs   (or the JSON as argv[2])
//
//   {
//     "port": 4100,                          // listens on 127.0.0.1:port
//     "issuer": "http://127.0.0.1:4100",
//     "conformIdTokenClaims": true,          // false: scope claims in the ID token too
//     "keys": [{ "kty": "RSA", "alg": "RS256", "kid": "...", "d": "...", ... }],  // private JWKs
//     "clients": [{ "client_id": "...", "client_secret": "...", "redirect_uris": [...],
//                   "post_logout_redirect_uris": [...], ...any client metadata }],
//     "users": [{ "sub": "cj-75-0042", "username": "jdupont", "password": "...",
//                 "otp": "123456",           // optional: asked at login; then acr urn:cj:mfa
//                 "claims": { "given_name": "...", "profession": "commissaire_de_justice" } }]
//   }
//
// Users without "otp" log in with acr "urn:cj:pwd" and amr ["pwd"]; users with one
// must type it too and get acr "urn:cj:mfa" and amr ["pwd", "otp"]. Consent is
// implicit: the configured clients are first-party. It prints one JSON line
// {"issuer": ...} when it listens.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const raw = process.env.BAILIFFS_IDP_CONFIG ?? process.argv[2];
if (!raw) {
  console.error("usage: BAILIFFS_IDP_CONFIG='{...}' node bailiffs-idp.mjs");
  process.exit(2);
}
const config = JSON.parse(raw);
// Each start-up step is logged on stderr with the time since the process began,
// so that a start that never listens shows which step it stopped in.
const step = (name) => console.error(`bailiffs-idp: ${name} at ${Math.round(performance.now())} ms`);
step('modules loaded');
const users = config.users ?? [];

const provider = new Provider(config.issuer, {
  clients: config.clients,
  // Private signing JWKs, fresh at each start (made by the test harness).
  jwks: { keys: config.keys },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // oidc-provider puts acr and auth_time in the ID token only when acr_values or
  // max_age ask for them; the chamber always states how the person authenticated.
  claims: {
    acr: null, amr: null, sid: null, auth_time: null, iss: null,
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    profile: ['given_name', 'family_name', 'name', 'preferred_username'],
    email: ['email', 'email_verified'],
    profession: ['profession', 'office', 'professional_id'],
  },
  acrValues: ['urn:cj:pwd', 'urn:cj:mfa'],
  conformIdTokenClaims: config.conformIdTokenClaims ?? true,
  pkce: { required: () => true },
  // The test broker listens on 127.0.0.1, which oidc-provider's guard against
  // server-side request forgery refuses; this peer only ever talks to loopback.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return fetch(url, rest);
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
    // Back-channel logout to clients that register backchannel_logout_uri (the
    // broker, which then logs the person out of its own applications).
    backchannelLogout: { enabled: true },
    jwtUserinfo: { enabled: true },
    revocation: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // Refresh tokens for every client allowed the grant, without offline_access.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  // The clients are first-party: grant what they ask instead of showing a consent page.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    const grant = (grantId && await ctx.oidc.provider.Grant.find(grantId))
      || new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
  // An unknown or removed account has no claims and no refresh (invalid_grant).
  findAccount: async (ctx, sub) => {
    const user = users.find((u) => (u.sub ?? u.username) === sub);
    if (!user) return undefined;
    return { accountId: sub, claims: async () => ({ ...user.claims, sub }) };
  },
});

// Errors go to stderr: the Go helper shows the output of a failed test.
for (const event of ['grant.error', 'authorization.error', 'end_session.error', 'userinfo.error', 'server_error']) {
  provider.on(event, (ctx, err) => console.error(`${event}: ${err.message} ${err.error_detail ?? ''}`));
}
// Back-channel logout calls to clients (oidc-provider emits these without a ctx).
provider.on('backchannel.error', (...args) => {
  const err = args.find((a) => a instanceof Error);
  console.error(`backchannel.error: ${err?.message} ${err?.cause?.message ?? ''}`);
});
provider.on('backchannel.success', () => console.error('backchannel.success'));

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const loginPage = (uid, hint, error) => `<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Chambre des commissaires de justice</title></head>
<body><h1>Connexion</h1>${error ? `<p class="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}">
<label>Identifiant <input type="text" name="login" value="${esc(hint)}" required></label>
<label>Mot de passe <input type="password" name="password" required></label>
<label>Code à usage unique (si demandé) <input type="text" name="otp"></label>
<button type="submit">Se connecter</button>
</form><p><a href="/interaction/${esc(uid)}/abort">Annuler</a></p></body></html>`;

const readForm = async (req) => {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16384) throw new Error('form too large');
  }
  return new URLSearchParams(body);
};

// interaction serves the login page: GET shows it, POST checks the users table, /abort
// ends the request with access_denied as a user who cancels would.
async function interaction(req, res, uid, abort) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (abort) {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'Connexion annulée' }, { mergeWithLastSubmission: false });
    return;
  }
  const show = (status, error) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginPage(uid, details.params.login_hint, error));
  };
  if (details.prompt.name !== 'login') throw new Error(`unexpected prompt ${details.prompt.name}`);
  if (req.method === 'GET') return show(200);
  const form = await readForm(req);
  const user = users.find((u) => u.username === form.get('login'));
  // An unknown user and a wrong password get the same answer.
  if (!user || user.password !== form.get('password') || (user.otp && user.otp !== form.get('otp'))) {
    return show(200, 'Identifiant ou mot de passe incorrect.');
  }
  const login = user.otp
    ? { accountId: user.sub ?? user.username, acr: 'urn:cj:mfa', amr: ['pwd', 'otp'] }
    : { accountId: user.sub ?? user.username, acr: 'urn:cj:pwd', amr: ['pwd'] };
  await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
}

step('provider configured');

const handler = provider.callback();
const server = createServer((req, res) => {
  const m = /^\/interaction\/([^/?]+)(\/abort)?(?:\?.*)?$/.exec(req.url);
  if (!m) return handler(req, res);
  interaction(req, res, m[1], Boolean(m[2])).catch((err) => {
    console.error('interaction:', err.message);
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('Requête invalide.');
  });
});
server.listen(config.port, '127.0.0.1', () => {
  step('listening');
  console.log(JSON.stringify({ issuer: config.issuer }));
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
