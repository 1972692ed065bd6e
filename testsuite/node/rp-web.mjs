// rp-web.mjs is a partner platform's web application built on the certified
// relying-party library openid-client (strict defaults: state, nonce, PKCE S256,
// RFC 9207 iss, ID token signature checked), for browser tests: a real browser
// logs in through it, and the broker logs it out by back-channel.
//
// It receives OpenID Connect Back-Channel Logout 1.0 itself (openid-client has no
// helper for it): the logout token is checked as §2.6 says, with jose (signature
// by the OP's JWKS, iss, aud, iat, typ logout+jwt, the event, sid or sub, no nonce,
// jti not seen before), then every local session with that sid (or sub) ends.
//
// Configuration: the JSON in RP_WEB_CONFIG: {issuer, client_id, client_secret,
// base_url, port, scope, title}. The OP's CA comes from NODE_EXTRA_CA_CERTS.
//
// Routes: /login (?prompt=none for a silent check), /callback, / (the claims or
// "non connecté"), /logout (RP-initiated logout), /logged-out, POST
// /backchannel-logout, and /state (JSON, for the tests).
import http from 'node:http';
import crypto from 'node:crypto';
import * as client from 'openid-client';
import * as jose from 'jose';

const cfg = JSON.parse(process.env.RP_WEB_CONFIG || '{}');
for (const k of ['issuer', 'client_id', 'client_secret', 'base_url', 'port']) {
  if (!cfg[k]) {
    console.error(`rp-web: RP_WEB_CONFIG.${k} is required`);
    process.exit(2);
  }
}
const scope = cfg.scope || 'openid profile email profession jurisdictions justice_roles';
const title = cfg.title || 'Application openid-client';
const cookie = `jc_rp_web_${cfg.port}`; // cookies ignore ports: one name per instance
const redirectUri = `${cfg.base_url}/callback`;
const postLogoutUri = `${cfg.base_url}/logged-out`;

const oidc = await client.discovery(new URL(cfg.issuer), cfg.client_id, cfg.client_secret,
  client.ClientSecretBasic(cfg.client_secret));
client.enableNonRepudiationChecks(oidc);
const meta = oidc.serverMetadata();
const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));

