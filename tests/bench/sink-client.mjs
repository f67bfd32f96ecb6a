// Starts sink.mjs as a child process and stops it by its PID.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

// shards: a stream of that many shards with real ShardIds, ListShards and DescribeStreamSummary
// (sink.mjs --shards); latencyMs: every answer that much later (sink.mjs --latency-ms).
export async function startSink({ shards, latencyMs } = {}) {
  const args = [
    fileURLToPath(new URL('./sink.mjs', import.meta.url)),
    ...(shards ? ['--shards', String(shards)] : []),
    ...(latencyMs ? ['--latency-ms', String(latencyMs)] : []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = await once(child.stdout, 'data');
  const { port } = JSON.parse(String(line));
  const url = `http://127.0.0.1:${port}/`;
  return {
    url,
    pid: child.pid,
    async stats() {
      return (await fetch(`${url}stats`)).json();
    },
    async reset() {
      await fetch(`${url}reset`, { method: 'POST' });
    },
    stop() {
      child.stdin.end();
      child.kill('SIGTERM');
    },
  };
}
