//! The thread-safe queue behind every channel, its errors and its argument types.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A timeout of this many seconds or more means no limit (Python's `threading.TIMEOUT_MAX`
/// on 64-bit Linux, so both implementations agree on where "no limit" starts).
pub const TIMEOUT_MAX_S: f64 = 9_223_372_036.0;

/// Whether a read's timeout restarts when an item arrives (rule C8). The `broken_timeout`
/// feature plants the defect the conformance tests must catch: one deadline for the read.
const RESTART_PER_ITEM: bool = !cfg!(feature = "broken_timeout");

/// The error a user's callback or iterator raises; the library passes it on unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A write to a closed channel (C2, B3).
    ReadOnly,
    /// No room in a bounded channel, and no waiting allowed or the wait expired (B2, C14).
    Full,
    /// `get` found no item (the queue was closed and drained, or the wait expired).
    Empty,
    /// An invalid argument value (a negative or NaN timeout; reopening a closed queue).
    Value(String),
    /// What a callback or an iterator raised.
    Callback(CallbackError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ReadOnly => f.write_str("the channel is closed"),
            Error::Full => f.write_str("the channel is full"),
            Error::Empty => f.write_str("no item"),
            Error::Value(why) => f.write_str(why),
            Error::Callback(CallbackError(why)) => write!(f, "callback raised: {why}"),
        }
    }
}

impl std::error::Error for Error {}

/// How many items a read wants: `All` until the channel is closed (or, not blocking, all
/// there are now), or at most a positive number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    All,
    AtMost(usize),
}

impl Count {
    /// The seed's integer count: below 1 means every item (C6).
    pub fn from_int(count: i64) -> Count {
        match usize::try_from(count) {
            Ok(n) if n >= 1 => Count::AtMost(n),
            _ => Count::All,
        }
    }

    /// The integer a pre-read callback is given: 0 for `All`.
    pub fn as_int(self) -> i64 {
        match self {
            Count::All => 0,
            Count::AtMost(n) => i64::try_from(n).unwrap_or(i64::MAX),
        }
    }

    pub(crate) fn room(self, have: usize) -> usize {
        match self {
            Count::All => usize::MAX,
            Count::AtMost(n) => n.saturating_sub(have),
        }
    }
}

/// A timeout in seconds as the seed takes it: negative or NaN raises `Value` (C13); at
/// least `TIMEOUT_MAX_S` (infinity included) is no limit (`None`).
pub fn timeout_from_secs(secs: f64) -> Result<Option<Duration>, Error> {
    if secs.is_nan() || secs < 0.0 {
        return Err(Error::Value(format!(
            "timeout must be a non-negative number, got {secs}"
        )));
    }
    if secs >= TIMEOUT_MAX_S {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}

fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

struct State<T> {
    items: VecDeque<T>,
    writable: bool,
}

/// A FIFO queue that can be closed, optionally bounded (`maxsize` > 0). A `blocking` queue
/// lets readers and writers wait; a non-blocking one (a `SerialChannel`'s) never does.
pub struct AsyncQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Condvar,
    not_full: Condvar,
    maxsize: usize,
    blocking: bool,
}

impl<T> AsyncQueue<T> {
    pub fn new(maxsize: usize) -> AsyncQueue<T> {
        AsyncQueue::with_blocking(maxsize, true)
    }

