// Offline support: every file the page needs is cached when the service worker installs, and
// each request goes to the network first (so a rebuilt page is picked up at once) and falls back
// to the cache when the network is gone. Only this origin's GET requests are handled.
const CACHE = 'kinesis-batch-preview-v1';
const ASSETS = [
  './',
  './index.html',
  './style.css',
  './app.js',
  './worker.js',
  './input.js',
  './stats.js',
  './icon.svg',
  './vendor/kinesis-batch/core.js',
  './vendor/kinesis-batch/timers.js',
  './vendor/kinesis-batch/wasm/kinesis_batch.js',
  './vendor/kinesis-batch/wasm/kinesis_batch_bg.wasm',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(ASSETS))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      try {
        const response = await fetch(request);
        if (response.ok) await cache.put(request, response.clone());
        return response;
      } catch (error) {
        const cached = await cache.match(request, { ignoreSearch: true });
        if (cached) return cached;
        throw error;
      }
    })(),
  );
});