const pending = new Map(); // login transaction id -> {state, nonce, verifier}
const sessions = new Map(); // session id -> {claims, userinfo, idToken, ended, endedBy}
const seenJTI = new Set();
const events = []; // what happened, for /state

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (res, status, heading, body) => {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>${esc(title)}</title></head>` +
    `<body><h1>${esc(heading)}</h1>${body}</body></html>`);
};
const cookies = (req) => Object.fromEntries((req.headers.cookie || '').split(/;\s*/).filter(Boolean)
  .map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)]));
const redirect = (res, to, setCookie) => {
  const h = { location: to, 'cache-control': 'no-store' };
  if (setCookie) h['set-cookie'] = setCookie;
  res.writeHead(302, h);
  res.end();
};
const current = (req) => {
  const id = cookies(req)[cookie];
  const s = id && sessions.get(id);
  return s && !s.ended ? [id, s] : [id, undefined];
};
const readBody = (req) => new Promise((resolve, reject) => {
  let size = 0;
  const chunks = [];
  req.on('data', (c) => {
    size += c.length;
    if (size > 64 * 1024) reject(new Error('body too large'));
    else chunks.push(c);
  });
  req.on('end', () => resolve(Buffer.concat(chunks).toString()));
  req.on('error', reject);
});

async function login(req, res, url) {
  const tx = crypto.randomBytes(16).toString('hex');
  const t = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier() };
  pending.set(tx, t);
  const params = {
    redirect_uri: redirectUri, scope, state: t.state, nonce: t.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(t.verifier), code_challenge_method: 'S256',
  };
  if (url.searchParams.get('prompt')) params.prompt = url.searchParams.get('prompt');
  redirect(res, client.buildAuthorizationUrl(oidc, params).href, `${cookie}_tx=${tx}; Path=/; HttpOnly; SameSite=Lax`);
}

async function callback(req, res, url) {
  const tx = cookies(req)[`${cookie}_tx`];
  const t = tx && pending.get(tx);
  if (!t) return page(res, 400, 'Erreur : aucune connexion en cours', '');
  pending.delete(tx);
  let tokens;
  try {
    tokens = await client.authorizationCodeGrant(oidc, url, {
      pkceCodeVerifier: t.verifier, expectedState: t.state, expectedNonce: t.nonce, idTokenExpected: true,
    });
  } catch (e) {
    // An error response (login_required after a logout, access_denied...) or a
    // response openid-client refused: the code is what the tests look for.
    const code = e.error || e.code || e.name;
    events.push({ kind: 'login_error', error: code, message: e.message });
    return page(res, 401, `Erreur : ${code}`, `<p id="error">${esc(code)}</p>`);
  }
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(oidc, tokens.access_token, claims.sub);
  const id = crypto.randomBytes(16).toString('hex');
  sessions.set(id, { claims, userinfo, idToken: tokens.id_token, ended: false });
  events.push({ kind: 'login', sub: claims.sub, sid: claims.sid });
  redirect(res, '/', `${cookie}=${id}; Path=/; HttpOnly; SameSite=Lax`);
}

function home(req, res) {
  const [, s] = current(req);
  if (!s) return page(res, 200, `${title} : non connecté`, '<p><a href="/login">Se connecter</a></p>');
  const c = { ...s.userinfo, ...s.claims };
  const rows = ['sub', 'given_name', 'family_name', 'profession', 'jurisdictions', 'justice_roles', 'acr']
    .map((k) => `<li id="claim-${k}">${k} : ${esc([].concat(c[k] ?? '').join(','))}</li>`).join('');
  page(res, 200, `${title} : connecté`, `<ul>${rows}</ul><p><a id="logout" href="/logout">Se déconnecter</a></p>`);
}

function logout(req, res) {
  const [id, s] = current(req);
  if (!s) return redirect(res, '/');
  sessions.get(id).ended = true;
  sessions.get(id).endedBy = 'rp-initiated';
  redirect(res, client.buildEndSessionUrl(oidc, {
    id_token_hint: s.idToken, post_logout_redirect_uri: postLogoutUri, state: crypto.randomBytes(8).toString('hex'),
  }).href, `${cookie}=; Path=/; Max-Age=0`);
}

// backchannel checks a logout token (OpenID Connect Back-Channel Logout 1.0 §2.6)
// and ends the sessions it names.
async function backchannel(req, res) {
  const fail = (why) => {
    events.push({ kind: 'backchannel_refused', error: why });
    res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ error: 'invalid_request', error_description: why }));
  };
  let token;
  try {
    token = new URLSearchParams(await readBody(req)).get('logout_token');
  } catch (e) {
    return fail(e.message);
  }
  if (!token) return fail('no logout_token');
  let payload;
  try {
    ({ payload } = await jose.jwtVerify(token, jwks, {
      issuer: meta.issuer, audience: cfg.client_id, typ: 'logout+jwt',
      algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'], maxTokenAge: '5m', requiredClaims: ['iat', 'jti'],
    }));
  } catch (e) {
    return fail(`logout token: ${e.code || e.message}`);
  }
  const ev = payload.events;
  if (!ev || typeof ev !== 'object' || !('http://schemas.openid.net/event/backchannel-logout' in ev)) return fail('no back-channel logout event');
  if ('nonce' in payload) return fail('nonce present');
  if (!payload.sid && !payload.sub) return fail('neither sid nor sub');
  if (seenJTI.has(payload.jti)) return fail('jti replayed');
  seenJTI.add(payload.jti);
  let ended = 0;
  for (const s of sessions.values()) {
    if (s.ended) continue;
    if ((payload.sid && s.claims.sid === payload.sid) || (!payload.sid && s.claims.sub === payload.sub)) {
      s.ended = true;
      s.endedBy = 'backchannel';
      ended++;
    }
  }
  events.push({ kind: 'backchannel', sid: payload.sid, sub: payload.sub, ended });
  res.writeHead(200, { 'cache-control': 'no-store' });
  res.end();
}

function state(req, res) {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify({
    sessions: [...sessions.values()].map((s) => ({ sub: s.claims.sub, sid: s.claims.sid, ended: s.ended, ended_by: s.endedBy || '' })),
    events,
  }));
}

http.createServer(async (req, res) => {
  const url = new URL(req.url, cfg.base_url);
  try {
    if (req.method === 'GET' && url.pathname === '/login') return await login(req, res, url);
    if (req.method === 'GET' && url.pathname === '/callback') return await callback(req, res, url);
    if (req.method === 'GET' && url.pathname === '/') return home(req, res);
    if (req.method === 'GET' && url.pathname === '/logout') return logout(req, res);
    if (req.method === 'GET' && url.pathname === '/logged-out') return page(res, 200, `${title} : déconnecté`, '');
    if (req.method === 'POST' && url.pathname === '/backchannel-logout') return await backchannel(req, res);
    if (req.method === 'GET' && url.pathname === '/state') return state(req, res);
    page(res, 404, 'Page introuvable', '');
  } catch (e) {
    events.push({ kind: 'internal', error: e.message });
    console.error(e);
    page(res, 500, 'Erreur interne', `<pre>${esc(e.message)}</pre>`);
  }
}).listen(cfg.port, '127.0.0.1', () => console.log(`rp-web listening on ${cfg.base_url}`));
