// The engine's timers on the host's setTimeout. Node timers can be unref'd so that they don't keep
// the process alive; other hosts have no such thing. The engine says when a flush or a submit
// waits (keepAlive), and only then they are ref'd.
export function hostTimers() {
  const live = new Set();
  let keepAlive = false;
  const ref = (timer) => (keepAlive ? timer?.ref : timer?.unref)?.call(timer);
  return {
    set(callback, ms) {
      const timer = setTimeout(() => {
        live.delete(timer);
        callback();
      }, ms);
      live.add(timer);
      ref(timer);
      return timer;
    },
    clear(timer) {
      clearTimeout(timer);
      live.delete(timer);
    },
    keepAlive(on) {
      keepAlive = on;
      for (const timer of live) ref(timer);
    },
  };
}
