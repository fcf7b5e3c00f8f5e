//! The objects a case names, and the operations of PROTOCOL.md section 4 on channels,
//! queues, logs, gates and names (the graph's are in `graph_ops`, the tasks' in
//! `task_ops`, the threads' in `thread_ops`). A JSON argument of the wrong type is refused here, before the typed API is
//! called: that is where a wrong type surfaces in Rust, so the adapter reports it as
//! `TypeError` (a string count, a number as a callback, a non-iterator).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use channels::{
    timeout_from_secs, AsyncQueue, CallbackChannelReader, CallbackChannelWriter, CallbackError, ChannelKind,
    ChannelReader, ChannelWriter, Count, Error, Graph, Items, IteratorReader, NodeRef, PostRead, PreRead,
    PreWrite, Reader, Task, TerminatableThread, WorkerThread, Writer,
};

use crate::json::Value;
use crate::specs::{compile, Env, Func};

/// `wait_log` gives up after this.
const WAIT_LOG_LIMIT: Duration = Duration::from_secs(10);

/// Why an operation did not return a value.
#[derive(Debug)]
pub enum Failure {
    /// The API raised.
    Api(Error),
    /// A JSON argument of a type the API does not take.
    Type(String),
    /// An operation (or a variant of one) this port does not have: pools, and tasks that
    /// read a channel (they come with pools).
    Unsupported(String),
    /// The step itself is malformed (a missing field, a name never defined).
    BadStep(String),
}

impl Failure {
    /// The error kind of PROTOCOL.md section 2.
    pub fn kind(&self) -> String {
        match self {
            Failure::Api(Error::ReadOnly) => "ReadOnly".to_string(),
            Failure::Api(Error::Full) => "Full".to_string(),
            Failure::Api(Error::Empty) => "Empty".to_string(),
            Failure::Api(Error::Value(_)) => "ValueError".to_string(),
            Failure::Api(Error::Callback(_)) => "CallbackError".to_string(),
            Failure::Type(_) => "TypeError".to_string(),
            Failure::Unsupported(_) => "Error:Unsupported".to_string(),
            Failure::BadStep(_) => "Error:BadStep".to_string(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Api(error) => write!(f, "{error}"),
            Failure::Type(why) => write!(f, "wrong argument type: {why}"),
            Failure::Unsupported(what) => write!(f, "not in this port: {what}"),
            Failure::BadStep(why) => write!(f, "malformed step: {why}"),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Api(error)
    }
}

pub(crate) type Outcome = Result<Value, Failure>;
type SharedReader = Arc<dyn Reader<Value>>;

/// Everything a case can name.
#[derive(Clone)]
pub(crate) enum Obj {
    Writer(Arc<ChannelWriter<Value>>),
    CallbackWriter(Arc<CallbackChannelWriter<Value>>),
    Reader(SharedReader),
    CallbackReader(Arc<CallbackChannelReader<Value>>),
    Queue(Arc<AsyncQueue<Value>>),
    Graph(Arc<Mutex<Graph>>),
    Node(NodeRef),
    Task(Arc<Task<Value>>),
    Worker(Arc<WorkerThread>),
    Threads(Vec<Arc<TerminatableThread>>),
}

/// An iterator over `items` that fails once, after yielding `raise_after` of them.
pub(crate) struct RaisingIterator {
    items: std::vec::IntoIter<Value>,
    raise_after: Option<usize>,
    given: usize,
}

impl Iterator for RaisingIterator {
    type Item = Result<Value, CallbackError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.raise_after == Some(self.given) {
            self.raise_after = None;
            return Some(Err(CallbackError("iterator raised".to_string())));
        }
        let item = self.items.next()?;
        self.given += 1;
        Some(Ok(item))
    }
}

pub(crate) fn locked<S>(mutex: &Mutex<S>) -> MutexGuard<'_, S> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An optional field: absent and `null` both mean "use the default" (PROTOCOL.md,
/// section 4), which the typed API spells `None`.
pub(crate) fn optional<'a>(step: &'a Value, key: &str) -> Option<&'a Value> {
    step.get(key).filter(|value| **value != Value::Null)
}

pub(crate) fn field<'a>(step: &'a Value, key: &str) -> Result<&'a Value, Failure> {
    step.get(key)
        .ok_or_else(|| Failure::BadStep(format!("missing field {key:?}")))
}