    pub(crate) fn with_blocking(maxsize: usize, blocking: bool) -> AsyncQueue<T> {
        AsyncQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                writable: true,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            maxsize,
            blocking,
        }
    }

    /// The lock; no code panics while holding it, so a poisoned lock is still consistent.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `cond` until notified or `deadline`; None once the deadline has passed.
    fn wait<'a>(
        cond: &Condvar,
        guard: MutexGuard<'a, State<T>>,
        deadline: Option<Instant>,
    ) -> Option<MutexGuard<'a, State<T>>> {
        match deadline {
            None => Some(cond.wait(guard).unwrap_or_else(PoisonError::into_inner)),
            Some(deadline) => {
                let left = deadline
                    .checked_duration_since(Instant::now())
                    .filter(|d| !d.is_zero())?;
                Some(
                    cond.wait_timeout(guard, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0,
                )
            }
        }
    }

    /// Adds `item` at the end. A closed queue raises `ReadOnly`; a full one waits for room
    /// when `block` (until `timeout`, then `Full`) or raises `Full` at once; a close while
    /// waiting raises `ReadOnly` (B1-B3).
    pub fn put(&self, item: T, block: bool, timeout: Option<Duration>) -> Result<(), Error> {
        self.put_many(vec![item], block, timeout)
    }

    /// Adds `items` at the end in order, under one lock while there is room (each waits
    /// as `put` does); no items is no write at all, even on a closed queue.
    pub fn put_many(&self, items: Vec<T>, block: bool, timeout: Option<Duration>) -> Result<(), Error> {
        if items.is_empty() {
            return Ok(());
        }
        let deadline = deadline_after(timeout);
        let mut state = self.lock();
        for item in items {
            loop {
                if !state.writable {
                    return Err(Error::ReadOnly);
                }
                if self.maxsize == 0 || state.items.len() < self.maxsize {
                    break;
                }
                if !(block && self.blocking) {
                    return Err(Error::Full);
                }
                self.not_empty.notify_all();
                state = Self::wait(&self.not_full, state, deadline).ok_or(Error::Full)?;
            }
            state.items.push_back(item);
        }
        drop(state);
        self.not_empty.notify_all();
        Ok(())
    }

    /// Takes up to `count` items, all that are there at once under one lock (C9). A
    /// blocking read waits for the rest until the queue is closed (C5, C10) or no item has
    /// arrived for `timeout`, which restarts with every item that arrives (C8).
    pub fn read(&self, count: Count, block: bool, timeout: Option<Duration>) -> Vec<T> {
        let mut out = Vec::new();
        let mut deadline = deadline_after(timeout);
        let mut state = self.lock();
        loop {
            let take = count.room(out.len()).min(state.items.len());
            if take > 0 {
                out.extend(state.items.drain(..take));
                self.not_full.notify_all();
                if RESTART_PER_ITEM {
                    deadline = deadline_after(timeout);
                }
            }
            if count.room(out.len()) == 0 || !(block && self.blocking) || !state.writable {
                return out;
            }
            match Self::wait(&self.not_empty, state, deadline) {
                Some(guard) => state = guard,
                None => return out,
            }
        }
    }

    /// One item, or `Empty` if a read of one returns none.
    pub fn get(&self, block: bool, timeout: Option<Duration>) -> Result<T, Error> {
        self.read(Count::AtMost(1), block, timeout)
            .pop()
            .ok_or(Error::Empty)
    }

    /// Puts `items` back at the front, in order (a failed post-read callback's, K3). They
    /// came out of this queue, so they go back even if it is full or closed now.
    pub fn put_back(&self, items: Vec<T>) {
        let mut state = self.lock();
        for item in items.into_iter().rev() {
            state.items.push_front(item);
        }
        drop(state);
        self.not_empty.notify_all();
    }

    /// Opens or closes the queue and returns the previous state; a closed queue cannot be
    /// reopened (`Value`, C4).
    pub fn set_writable(&self, writable: bool) -> Result<bool, Error> {
        if !writable {
            return Ok(self.close());
        }
        if self.closed() {
            return Err(Error::Value("a closed queue cannot be reopened".to_string()));
        }
        Ok(true)
    }

    /// Closes the queue, waking every waiting reader and writer (C10, B3); closing a
    /// closed queue is no error (C3). Returns whether it was open.
    pub fn close(&self) -> bool {
        let mut state = self.lock();
        let was_open = std::mem::replace(&mut state.writable, false);
        drop(state);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        was_open
    }

    pub fn closed(&self) -> bool {
        !self.lock().writable
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
