// A real OpenID Connect provider (node-oidc-provider) on loopback for the SSO tests.
//
// Configured by the environment: OIDC_PROVIDER_MODULE (path of oidc-provider's lib/index.js under
// .cache/oidc-provider), OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI and
// OIDC_ACCOUNTS (JSON: login name -> list of groups). Any password is accepted by the provider's
// built-in dev interactions (its login and consent forms). Prints "ready <issuer>" once listening.
import { pathToFileURL } from 'node:url';

const env = process.env;
const { default: Provider } = await import(pathToFileURL(env.OIDC_PROVIDER_MODULE).href);
const accounts = JSON.parse(env.OIDC_ACCOUNTS || '{}');
const issuer = `http://127.0.0.1:${env.OIDC_PORT}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: env.OIDC_CLIENT_ID,
    client_secret: env.OIDC_CLIENT_SECRET,
    redirect_uris: [env.OIDC_REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['test-only-cookie-key-not-secret'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id, email: `${id}@example.test`, email_verified: true,
          preferred_username: id, name: id, groups: accounts[id] ?? [],
        };
      },
    };
  },
});

const server = provider.listen(Number(env.OIDC_PORT), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