pub(crate) fn text<'a>(step: &'a Value, key: &str) -> Result<&'a str, Failure> {
    field(step, key)?
        .as_str()
        .ok_or_else(|| Failure::BadStep(format!("{key:?} must be a string")))
}

/// `block`: a bool, or 0 or 1 as `queue.Queue` takes them; absent or null: `default`.
fn block_arg(step: &Value, default: bool) -> Result<bool, Failure> {
    match optional(step, "block") {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Int(0)) => Ok(false),
        Some(Value::Int(1)) => Ok(true),
        Some(other) => Err(Failure::Type(format!("block must be a flag, got {other}"))),
    }
}

/// `timeout`: absent or null is no limit; a number, or "inf", "-inf", "nan".
pub(crate) fn timeout_arg(step: &Value) -> Result<Option<Duration>, Failure> {
    let secs = match optional(step, "timeout") {
        None => return Ok(None),
        Some(Value::Str(s)) if s == "inf" => f64::INFINITY,
        Some(Value::Str(s)) if s == "-inf" => f64::NEG_INFINITY,
        Some(Value::Str(s)) if s == "nan" => f64::NAN,
        Some(number @ (Value::Int(_) | Value::Float(_))) => number.as_f64().unwrap_or(f64::NAN),
        Some(other) => return Err(Failure::Type(format!("timeout must be a number, got {other}"))),
    };
    Ok(timeout_from_secs(secs)?)
}

/// `count`: an integer; absent or null: 0 (every item).
fn count_arg(step: &Value) -> Result<Count, Failure> {
    match optional(step, "count") {
        None => Ok(Count::All),
        Some(Value::Int(n)) => Ok(Count::from_int(*n)),
        Some(other) => Err(Failure::Type(format!("count must be an int, got {other}"))),
    }
}

/// `maxsize`: an integer, 0 or less (or absent, or null) for unbounded.
fn maxsize_arg(step: &Value) -> Result<usize, Failure> {
    match optional(step, "maxsize") {
        None => Ok(0),
        Some(Value::Int(n)) => Ok(usize::try_from(*n).unwrap_or(0)),
        Some(other) => Err(Failure::Type(format!("maxsize must be an int, got {other}"))),
    }
}

pub(crate) fn size_value(n: usize) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// The objects a case names, and the logs, gates and callback labels they share.
#[derive(Default)]
pub struct World {
    pub(crate) objects: Mutex<HashMap<String, Obj>>,
    pub(crate) env: Arc<Env>,
}

impl World {
    pub(crate) fn obj(&self, step: &Value, key: &str) -> Result<Obj, Failure> {
        let name = text(step, key)?;
        locked(&self.objects)
            .get(name)
            .cloned()
            .ok_or_else(|| Failure::BadStep(format!("no object named {name:?}")))
    }

    pub(crate) fn bind(&self, name: &str, obj: Obj) {
        locked(&self.objects).insert(name.to_string(), obj);
    }

    fn writer(&self, step: &Value) -> Result<Arc<dyn Writer<Value>>, Failure> {
        match self.obj(step, "target")? {
            Obj::Writer(w) => Ok(w),
            Obj::CallbackWriter(w) => Ok(w),
            _ => Err(Failure::Unsupported(format!(
                "{} of a non-writer",
                text(step, "op")?
            ))),
        }
    }

    fn reader(&self, step: &Value) -> Result<SharedReader, Failure> {
        match self.obj(step, "target")? {
            Obj::Reader(r) => Ok(r),
            Obj::CallbackReader(r) => Ok(r),
            _ => Err(Failure::Unsupported(format!(
                "{} of a non-reader",
                text(step, "op")?
            ))),
        }
    }

    fn queue(&self, step: &Value) -> Result<Arc<AsyncQueue<Value>>, Failure> {
        match self.obj(step, "target")? {
            Obj::Queue(q) => Ok(q),
            _ => Err(Failure::Unsupported(format!(
                "{} of a non-queue",
                text(step, "op")?
            ))),
        }
    }

