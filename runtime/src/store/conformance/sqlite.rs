//! The conformance suite on SQLite, each case on a fresh database file and
//! on a fresh in-memory database.

use super::cases::{self, every_case};
use super::support::Scratch;
use crate::store::sqlite::{Durability, SqliteLocation, SqliteStore};

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
                    cases::$case(&store).await;
                }
            )*
        }
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    let store = SqliteStore::open(&SqliteLocation::Memory, Durability::Full).await.unwrap();
                    cases::$case(&store).await;
                }
            )*
        }
    };
}

every_case!(conformance_cases);
