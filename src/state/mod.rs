//! Where spend and counters live, so they survive restarts: the [`StateStore`] trait, an
//! in-memory [`MemoryStore`] (the default) and a durable [`FileStore`].
//!
//! Stores hold `u64` counters and bit sets by [`StateKey`] and expiring reservations, each
//! operation atomic on its own, so a shared remote store can sit behind the same trait.

mod file;
mod key;
mod memory;
mod store;
mod table;
mod write_id;

pub use file::FileStore;
pub use key::StateKey;
pub use memory::MemoryStore;
pub use store::{ReservationId, StateError, StateStore};
pub use write_id::WriteId;
