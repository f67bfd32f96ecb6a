//! A single-threaded executor with timers, for hosts without an event loop of their own: the
//! WASI component (real time, blocking sleeps) and the engine's native tests (virtual time,
//! where a sleep of an hour takes no time and a hang is seen as "nothing left to run").

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures::executor::{LocalPool, LocalSpawner};
use futures::task::LocalSpawnExt;

use crate::engine::{LocalFuture, Runtime};

/// Where the executor's time comes from.
pub trait TimeSource {
    fn now_ms(&self) -> u64;
    /// Returns once `now_ms() >= at`.
    fn wait_until(&self, at: u64);
}

/// Time that moves only when the executor has nothing else to do.
#[derive(Default)]
pub struct VirtualTime {
    now: std::cell::Cell<u64>,
}

impl VirtualTime {
    pub fn starting_at(ms: u64) -> Rc<Self> {
        Rc::new(Self { now: std::cell::Cell::new(ms) })
    }
}

impl TimeSource for VirtualTime {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn wait_until(&self, at: u64) {
        if at > self.now.get() {
            self.now.set(at);
        }
    }
}

impl TimeSource for Rc<VirtualTime> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }

    fn wait_until(&self, at: u64) {
        (**self).wait_until(at)
    }
}

#[derive(Default)]
struct Timers {
    next_id: u64,
    /// (deadline, id) → the sleeping task's waker.
    pending: BTreeMap<(u64, u64), Option<Waker>>,
}

struct Clock {
    time: Box<dyn TimeSource>,
    timers: RefCell<Timers>,
}

struct Sleep {
    clock: Rc<Clock>,
    key: (u64, u64),
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.clock.time.now_ms() >= self.key.0 {
            self.clock.timers.borrow_mut().pending.remove(&self.key);
            return Poll::Ready(());
        }
        self.clock.timers.borrow_mut().pending.insert(self.key, Some(cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.clock.timers.borrow_mut().pending.remove(&self.key);
    }
}

/// The `Runtime` handed to the engine.
#[derive(Clone)]
pub struct LocalRuntime {
    spawner: LocalSpawner,
    clock: Rc<Clock>,
}

impl Runtime for LocalRuntime {
    fn now_ms(&self) -> u64 {
        self.clock.time.now_ms()
    }

    fn sleep(&self, ms: u64) -> LocalFuture<'static, ()> {
        let deadline = self.now_ms().saturating_add(ms);
        let key = {
            let mut timers = self.clock.timers.borrow_mut();
            timers.next_id += 1;
            let key = (deadline, timers.next_id);
            timers.pending.insert(key, None);
            key
        };
        Box::pin(Sleep { clock: self.clock.clone(), key })
    }

    fn spawn(&self, task: LocalFuture<'static, ()>) {
        // Fails only after the pool is gone, when nothing could run the task anyway.
        let _ = self.spawner.spawn_local(task);
    }
}

pub struct Executor {
    pool: LocalPool,
    clock: Rc<Clock>,
}

impl Executor {
    pub fn new(time: Box<dyn TimeSource>) -> Self {
        Self { pool: LocalPool::new(), clock: Rc::new(Clock { time, timers: RefCell::default() }) }
    }

    pub fn runtime(&self) -> LocalRuntime {
        LocalRuntime { spawner: self.pool.spawner(), clock: self.clock.clone() }
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.time.now_ms()
    }

    /// Runs `future` and every task it spawns, moving time on to the next timer whenever
    /// nothing can run. `None` when the future can never finish: nothing to run, no timer.
    pub fn block_on<T: 'static>(&mut self, future: impl Future<Output = T> + 'static) -> Option<T> {
        let out = Rc::new(RefCell::new(None));
        let slot = out.clone();
        self.pool.spawner().spawn_local(async move { *slot.borrow_mut() = Some(future.await) }).ok()?;
        loop {
            self.pool.run_until_stalled();
            if let Some(value) = out.borrow_mut().take() {
                return Some(value);
            }
            if !self.advance() {
                return None;
            }
        }
    }

    /// Runs every task that can make progress now, without moving time.
    pub fn run_until_stalled(&mut self) {
        self.pool.run_until_stalled();
    }

    /// Runs everything spawned until nothing is left but timers further than `ms` away.
    pub fn run_for(&mut self, ms: u64) {
        let until = self.now_ms().saturating_add(ms);
        loop {
            self.pool.run_until_stalled();
            let next = self.clock.timers.borrow().pending.keys().next().map(|k| k.0);
            match next {
                Some(at) if at <= until => {
                    self.advance();
                }
                _ => break,
            }
        }
        self.clock.time.wait_until(until);
        self.pool.run_until_stalled();
    }

    /// Waits for the earliest timer and wakes every sleeper that is due. False when none.
    fn advance(&mut self) -> bool {
        let Some(&(at, _)) = self.clock.timers.borrow().pending.keys().next() else { return false };
        self.clock.time.wait_until(at);
        let now = self.clock.time.now_ms();
        let due: Vec<Waker> = {
            let mut timers = self.clock.timers.borrow_mut();
            let later = timers.pending.split_off(&(now + 1, 0));
            let due = std::mem::replace(&mut timers.pending, later);
            due.into_values().flatten().collect()
        };
        for waker in due {
            waker.wake();
        }
        true
    }
}
