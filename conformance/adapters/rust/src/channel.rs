//! Channels: a writer and a reader of one `AsyncQueue`, the callback ends, and a reader
//! over an iterator. The seed's defaults a typed API cannot spell as default arguments are
//! methods: `Writer::default_block`, and `Count::All`, block, no timeout for a read.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::queue::{AsyncQueue, CallbackError, Count, Error};

/// What a pre-write callback does: its result is written instead of the item (K1).
pub type PreWrite<T> = Arc<dyn Fn(T) -> Result<T, CallbackError> + Send + Sync>;
/// A pre-read callback: it gets the count before anything is read (K2).
pub type PreRead = Arc<dyn Fn(Count) -> Result<(), CallbackError> + Send + Sync>;
/// A post-read callback: what it returns is what the reader gets (K3).
pub type PostRead<T> = Arc<dyn Fn(&[T]) -> Result<Vec<T>, CallbackError> + Send + Sync>;

pub trait Writer<T>: Send + Sync {
    /// What is written for `item` (a callback writer's pre-write callback, K1).
    fn prepare(&self, item: T) -> Result<T, Error>;
    /// Whether `write` blocks when the caller does not say: the seed's defaults differ
    /// between `ChannelWriter` (false) and `CallbackChannelWriter` (true) (B2).
    fn default_block(&self) -> bool;
    fn channel(&self) -> &AsyncQueue<T>;

    /// Writes `item` (see `AsyncQueue::put`); if `prepare` fails nothing is written.
    fn write(&self, item: T, block: bool, timeout: Option<Duration>) -> Result<(), Error> {
        self.channel().put(self.prepare(item)?, block, timeout)
    }

    /// Consumes `items` first, so an iterator that fails writes nothing (F5), then writes
    /// them in order as `write` would by default.
    fn write_many(&self, items: &mut dyn Iterator<Item = Result<T, CallbackError>>) -> Result<(), Error> {
        let items = items.map(|item| item.map_err(Error::Callback).and_then(|item| self.prepare(item)));
        let items = items.collect::<Result<Vec<T>, Error>>()?;
        self.channel().put_many(items, self.default_block(), None)
    }

    fn close(&self) {
        self.channel().close();
    }

    fn closed(&self) -> bool {
        self.channel().closed()
    }

    fn size(&self) -> usize {
        self.channel().len()
    }
}

pub trait Reader<T>: Send + Sync {
    /// Reads up to `count` items (see `AsyncQueue::read`).
    fn read(&self, count: Count, block: bool, timeout: Option<Duration>) -> Result<Vec<T>, Error>;
}

/// Iterates a reader one blocking `read(1)` at a time until it returns no item (C15).
pub struct Items<'a, T> {
    reader: &'a dyn Reader<T>,
    done: bool,
}

