//! A port of refasync's channel API to Rust, standard library only: thread-safe queues,
//! channels (a writer and a reader of one queue, optionally bounded), callback ends and an
//! iterator reader. It is written from `docs/semantics.md` (rules C, B and K); the binary
//! next to it grades it against the conformance vectors (`conformance/PROTOCOL.md`).

pub mod channel;
pub mod queue;

pub use channel::{
    mkchannel, CallbackChannelReader, CallbackChannelWriter, ChannelKind, ChannelReader, ChannelWriter,
    Items, IteratorReader, PostRead, PreRead, PreWrite, Reader, Writer,
};
pub use queue::{timeout_from_secs, AsyncQueue, CallbackError, Count, Error, TIMEOUT_MAX_S};
