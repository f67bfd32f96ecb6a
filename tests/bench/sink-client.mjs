// Starts sink.mjs as a child process and stops it by its PID.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export async function startSink() {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./sink.mjs', import.meta.url))], {
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
