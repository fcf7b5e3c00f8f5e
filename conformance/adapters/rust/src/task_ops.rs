//! The task operations of PROTOCOL.md section 4 that need no pool.

use std::sync::Arc;

use channels::{Count, IteratorReader, Reader, Task, TaskFn, Writer};

use crate::json::Value;
use crate::ops::{field, optional, size_value, text, Failure, Obj, Outcome, World};
use crate::specs::compile;

/// An optional integer field; absent or null is None.
fn int_arg(step: &Value, key: &str) -> Result<Option<i64>, Failure> {
    match optional(step, key) {
        None => Ok(None),
        Some(Value::Int(n)) => Ok(Some(*n)),
        Some(other) => Err(Failure::Type(format!("{key} must be an int, got {other}"))),
    }
}

impl World {
    fn task(&self, step: &Value) -> Result<Arc<Task<Value>>, Failure> {
        match self.obj(step, "target")? {
            Obj::Task(t) => Ok(t),
            _ => Err(Failure::Unsupported(format!(
                "{} of a non-task",
                text(step, "op")?
            ))),
        }
    }

    fn named_writer(&self, step: &Value) -> Result<Option<Arc<dyn Writer<Value>>>, Failure> {
        if optional(step, "writer").is_none() {
            return Ok(None);
        }
        match self.obj(step, "writer")? {
            Obj::Writer(w) => Ok(Some(w)),
            Obj::CallbackWriter(w) => Ok(Some(w)),
            _ => Err(Failure::BadStep("\"writer\" must name a writer".to_string())),
        }
    }

    /// The task's function: absent or null is the identity (F9), a spec is applied per item
    /// or, without `apply_single`, to the chunk's list; anything else cannot be called.
    fn task_fn(&self, step: &Value) -> Result<Option<TaskFn<Value>>, Failure> {
        let apply_single = match optional(step, "apply_single") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(Failure::Type(format!("apply_single must be a bool, got {other}"))),
        };
        let func = match optional(step, "fn") {
            None => return Ok(None),
            Some(spec @ Value::Object(_)) => compile(spec, &self.env).map_err(Failure::BadStep)?,
            Some(other) => return Err(Failure::Type(format!("{other} is not callable"))),
        };
        if apply_single {
            return Ok(Some(TaskFn::Single(func)));
        }
        Ok(Some(TaskFn::Many(Arc::new(move |items| {
            match func(Value::Array(items))? {
                Value::Array(results) => Ok(results),
                other => Ok(vec![other]),
            }
        }))))
    }

    fn new_task(&self, step: &Value) -> Outcome {
        let name = text(step, "as")?;
        let input: Arc<dyn Reader<Value>> = match optional(step, "kind").and_then(Value::as_str) {
            None | Some("IteratorThreadTask") => Arc::new(IteratorReader::new(self.raising_iterator(step)?)),
            Some(other) => {
                return Err(Failure::Unsupported(format!(
                    "task kind {other:?} (it needs a pool)"
                )))
            }
        };
        let id = match optional(step, "id") {
            None => name,
            Some(Value::Str(id)) => id,
            Some(other) => return Err(Failure::Type(format!("a task id must be a string, got {other}"))),
        };
        let fun = self.task_fn(step)?;
        let (min, max) = (
            int_arg(step, "min_count")?,
            int_arg(step, "max_chunksize")?.unwrap_or(0),
        );
        let task = Task::new(id, input, fun, self.named_writer(step)?, min, max)?;
        self.bind(name, Obj::Task(Arc::new(task)));
        Ok(Value::Null)
    }

    fn attr(&self, step: &Value, set: bool) -> Outcome {
        let task = self.task(step)?;
        let value = || int_arg(step, "value");
        match (text(step, "attr")?, set) {
            ("min_count", false) => Ok(task.min_count().map_or(Value::Null, size_value)),
            ("max_chunksize", false) => Ok(size_value(task.max_chunksize())),
            ("min_count", true) => Ok(task.set_min_count(value()?).map(|()| Value::Null)?),
            ("max_chunksize", true) => {
                let max =
                    value()?.ok_or_else(|| Failure::Type("max_chunksize must be an int".to_string()))?;
                Ok(task.set_max_chunksize(max).map(|()| Value::Null)?)
            }
            (other, _) => Err(Failure::BadStep(format!("unknown task attribute {other:?}"))),
        }
    }

    /// The task operations; None for any other operation.
    pub(crate) fn perform_task(&self, op: &str, step: &Value) -> Option<Outcome> {
        let result = match op {
            "task" => self.new_task(step),
            "get_attr" | "set_attr" => self.attr(step, op == "set_attr"),
            "set_writer" => self.task(step).and_then(|task| {
                field(step, "writer")?;
                task.set_writer(self.named_writer(step)?);
                Ok(Value::Null)
            }),
            "process" => self.task(step).and_then(|task| {
                task.process(Count::from_int(int_arg(step, "count")?.unwrap_or(0)));
                Ok(Value::Null)
            }),
            "is_done" => self.task(step).map(|task| Value::Bool(task.is_done())),
            "is_closed" => self.task(step).map(|task| Value::Bool(task.is_closed())),
            "set_done" => self.task(step).map(|task| {
                task.set_done();
                Value::Null
            }),
            "error" => self.task(step).map(|task| match task.error() {
                None => Value::Null,
                Some(error) => Value::Str(Failure::Api(error).kind()),
            }),
            _ => return None,
        };
        Some(result)
    }
}
