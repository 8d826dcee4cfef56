// Runs panva/oidc-provider, an OpenID Certified provider, on loopback so
// Gatehouse's interoperability tests sign in against a real implementation
// rather than one written alongside Gatehouse.
//
// Configuration comes from the environment (see oidcprovider.go, which
// starts this script):
//
//   OP_PORT                   port on 127.0.0.1 (the issuer is http://127.0.0.1:<port>)
//   OP_CLIENT_ID              the one registered client
//   OP_CLIENT_SECRET          its secret (client_secret_basic or client_secret_post)
//   OP_REDIRECT_URIS          space-separated redirect_uris
//   OP_POST_LOGOUT_URIS       space-separated post_logout_redirect_uris
//   OP_ACCESS_TOKEN_TTL       access-token lifetime in seconds
//   OP_ACCOUNTS               JSON list of {sub, username, password, email,
//                             email_verified, name, groups}
//   OP_BACKCHANNEL_LOGOUT_URI the client's backchannel_logout_uri (optional):
//                             signing out at the provider posts logout tokens
//   OP_BACKCHANNEL_LOGOUT_SESSION_REQUIRED  "1": ID tokens and logout tokens
//                             carry sid (backchannel_logout_session_required)
//
// The login and consent pages are this script's own (the library's
// devInteractions accept any login and no password): GET /interaction/:uid
// renders a plain HTML form, POST /interaction/:uid/login checks the
// password, POST /interaction/:uid/confirm grants what was asked.
//
// GET /test/stats answers what the provider did so far, as JSON:
// {"total": COUNTS, "accounts": {"<username>": COUNTS, ...}} where COUNTS
// is {"logins": n, "consents": n, "authorization_code_grants": n,
// "refresh_token_grants": n}: end-to-end tests check that a user was not
// asked to sign in again, or that a session was refreshed exactly once.
//
// When ready it prints "READY <issuer>" on stdout. It exits when its stdin
// closes, so a test binary that dies does not leave it running.
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

function env(name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    console.error(`oidcprovider: ${name} is required`);
    process.exit(2);
  }
  return v;
}

const port = Number(env('OP_PORT'));
const issuer = `http://127.0.0.1:${port}`;
const accessTokenTTL = Number(process.env.OP_ACCESS_TOKEN_TTL || 3600);
const accounts = JSON.parse(env('OP_ACCOUNTS'));
const bySub = new Map(accounts.map((a) => [a.sub, a]));
const byUsername = new Map(accounts.map((a) => [a.username, a]));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${html(title)}</title></head><body><h1>${html(title)}</h1>${body}</body></html>`;
}

function sameString(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

const configuration = {
  clients: [{
    client_id: env('OP_CLIENT_ID'),
    client_secret: env('OP_CLIENT_SECRET'),
    redirect_uris: env('OP_REDIRECT_URIS').split(' '),
    post_logout_redirect_uris: (process.env.OP_POST_LOGOUT_URIS || '').split(' ').filter(Boolean),
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...(process.env.OP_BACKCHANNEL_LOGOUT_URI ? {
      backchannel_logout_uri: process.env.OP_BACKCHANNEL_LOGOUT_URI,
      backchannel_logout_session_required: process.env.OP_BACKCHANNEL_LOGOUT_SESSION_REQUIRED === '1',
    } : {}),
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource(ctx, form) {
        ctx.body = page('Sign out', `${form}<button form="op.logoutForm" type="submit" name="logout" value="yes">Sign out</button>`);
      },
      postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
  },
  interactions: {
    url(ctx, interaction) {
      return `/interaction/${interaction.uid}`;
    },
  },
  pkce: { required: () => true },
  // The library refuses to connect to loopback and private addresses (its
  // SSRF protection); the relying parties of these tests listen on
  // 127.0.0.1 only, so back-channel logout tokens go out without it.
  fetch(url, options) {
    const { dispatcher, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  // Refresh tokens for every client allowed the refresh_token grant, like
  // most deployed providers, not only for offline_access (which the
  // library otherwise requires together with prompt=consent).
  issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: accessTokenTTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 86400,
  },
  async findAccount(ctx, sub) {
    const account = bySub.get(sub);
    if (!account) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: account.email,
          email_verified: account.email_verified,
          name: account.name,
          preferred_username: account.username,
          groups: account.groups,
        };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<pre>${html(out.error)}: ${html(out.error_description || '')}</pre>`);
  },
};

