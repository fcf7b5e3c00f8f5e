//! A port of refasync's API, without the pool, to Rust, standard library only:
//! thread-safe queues, channels (a writer and a reader of one queue, optionally bounded),
//! callback ends, an iterator reader, tasks outside a pool, the task graph, and worker and
//! terminatable threads. It is written from `docs/semantics.md` (rules C, B, K, T1-T4, G, W5 and
//! W6); the binary next to it grades it against the conformance vectors
//! (`conformance/PROTOCOL.md`).

pub mod channel;
pub mod graph;
pub mod queue;
pub mod task;
pub mod thread;

pub use channel::{
    mkchannel, CallbackChannelReader, CallbackChannelWriter, ChannelKind, ChannelReader, ChannelWriter,
    Items, IteratorReader, PostRead, PreRead, PreWrite, Reader, Writer,
};
pub use graph::{Graph, Node, NodeRef};
pub use queue::{timeout_from_secs, AsyncQueue, CallbackError, Count, Error, TIMEOUT_MAX_S};
pub use task::{ManyFn, SingleFn, Task, TaskFn};
pub use thread::{
    terminate_threads, TerminatableThread, TerminateRequest, ThreadScope, WorkItem, WorkerThread,
};
