// rp.mjs logs in to JusticeConnect as a partner platform would, with the certified
// relying-party library openid-client in its strict defaults (state, nonce, PKCE,
// RFC 9207 iss, ID token signature checked with enableNonRepudiationChecks), and
// plays the browser itself (cookies, login form, consent). It prints one JSON line
// with the ID token claims, the userinfo response and the refreshed token's claims.
//
// Usage: node rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
import * as client from 'openid-client';

const [issuer, clientId, clientSecret, redirectUri, username, password] = process.argv.slice(2);
if (!password) {
  console.error('usage: node rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD');
  process.exit(2);
}

// Loopback tests run the broker over plain HTTP, which openid-client refuses unless told.
const insecure = new URL(issuer).protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {};
const config = await client.discovery(new URL(issuer), clientId, clientSecret, client.ClientSecretBasic(clientSecret), insecure);
client.enableNonRepudiationChecks(config);

const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const state = client.randomState();
const nonce = client.randomNonce();
const scope = 'openid profile email profession jurisdictions justice_roles offline_access';
let next = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope, state, nonce, code_challenge: challenge, code_challenge_method: 'S256', prompt: 'consent',
}).href;

// A minimal browser: a cookie jar, manual redirects, and the two forms people fill.
const jar = new Map();
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
const remember = (res) => {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i), value = pair.slice(i + 1);
    if (/max-age=-1|max-age=0/i.test(c) || value === '') jar.delete(name); else jar.set(name, value);
  }
};
const hidden = (html) => {
  const out = new URLSearchParams();
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(m[0]), value = /value="([^"]*)"/.exec(m[0]);
    if (name && value) out.set(unescape(name[1]), unescape(value[1]));
  }
  return out;
};
const unescape = (s) => s.replaceAll('&amp;', '&').replaceAll('&#34;', '"').replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&#43;', '+');
const action = (html) => unescape(/<form[^>]*action="([^"]*)"/.exec(html)[1]);

let method = 'GET', body;
let callback;
for (let i = 0; i < 15 && !callback; i++) {
  const headers = { cookie: cookieHeader() };
  if (method === 'POST') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    headers.origin = new URL(issuer).origin;
  }
  const res = await fetch(next, { method, body, headers, redirect: 'manual' });
  remember(res);
  if (res.status >= 300 && res.status < 400) {
    const loc = new URL(res.headers.get('location'), next).href;
    if (loc.startsWith(redirectUri)) { callback = loc; break; }
    next = loc; method = 'GET'; body = undefined;
    continue;
  }
  const html = await res.text();
  if (html.includes('name="password"')) {
    const form = hidden(html);
    form.set('username', username);
    form.set('password', password);
    next = new URL(action(html), next).href; method = 'POST'; body = form.toString();
  } else if (html.includes('name="decision"')) {
    const form = hidden(html);
    form.set('decision', 'allow');
    next = new URL(action(html), next).href; method = 'POST'; body = form.toString();
  } else {
    console.error(`unexpected page ${res.status} at ${next}:\n${html.slice(0, 2000)}`);
    process.exit(1);
  }
}
if (!callback) { console.error('the login did not reach the client'); process.exit(1); }

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
console.log(JSON.stringify({ claims, userinfo, refreshed_claims: refreshed.claims(), scope: tokens.scope }));
