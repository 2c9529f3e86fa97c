//! Stores other than the JSON stock file: where a SQL strategy's stock
//! lives. The file store is `engine::stock`.

pub mod postgres;
pub mod sqlite;

/// A run's database: where a SQL strategy's buyers connect.
#[derive(Clone, Debug)]
pub enum Database {
    /// A SQLite database file.
    Sqlite(std::path::PathBuf),
    /// A schema on a PostgreSQL server.
    Postgres(Box<postgres::Place>),
}