const provider = new Provider(issuer, configuration);

// Counters for GET /test/stats, in total and per username.
const newCounters = () => ({ logins: 0, consents: 0, authorization_code_grants: 0, refresh_token_grants: 0 });
const stats = { total: newCounters(), accounts: {} };
function count(sub, what) {
  stats.total[what] += 1;
  const username = bySub.get(sub)?.username;
  if (username) {
    stats.accounts[username] ??= newCounters();
    stats.accounts[username][what] += 1;
  }
}
provider.on('grant.success', (ctx) => {
  const e = ctx.oidc.entities;
  const sub = (e.Grant || e.Account || e.AuthorizationCode || e.RefreshToken || {}).accountId;
  const grantType = ctx.oidc.params.grant_type;
  if (grantType === 'authorization_code' || grantType === 'refresh_token') {
    count(sub, `${grantType}_grants`);
  }
});
provider.use(async (ctx, next) => {
  if (ctx.path !== '/test/stats') {
    return next();
  }
  if (ctx.method !== 'GET') {
    ctx.throw(405);
  }
  ctx.set('Cache-Control', 'no-store');
  ctx.type = 'json';
  ctx.body = JSON.stringify(stats);
  return undefined;
});

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) {
      throw new Error('form too large');
    }
    chunks.push(chunk);
  }
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

function loginForm(uid, error) {
  return page('Sign in', `${error ? `<p class="error">${html(error)}</p>` : ''}
<form method="post" action="/interaction/${html(uid)}/login">
<label>Username <input type="text" name="login" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`);
}

function consentForm(uid, details) {
  const scopes = (details.missingOIDCScope || []).map((s) => `<li>${html(s)}</li>`).join('');
  return page('Authorize', `<ul>${scopes}</ul>
<form method="post" action="/interaction/${html(uid)}/confirm">
<button type="submit">Continue</button>
</form>`);
}

// The interaction pages run before the library's routes.
provider.use(async (ctx, next) => {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?$/.exec(ctx.path);
  if (!m) {
    return next();
  }
  const [, uid, action] = m;
  ctx.set('Cache-Control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) {
    ctx.throw(400, 'interaction mismatch');
  }
  const { prompt, params, session, grantId } = details;

  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    ctx.body = prompt.name === 'login' ? loginForm(uid) : consentForm(uid, prompt.details);
    return undefined;
  }
  if (ctx.method !== 'POST' || !action) {
    ctx.throw(405);
  }
  const form = await readForm(ctx.req);

  if (action === 'login') {
    if (prompt.name !== 'login') {
      ctx.throw(400, 'not at the login prompt');
    }
    const account = byUsername.get(String(form.login || ''));
    if (!account || !sameString(account.password, form.password || '')) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginForm(uid, 'Invalid username or password.');
      return undefined;
    }
    count(account.sub, 'logins');
    ctx.respond = false;
    return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  }

  if (prompt.name !== 'consent') {
    ctx.throw(400, 'not at the consent prompt');
  }
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) {
    grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  }
  if (prompt.details.missingOIDCClaims) {
    grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  }
  if (prompt.details.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(prompt.details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  count(session.accountId, 'consents');
  ctx.respond = false;
  return provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
});

provider.on('server_error', (ctx, err) => console.error('oidcprovider: server_error:', err));
provider.on('backchannel.error', (ctx, err) => console.error('oidcprovider: backchannel.error:', err.message, err.cause?.message ?? ''));

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();

provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
