//! The thread operations of PROTOCOL.md section 4 (the seed's `thread` module).

use std::sync::Arc;
use std::time::Duration;

use channels::{terminate_threads, CallbackError, Error, TerminateRequest, WorkItem, WorkerThread};

use crate::json::Value;
use crate::ops::{field, optional, size_value, text, timeout_arg, Failure, Obj, Outcome, World};
use crate::specs::compile;

/// `join` waits this long when the step gives no timeout.
const JOIN_DEFAULT: Duration = Duration::from_secs(30);

impl World {
    fn worker(&self, step: &Value) -> Result<Arc<WorkerThread>, Failure> {
        match self.obj(step, "target")? {
            Obj::Worker(w) => Ok(w),
            _ => Err(Failure::Unsupported(format!(
                "{} of a non-worker",
                text(step, "op")?
            ))),
        }
    }

    /// A work item of the step's `form`: `callable` and `tuple` (the seed's two ways to
    /// pass a routine and its argument) are one closure in Rust, `stop` asks it to stop.
    fn work_item(&self, step: &Value) -> Result<WorkItem, Failure> {
        match text(step, "form")? {
            "callable" | "tuple" => {
                let func = compile(field(step, "fn")?, &self.env).map_err(Failure::BadStep)?;
                let arg = optional(step, "arg").cloned().unwrap_or(Value::Null);
                Ok(WorkItem::Run(Box::new(move || func(arg).map(drop))))
            }
            "stop" => Ok(WorkItem::Stop),
            other => Err(Failure::BadStep(format!("unknown work item form {other:?}"))),
        }
    }

    /// The thread operations; None for any other operation.
    pub(crate) fn perform_thread(&self, op: &str, step: &Value) -> Option<Outcome> {
        let result = match op {
            "worker_start" => text(step, "as").map(|name| {
                self.bind(name, Obj::Worker(Arc::new(WorkerThread::start())));
                Value::Null
            }),
            "worker_put" => self.worker(step).and_then(|worker| {
                worker.put(self.work_item(step)?)?;
                Ok(Value::Null)
            }),
            "stop_and_join" => self.worker(step).and_then(|worker| {
                worker.stop_and_join()?;
                Ok(Value::Null)
            }),
            "join" => self.worker(step).and_then(|worker| {
                let timeout = if optional(step, "timeout").is_some() {
                    timeout_arg(step)?
                } else {
                    Some(JOIN_DEFAULT)
                };
                Ok(Value::Bool(worker.join(timeout)))
            }),
            "terminate_threads" => self.terminate_threads(step),
            "alive" => match self.obj(step, "target") {
                Ok(Obj::Threads(threads)) => Ok(size_value(threads.iter().filter(|t| t.is_alive()).count())),
                Ok(_) => Err(Failure::BadStep(
                    "alive needs threads named by terminate_threads".to_string(),
                )),
                Err(failure) => Err(failure),
            },
            _ => return None,
        };
        Some(result)
    }

    /// Calls, wrapped by `terminate_threads`, a function that starts `threads` threads
    /// (each waits to be asked to terminate) and then fails if `raise`; names the threads
    /// `as`; how many are alive once it returned, or its error.
    fn terminate_threads(&self, step: &Value) -> Outcome {
        let name = text(step, "as")?;
        let count = match field(step, "threads")? {
            Value::Int(n) => {
                usize::try_from(*n).map_err(|_| Failure::BadStep("threads must be >= 0".to_string()))?
            }
            _ => return Err(Failure::BadStep("threads must be an int".to_string())),
        };
        let raise = optional(step, "raise") == Some(&Value::Bool(true));
        let mut started = Vec::new();
        let result = terminate_threads(|scope| {
            for _ in 0..count {
                started.push(scope.start(TerminateRequest::wait_for_termination));
            }
            if raise {
                Err(CallbackError(
                    "raised by the function terminate_threads wraps".to_string(),
                ))
            } else {
                Ok(())
            }
        });
        let alive = started.iter().filter(|t| t.is_alive()).count();
        self.bind(name, Obj::Threads(started));
        result.map_err(|error| Failure::Api(Error::Callback(error)))?;
        Ok(size_value(alive))
    }
}
