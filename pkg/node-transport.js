// Node's default transport: http.request (keep-alive), half fetch's cost per request, in the
// Response shape the engine reads.
import http from 'node:http';
import https from 'node:https';

export function nodeFetch(url, init = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
    if (!client) {
      reject(new TypeError(`unsupported protocol ${target.protocol}`));
      return;
    }
    const body = init.body;
    const headers = { ...init.headers, 'content-length': body ? body.byteLength : 0 };
    const request = client.request(
      target,
      { method: init.method ?? 'GET', headers, signal: init.signal },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const bytes = Buffer.concat(chunks);
          resolve({
            status: response.statusCode,
            headers: {
              get(name) {
                const value = response.headers[name.toLowerCase()];
                return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
              },
            },
            arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
          });
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
