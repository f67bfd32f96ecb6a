// Deno entry point; works from an `npm:kinesis-batch` import (Deno's npm cache) and from a
// node_modules install. The wasm comes in through a source phase import, which needs no
// permission; on a Deno without source phase imports it is read from the package folder, which
// needs --allow-read for that folder. Region and credentials come from Deno.env for the variables
// --allow-env grants, and the region also from the AWS_PROFILE profile in ~/.aws/config when
// --allow-read grants that file; what is not granted is simply not read (and never prompted for).
//
// Without static keys (or with AWS_PROFILE set), the first send asks the AWS default credentials
// chain (@aws-sdk/credential-providers, an optional dependency). It reads the environment and files
// through Deno's Node compatibility, so it needs the permissions of the sources it tries:
//   --allow-env (all of it: the SDK reads many AWS_* variables, HOME)          every source
//   --allow-read=~/.aws (and the AWS_WEB_IDENTITY_TOKEN_FILE file)    profiles, SSO, web identity
//   --allow-net=sts.amazonaws.com / sts.<region>.amazonaws.com, the SSO portal   web identity,
//                                                                     role profiles, SSO
//   --allow-net=169.254.170.2 (or the AWS_CONTAINER_CREDENTIALS_FULL_URI host)  ECS, containers
//   --allow-net=169.254.169.254                                       EC2 instance metadata
//   --allow-run                                                       credential_process profiles
// A permission not granted makes the chain fail: the records end with CredentialsUnavailable and
// Deno's message (e.g. NotCapable: Requires env access to ...), unless Deno may prompt for it.
import { initSync } from './wasm/kinesis_batch.js';
import { configureRuntime } from './core.js';
import { CHAIN_PACKAGE, environmentFrom } from './env.js';

let wasm;
try {
  ({ default: wasm } = await import('./deno-wasm.js'));
} catch {
  wasm = Deno.readFileSync(new URL('./wasm/kinesis_batch_bg.wasm', import.meta.url));
}
initSync({ module: wasm });

function granted(descriptor) {
  try {
    return Deno.permissions.querySync(descriptor).state === 'granted';
  } catch {
    return false;
  }
}

function readEnv(name) {
  try {
    return granted({ name: 'env', variable: name }) ? Deno.env.get(name) : undefined;
  } catch {
    return undefined;
  }
}

configureRuntime({
  environment: environmentFrom(readEnv, {
    readText(path) {
      try {
        return granted({ name: 'read', path }) ? Deno.readTextFileSync(path) : undefined;
      } catch {
        return undefined;
      }
    },
    homeDir: () => readEnv('HOME') || readEnv('USERPROFILE'),
    loadChain: () => import(CHAIN_PACKAGE),
  }),
});

export { KinesisBatchDispatcher, KinesisBatchError, planBatches, hashKeyOf, shardIndexFor } from './core.js';
