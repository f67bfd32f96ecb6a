// A typed Worker: resolved through the `workerd` condition (tsconfig.worker.json sets
// customConditions), with its secrets typed on Env.
import { KinesisBatchDispatcher } from 'kinesis-batch';

interface Env {
  STREAM_NAME: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
}
interface Context {
  waitUntil(promise: Promise<unknown>): void;
}

export default {
  async fetch(request: Request, env: Env, ctx: Context): Promise<Response> {
    const kn = new KinesisBatchDispatcher(env.STREAM_NAME, {
      region: env.AWS_REGION,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    });
    await kn.submitPayload(await request.arrayBuffer());
    ctx.waitUntil(kn.flushPayloads());
    return new Response(null, { status: 202 });
  },
};
