//! The conformance suite on PostgreSQL, each case in a fresh schema.

use super::cases::{self, every_case};
use super::support::{postgres_url, unique_schema};
use crate::store::open::DEFAULT_LEASE;
use crate::store::postgres::PostgresStore;

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(url) = postgres_url() else { return };
                let schema = unique_schema(stringify!($case));
                let store = PostgresStore::open(&url, Some(&schema), DEFAULT_LEASE).await.unwrap();
                cases::$case(&store).await;
            }
        )*
    };
}

every_case!(conformance_cases);