    /// Runs one step; its value, or why it has none.
    pub fn perform(&self, step: &Value) -> Outcome {
        let op = text(step, "op")?;
        match op {
            "mkchannel" => self.mkchannel(step),
            "write" => {
                let writer = self.writer(step)?;
                let block = block_arg(step, writer.default_block())?;
                writer.write(field(step, "item")?.clone(), block, timeout_arg(step)?)?;
                Ok(Value::Null)
            }
            "write_many" => {
                let mut items = self.raising_iterator(step)?;
                self.writer(step)?.write_many(&mut items)?;
                Ok(Value::Null)
            }
            "read" => Ok(Value::Array(self.reader(step)?.read(
                count_arg(step)?,
                block_arg(step, true)?,
                timeout_arg(step)?,
            )?)),
            "iterate" => {
                let reader = self.reader(step)?;
                Ok(Value::Array(Items::new(&*reader).collect::<Result<_, _>>()?))
            }
            "close" => {
                self.writer(step)?.close();
                Ok(Value::Null)
            }
            "closed" => Ok(Value::Bool(self.writer(step)?.closed())),
            "size" => Ok(size_value(self.writer(step)?.size())),
            "set_pre_cb" | "set_post_cb" => self.set_callback(step, op),
            "iterator_reader" => self.iterator_reader(step),
            "async_queue" => {
                let maxsize = maxsize_arg(step)?;
                self.bind(text(step, "as")?, Obj::Queue(Arc::new(AsyncQueue::new(maxsize))));
                Ok(Value::Null)
            }
            "set_writable" => match field(step, "state")? {
                Value::Bool(state) => Ok(Value::Bool(self.queue(step)?.set_writable(*state)?)),
                other => Err(Failure::Type(format!("state must be a bool, got {other}"))),
            },
            "put" => {
                let queue = self.queue(step)?;
                queue.put(
                    field(step, "item")?.clone(),
                    block_arg(step, true)?,
                    timeout_arg(step)?,
                )?;
                Ok(Value::Null)
            }
            "get" => Ok(self
                .queue(step)?
                .get(block_arg(step, true)?, timeout_arg(step)?)?),
            "drop" => {
                let Value::Array(names) = field(step, "names")? else {
                    return Err(Failure::BadStep("names must be a list".to_string()));
                };
                let mut objects = locked(&self.objects);
                for name in names.iter().filter_map(Value::as_str) {
                    objects.remove(name);
                }
                Ok(Value::Null)
            }
            "open_gate" => {
                self.env.open_gate(text(step, "gate")?);
                Ok(Value::Null)
            }
            "wait_log" => {
                let length = match field(step, "length")? {
                    Value::Int(n) => usize::try_from(*n).unwrap_or(0),
                    _ => return Err(Failure::BadStep("length must be an int".to_string())),
                };
                Ok(Value::Bool(self.env.wait_log(
                    text(step, "log")?,
                    length,
                    WAIT_LOG_LIMIT,
                )))
            }
            "log" => Ok(Value::Array(self.env.log(text(step, "log")?))),
            "sleep" => {
                let secs = field(step, "seconds")?
                    .as_f64()
                    .filter(|s| s.is_finite() && *s >= 0.0);
                let secs = secs
                    .ok_or_else(|| Failure::BadStep("seconds must be a non-negative number".to_string()))?;
                std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
                Ok(Value::Null)
            }
            other => self
                .perform_graph(other, step)
                .or_else(|| self.perform_task(other, step))
                .or_else(|| self.perform_thread(other, step))
                .unwrap_or_else(|| Err(Failure::Unsupported(format!("operation {other:?}")))),
        }
    }

    fn mkchannel(&self, step: &Value) -> Outcome {
        let Value::Array(names) = field(step, "as")? else {
            return Err(Failure::BadStep("\"as\" must be [writer, reader]".to_string()));
        };
        let [Value::Str(w), Value::Str(r)] = names.as_slice() else {
            return Err(Failure::BadStep("\"as\" must be [writer, reader]".to_string()));
        };
        let kind = match optional(step, "channel").map(|v| v.as_str()) {
            None | Some(Some("Channel")) => ChannelKind::Channel,
            Some(Some("SerialChannel")) => ChannelKind::SerialChannel,
            Some(other) => return Err(Failure::Unsupported(format!("channel {other:?}"))),
        };
        let queue = kind.queue(maxsize_arg(step)?);
        let writer = match optional(step, "writer").map(|v| v.as_str()) {
            None | Some(Some("ChannelWriter")) => {
                Obj::Writer(Arc::new(ChannelWriter::new(Arc::clone(&queue))))
            }
            Some(Some("CallbackChannelWriter")) => {
                Obj::CallbackWriter(Arc::new(CallbackChannelWriter::new(Arc::clone(&queue))))
            }
            Some(other) => return Err(Failure::Unsupported(format!("writer {other:?}"))),
        };
        let reader = match optional(step, "reader").map(|v| v.as_str()) {
            None | Some(Some("ChannelReader")) => Obj::Reader(Arc::new(ChannelReader::new(queue))),
            Some(Some("CallbackChannelReader")) => {
                Obj::CallbackReader(Arc::new(CallbackChannelReader::new(queue)))
            }
            Some(other) => return Err(Failure::Unsupported(format!("reader {other:?}"))),
        };
        self.bind(w, writer);
        self.bind(r, reader);
        Ok(Value::Null)
    }

