//! The job queue: the one owner of the `jobs` table.

pub(crate) mod store;
