//! The seed's `thread` module: a worker thread running queued work items (W5), and
//! threads that run until asked to terminate, ended together by `terminate_threads` (W6).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use crate::queue::{AsyncQueue, CallbackError, Error};

/// A flag that is set once and can be waited for with a timeout.
#[derive(Default)]
struct Flag {
    set: Mutex<bool>,
    changed: Condvar,
}

impl Flag {
    fn lock(&self) -> MutexGuard<'_, bool> {
        self.set.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn raise(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    fn is_set(&self) -> bool {
        *self.lock()
    }

    /// Waits until the flag is set or `timeout` passed (None: no limit); whether it is set.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        let set = self.lock();
        let unset = |set: &mut bool| !*set;
        let set = match timeout {
            None => self
                .changed
                .wait_while(set, unset)
                .unwrap_or_else(PoisonError::into_inner),
            Some(timeout) => {
                self.changed
                    .wait_timeout_while(set, timeout, unset)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
        *set
    }
}

/// Raises its flag when dropped: a thread's "ended" flag is raised however its body ends.
struct RaiseOnDrop(Arc<Flag>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.raise();
    }
}

/// Starts a thread running `body`; the flag it raises when it ends.
fn spawn(body: impl FnOnce() + Send + 'static) -> Arc<Flag> {
    let ended = Arc::new(Flag::default());
    let guard = RaiseOnDrop(Arc::clone(&ended));
    thread::spawn(move || {
        let _guard = guard;
        body();
    });
    ended
}

pub type Job = Box<dyn FnOnce() -> Result<(), CallbackError> + Send>;

/// What a worker thread is given: a job to run, or the request to stop.
pub enum WorkItem {
    Run(Job),
    Stop,
}

/// A thread that runs the items put to it, in order. An item that fails is reported on
/// stderr and the worker goes on; `Stop` ends it once the items before it have run (W5).
pub struct WorkerThread {
    inbox: Arc<AsyncQueue<WorkItem>>,
    ended: Arc<Flag>,
}

impl WorkerThread {
    pub fn start() -> WorkerThread {
        let inbox = Arc::new(AsyncQueue::new(0));
        let items = Arc::clone(&inbox);
        let ended = spawn(move || {
            while let Ok(WorkItem::Run(job)) = items.get(true, None) {
                if let Err(CallbackError(why)) = job() {
                    eprintln!("WorkerThread: a work item failed: {why}");
                }
            }
        });
        WorkerThread { inbox, ended }
    }

    pub fn put(&self, item: WorkItem) -> Result<(), Error> {
        self.inbox.put(item, true, None)
    }

    /// Asks the worker to stop after the items queued so far, without waiting for it (the
    /// seed's name; W5 says it does not block: `join` waits).
    pub fn stop_and_join(&self) -> Result<(), Error> {
        self.put(WorkItem::Stop)
    }

    /// Waits up to `timeout` (None: no limit) for the thread to end; whether it is still alive.
    pub fn join(&self, timeout: Option<Duration>) -> bool {
        !self.ended.wait(timeout)
    }

    pub fn is_alive(&self) -> bool {
        !self.ended.is_set()
    }
}

/// A thread that runs until asked to terminate.
pub struct TerminatableThread {
    terminate: Arc<Flag>,
    ended: Arc<Flag>,
}

impl TerminatableThread {
    /// Starts a thread running `body`, which is given the terminate request to poll or
    /// wait on (`wait_for_termination`).
    pub fn start(body: impl FnOnce(&TerminateRequest) + Send + 'static) -> TerminatableThread {
        let terminate = Arc::new(Flag::default());
        let request = TerminateRequest(Arc::clone(&terminate));
        let ended = spawn(move || body(&request));
        TerminatableThread { terminate, ended }
    }

    /// Asks the thread to terminate and waits until it has.
    pub fn terminate_and_join(&self) {
        self.terminate.raise();
        self.ended.wait(None);
    }

    pub fn is_alive(&self) -> bool {
        !self.ended.is_set()
    }
}

/// What a terminatable thread's body is given.
pub struct TerminateRequest(Arc<Flag>);

impl TerminateRequest {
    pub fn is_requested(&self) -> bool {
        self.0.is_set()
    }

    pub fn wait_for_termination(&self) {
        self.0.wait(None);
    }
}

/// The threads a function started inside `terminate_threads`.
#[derive(Default)]
pub struct ThreadScope {
    started: Mutex<Vec<Arc<TerminatableThread>>>,
}

impl ThreadScope {
    pub fn start(&self, body: impl FnOnce(&TerminateRequest) + Send + 'static) -> Arc<TerminatableThread> {
        let thread = Arc::new(TerminatableThread::start(body));
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&thread));
        thread
    }
}

impl Drop for ThreadScope {
    fn drop(&mut self) {
        let started = std::mem::take(self.started.get_mut().unwrap_or_else(PoisonError::into_inner));
        for thread in started {
            thread.terminate_and_join();
        }
    }
}

/// Calls `f`, which may start terminatable threads in the scope it is given; when `f`
/// returns, whatever it returns (an error too) or if it panics, every thread it started
/// has been asked to terminate and has ended (W6).
pub fn terminate_threads<R>(f: impl FnOnce(&ThreadScope) -> R) -> R {
    let scope = ThreadScope::default();
    f(&scope)
}
