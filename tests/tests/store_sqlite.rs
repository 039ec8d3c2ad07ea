//! The store conformance suite on SQLite, each case on a fresh database file
//! and on a fresh in-memory database.

use durable::Durability;
use durable::store::sqlite::{SqliteLocation, SqliteStore};
use durable_tests::{Scratch, conformance};

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        mod file {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let scratch = Scratch::new(stringify!($case));
                    let location = SqliteLocation::File(scratch.join("store.db"));
                    let store = SqliteStore::open(&location, Durability::Normal).await.unwrap();
                    conformance::$case(&store).await;
                }
            )*
        }
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let store = SqliteStore::open(&SqliteLocation::Memory, Durability::Full).await.unwrap();
                    conformance::$case(&store).await;
                }
            )*
        }
    };
}

durable_tests::every_case!(conformance_cases);
