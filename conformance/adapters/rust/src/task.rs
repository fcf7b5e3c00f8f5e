//! Tasks outside a pool (rules T1-T4): a task reads items from its input, applies its
//! function and writes the results to its channel; `process` runs one chunk in the
//! calling thread. The pool that schedules chunks is not ported.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::channel::{Reader, Writer};
use crate::queue::{CallbackError, Count, Error};

pub type SingleFn<T> = Arc<dyn Fn(T) -> Result<T, CallbackError> + Send + Sync>;
pub type ManyFn<T> = Arc<dyn Fn(Vec<T>) -> Result<Vec<T>, CallbackError> + Send + Sync>;

/// A task's function: applied to each item (`apply_single`), or to the list a chunk read.
/// A task without one passes its items through (F9).
pub enum TaskFn<T> {
    Single(SingleFn<T>),
    Many(ManyFn<T>),
}

struct State<T> {
    writer: Option<Arc<dyn Writer<T>>>,
    done: bool,
    error: Option<Error>,
    running: usize,
    min_count: Option<usize>,
    max_chunksize: usize,
}

pub struct Task<T> {
    pub id: String,
    input: Arc<dyn Reader<T>>,
    fun: Option<TaskFn<T>>,
    state: Mutex<State<T>>,
}

fn min_count(value: Option<i64>) -> Result<Option<usize>, Error> {
    value
        .map(|n| {
            usize::try_from(n).map_err(|_| Error::Value(format!("min_count must be None or >= 0, got {n}")))
        })
        .transpose()
}

fn max_chunksize(value: i64) -> Result<usize, Error> {
    usize::try_from(value).map_err(|_| Error::Value(format!("max_chunksize must be >= 0, got {value}")))
}

impl<T> Task<T> {
    /// A task over `input`; `min_count` (None or >= 0) and `max_chunksize` (>= 0, 0: no
    /// limit) are checked here as by their setters (T1).
    pub fn new(
        id: &str,
        input: Arc<dyn Reader<T>>,
        fun: Option<TaskFn<T>>,
        writer: Option<Arc<dyn Writer<T>>>,
        min: Option<i64>,
        max: i64,
    ) -> Result<Task<T>, Error> {
        let state = State {
            writer,
            done: false,
            error: None,
            running: 0,
            min_count: min_count(min)?,
            max_chunksize: max_chunksize(max)?,
        };
        Ok(Task {
            id: id.to_string(),
            input,
            fun,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn min_count(&self) -> Option<usize> {
        self.lock().min_count
    }

    pub fn set_min_count(&self, value: Option<i64>) -> Result<(), Error> {
        let value = min_count(value)?;
        self.lock().min_count = value;
        Ok(())
    }

    pub fn max_chunksize(&self) -> usize {
        self.lock().max_chunksize
    }

    pub fn set_max_chunksize(&self, value: i64) -> Result<(), Error> {
        let value = max_chunksize(value)?;
        self.lock().max_chunksize = value;
        Ok(())
    }

    pub fn set_writer(&self, writer: Option<Arc<dyn Writer<T>>>) {
        self.lock().writer = writer;
    }

    pub fn is_done(&self) -> bool {
        self.lock().done
    }

    /// Whether the task's channel is closed (false without one).
    pub fn is_closed(&self) -> bool {
        self.lock().writer.as_ref().is_some_and(|w| w.closed())
    }

    /// The first failure of the task's input or function, kept (T4).
    pub fn error(&self) -> Option<Error> {
        self.lock().error.clone()
    }

    /// Marks the task done; with no chunk running its channel closes at once (T3).
    pub fn set_done(&self) {
        let mut state = self.lock();
        state.done = true;
        self.close_if_idle(state);
    }

    /// Closes the channel of a done task once no chunk is writing to it.
    fn close_if_idle(&self, state: MutexGuard<'_, State<T>>) {
        let writer = if state.done && state.running == 0 {
            state.writer.clone()
        } else {
            None
        };
        drop(state);
        if let Some(writer) = writer {
            writer.close();
        }
    }

    /// Runs one chunk in the calling thread: reads `count` items from the input and writes
    /// the function's results (T2). A read that comes up short makes the task done (T3);
    /// a failure of the input, the function or the write is kept and makes it done (T4).
    /// It never fails itself; a done task does nothing.
    pub fn process(&self, count: Count) {
        let writer = {
            let mut state = self.lock();
            if state.done {
                return;
            }
            state.running += 1;
            state.writer.clone()
        };
        let outcome = self.chunk(count, writer.as_deref());
        let mut state = self.lock();
        state.running -= 1;
        match outcome {
            Ok(short) => state.done |= short,
            Err(error) => {
                state.error.get_or_insert(error);
                state.done = true;
            }
        }
        self.close_if_idle(state);
    }

    /// One chunk; whether its read came up short.
    fn chunk(&self, count: Count, writer: Option<&dyn Writer<T>>) -> Result<bool, Error> {
        let items = self.input.read(count, true, None)?;
        let short = match count {
            Count::All => true,
            Count::AtMost(n) => items.len() < n,
        };
        let write = |item: T| writer.map_or(Ok(()), |w| w.write(item, true, None));
        match &self.fun {
            None => items.into_iter().try_for_each(write)?,
            Some(TaskFn::Single(f)) => {
                for item in items {
                    write(f(item).map_err(Error::Callback)?)?;
                }
            }
            // A chunk that read nothing does not call the function.
            Some(TaskFn::Many(f)) if !items.is_empty() => {
                f(items)
                    .map_err(Error::Callback)?
                    .into_iter()
                    .try_for_each(write)?;
            }
            Some(TaskFn::Many(_)) => {}
        }
        Ok(short)
    }
}
