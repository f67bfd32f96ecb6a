// IAM roles and STS sessions on a moto server started by startMoto() (auth mode), for the tests of
// the AWS default credentials chain (tests/node/credentials-chain.test.mjs).
//
// startMoto's setup spends moto's free (unauthenticated) actions on an IAM user allowed kinesis:*
// only, so the user cannot create roles. moto's /moto-api/reset-auth grants N more free actions
// (it sets INITIAL_NO_AUTH_ACTION_COUNT to N and the counter to 0); a free action is not
// authenticated at all, after the N-th every request is verified again. A test spends them on
// CreateRole / PutRolePolicy here, and on AssumeRoleWithWebIdentity, which AWS (and the SDK)
// sends unsigned. Requests signed with the issued session credentials are verified by moto like
// any other: it knows the access key, secret and session token of each session it issued.
//
// Node built-ins only. Each call finishes before the next starts: free actions are counted.

/** The account moto puts everything in. */
export const MOTO_ACCOUNT = '123456789012';

/** Allows exactly `count` unauthenticated actions from now on (0: authentication on at once). */
export async function motoFreeActions(endpoint, count) {
  const res = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', body: String(count) });
  if (res.status !== 200) throw new Error(`moto reset-auth ${count}: ${res.status} ${await res.text()}`);
}

/**
 * A Query-protocol call (IAM, STS) that spends one free action. moto routes a request by the
 * service of its Authorization header's credential scope; the signature itself is not checked for
 * a free action. `signed: false` sends no Authorization header (AssumeRoleWithWebIdentity).
 */
export async function motoQuery(endpoint, service, params, { signed = true } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  if (signed) {
    headers.authorization =
      `AWS4-HMAC-SHA256 Credential=AKIDFREEACTION/20200101/us-east-1/${service}/aws4_request, ` +
      'SignedHeaders=host, Signature=0';
  }
  const res = await fetch(endpoint, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`moto ${service} ${params.Action}: ${res.status} ${text}`);
  return text;
}

/** Spends 2 free actions: CreateRole (any principal may assume it) + an inline policy. */
export async function createRole(endpoint, roleName, actions = ['kinesis:*']) {
  const trust = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Federated: 'test-issuer' }, Action: 'sts:AssumeRoleWithWebIdentity' }],
  };
  await motoQuery(endpoint, 'iam', {
    Action: 'CreateRole',
    Version: '2010-05-08',
    RoleName: roleName,
    AssumeRolePolicyDocument: JSON.stringify(trust),
  });
  await motoQuery(endpoint, 'iam', {
    Action: 'PutRolePolicy',
    Version: '2010-05-08',
    RoleName: roleName,
    PolicyName: `${roleName}-policy`,
    PolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }],
    }),
  });
  return `arn:aws:iam::${MOTO_ACCOUNT}:role/${roleName}`;
}

/** Spends 1 free action: STS AssumeRoleWithWebIdentity, unsigned → { accessKeyId, secretAccessKey, sessionToken }. */
export async function assumeRoleWithWebIdentity(endpoint, { roleArn, sessionName, token }) {
  const xml = await motoQuery(
    endpoint,
    'sts',
    {
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: roleArn,
      RoleSessionName: sessionName,
      WebIdentityToken: token,
    },
    { signed: false },
  );
  const field = (name) => {
    const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
    if (!match) throw new Error(`no ${name} in moto's AssumeRoleWithWebIdentity answer`);
    return match[1];
  };
  return {
    accessKeyId: field('AccessKeyId'),
    secretAccessKey: field('SecretAccessKey'),
    sessionToken: field('SessionToken'),
  };
}