impl<'a, T> Items<'a, T> {
    pub fn new(reader: &'a dyn Reader<T>) -> Items<'a, T> {
        Items { reader, done: false }
    }
}

impl<T> Iterator for Items<'_, T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Result<T, Error>> {
        if self.done {
            return None;
        }
        match self.reader.read(Count::AtMost(1), true, None) {
            Ok(mut items) => {
                let item = items.pop();
                self.done = item.is_none();
                item.map(Ok)
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

/// `Channel` is thread-safe and its ends may wait; a `SerialChannel` never waits (C14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Channel,
    SerialChannel,
}

impl ChannelKind {
    /// A new queue of this kind; `maxsize` 0 is unbounded.
    pub fn queue<T>(self, maxsize: usize) -> Arc<AsyncQueue<T>> {
        Arc::new(AsyncQueue::with_blocking(maxsize, self == ChannelKind::Channel))
    }
}

/// The writer and the reader of one new channel, in that order (C1).
pub fn mkchannel<T>(kind: ChannelKind, maxsize: usize) -> (ChannelWriter<T>, ChannelReader<T>) {
    let queue = kind.queue(maxsize);
    (ChannelWriter::new(Arc::clone(&queue)), ChannelReader::new(queue))
}

fn locked<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct ChannelWriter<T> {
    queue: Arc<AsyncQueue<T>>,
}

impl<T> ChannelWriter<T> {
    pub fn new(queue: Arc<AsyncQueue<T>>) -> ChannelWriter<T> {
        ChannelWriter { queue }
    }
}

impl<T: Send> Writer<T> for ChannelWriter<T> {
    fn prepare(&self, item: T) -> Result<T, Error> {
        Ok(item)
    }

    fn default_block(&self) -> bool {
        false
    }

    fn channel(&self) -> &AsyncQueue<T> {
        &self.queue
    }
}

pub struct ChannelReader<T> {
    queue: Arc<AsyncQueue<T>>,
}

impl<T> ChannelReader<T> {
    pub fn new(queue: Arc<AsyncQueue<T>>) -> ChannelReader<T> {
        ChannelReader { queue }
    }
}

impl<T: Send> Reader<T> for ChannelReader<T> {
    fn read(&self, count: Count, block: bool, timeout: Option<Duration>) -> Result<Vec<T>, Error> {
        Ok(self.queue.read(count, block, timeout))
    }
}

/// A writer with a pre-write callback, published under a lock and called outside it.
pub struct CallbackChannelWriter<T> {
    queue: Arc<AsyncQueue<T>>,
    pre: Mutex<Option<PreWrite<T>>>,
}

impl<T> CallbackChannelWriter<T> {
    pub fn new(queue: Arc<AsyncQueue<T>>) -> CallbackChannelWriter<T> {
        CallbackChannelWriter {
            queue,
            pre: Mutex::new(None),
        }
    }

    /// Installs `callback` (None uninstalls) and returns the previous one (K4).
    pub fn set_pre_cb(&self, callback: Option<PreWrite<T>>) -> Option<PreWrite<T>> {
        std::mem::replace(&mut *locked(&self.pre), callback)
    }
}

impl<T: Send> Writer<T> for CallbackChannelWriter<T> {
    fn prepare(&self, item: T) -> Result<T, Error> {
        let pre = locked(&self.pre).clone();
        match pre {
            Some(callback) => callback(item).map_err(Error::Callback),
            None => Ok(item),
        }
    }

    fn default_block(&self) -> bool {
        true
    }

    fn channel(&self) -> &AsyncQueue<T> {
        &self.queue
    }
}

/// A reader with pre- and post-read callbacks.
pub struct CallbackChannelReader<T> {
    queue: Arc<AsyncQueue<T>>,
    pre: Mutex<Option<PreRead>>,
    post: Mutex<Option<PostRead<T>>>,
}

impl<T> CallbackChannelReader<T> {
    pub fn new(queue: Arc<AsyncQueue<T>>) -> CallbackChannelReader<T> {
        CallbackChannelReader {
            queue,
            pre: Mutex::new(None),
            post: Mutex::new(None),
        }
    }

    /// Installs the pre-read callback (None uninstalls); returns the previous one (K4).
    pub fn set_pre_cb(&self, callback: Option<PreRead>) -> Option<PreRead> {
        std::mem::replace(&mut *locked(&self.pre), callback)
    }

    /// Installs the post-read callback (None uninstalls); returns the previous one (K4).
    pub fn set_post_cb(&self, callback: Option<PostRead<T>>) -> Option<PostRead<T>> {
        std::mem::replace(&mut *locked(&self.post), callback)
    }
}

impl<T: Send> Reader<T> for CallbackChannelReader<T> {
    /// A failing pre-read callback consumes nothing (K2); a failing post-read callback
    /// puts the items back at the front of the channel, in order (K3).
    fn read(&self, count: Count, block: bool, timeout: Option<Duration>) -> Result<Vec<T>, Error> {
        let pre = locked(&self.pre).clone();
        if let Some(callback) = pre {
            callback(count).map_err(Error::Callback)?;
        }
        let items = self.queue.read(count, block, timeout);
        let post = locked(&self.post).clone();
        match post {
            None => Ok(items),
            Some(callback) => callback(&items).map_err(|error| {
                self.queue.put_back(items);
                Error::Callback(error)
            }),
        }
    }
}

struct IteratorState<T, I> {
    iter: I,
    held: VecDeque<T>,
}

/// A reader over an iterator whose `next` may fail. It never blocks, gives each item to
/// exactly one read (K5), and when the iterator fails keeps the items the read had taken
/// for the next reads (K6). Its lock is held while the iterator runs.
pub struct IteratorReader<T, I> {
    state: Mutex<IteratorState<T, I>>,
}

impl<T, I> IteratorReader<T, I>
where
    I: Iterator<Item = Result<T, CallbackError>>,
{
    pub fn new(iter: I) -> IteratorReader<T, I> {
        IteratorReader {
            state: Mutex::new(IteratorState {
                iter,
                held: VecDeque::new(),
            }),
        }
    }
}

impl<T, I> Reader<T> for IteratorReader<T, I>
where
    T: Send,
    I: Iterator<Item = Result<T, CallbackError>> + Send,
{
    fn read(&self, count: Count, _block: bool, _timeout: Option<Duration>) -> Result<Vec<T>, Error> {
        let mut state = locked(&self.state);
        let state = &mut *state;
        let mut out = Vec::new();
        while out.len() < count.room(0) {
            if let Some(item) = state.held.pop_front() {
                out.push(item);
                continue;
            }
            match state.iter.next() {
                None => break,
                Some(Ok(item)) => out.push(item),
                Some(Err(error)) => {
                    for item in out.into_iter().rev() {
                        state.held.push_front(item);
                    }
                    return Err(Error::Callback(error));
                }
            }
        }
        Ok(out)
    }
}
