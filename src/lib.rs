//! Cairn: a Backstage-compatible catalog backend. See `DESIGN.md` in the shared docs for the
//! module map; data flows sources → descriptor → processing → storage → read model → api.

pub mod agents;
pub mod api;
pub mod app;
pub mod compliance;
pub mod config;
pub mod descriptor;
pub mod error;
pub mod events;
pub mod ingest;
pub mod model;
pub mod processing;
pub mod readmodel;
pub mod render;
pub mod scaffolder;
pub mod scorecard;
pub mod storage;
pub mod telemetry;

/// The allocator of Cairn's binaries (the server and the bench), not of the library, so the
/// fuzz targets keep the sanitizer's. jemalloc: the catalog is rebuilt in large batches on
/// several threads, and glibc's per-thread arenas kept much of the freed memory resident
/// (2.7 against 2.3 GB at 100k entities, `cargo bench --bench catalog -- scale 100000`). Its
/// background thread returns freed pages within a second; without it a process gone quiet
/// after a large ingest kept them (about 930 against 699 MB settled at 100k). The
/// `system-allocator` feature turns it off for heap profilers that hook `malloc` (heaptrack).
#[macro_export]
macro_rules! binary_allocator {
    () => {
        #[cfg(not(feature = "system-allocator"))]
        #[global_allocator]
        static ALLOCATOR: $crate::Jemalloc = $crate::Jemalloc;

        #[cfg(not(feature = "system-allocator"))]
        #[export_name = "_rjem_malloc_conf"]
        static MALLOC_CONF: &[u8] =
            b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:1000\0";
    };
}

#[doc(hidden)]
pub use tikv_jemallocator::Jemalloc;