    /// The function a callback step installs: absent and `null` uninstall (absent is the
    /// seed's call without an argument), an object is a spec, anything else is a value
    /// that cannot be called (`TypeError`, and the old callback stays, K4).
    fn callback_spec(&self, step: &Value) -> Result<Option<(Func, Value)>, Failure> {
        match step.get("fn") {
            None | Some(Value::Null) => Ok(None),
            Some(spec @ Value::Object(_)) => {
                let func = compile(spec, &self.env).map_err(Failure::BadStep)?;
                Ok(Some((func, spec.clone())))
            }
            Some(other) => Err(Failure::Type(format!("{other} is not callable"))),
        }
    }

    fn set_callback(&self, step: &Value, op: &str) -> Outcome {
        let target = self.obj(step, "target")?;
        let spec = self.callback_spec(step)?;
        let env = &self.env;
        match (target, op) {
            (Obj::CallbackWriter(writer), "set_pre_cb") => {
                let callback = spec.map(|(func, spec)| {
                    let callback: PreWrite<Value> = Arc::new(move |item| func(item));
                    env.label(&callback, &spec);
                    callback
                });
                Ok(env.spec_of(writer.set_pre_cb(callback).as_ref()))
            }
            (Obj::CallbackReader(reader), "set_pre_cb") => {
                let callback = spec.map(|(func, spec)| {
                    let callback: PreRead =
                        Arc::new(move |count: Count| func(Value::Int(count.as_int())).map(drop));
                    env.label(&callback, &spec);
                    callback
                });
                Ok(env.spec_of(reader.set_pre_cb(callback).as_ref()))
            }
            (Obj::CallbackReader(reader), "set_post_cb") => {
                let callback = spec.map(|(func, spec)| {
                    let callback: PostRead<Value> =
                        Arc::new(move |items: &[Value]| match func(Value::Array(items.to_vec()))? {
                            Value::Array(result) => Ok(result),
                            other => Err(CallbackError(format!(
                                "a post-read callback returned {other}, not a list"
                            ))),
                        });
                    env.label(&callback, &spec);
                    callback
                });
                Ok(env.spec_of(reader.set_post_cb(callback).as_ref()))
            }
            _ => Err(Failure::Unsupported(format!(
                "{op} of an object without that callback"
            ))),
        }
    }

    /// `not_iterator` stands for a value that is not an iterator: the API takes only
    /// iterators, so it is refused here as the seed refuses it, with `ValueError` (K5).
    fn iterator_reader(&self, step: &Value) -> Outcome {
        let name = text(step, "as")?;
        if step.get("not_iterator").is_some() {
            return Err(Failure::Api(Error::Value(
                "IteratorReader takes an iterator".to_string(),
            )));
        }
        let iter = self.raising_iterator(step)?;
        self.bind(name, Obj::Reader(Arc::new(IteratorReader::new(iter))));
        Ok(Value::Null)
    }

    /// An iterator over the step's `items`, failing once after `raise_after` of them.
    pub(crate) fn raising_iterator(&self, step: &Value) -> Result<RaisingIterator, Failure> {
        let Value::Array(items) = field(step, "items")? else {
            return Err(Failure::BadStep("items must be a list".to_string()));
        };
        let raise_after = match optional(step, "raise_after") {
            None => None,
            Some(Value::Int(n)) => usize::try_from(*n).ok(),
            Some(_) => return Err(Failure::BadStep("raise_after must be an int".to_string())),
        };
        Ok(RaisingIterator {
            items: items.clone().into_iter(),
            raise_after,
            given: 0,
        })
    }
}
