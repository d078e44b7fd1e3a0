// A real OpenID Connect provider for the access tests (the npm package oidc-provider, an
// OpenID Certified implementation), configured from one JSON document in OIDC_TEST_CONFIG:
//   { issuer, port, jwk, clients: [...], accounts: {name: {password, groups, email}},
//     clientGroups: {clientId: [groups]}, resource, audience }
// Login is a small username/password form checked against `accounts`; consent is implied for
// the configured (first-party) clients. Access tokens for `resource` are JWTs signed with
// `jwk`, so the tests can also sign tokens with the real key (expired, wrong audience).
import http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG);
const accounts = config.accounts;

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: { keys: [config.jwk] },
  cookies: { keys: ['test-cookie-key-not-secret'] },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username', 'given_name', 'family_name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      // Sign out without a confirmation click: the test asks for it explicitly.
      logoutSource: async (ctx, form) => {
        ctx.body = `<!doctype html><html><body>${form}
          <script>document.forms[0].insertAdjacentHTML('beforeend',
          '<input type="hidden" name="logout" value="yes">');document.forms[0].submit();
          </script></body></html>`;
      },
    },
    resourceIndicators: {
      enabled: true,
      // Tokens from the browser flow stay opaque (for userinfo); client credentials ask for
      // the archive's API resource and get a JWT for it.
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource) => {
        if (resource !== config.resource) throw new Error(`unknown resource ${resource}`);
        return {
          scope: 'dicomweb',
          audience: config.audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: async (ctx, token) => {
    if (token.kind === 'ClientCredentials') {
      return { groups: config.clientGroups[token.clientId] || [] };
    }
    const account = accounts[token.accountId];
    return account ? { groups: account.groups, preferred_username: token.accountId } : undefined;
  },
  findAccount: async (ctx, id) => {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      claims: async () => ({
        sub: id,
        preferred_username: id,
        email: account.email,
        email_verified: true,
        name: id,
        groups: account.groups,
      }),
    };
  },
  loadExistingGrant: async (ctx) => {
    // First-party clients: every requested scope and claim is granted without a consent page.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups offline_access');
    grant.addOIDCClaims(['sub', 'email', 'preferred_username', 'groups']);
    grant.addResourceScope(config.resource, 'dicomweb');
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, IdToken: 600, AccessToken: 600 },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = `<!doctype html><h1>oops</h1><pre>${escape(JSON.stringify(out))}</pre>`;
  },
});
provider.proxy = false;
for (const event of ['end_session.error', 'authorization.error', 'grant.error', 'server_error']) {
  provider.on(event, (ctx, error) => console.error(event, error, error?.cause ?? ''));
}

function loginPage(uid, message) {
  return `<!doctype html><html><head><title>Test identity provider</title></head><body>
    <h1>Test identity provider</h1>${message ? `<p id="error">${escape(message)}</p>` : ''}
    <form method="post" action="/interaction/${escape(uid)}/login">
      <label>Username <input name="username" id="username" autofocus></label>
      <label>Password <input name="password" id="password" type="password"></label>
      <button type="submit" id="submit">Sign in</button>
    </form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interactions(req, res) {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  if (!match) return false;
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('Content-Type', 'text/html');
    res.end(loginPage(details.uid));
    return true;
  }
  const form = await readForm(req);
  const account = accounts[form.get('username')];
  if (!account || account.password !== form.get('password')) {
    res.setHeader('Content-Type', 'text/html');
    res.end(loginPage(details.uid, 'Wrong username or password.'));
    return true;
  }
  await provider.interactionFinished(req, res, { login: { accountId: form.get('username') } }, {
    mergeWithLastSubmission: false,
  });
  return true;
}

const callback = provider.callback();
const server = http.createServer(async (req, res) => {
  try {
    if (await interactions(req, res)) return;
  } catch (error) {
    res.statusCode = 400;
    res.end(String(error));
    return;
  }
  callback(req, res);
});
server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening on ${config.issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
